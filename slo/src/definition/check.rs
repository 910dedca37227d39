//! Checks of an SLO file, section by section: the defaults, the services, then
//! each SLO by its kind. Values were typed when the file was read; what is left
//! are ranges and which keys go together.

use std::time::Duration;

use super::file::{SetFile, SloFile};
use super::{
    ClientMeasure, EventQuery, Gauge, Kind, Latency, Query, Ratio, Slo, SloKind, SloSet, shape,
};
use crate::definition::{Aggregation, Severity};
use crate::duration::DurationField;
use crate::schema::Checker;
use crate::selector::Selector;
use crate::toml_file::FileError;

/// Fewer events than this in a window: inconclusive (the file may say otherwise).
pub const DEFAULT_MIN_SAMPLES: u64 = 20;
/// Sources differing by more than this share of the allowed bad share disagree:
/// half the budget, so a disagreement that could turn a verdict is never ignored.
pub const DEFAULT_SOURCE_TOLERANCE: f64 = 0.5;
/// Confidence of the bounds a verdict must clear.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;
/// Window of a generated alert's expression.
pub const DEFAULT_ALERT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How long a generated alert's condition must hold.
pub const DEFAULT_ALERT_FOR: Duration = Duration::from_secs(2 * 60);
/// The SLO period: the error budget is the allowed bad share of 30 days' events,
/// the period the SRE workbook's burn rates (14.4x, 6x, 3x, 1x) are written for.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(30 * 86_400);
/// The shortest period: the burn-rate windows scale with it, and below a day the
/// shortest (5 minutes at 30 days) would fall under 10 seconds.
const MIN_PERIOD: Duration = Duration::from_secs(86_400);

/// What every SLO of the set gets unless it says otherwise.
struct Defaults {
    min_samples: u64,
    confidence: f64,
    alert_window: Duration,
    alert_for: Duration,
    period: Duration,
}

pub(super) fn check(c: &Checker, file: SetFile) -> Result<SloSet, FileError> {
    c.forbid(
        "defaults.client_tolerance",
        file.defaults.client_tolerance.is_some(),
        "client_tolerance (absolute points) is replaced by source_tolerance",
        "write source_tolerance = 0.5: a share of the allowed bad share (0.5 is half of it)",
    )?;
    let tolerance = file
        .defaults
        .source_tolerance
        .unwrap_or(DEFAULT_SOURCE_TOLERANCE);
    if !(tolerance > 0.0 && tolerance <= 1.0) {
        return Err(c.error(
            "defaults.source_tolerance",
            format!("{tolerance} is out of range"),
            "use a share of the allowed bad share above 0 and at most 1 (0.5 is half)",
        ));
    }
    let defaults = Defaults {
        confidence: confidence(c, "defaults.confidence", file.defaults.confidence)?
            .unwrap_or(DEFAULT_CONFIDENCE),
        min_samples: file.defaults.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES),
        alert_window: file
            .defaults
            .alert_window
            .map_or(DEFAULT_ALERT_WINDOW, |d| d.get()),
        alert_for: file
            .defaults
            .alert_for
            .map_or(DEFAULT_ALERT_FOR, |d| d.get()),
        period: period(c, "defaults.period", file.defaults.period)?.unwrap_or(DEFAULT_PERIOD),
    };
    if file.slo.is_empty() {
        return Err(c.error("slo", "no SLOs", "add at least one [[slo]] table"));
    }
    check_services(c, &file.services)?;
    let mut slos = Vec::new();
    for (i, s) in file.slo.iter().enumerate() {
        if file.slo[..i].iter().any(|o| o.name == s.name) {
            return Err(c.error(
                &format!("slo[{i}].name"),
                format!("{:?} is defined twice", s.name),
                "give each SLO its own name",
            ));
        }
        slos.push(check_slo(c, i, s, &file.services, &defaults)?);
    }
    Ok(SloSet {
        name: file.name,
        description: file.description,
        path: c.path.to_path_buf(),
        services: file.services,
        source_tolerance: tolerance,
        slos,
    })
}

/// A confidence level, between 0.5 and 0.999.
fn confidence(c: &Checker, key: &str, value: Option<f64>) -> Result<Option<f64>, FileError> {
    match value {
        Some(v) if !(0.5..=0.999).contains(&v) => Err(c.error(
            key,
            format!("{v} is not a confidence level"),
            "use a level between 0.5 and 0.999, such as 0.95",
        )),
        v => Ok(v),
    }
}

