//! The SLO set: `slo/athlete-ally.toml` and files like it.
//!
//! ```toml
//! name = "athlete-ally"
//! services = ["gateway-bff", "profile-onboarding", "planning-engine"]  # Prometheus jobs
//!
//! [defaults]
//! min_samples = 20          # fewer events in the window: inconclusive
//! client_tolerance = 0.02   # client and server differ by more: reported
//!
//! [[slo]]
//! name = "api_error_rate"
//! description = "API error rate"
//! area = "performance"
//! kind = "ratio"            # ratio | latency | gauge
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

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::selector::Selector;
use crate::toml_file::{self, FileError};

/// Client-side measurements an SLO can be compared with.
pub const CLIENT_MEASURES: [&str; 5] = [
    "api_errors",
    "api_latency",
    "onboarding_completion",
    "plan_failure",
    "plan_duration",
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SetFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    defaults: DefaultsFile,
    slo: Vec<SloFile>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    min_samples: Option<u64>,
    client_tolerance: Option<f64>,
    alert_window: Option<String>,
    alert_for: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SloFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    area: String,
    kind: String,
    good: Option<Vec<String>>,
    bad: Option<Vec<String>>,
    total: Option<Vec<String>>,
    histogram: Option<String>,
    quantile: Option<f64>,
    threshold_seconds: Option<f64>,
    metric: Option<String>,
    aggregation: Option<String>,
    unit: Option<String>,
    objective: Option<String>,
    client: Option<String>,
    min_samples: Option<u64>,
    severity: Option<String>,
    alert_window: Option<String>,
    alert_for: Option<String>,
    runbook: Option<String>,
}

/// A comparison operator of an objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl Op {
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub op: Op,
    pub value: f64,
}

impl Objective {
    pub fn parse(text: &str) -> Result<Objective, String> {
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
            format!("{text:?} has no comparison: write it like \">= 0.80\" or \"< 0.05\"")
        })?;
        let value: f64 = rest
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: {:?} is not a number", rest.trim()))?;
        if !value.is_finite() {
            return Err(format!("{text:?}: the value must be finite"));
        }
        Ok(Objective { op, value })
    }

    pub fn holds(&self, value: f64) -> bool {
        self.op.holds(value, self.value)
    }
}

/// How a gauge is aggregated over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregation {
    MaxOverTime,
    MinOverTime,
    AvgOverTime,
    Rate,
}

impl Aggregation {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::MaxOverTime => "max_over_time",
            Aggregation::MinOverTime => "min_over_time",
            Aggregation::AvgOverTime => "avg_over_time",
            Aggregation::Rate => "rate",
        }
    }
}

/// What an SLO measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Ratio {
        /// Good events, or bad ones (`good_is_bad`).
        numerator: Vec<Selector>,
        /// True when `numerator` counts bad events.
        numerator_is_bad: bool,
        total: Vec<Selector>,
        objective: Objective,
    },
    Latency {
        histogram: Selector,
        quantile: f64,
        threshold_seconds: f64,
    },
    Gauge {
        metric: Selector,
        aggregation: Aggregation,
        objective: Objective,
        unit: String,
    },
}

/// One SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub name: String,
    pub description: String,
    pub area: String,
    pub kind: Kind,
    pub client: Option<String>,
    pub min_samples: u64,
    pub severity: String,
    /// Window of the alert expression, such as `5m`.
    pub alert_window: String,
    /// How long the alert condition must hold, such as `2m`.
    pub alert_for: String,
    pub runbook: Option<String>,
}

/// A checked SLO set.
#[derive(Debug, Clone, PartialEq)]
pub struct SloSet {
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    /// Prometheus jobs judged by per-service (gauge) SLOs.
    pub services: Vec<String>,
    pub client_tolerance: f64,
    pub slos: Vec<Slo>,
}

