//! Verdicts: what the verifier concludes about each SLO (the load generator maps
//! them to its exit codes).
//!
//! A verdict is `pass`, `fail` or `inconclusive`, with the measured value, the
//! objective, the source it was judged from, the number of events behind it,
//! whether it is exact (read from a histogram bucket at the threshold) or estimated,
//! and the share of the error budget the run consumed. No data is never a pass.

use serde::{Deserialize, Serialize};

use crate::definition::{ClientMeasure, Kind, Op, Slo, SloKind};

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The outcome of one SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The objective held, and the evidence proves it.
    Pass,
    /// The evidence does not settle it either way.
    Inconclusive,
    /// The objective did not hold.
    Fail,
}

impl Status {
    /// As written in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// PromQL against a Prometheus server.
    Prometheus,
    /// The verifier's own scrapes of the services' `/metrics`.
    Scrape,
    /// The load generator's own measurements.
    Client,
}

impl Source {
    /// As written in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Prometheus => "prometheus",
            Source::Scrape => "scrape",
            Source::Client => "client",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of the run a verdict covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// The whole run, ramps included.
    Whole,
    /// From the end of the first ramp to the start of the last ramp-down.
    Steady,
}

/// A time window, unix milliseconds, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First millisecond of the window (unix ms).
    pub start_ms: u64,
    /// End of the window (unix ms), exclusive.
    pub end_ms: u64,
}

impl Window {
    /// Its length in seconds.
    pub fn seconds(&self) -> f64 {
        self.end_ms.saturating_sub(self.start_ms) as f64 / 1000.0
    }
}

/// One target's part of a per-service SLO (memory, CPU, up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    /// The Prometheus job (service).
    pub target: String,
    /// This target's outcome.
    pub status: Status,
    /// Its value, when judged.
    pub value: Option<f64>,
    /// The value as people read it.
    pub display: String,
    /// Samples behind it.
    pub samples: u64,
}

/// The client's view of an SLO judged from the server's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientView {
    /// What the client's value alone would conclude.
    pub status: Status,
    /// The client's value (a ratio, or a share within the threshold).
    pub value: Option<f64>,
    /// The value as people read it.
    pub display: String,
    /// Events the client measured.
    pub samples: u64,
    /// Set when client and server differ by more than the set's tolerance.
    pub disagreement: Option<String>,
}

/// How the client measures an SLO: what a report's evidence and per-slice
/// timeline of the verdict are computed from, so they can be drawn from the run
/// directory alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSide {
    /// The client measurement.
    pub measure: ClientMeasure,
    /// The requests it counts (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<String>,
    /// The flow it reads (found by the flow's declared role, or named by the
    /// SLO's `client_flow`); `None`: every flow, or a run before flows declared
    /// roles (then `onboarding` and `plans`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// A latency SLO's threshold, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_seconds: Option<f64>,
    /// How the judged value compares with `goal` (a latency SLO: the share
    /// within the threshold `>=` its quantile).
    pub op: Op,
    /// What the judged value is compared with.
    pub goal: f64,
}

impl ClientSide {
    /// Whether the measurement counts the request named `name`.
    pub fn counts(&self, name: &str) -> bool {
        self.requests.is_empty() || self.requests.iter().any(|r| r == name)
    }

    /// The client side of `slo`, when the client measures it.
    pub fn of(slo: &Slo) -> Option<ClientSide> {
        let measure = slo.client?;
        let (op, goal, threshold_seconds) = match &slo.kind {
            Kind::Ratio(r) => (r.objective.op, r.objective.value, None),
            Kind::Query(q) => (q.objective.op, q.objective.value, None),
            Kind::Latency(l) => (Op::Ge, l.quantile, Some(l.threshold_seconds)),
            Kind::Gauge(_) => return None,
        };
        Some(ClientSide {
            measure,
            requests: slo.client_requests.clone(),
            flow: slo.client_flow.clone(),
            threshold_seconds,
            op,
            goal,
        })
    }
}