fn check_services(c: &Checker, services: &[String]) -> Result<(), FileError> {
    for (i, s) in services.iter().enumerate() {
        if s.is_empty() || s.contains('"') {
            return Err(c.error(
                &format!("services[{i}]"),
                format!("{s:?} is not a job name"),
                "use the Prometheus job names, such as gateway-bff",
            ));
        }
    }
    Ok(())
}

fn check_slo(
    c: &Checker,
    i: usize,
    s: &SloFile,
    services: &[String],
    defaults: &Defaults,
) -> Result<Slo, FileError> {
    let key = |k: &str| format!("slo[{i}].{k}");
    if s.name.is_empty()
        || !s
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    {
        return Err(c.error(
            &key("name"),
            format!("{:?} is not a usable name", s.name),
            "use letters, digits and _",
        ));
    }
    let kind = match s.kind {
        SloKind::Ratio => ratio(c, i, s)?,
        SloKind::Latency => latency(c, i, s)?,
        SloKind::Gauge => gauge(c, i, s, services)?,
        SloKind::Query => query(c, i, s)?,
    };
    if s.kind != SloKind::Query {
        forbid(
            c,
            i,
            s.kind,
            &[
                ("good_query", s.good_query.is_some()),
                ("bad_query", s.bad_query.is_some()),
                ("total_query", s.total_query.is_some()),
            ],
        )?;
    }
    Ok(Slo {
        name: s.name.clone(),
        description: if s.description.is_empty() {
            s.name.clone()
        } else {
            s.description.clone()
        },
        area: s.area.clone(),
        kind,
        client: s.client,
        client_requests: client_requests(c, i, s)?,
        client_flow: client_flow(c, i, s)?,
        min_samples: s.min_samples.unwrap_or(defaults.min_samples),
        confidence: confidence(c, &format!("slo[{i}].confidence"), s.confidence)?
            .unwrap_or(defaults.confidence),
        severity: s.severity.unwrap_or(Severity::Warning),
        alert_window: s.alert_window.map_or(defaults.alert_window, |d| d.get()),
        alert_for: s.alert_for.map_or(defaults.alert_for, |d| d.get()),
        period: period(c, &format!("slo[{i}].period"), s.period)?.unwrap_or(defaults.period),
        runbook: s.runbook.clone(),
    })
}

/// `client_requests`: request names the client measurement is kept to; only for
/// the measurements counted per request.
fn client_requests(c: &Checker, i: usize, s: &SloFile) -> Result<Vec<String>, FileError> {
    let Some(names) = &s.client_requests else {
        return Ok(Vec::new());
    };
    let key = format!("slo[{i}].client_requests");
    if !matches!(
        s.client,
        Some(ClientMeasure::ApiErrors | ClientMeasure::ApiLatency)
    ) {
        return Err(c.error(
            &key,
            "client_requests keeps a per-request measurement to some requests",
            "use it with client = \"api_latency\" or \"api_errors\", or remove it",
        ));
    }
    if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
        return Err(c.error(
            &key,
            "an empty request name or list",
            "list the request names, as the flow's steps name them: [\"read_profile\"]",
        ));
    }
    Ok(names.clone())
}

/// `client_flow`: the flow a client measurement reads.
fn client_flow(c: &Checker, i: usize, s: &SloFile) -> Result<Option<String>, FileError> {
    let Some(flow) = &s.client_flow else {
        return Ok(None);
    };
    let key = format!("slo[{i}].client_flow");
    if s.client.is_none() {
        return Err(c.error(
            &key,
            "client_flow names the flow of a client measurement, and this SLO has none",
            "add client = \"...\", or remove client_flow",
        ));
    }
    if flow.trim().is_empty() {
        return Err(c.error(
            &key,
            "an empty flow name",
            "name a flow of the scenario: \"plans\"",
        ));
    }
    Ok(Some(flow.clone()))
}

/// An SLO period, at least a day.
fn period(
    c: &Checker,
    key: &str,
    given: Option<DurationField>,
) -> Result<Option<Duration>, FileError> {
    match given.map(DurationField::get) {
        Some(p) if p < MIN_PERIOD => Err(c.error(
            key,
            format!("{} is shorter than a day", crate::duration::promql(p)),
            "write a period of at least 1d, such as 7d, 28d or 30d (the default)",
        )),
        p => Ok(p),
    }
}

/// Refuses the keys that do not apply to an SLO of `kind`.
fn forbid(c: &Checker, i: usize, kind: SloKind, fields: &[(&str, bool)]) -> Result<(), FileError> {
    for (field, set) in fields {
        c.forbid(
            &format!("slo[{i}].{field}"),
            *set,
            &format!("{field} does not apply to a {kind} SLO"),
            "remove it",
        )?;
    }
    Ok(())
}