impl Slo {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Ratio { .. } => "ratio",
            Kind::Latency { .. } => "latency",
            Kind::Gauge { .. } => "gauge",
        }
    }

    /// The objective as people read it.
    pub fn objective_text(&self) -> String {
        match &self.kind {
            Kind::Ratio { objective, .. } => {
                format!("{} {}", objective.op.as_str(), percent(objective.value))
            }
            Kind::Latency {
                quantile,
                threshold_seconds,
                ..
            } => format!(
                "p{} <= {} s",
                quantile_name(*quantile),
                trim_float(*threshold_seconds)
            ),
            Kind::Gauge {
                objective, unit, ..
            } => format!(
                "{} {}",
                objective.op.as_str(),
                with_unit(objective.value, unit)
            ),
        }
    }
}

/// `0.95` -> `95`, `0.999` -> `99.9`.
pub fn quantile_name(q: f64) -> String {
    trim_float(q * 100.0)
}

pub fn trim_float(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `0.8` -> `80%`.
pub fn percent(v: f64) -> String {
    format!("{}%", trim_float((v * 100.0 * 1000.0).round() / 1000.0))
}

/// A gauge value with its unit (`bytes` as MB, `cores` as %).
pub fn with_unit(v: f64, unit: &str) -> String {
    match unit {
        "bytes" => format!("{} MB", trim_float((v / 1e6 * 10.0).round() / 10.0)),
        "cores" => format!("{}% CPU", trim_float((v * 1000.0).round() / 10.0)),
        "" => trim_float(v),
        u => format!("{} {u}", trim_float(v)),
    }
}

/// Reads and checks an SLO file; `text` is returned for copying into a run directory.
pub fn load(path: &Path) -> Result<(SloSet, String), FileError> {
    let (file, text): (SetFile, String) = toml_file::read(path)?;
    let set = check(path, &text, file)?;
    Ok((set, text))
}

/// Parses and checks SLO text read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<SloSet, FileError> {
    let file: SetFile = toml_file::parse(path, text)?;
    check(path, text, file)
}

