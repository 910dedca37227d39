//! The SLO set: `slo/athlete-ally.toml` and files like it.
//!
//! ```toml
//! name = "athlete-ally"
//! services = ["gateway-bff", "profile-onboarding", "planning-engine"]  # Prometheus jobs
//!
//! [defaults]
//! min_samples = 20          # fewer events in the window: inconclusive
//! confidence = 0.95         # of the bounds a verdict must clear
//! source_tolerance = 0.5    # sources differing by more than half the allowed bad share
//! period = "30d"            # the error budget's period, for the burn-rate alerts
//!
//! [[slo]]
//! name = "api_error_rate"
//! description = "API error rate"
//! area = "performance"
//! kind = "ratio"            # ratio | latency | gauge | query
//! bad = ['api_errors_total{job="gateway-bff"}']    # or good = [...]
//! total = ['api_requests_total{job="gateway-bff"}']
//! objective = "< 0.01"
//! client = "api_errors"     # the client-side measurement shown beside it
//! ```
//!
//! Kinds:
//! - `ratio`: `good` (or `bad`) over `total`, from counter increases; `objective`
//!   compares the ratio (`>= 0.80`, `< 0.05`).
//! - `latency`: `histogram` (a selector of the histogram's base name), `quantile` and
//!   `threshold_seconds`: passes when the share of events at or under the threshold
//!   is at least the quantile, read from the bucket whose `le` is the threshold.
//! - `gauge`: `metric`, `aggregation` over the window (`max_over_time`,
//!   `min_over_time`, `avg_over_time`, `rate`), judged per service with `objective`.
//! - `query`: `bad_query` (or `good_query`) over `total_query`, PromQL with
//!   `[{{.window}}]` where the range goes (Sloth's form), counted by `rate` or
//!   `increase`; for what exact judging cannot read (regular-expression matchers,
//!   other functions), judged through Prometheus only, every selector kept to
//!   the set's jobs and the run's matchers ([`scoped`]).
//!
//! The parts: [`file`] is the file as written (serde types, closed sets as enums);
//! [`check`] validates it section by section into the [`SloSet`] defined here.

mod check;
mod file;
mod import;
pub mod openslo;
mod query;
pub mod scoped;
pub mod shape;
pub mod sloth;
mod yaml;

pub use import::Extra;
pub(crate) use import::round;
pub use query::{EventQuery, Query, QueryCounts, WINDOW_PLACEHOLDER, metric_names};

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;
use crate::format::{percent, quantile_name, trim_float, with_unit};
use crate::selector::Selector;
use crate::toml_file::{self, FileError};

crate::closed_set! {
    /// What an SLO measures.
    pub enum SloKind ("a kind") {
        /// Good (or bad) events over all events, from counters.
        Ratio = "ratio",
        /// The share of a histogram's events within a threshold.
        Latency = "latency",
        /// A gauge per service, aggregated over the window.
        Gauge = "gauge",
        /// Good (or bad) events over all events as PromQL, judged through Prometheus only.
        Query = "query",
    }
}

crate::closed_set! {
    /// How a gauge is aggregated over the window.
    pub enum Aggregation ("an aggregation") {
        /// The largest value.
        MaxOverTime = "max_over_time",
        /// The smallest value.
        MinOverTime = "min_over_time",
        /// The mean of the samples.
        AvgOverTime = "avg_over_time",
        /// The per-second increase of a counter.
        Rate = "rate",
    }
}

crate::closed_set! {
    /// How loud the generated alert of an SLO is.
    pub enum Severity ("a severity") {
        /// Pages.
        Critical = "critical",
        /// Opens a ticket.
        Warning = "warning",
        /// For dashboards only.
        Info = "info",
    }
}

crate::closed_set! {
    /// The load generator's own measurement shown beside (and checked against) an
    /// SLO judged from the server's metrics.
    pub enum ClientMeasure ("a client measurement") {
        /// Requests answered with a 5xx (or never answered) over all requests.
        ApiErrors = "api_errors",
        /// Share of requests within the SLO's threshold.
        ApiLatency = "api_latency",
        /// Onboardings completed over onboardings started.
        OnboardingCompletion = "onboarding_completion",
        /// Plans that failed over plans finished.
        PlanFailure = "plan_failure",
        /// Share of plans finished end to end within the SLO's threshold.
        PlanDuration = "plan_duration",
    }
}