fn selectors(
    c: &Checker,
    key: &str,
    field: &str,
    list: &Option<Vec<Selector>>,
) -> Result<Vec<Selector>, FileError> {
    match list {
        None => Err(c.error(
            key,
            format!("missing {field}"),
            "list one or more counter selectors",
        )),
        Some(l) if l.is_empty() => Err(c.error(
            key,
            format!("{field} is empty"),
            "list one or more counter selectors",
        )),
        Some(l) => Ok(l.clone()),
    }
}

fn required_objective(c: &Checker, i: usize, s: &SloFile) -> Result<super::Objective, FileError> {
    s.objective.ok_or_else(|| {
        c.error(
            &format!("slo[{i}].objective"),
            "missing objective",
            "add objective = \">= 0.80\" (or <, <=, >, ==)",
        )
    })
}

fn ratio(c: &Checker, i: usize, s: &SloFile) -> Result<Kind, FileError> {
    let key = |k: &str| format!("slo[{i}].{k}");
    forbid(
        c,
        i,
        SloKind::Ratio,
        &[
            ("histogram", s.histogram.is_some()),
            ("quantile", s.quantile.is_some()),
            ("threshold_seconds", s.threshold_seconds.is_some()),
            ("metric", s.metric.is_some()),
            ("aggregation", s.aggregation.is_some()),
        ],
    )?;
    let (numerator, numerator_is_bad) = match (&s.good, &s.bad) {
        (Some(_), Some(_)) => {
            return Err(c.error(
                &key("bad"),
                "both good and bad are set",
                "keep one: good events or bad events over total",
            ));
        }
        (Some(_), None) => (selectors(c, &key("good"), "good", &s.good)?, false),
        (None, Some(_)) => (selectors(c, &key("bad"), "bad", &s.bad)?, true),
        (None, None) => {
            return Err(c.error(
                &key("good"),
                "missing good or bad",
                "add good = [...] or bad = [...]",
            ));
        }
    };
    let objective = required_objective(c, i, s)?;
    if !(0.0..=1.0).contains(&objective.value) {
        return Err(c.error(
            &key("objective"),
            format!("{} is not a ratio", objective.value),
            "a ratio objective is between 0 and 1 (0.8 is 80%)",
        ));
    }
    Ok(Kind::Ratio(Ratio {
        numerator,
        numerator_is_bad,
        total: selectors(c, &key("total"), "total", &s.total)?,
        objective,
    }))
}

fn latency(c: &Checker, i: usize, s: &SloFile) -> Result<Kind, FileError> {
    let key = |k: &str| format!("slo[{i}].{k}");
    forbid(
        c,
        i,
        SloKind::Latency,
        &[
            ("good", s.good.is_some()),
            ("bad", s.bad.is_some()),
            ("total", s.total.is_some()),
            ("metric", s.metric.is_some()),
            ("aggregation", s.aggregation.is_some()),
            ("objective", s.objective.is_some()),
        ],
    )?;
    let histogram = s.histogram.clone().ok_or_else(|| {
        c.error(
            &key("histogram"),
            "missing histogram",
            "name the histogram, such as api_response_time_seconds",
        )
    })?;
    if ["_bucket", "_count", "_sum"]
        .iter()
        .any(|suffix| histogram.name.ends_with(suffix))
    {
        return Err(c.error(
            &key("histogram"),
            format!(
                "{} is a histogram series, not its base name",
                histogram.name
            ),
            "drop the _bucket, _count or _sum suffix",
        ));
    }
    let quantile = s
        .quantile
        .ok_or_else(|| c.error(&key("quantile"), "missing quantile", "add quantile = 0.95"))?;
    if !(quantile > 0.0 && quantile < 1.0) {
        return Err(c.error(
            &key("quantile"),
            format!("{quantile} is not a quantile"),
            "use a number between 0 and 1, such as 0.95",
        ));
    }
    let threshold = s.threshold_seconds.ok_or_else(|| {
        c.error(
            &key("threshold_seconds"),
            "missing threshold_seconds",
            "add threshold_seconds = 2",
        )
    })?;
    if !(threshold > 0.0 && threshold.is_finite()) {
        return Err(c.error(
            &key("threshold_seconds"),
            format!("{threshold} is not a duration"),
            "use a positive number of seconds",
        ));
    }
    Ok(Kind::Latency(Latency {
        histogram,
        quantile,
        threshold_seconds: threshold,
    }))
}