fn check(path: &Path, text: &str, file: SetFile) -> Result<SloSet, FileError> {
    let err =
        |key: &str, message: String, fix: &str| FileError::at_key(path, text, key, message, fix);
    let min_samples = file.defaults.min_samples.unwrap_or(20);
    let tolerance = file.defaults.client_tolerance.unwrap_or(0.02);
    if !(0.0..=1.0).contains(&tolerance) {
        return Err(err(
            "defaults.client_tolerance",
            format!("{tolerance} is out of range"),
            "use a share between 0 and 1 (0.02 is 2 points)",
        ));
    }
    let default_window = file
        .defaults
        .alert_window
        .clone()
        .unwrap_or_else(|| "5m".to_string());
    let default_for = file
        .defaults
        .alert_for
        .clone()
        .unwrap_or_else(|| "2m".to_string());
    if file.slo.is_empty() {
        return Err(err(
            "slo",
            "no SLOs".to_string(),
            "add at least one [[slo]] table",
        ));
    }
    for (i, s) in file.services.iter().enumerate() {
        if s.is_empty() || s.contains('"') {
            return Err(err(
                &format!("services[{i}]"),
                format!("{s:?} is not a job name"),
                "use the Prometheus job names, such as gateway-bff",
            ));
        }
    }
    let mut slos = Vec::new();
    for (i, s) in file.slo.iter().enumerate() {
        let key = |k: &str| format!("slo[{i}].{k}");
        if s.name.is_empty()
            || !s
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(err(
                &key("name"),
                format!("{:?} is not a usable name", s.name),
                "use letters, digits and _",
            ));
        }
        if file.slo[..i].iter().any(|o| o.name == s.name) {
            return Err(err(
                &key("name"),
                format!("{:?} is defined twice", s.name),
                "give each SLO its own name",
            ));
        }
        let selectors =
            |field: &str, list: &Option<Vec<String>>| -> Result<Vec<Selector>, FileError> {
                let list = list.as_ref().ok_or_else(|| {
                    err(
                        &key(field),
                        format!("missing {field}"),
                        "list one or more counter selectors",
                    )
                })?;
                if list.is_empty() {
                    return Err(err(
                        &key(field),
                        format!("{field} is empty"),
                        "list one or more counter selectors",
                    ));
                }
                list.iter()
                    .enumerate()
                    .map(|(j, t)| {
                        Selector::parse(t).map_err(|e| {
                            err(
                                &format!("slo[{i}].{field}[{j}]"),
                                e,
                                "write a selector like name{label=\"value\"}",
                            )
                        })
                    })
                    .collect()
            };
        let objective = |required: bool| -> Result<Option<Objective>, FileError> {
            match &s.objective {
                Some(o) => Objective::parse(o).map(Some).map_err(|e| {
                    err(
                        &key("objective"),
                        e,
                        "write \">= 0.80\", \"< 0.05\" or \"== 1\"",
                    )
                }),
                None if required => Err(err(
                    &key("objective"),
                    "missing objective".to_string(),
                    "add objective = \">= 0.80\" (or <, <=, >, ==)",
                )),
                None => Ok(None),
            }
        };
        let forbid = |fields: &[(&str, bool)], kind: &str| -> Result<(), FileError> {
            for (f, set) in fields {
                if *set {
                    return Err(err(
                        &key(f),
                        format!("{f} does not apply to a {kind} SLO"),
                        "remove it",
                    ));
                }
            }
            Ok(())
        };
        let kind = match s.kind.as_str() {
            "ratio" => {
                forbid(
                    &[
                        ("histogram", s.histogram.is_some()),
                        ("quantile", s.quantile.is_some()),
                        ("threshold_seconds", s.threshold_seconds.is_some()),
                        ("metric", s.metric.is_some()),
                        ("aggregation", s.aggregation.is_some()),
                    ],
                    "ratio",
                )?;
                let (numerator, numerator_is_bad) = match (&s.good, &s.bad) {
                    (Some(_), Some(_)) => {
                        return Err(err(
                            &key("bad"),
                            "both good and bad are set".to_string(),
                            "keep one: good events or bad events over total",
                        ));
                    }
                    (Some(_), None) => (selectors("good", &s.good)?, false),
                    (None, Some(_)) => (selectors("bad", &s.bad)?, true),
                    (None, None) => {
                        return Err(err(
                            &key("good"),
                            "missing good or bad".to_string(),
                            "add good = [...] or bad = [...]",
                        ));
                    }
                };
                let objective = objective(true)?.expect("required");
                if !(0.0..=1.0).contains(&objective.value) {
                    return Err(err(
                        &key("objective"),
                        format!("{} is not a ratio", objective.value),
                        "a ratio objective is between 0 and 1 (0.8 is 80%)",
                    ));
                }
                Kind::Ratio {
                    numerator,
                    numerator_is_bad,
                    total: selectors("total", &s.total)?,
                    objective,
                }
            }
            "latency" => {
                forbid(
                    &[
                        ("good", s.good.is_some()),
                        ("bad", s.bad.is_some()),
                        ("total", s.total.is_some()),
                        ("metric", s.metric.is_some()),
                        ("aggregation", s.aggregation.is_some()),
                        ("objective", s.objective.is_some()),
                    ],
                    "latency",
                )?;
                let histogram = s.histogram.as_ref().ok_or_else(|| {
                    err(
                        &key("histogram"),
                        "missing histogram".to_string(),
                        "name the histogram, such as api_response_time_seconds",
                    )
                })?;
                let histogram = Selector::parse(histogram).map_err(|e| {
                    err(
                        &key("histogram"),
                        e,
                        "write a selector like name{label=\"value\"}",
                    )
                })?;
                if histogram.name.ends_with("_bucket")
                    || histogram.name.ends_with("_count")
                    || histogram.name.ends_with("_sum")
                {
                    return Err(err(
                        &key("histogram"),
                        format!(
                            "{} is a histogram series, not its base name",
                            histogram.name
                        ),
                        "drop the _bucket, _count or _sum suffix",
                    ));
                }
                let quantile = s.quantile.ok_or_else(|| {
                    err(
                        &key("quantile"),
                        "missing quantile".to_string(),
                        "add quantile = 0.95",
                    )
                })?;
                if !(quantile > 0.0 && quantile < 1.0) {
                    return Err(err(
                        &key("quantile"),
                        format!("{quantile} is not a quantile"),
                        "use a number between 0 and 1, such as 0.95",
                    ));
                }
                let threshold = s.threshold_seconds.ok_or_else(|| {
                    err(
                        &key("threshold_seconds"),
                        "missing threshold_seconds".to_string(),
                        "add threshold_seconds = 2",
                    )
                })?;
                if !(threshold > 0.0 && threshold.is_finite()) {
                    return Err(err(
                        &key("threshold_seconds"),
                        format!("{threshold} is not a duration"),
                        "use a positive number of seconds",
                    ));
                }
                Kind::Latency {
                    histogram,
                    quantile,
                    threshold_seconds: threshold,
                }
            }
            "gauge" => {
                forbid(
                    &[
                        ("good", s.good.is_some()),
                        ("bad", s.bad.is_some()),
                        ("total", s.total.is_some()),
                        ("histogram", s.histogram.is_some()),
                        ("quantile", s.quantile.is_some()),
                        ("threshold_seconds", s.threshold_seconds.is_some()),
                    ],
                    "gauge",
                )?;
                let metric = s.metric.as_ref().ok_or_else(|| {
                    err(
                        &key("metric"),
                        "missing metric".to_string(),
                        "name the metric, such as process_resident_memory_bytes",
                    )
                })?;
                let metric = Selector::parse(metric).map_err(|e| {
                    err(
                        &key("metric"),
                        e,
                        "write a selector like name{label=\"value\"}",
                    )
                })?;
                let aggregation = match s.aggregation.as_deref().unwrap_or("max_over_time") {
                    "max_over_time" => Aggregation::MaxOverTime,
                    "min_over_time" => Aggregation::MinOverTime,
                    "avg_over_time" => Aggregation::AvgOverTime,
                    "rate" => Aggregation::Rate,
                    other => {
                        return Err(err(
                            &key("aggregation"),
                            format!("{other:?} is not an aggregation"),
                            "use max_over_time, min_over_time, avg_over_time or rate",
                        ));
                    }
                };
                if file.services.is_empty() {
                    return Err(err(
                        "services",
                        "gauge SLOs are judged per service, and no services are listed".to_string(),
                        "add services = [\"gateway-bff\", ...] (Prometheus job names)",
                    ));
                }
                Kind::Gauge {
                    metric,
                    aggregation,
                    objective: objective(true)?.expect("required"),
                    unit: s.unit.clone().unwrap_or_default(),
                }
            }
            other => {
                return Err(err(
                    &key("kind"),
                    format!("{other:?} is not a kind"),
                    "use ratio, latency or gauge",
                ));
            }
        };
        if let Some(c) = &s.client
            && !CLIENT_MEASURES.contains(&c.as_str())
        {
            return Err(err(
                &key("client"),
                format!("{c:?} is not a client measurement"),
                &format!("use one of {}", CLIENT_MEASURES.join(", ")),
            ));
        }
        for (field, value) in [
            ("alert_window", &s.alert_window),
            ("alert_for", &s.alert_for),
        ] {
            if let Some(v) = value
                && !valid_promql_duration(v)
            {
                return Err(err(
                    &key(field),
                    format!("{v:?} is not a Prometheus duration"),
                    "write it like 5m, 30s or 1h",
                ));
            }
        }
        let severity = s.severity.clone().unwrap_or_else(|| "warning".to_string());
        if !["critical", "warning", "info"].contains(&severity.as_str()) {
            return Err(err(
                &key("severity"),
                format!("{severity:?} is not a severity"),
                "use critical, warning or info",
            ));
        }
        slos.push(Slo {
            name: s.name.clone(),
            description: if s.description.is_empty() {
                s.name.clone()
            } else {
                s.description.clone()
            },
            area: s.area.clone(),
            kind,
            client: s.client.clone(),
            min_samples: s.min_samples.unwrap_or(min_samples),
            severity,
            alert_window: s
                .alert_window
                .clone()
                .unwrap_or_else(|| default_window.clone()),
            alert_for: s.alert_for.clone().unwrap_or_else(|| default_for.clone()),
            runbook: s.runbook.clone(),
        });
    }
    Ok(SloSet {
        name: file.name,
        description: file.description,
        path: path.to_path_buf(),
        services: file.services,
        client_tolerance: tolerance,
        slos,
    })
}