impl ClientMeasure {
    /// For the ratio measures, whether the events counted are bad ones (errors,
    /// failures) rather than good ones (completions); `None` for latency ones.
    pub fn counts_bad(self) -> Option<bool> {
        match self {
            ClientMeasure::ApiErrors | ClientMeasure::PlanFailure => Some(true),
            ClientMeasure::OnboardingCompletion => Some(false),
            ClientMeasure::ApiLatency | ClientMeasure::PlanDuration => None,
        }
    }
}

/// A comparison operator of an objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `==`
    Eq,
}

impl Op {
    /// As written in objectives and PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "==",
        }
    }

    /// The operator of the breach (the objective's negation), for alert rules.
    pub fn negated(self) -> &'static str {
        match self {
            Op::Ge => "<",
            Op::Gt => "<=",
            Op::Le => ">",
            Op::Lt => ">=",
            Op::Eq => "!=",
        }
    }

    /// Whether `value op threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Ge => value >= threshold,
            Op::Gt => value > threshold,
            Op::Le => value <= threshold,
            Op::Lt => value < threshold,
            Op::Eq => value == threshold,
        }
    }

    /// Whether larger values are worse (the worst of several is the largest).
    pub fn larger_is_worse(self) -> bool {
        matches!(self, Op::Le | Op::Lt)
    }
}

/// `>= 0.80`, `< 1e9`, `== 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Objective {
    /// The comparison.
    pub op: Op,
    /// The threshold compared with.
    pub value: f64,
}

/// What to write instead of a bad objective.
const OBJECTIVE_FIX: &str = "write \">= 0.80\", \"< 0.05\" or \"== 1\"";

impl Objective {
    /// Reads `>= 0.80`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Objective, Error> {
        let t = text.trim();
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .into_iter()
        .find_map(|(s, op)| t.strip_prefix(s).map(|r| (op, r)))
        .ok_or_else(|| {
            Error::Objective(format!(
                "{text:?} has no comparison: write it like \">= 0.80\" or \"< 0.05\""
            ))
        })?;
        let value: f64 = rest.trim().parse().map_err(|_| {
            Error::Objective(format!("{text:?}: {:?} is not a number", rest.trim()))
        })?;
        if !value.is_finite() {
            return Err(Error::Objective(format!(
                "{text:?}: the value must be finite"
            )));
        }
        Ok(Objective { op, value })
    }

    /// Whether a value meets the objective.
    pub fn holds(&self, value: f64) -> bool {
        self.op.holds(value, self.value)
    }
}

impl<'de> Deserialize<'de> for Objective {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Objective::parse(&text).map_err(|e| {
            serde::de::Error::custom(toml_file::with_fix(&e.to_string(), OBJECTIVE_FIX))
        })
    }
}

/// Good or bad events over all events, from counter increases.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// Good events, or bad ones (`numerator_is_bad`).
    pub numerator: Vec<Selector>,
    /// True when `numerator` counts bad events.
    pub numerator_is_bad: bool,
    /// All events.
    pub total: Vec<Selector>,
    /// What the ratio must meet.
    pub objective: Objective,
}

/// The share of a histogram's events at or under a threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// The histogram's base name and matchers.
    pub histogram: Selector,
    /// The share that must be within the threshold (0.95).
    pub quantile: f64,
    /// The threshold, in seconds.
    pub threshold_seconds: f64,
}

/// A gauge aggregated over the window, judged per service.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// The metric and its matchers.
    pub metric: Selector,
    /// How samples are aggregated.
    pub aggregation: Aggregation,
    /// What each service's value must meet.
    pub objective: Objective,
    /// How values are shown (`bytes`, `cores`, or free text).
    pub unit: String,
}

