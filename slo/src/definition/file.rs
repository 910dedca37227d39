//! The SLO file as written: every key, typed. Closed sets are enums, durations,
//! selectors and objectives are read into their types, so a bad value is an error
//! at its key with the fix before any check runs.

use serde::Deserialize;

use super::{Aggregation, ClientMeasure, Objective, Severity, SloKind};
use crate::duration::DurationField;
use crate::selector::Selector;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub defaults: DefaultsFile,
    pub slo: Vec<SloFile>,
}

/// `[defaults]`: what every SLO gets unless it says otherwise.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DefaultsFile {
    pub min_samples: Option<u64>,
    pub confidence: Option<f64>,
    pub source_tolerance: Option<f64>,
    /// Replaced by `source_tolerance`; read only to say so.
    pub client_tolerance: Option<f64>,
    pub alert_window: Option<DurationField>,
    pub alert_for: Option<DurationField>,
    pub period: Option<DurationField>,
}

/// One `[[slo]]` table; which keys apply depends on `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SloFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub area: String,
    pub kind: SloKind,
    pub good: Option<Vec<Selector>>,
    pub bad: Option<Vec<Selector>>,
    pub total: Option<Vec<Selector>>,
    pub good_query: Option<String>,
    pub bad_query: Option<String>,
    pub total_query: Option<String>,
    pub histogram: Option<Selector>,
    pub quantile: Option<f64>,
    pub threshold_seconds: Option<f64>,
    pub metric: Option<Selector>,
    pub aggregation: Option<Aggregation>,
    pub unit: Option<String>,
    pub objective: Option<Objective>,
    pub client: Option<ClientMeasure>,
    /// The requests the client measurement counts (default: all of them).
    pub client_requests: Option<Vec<String>>,
    /// The flow the client measurement reads (default: the flow that declares
    /// the measure's role, or every flow for the per-request measures).
    pub client_flow: Option<String>,
    pub min_samples: Option<u64>,
    pub confidence: Option<f64>,
    pub severity: Option<Severity>,
    pub alert_window: Option<DurationField>,
    pub alert_for: Option<DurationField>,
    pub period: Option<DurationField>,
    pub runbook: Option<String>,
}

impl SloFile {
    /// An SLO of `kind` with nothing else set: what an importer fills in.
    pub fn new(name: String, kind: SloKind) -> Self {
        SloFile {
            name,
            description: String::new(),
            area: String::new(),
            kind,
            good: None,
            bad: None,
            total: None,
            good_query: None,
            bad_query: None,
            total_query: None,
            histogram: None,
            quantile: None,
            threshold_seconds: None,
            metric: None,
            aggregation: None,
            unit: None,
            objective: None,
            client: None,
            client_requests: None,
            client_flow: None,
            min_samples: None,
            confidence: None,
            severity: None,
            alert_window: None,
            alert_for: None,
            period: None,
            runbook: None,
        }
    }
}