fn valid_promql_duration(v: &str) -> bool {
    let mut saw_digit = false;
    let mut saw_unit = false;
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            saw_digit = true;
        } else if saw_digit && "smhdwy".contains(c) {
            saw_unit = true;
            saw_digit = false;
            if c == 'm' && chars.peek() == Some(&'s') {
                chars.next();
            }
        } else {
            return false;
        }
    }
    saw_unit && !saw_digit
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &str = r#"
name = "t"
services = ["gateway-bff"]
[[slo]]
name = "api_error_rate"
kind = "ratio"
bad = ['api_errors_total{job="gateway-bff"}']
total = ['api_requests_total{job="gateway-bff"}']
objective = "< 0.01"
[[slo]]
name = "api_p95"
kind = "latency"
histogram = 'api_response_time_seconds{job="gateway-bff"}'
quantile = 0.95
threshold_seconds = 2
[[slo]]
name = "memory"
kind = "gauge"
metric = "process_resident_memory_bytes"
aggregation = "max_over_time"
objective = "< 1e9"
unit = "bytes"
"#;

    #[test]
    fn parses_the_three_kinds() {
        let set = parse(Path::new("s.toml"), SET).unwrap();
        assert_eq!(set.slos.len(), 3);
        assert_eq!(set.slos[0].objective_text(), "< 1%");
        assert_eq!(set.slos[1].objective_text(), "p95 <= 2 s");
        assert_eq!(set.slos[2].objective_text(), "< 1000 MB");
        assert_eq!(set.slos[0].min_samples, 20);
        assert!(matches!(
            set.slos[0].kind,
            Kind::Ratio {
                numerator_is_bad: true,
                ..
            }
        ));
    }

    #[test]
    fn objectives_parse_and_hold() {
        let o = Objective::parse(">= 0.80").unwrap();
        assert!(o.holds(0.8) && !o.holds(0.79));
        assert!(Objective::parse("< 1e9").unwrap().holds(5e8));
        assert!(Objective::parse("== 1").unwrap().holds(1.0));
        assert!(Objective::parse("about 3").is_err());
        assert!(Objective::parse(">= x").is_err());
    }

    #[test]
    fn errors_point_at_the_slo_and_key() {
        let e = parse(
            Path::new("s.toml"),
            &SET.replace("quantile = 0.95", "quantile = 95"),
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("slo[1].quantile"));
        assert_eq!(e.line, Some(14), "{e}");
        let e = parse(
            Path::new("s.toml"),
            &SET.replace("kind = \"gauge\"", "kind = \"vibe\""),
        )
        .unwrap_err();
        assert!(
            e.fix.as_ref().unwrap().contains("ratio, latency or gauge"),
            "{e}"
        );
        let e = parse(
            Path::new("s.toml"),
            &SET.replace("objective = \"< 0.01\"", "objective = \"less than 1%\""),
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("slo[0].objective"));
        let e = parse(
            Path::new("s.toml"),
            &SET.replace(
                "histogram = 'api_response_time_seconds{",
                "histogram = 'api_response_time_seconds_bucket{",
            ),
        )
        .unwrap_err();
        assert!(e.message.contains("base name"), "{e}");
        let e = parse(
            Path::new("s.toml"),
            &SET.replace("name = \"memory\"", "name = \"api_p95\""),
        )
        .unwrap_err();
        assert!(e.message.contains("defined twice"), "{e}");
    }

    #[test]
    fn promql_durations() {
        assert!(valid_promql_duration("5m"));
        assert!(valid_promql_duration("1h30m"));
        assert!(valid_promql_duration("500ms"));
        assert!(!valid_promql_duration("5"));
        assert!(!valid_promql_duration("five minutes"));
    }
}