/// What an SLO measures, and its objective.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A ratio of counters.
    Ratio(Ratio),
    /// A share of a histogram.
    Latency(Latency),
    /// A gauge per service.
    Gauge(Gauge),
    /// Events as PromQL, judged through Prometheus only.
    Query(Query),
}

/// One SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// Its name, unique in the set.
    pub name: String,
    /// What it is, for people.
    pub description: String,
    /// Its area (business, performance, resources).
    pub area: String,
    /// What it measures.
    pub kind: Kind,
    /// The client measurement shown beside it.
    pub client: Option<ClientMeasure>,
    /// The requests (by name) the client measurement counts; empty: all of
    /// them. For `api_errors` and `api_latency`: the client side of an SLO on
    /// one route.
    pub client_requests: Vec<String>,
    /// The flow the client measurement reads (`client_flow`): `None` takes the
    /// flow that declares the measure's role (`[measures]` of a flow file), or
    /// every flow for `api_errors` and `api_latency`.
    pub client_flow: Option<String>,
    /// Fewer events than this in a window: inconclusive.
    pub min_samples: u64,
    /// Confidence of the bounds a verdict must clear (0.95).
    pub confidence: f64,
    /// The severity of its alert.
    pub severity: Severity,
    /// Window of the alert expression, such as 5 minutes.
    pub alert_window: Duration,
    /// How long the alert condition must hold.
    pub alert_for: Duration,
    /// The SLO period whose error budget the burn-rate alerts guard (30 days).
    pub period: Duration,
    /// Where the runbook entry is.
    pub runbook: Option<String>,
}

/// A checked SLO set.
#[derive(Debug, Clone, PartialEq)]
pub struct SloSet {
    /// Its name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// Prometheus jobs judged by per-service (gauge) SLOs.
    pub services: Vec<String>,
    /// Two sources (Prometheus, the services' metrics, the client) whose values
    /// differ by more than this share of the allowed bad share disagree.
    pub source_tolerance: f64,
    /// The SLOs, in file order.
    pub slos: Vec<Slo>,
}