/// The verdict on one SLO over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The SLO's name.
    pub slo: String,
    /// What the SLO is, for people.
    pub description: String,
    /// Its area (business, performance, resources).
    pub area: String,
    /// What it measures.
    pub kind: SloKind,
    /// Which window this verdict covers.
    pub window: WindowKind,
    /// The outcome.
    pub status: Status,
    /// The judged quantity: a ratio, the share of events within a latency
    /// threshold, or a gauge value (the worst target's).
    pub value: Option<f64>,
    /// The value as a person reads it ("97.4% <= 2 s (p95 ~ 0.41 s)").
    pub display: String,
    /// The objective as written ("p95 <= 2 s", ">= 80%").
    pub objective: String,
    /// Where the value came from.
    pub source: Source,
    /// Events behind the value (requests, jobs, scrapes).
    pub samples: u64,
    /// True when read exactly (a bucket at the threshold, counters); false when estimated.
    pub exact: bool,
    /// The former name of `burn_rate`, kept for readers of schema v1.
    pub budget_consumed: Option<f64>,
    /// Bad share divided by the allowed bad share: how fast the run burnt the error
    /// budget (1.0 = exactly as fast as the objective allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_rate: Option<f64>,
    /// The interval the value lies in at `confidence`, when it rests on counted
    /// events: PASS needs its pessimistic end to meet the objective, FAIL its
    /// optimistic end to miss it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<(f64, f64)>,
    /// The confidence of `bounds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// When inconclusive for lack of events: about how many events in all would
    /// settle it, if the observed share held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_needed: Option<u64>,
    /// Where the window was actually read: the scrapes next to its edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edges: Option<Window>,
    /// Counter resets (restarts) met in the window and corrected for.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resets: u64,
    /// Why it is inconclusive, or what else is worth knowing.
    pub note: Option<String>,
    /// Per-service parts of a per-service SLO.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
    /// The client's view beside the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientView>,
    /// The PromQL evaluated (Prometheus source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// How the client measures the SLO, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_side: Option<ClientSide>,
}

/// One onboarding step as the services counted it over the run's window: the
/// server's side of the completion SLO's funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStep {
    /// The step (`purpose_selection`, ..., `complete`).
    pub step: String,
    /// Answered as a success.
    pub success: f64,
    /// Refused as invalid (4xx).
    pub invalid: f64,
    /// Failed (5xx).
    pub error: f64,
}

/// Every verdict of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdicts {
    /// The server-side source that judged (prometheus or scrape); client when only
    /// the client's data was available.
    pub source: Source,
    /// The SLO set's name and file.
    pub slo_set: String,
    /// The verdicts over the whole run.
    pub whole: Vec<Verdict>,
    /// Present when the run had a steady window distinct from the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady: Option<Vec<Verdict>>,
    /// The whole run's window.
    pub whole_window: Window,
    /// The steady window, when distinct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_window: Option<Window>,
    /// Time spent judging, in milliseconds.
    pub evaluation_ms: f64,
    /// Problems met while judging (Prometheus unreachable, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// With Prometheus as the source: the same run judged from the services' own
    /// metrics (whole window), to show the two agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_check: Option<Vec<Verdict>>,
    /// With Prometheus as the source: which generated alerts would have fired
    /// during the run, and each error budget's peak burn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<crate::alert_replay::Replay>,
    /// The onboarding funnel as the services counted it (step requests by outcome
    /// over the whole window), when the source has the counters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_funnel: Vec<ServerStep>,
    /// With Prometheus as the source: its clock against the load generator's,
    /// as measured around the load (the windows were moved by it when it was
    /// beyond a tenth of the scrape interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<crate::clock::ClockOffset>,
}

impl Verdicts {
    /// Every verdict, whole run first.
    pub fn all(&self) -> impl Iterator<Item = &Verdict> {
        self.whole.iter().chain(self.steady.iter().flatten())
    }

    /// The worst status over every verdict.
    pub fn overall(&self) -> Status {
        overall(self.all().map(|v| v.status))
    }
}

/// The worst of some statuses; no status at all is inconclusive.
pub fn overall(statuses: impl IntoIterator<Item = Status>) -> Status {
    statuses.into_iter().max().unwrap_or(Status::Inconclusive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_beats_inconclusive_beats_pass() {
        assert_eq!(
            overall([Status::Pass, Status::Inconclusive]),
            Status::Inconclusive
        );
        assert_eq!(
            overall([Status::Inconclusive, Status::Fail, Status::Pass]),
            Status::Fail
        );
        assert_eq!(overall([Status::Pass]), Status::Pass);
        assert_eq!(
            overall([]),
            Status::Inconclusive,
            "no verdict is not a pass"
        );
    }
}