fn gauge(c: &Checker, i: usize, s: &SloFile, services: &[String]) -> Result<Kind, FileError> {
    forbid(
        c,
        i,
        SloKind::Gauge,
        &[
            ("good", s.good.is_some()),
            ("bad", s.bad.is_some()),
            ("total", s.total.is_some()),
            ("histogram", s.histogram.is_some()),
            ("quantile", s.quantile.is_some()),
            ("threshold_seconds", s.threshold_seconds.is_some()),
        ],
    )?;
    let metric = s.metric.clone().ok_or_else(|| {
        c.error(
            &format!("slo[{i}].metric"),
            "missing metric",
            "name the metric, such as process_resident_memory_bytes",
        )
    })?;
    if services.is_empty() {
        return Err(c.error(
            "services",
            "gauge SLOs are judged per service, and no services are listed",
            "add services = [\"gateway-bff\", ...] (Prometheus job names)",
        ));
    }
    Ok(Kind::Gauge(Gauge {
        metric,
        aggregation: s.aggregation.unwrap_or(Aggregation::MaxOverTime),
        objective: required_objective(c, i, s)?,
        unit: s.unit.clone().unwrap_or_default(),
    }))
}

fn event_query(c: &Checker, key: &str, text: &str) -> Result<EventQuery, FileError> {
    let query = EventQuery::parse(text).map_err(|e| c.error(key, e, super::query::QUERY_FIX))?;
    // Every selector must take the run's scope, or another job's traffic on the
    // same Prometheus would count as the run's.
    super::scoped::with_matchers(&query.template, &["job=\"x\"".to_string()]).map_err(|e| {
        c.error(
            key,
            format!("its selectors cannot be kept to the set's jobs: {e}"),
            "close every string, brace and bracket of the query",
        )
    })?;
    Ok(query)
}

/// A ratio of PromQL event queries, judged through Prometheus only.
fn query(c: &Checker, i: usize, s: &SloFile) -> Result<Kind, FileError> {
    let key = |k: &str| format!("slo[{i}].{k}");
    forbid(
        c,
        i,
        SloKind::Query,
        &[
            ("good", s.good.is_some()),
            ("bad", s.bad.is_some()),
            ("total", s.total.is_some()),
            ("histogram", s.histogram.is_some()),
            ("quantile", s.quantile.is_some()),
            ("threshold_seconds", s.threshold_seconds.is_some()),
            ("metric", s.metric.is_some()),
            ("aggregation", s.aggregation.is_some()),
            ("client", s.client.is_some()),
            ("client_requests", s.client_requests.is_some()),
            ("client_flow", s.client_flow.is_some()),
        ],
    )?;
    let (numerator, numerator_is_bad, field) = match (&s.good_query, &s.bad_query) {
        (Some(_), Some(_)) => {
            return Err(c.error(
                &key("bad_query"),
                "both good_query and bad_query are set",
                "keep one: good events or bad events over total_query",
            ));
        }
        (Some(q), None) => (q, false, "good_query"),
        (None, Some(q)) => (q, true, "bad_query"),
        (None, None) => {
            return Err(c.error(
                &key("bad_query"),
                "missing good_query or bad_query",
                "add bad_query = 'sum(rate(errors_total[{{.window}}]))' (or good_query)",
            ));
        }
    };
    let numerator = event_query(c, &key(field), numerator)?;
    let total_text = s.total_query.as_deref().ok_or_else(|| {
        c.error(
            &key("total_query"),
            "missing total_query",
            "add total_query = 'sum(rate(requests_total[{{.window}}]))'",
        )
    })?;
    let total = event_query(c, &key("total_query"), total_text)?;
    if numerator.counts != total.counts {
        return Err(c.error(
            &key("total_query"),
            format!(
                "{field} counts by {} and total_query by {}",
                numerator.counts, total.counts
            ),
            "count both with rate(...) or both with increase(...)",
        ));
    }
    let objective = required_objective(c, i, s)?;
    if !(0.0..=1.0).contains(&objective.value) {
        return Err(c.error(
            &key("objective"),
            format!("{} is not a ratio", objective.value),
            "a ratio objective is between 0 and 1 (0.999 is 99.9%)",
        ));
    }
    let why = match shape::shape(&numerator.template) {
        shape::Shape::Other(why) => why,
        _ => match shape::shape(&total.template) {
            shape::Shape::Other(why) => why,
            _ => "it is written as PromQL in the SLO file".to_string(),
        },
    };
    Ok(Kind::Query(Query {
        numerator,
        numerator_is_bad,
        total,
        objective,
        why,
    }))
}