impl SloSet {
    /// The counter series its SLOs read (`_bucket` of histograms included): what a
    /// scrape source must follow at every scrape.
    pub fn counter_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .slos
            .iter()
            .flat_map(|s| match &s.kind {
                Kind::Ratio(r) => r
                    .numerator
                    .iter()
                    .chain(&r.total)
                    .map(|x| x.name.clone())
                    .collect(),
                Kind::Latency(l) => vec![format!("{}_bucket", l.histogram.name)],
                Kind::Gauge(_) | Kind::Query(_) => Vec::new(),
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The gauge metrics its SLOs read (`up` aside: it is each scrape's success).
    pub fn gauge_names(&self) -> Vec<String> {
        self.slos
            .iter()
            .filter_map(|s| match &s.kind {
                Kind::Gauge(g) if g.metric.name != "up" => Some(g.metric.name.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Slo {
    /// Which of the three kinds it is.
    pub fn kind_name(&self) -> SloKind {
        match self.kind {
            Kind::Ratio(_) => SloKind::Ratio,
            Kind::Latency(_) => SloKind::Latency,
            Kind::Gauge(_) => SloKind::Gauge,
            Kind::Query(_) => SloKind::Query,
        }
    }

    /// The objective as people read it.
    pub fn objective_text(&self) -> String {
        match &self.kind {
            Kind::Ratio(Ratio { objective, .. }) | Kind::Query(Query { objective, .. }) => {
                format!("{} {}", objective.op.as_str(), percent(objective.value))
            }
            Kind::Latency(l) => format!(
                "p{} <= {} s",
                quantile_name(l.quantile),
                trim_float(l.threshold_seconds)
            ),
            Kind::Gauge(g) => format!(
                "{} {}",
                g.objective.op.as_str(),
                with_unit(g.objective.value, &g.unit)
            ),
        }
    }

    /// The latency threshold, for latency SLOs.
    pub fn threshold_seconds(&self) -> Option<f64> {
        match &self.kind {
            Kind::Latency(l) => Some(l.threshold_seconds),
            _ => None,
        }
    }

    /// The share of events allowed to be bad: what disagreements between sources
    /// are measured against. `None` for gauges.
    pub fn allowed_bad_share(&self) -> Option<f64> {
        match &self.kind {
            Kind::Ratio(r) if r.numerator_is_bad => Some(r.objective.value),
            Kind::Ratio(r) => Some(1.0 - r.objective.value),
            Kind::Query(q) if q.numerator_is_bad => Some(q.objective.value),
            Kind::Query(q) => Some(1.0 - q.objective.value),
            Kind::Latency(l) => Some(1.0 - l.quantile),
            Kind::Gauge(_) => None,
        }
    }

    /// The bad share a value of this SLO stands for (a ratio of bad events as it
    /// is, a good ratio or a share within a latency threshold from 1). `None` for
    /// gauges.
    pub fn bad_share(&self, value: f64) -> Option<f64> {
        match &self.kind {
            Kind::Ratio(r) if r.numerator_is_bad => Some(value),
            Kind::Query(q) if q.numerator_is_bad => Some(value),
            Kind::Ratio(_) | Kind::Query(_) | Kind::Latency(_) => Some(1.0 - value),
            Kind::Gauge(_) => None,
        }
    }

    /// The objective of a counted share: its operator and threshold (a latency's
    /// share within the threshold must be at least the quantile).
    pub fn share_objective(&self) -> Option<(Op, f64)> {
        match &self.kind {
            Kind::Ratio(Ratio { objective, .. }) | Kind::Query(Query { objective, .. }) => {
                Some((objective.op, objective.value))
            }
            Kind::Latency(l) => Some((Op::Ge, l.quantile)),
            Kind::Gauge(_) => None,
        }
    }

    /// Whether a value (a ratio, a share within the threshold, a gauge) meets the
    /// objective.
    pub fn holds(&self, value: f64) -> bool {
        match &self.kind {
            Kind::Ratio(Ratio { objective, .. })
            | Kind::Gauge(Gauge { objective, .. })
            | Kind::Query(Query { objective, .. }) => objective.holds(value),
            Kind::Latency(l) => value >= l.quantile,
        }
    }
}

crate::closed_set! {
    /// The formats an SLO set is read from and written to.
    pub enum Format ("an SLO file format") {
        /// Our own TOML (`slo/athlete-ally.toml`).
        Toml = "toml",
        /// OpenSLO v1 YAML.
        OpenSlo = "openslo",
        /// Sloth `prometheus/v1` YAML.
        Sloth = "sloth",
    }
}

impl Format {
    /// The format of a file: YAML by its `apiVersion: openslo/v1` or
    /// `version: "prometheus/v1"`, else TOML.
    pub fn detect(text: &str) -> Format {
        if openslo::is_openslo(text) {
            Format::OpenSlo
        } else if sloth::is_sloth(text) {
            Format::Sloth
        } else {
            Format::Toml
        }
    }
}

/// Reads and checks an SLO file of any format; `text` is returned for copying into
/// a run directory.
pub fn load(path: &Path) -> Result<(SloSet, String), FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        FileError::whole(
            path,
            format!("cannot read the file: {e}"),
            Some("check the path (relative paths start at the current directory)".to_string()),
        )
    })?;
    let set = parse(path, &text)?;
    Ok((set, text))
}

/// Parses and checks SLO text read from `path`, in the format it is written in.
pub fn parse(path: &Path, text: &str) -> Result<SloSet, FileError> {
    match Format::detect(text) {
        Format::OpenSlo => openslo::parse(path, text),
        Format::Sloth => sloth::parse(path, text),
        Format::Toml => {
            let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if yaml {
                return Err(FileError::whole(
                    path,
                    "a YAML file that is neither OpenSLO nor Sloth",
                    Some(format!(
                        "start it with apiVersion: {} (OpenSLO) or version: \"{}\" (Sloth), or write the set in TOML",
                        openslo::API_VERSION,
                        sloth::VERSION
                    )),
                ));
            }
            let file: file::SetFile = toml_file::parse(path, text)?;
            check::check(&crate::schema::Checker::new(path, text), file)
        }
    }
}

#[cfg(test)]
mod tests;
