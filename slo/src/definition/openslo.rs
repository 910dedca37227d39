//! OpenSLO v1 files (`apiVersion: openslo/v1`): `SLO` documents with a
//! `ratioMetric` or `thresholdMetric` indicator over Prometheus queries (inline or
//! an `SLI` document named by `indicatorRef`), one objective, a rolling
//! `timeWindow`; a `Service` document names the set. Other kinds (`DataSource`,
//! `AlertPolicy`, ...) are read past: loadgen writes its own alerts.
//!
//! loadgen's settings without an OpenSLO field ride in `loadgen/<setting>`
//! annotations ([`super::Extra`]); `crate::convert` writes them, so a conversion
//! loses nothing.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::file::{DefaultsFile, SetFile, SloFile};
use super::import::{self, Events, event_slo};

use super::yaml::{Document, YamlFile, documents, line};
use super::{Aggregation, Objective, Op, SloKind, SloSet};
use crate::duration::DurationField;
use crate::selector::Selector;
use crate::toml_file::FileError;

/// The API version read and written.
pub const API_VERSION: &str = "openslo/v1";
/// The prefix of loadgen's annotations.
pub(crate) const PREFIX: &str = "loadgen/";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    api_version: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Metadata {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
    /// Read past: loadgen's settings are annotations.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub(crate) labels: Option<IgnoredAny>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceDoc {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Spanned<Metadata>,
    #[serde(default)]
    spec: ServiceSpec,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ServiceSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SliDoc {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Metadata,
    spec: SliSpec,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Sli {
    #[serde(default)]
    pub(crate) metadata: Metadata,
    pub(crate) spec: SliSpec,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SliSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) threshold_metric: Option<Holder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ratio_metric: Option<RatioMetric>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RatioMetric {
    #[serde(default)]
    pub(crate) counter: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) good: Option<Holder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bad: Option<Holder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) total: Option<Holder>,
    #[serde(default, skip_serializing)]
    pub(crate) raw_type: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) raw: Option<IgnoredAny>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Holder {
    pub(crate) metric_source: MetricSource,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MetricSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) metric_source_ref: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    pub(crate) spec: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SloDoc {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Spanned<Metadata>,
    spec: SloSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SloSpec {
    #[serde(default)]
    description: Option<String>,
    #[allow(dead_code)]
    service: String,
    #[serde(default)]
    indicator: Option<Spanned<Sli>>,
    #[serde(default)]
    indicator_ref: Option<Spanned<String>>,
    #[serde(default)]
    time_window: Option<Spanned<Vec<TimeWindow>>>,
    budgeting_method: Spanned<String>,
    objectives: Spanned<Vec<ObjectiveDoc>>,
    /// Read past: loadgen writes its own alerts (`loadgen rules`).
    #[allow(dead_code)]
    #[serde(default)]
    alert_policies: Option<IgnoredAny>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TimeWindow {
    pub(crate) duration: String,
    #[serde(default)]
    pub(crate) is_rolling: Option<bool>,
    #[serde(default, skip_serializing)]
    pub(crate) calendar: Option<IgnoredAny>,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ObjectiveDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) target_percent: Option<f64>,
    /// Read past: the time-slice and composite fields apply to budgeting methods
    /// and composite SLOs loadgen refuses before reading them.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub(crate) time_slice_target: Option<f64>,
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub(crate) time_slice_window: Option<String>,
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub(crate) indicator: Option<IgnoredAny>,
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub(crate) indicator_ref: Option<String>,
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub(crate) composite_weight: Option<f64>,
}

/// Whether a text is an OpenSLO file.
pub fn is_openslo(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with("apiVersion:") && l.contains("openslo/"))
}

/// Reads and checks an OpenSLO file.
pub fn parse(path: &Path, text: &str) -> Result<SloSet, FileError> {
    let mut f = YamlFile::new(path);
    let docs = documents(text);
    let mut set = SetFile {
        name: path
            .file_stem()
            .map_or("openslo".into(), |s| s.to_string_lossy().into_owned()),
        description: String::new(),
        services: Vec::new(),
        defaults: DefaultsFile::default(),
        slo: Vec::new(),
    };
    let (mut slis, mut slos) = (BTreeMap::new(), Vec::new());
    for doc in &docs {
        let header: Header = f.parse(doc)?;
        let version = header.api_version.as_ref().map(|v| v.value.as_str());
        let at = |s: &Option<Spanned<String>>| s.as_ref().map_or(doc.offset + 1, |v| line(doc, v));
        if version != Some(API_VERSION) {
            return Err(f.error(
                "apiVersion",
                at(&header.api_version),
                format!("{} is not {API_VERSION}", version.unwrap_or("no apiVersion")),
                format!("write apiVersion: {API_VERSION} (v1alpha and v2alpha files: convert them with the OpenSLO tool oslo first)"),
            ));
        }
        match header.kind.as_ref().map(|k| k.value.as_str()) {
            Some("SLO") => slos.push(doc),
            Some("SLI") => {
                let sli: SliDoc = f.parse(doc)?;
                slis.insert(sli.metadata.name.clone(), sli.spec);
            }
            Some("Service") => service(&mut f, doc, &mut set)?,
            _ => {}
        }
    }
    if slos.is_empty() {
        return Err(FileError::whole(
            path,
            "no SLO documents",
            Some("add a document with kind: SLO".to_string()),
        ));
    }
    for (i, doc) in slos.into_iter().enumerate() {
        let slo = slo(&mut f, doc, i, &slis)?;
        if slo.kind == SloKind::Gauge && set.services.is_empty() {
            return Err(f.error(
                "spec.indicator.spec.thresholdMetric",
                f.locations.find(&format!("slo[{i}].metric")).map_or(1, |l| l.1),
                "a threshold metric is judged per service, and the file names no services",
                "add a Service document with the annotation loadgen/services: \"gateway-bff,planning-engine\" (Prometheus job names)",
            ));
        }
        set.slo.push(slo);
    }
    let checker = crate::schema::Checker::translated(path, text, &f.locations);
    super::check::check(&checker, set)
}

/// A `Service` document: the set's name, description and loadgen's settings.
fn service(f: &mut YamlFile, doc: &Document, set: &mut SetFile) -> Result<(), FileError> {
    let s: ServiceDoc = f.parse(doc)?;
    let at = line(doc, &s.metadata);
    set.name = s.metadata.value.name.clone();
    set.description = s.spec.description;
    f.map("services", "metadata.annotations", at);
    f.map("defaults", "metadata.annotations", at);
    f.map("name", "metadata.name", at);
    for (key, value) in &s.metadata.value.annotations {
        match key.strip_prefix(PREFIX) {
            Some("services") => {
                set.services = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            Some("source-tolerance") => {
                set.defaults.source_tolerance = Some(value.parse().map_err(|_| {
                    f.error(
                        key,
                        at,
                        format!("{value:?} is not a number"),
                        "write a share such as 0.5",
                    )
                })?)
            }
            Some(_) => {
                return Err(f.error(
                    key,
                    at,
                    "not a loadgen setting of a Service",
                    "use loadgen/services (Prometheus jobs, comma-separated) or loadgen/source-tolerance",
                ));
            }
            None => {}
        }
    }
    Ok(())
}

/// One `SLO` document.
fn slo(
    f: &mut YamlFile,
    doc: &Document,
    i: usize,
    slis: &BTreeMap<String, SliSpec>,
) -> Result<SloFile, FileError> {
    let d: SloDoc = f.parse(doc)?;
    let meta_at = line(doc, &d.metadata);
    let meta = &d.metadata.value;
    let k = |s: &str| format!("slo[{i}].{s}");
    f.map(format!("slo[{i}]"), "metadata.name", meta_at);
    let mut out = SloFile::new(meta.name.replace(['-', '.'], "_"), SloKind::Ratio);
    out.description = meta
        .display_name
        .clone()
        .or(d.spec.description.clone())
        .unwrap_or_default();
    budgeting(f, doc, &d.spec)?;
    period(f, doc, &d.spec, i, &mut out)?;
    let objectives_at = line(doc, &d.spec.objectives);
    let [objective] = &d.spec.objectives.value[..] else {
        return Err(f.error(
            "spec.objectives",
            objectives_at,
            format!("{} objectives", d.spec.objectives.value.len()),
            "write one objective per SLO (split the others into SLOs of their own)",
        ));
    };
    for key in ["objective", "quantile"] {
        f.map(k(key), "spec.objectives", objectives_at);
    }
    let (sli, sli_at) = resolve_indicator(f, doc, &d, meta_at, slis)?;
    for key in import::EVENT_KEYS
        .into_iter()
        .chain(["metric", "aggregation", "services"])
    {
        f.map(k(key), "spec.indicator", sli_at);
    }
    indicator(f, &sli, sli_at, objective, objectives_at, &mut out)?;
    annotations(f, meta, meta_at, i, &mut out)?;
    Ok(out)
}

/// Refuses budgeting methods other than `Occurrences`: verdicts count events.
fn budgeting(f: &YamlFile, doc: &Document, spec: &SloSpec) -> Result<(), FileError> {
    let method = &spec.budgeting_method;
    if method.value == "Occurrences" {
        return Ok(());
    }
    Err(f.error(
        "spec.budgetingMethod",
        line(doc, method),
        format!("{:?} budgeting is not judged by loadgen", method.value),
        "write budgetingMethod: Occurrences: verdicts count events, not time slices",
    ))
}

/// The SLO's indicator, inline or named by `indicatorRef`, and its line.
fn resolve_indicator(
    f: &YamlFile,
    doc: &Document,
    d: &SloDoc,
    meta_at: usize,
    slis: &BTreeMap<String, SliSpec>,
) -> Result<(SliSpec, usize), FileError> {
    Ok(match (&d.spec.indicator, &d.spec.indicator_ref) {
        (Some(s), _) => (s.value.spec.clone(), line(doc, s)),
        (None, Some(r)) => (
            slis.get(&r.value).cloned().ok_or_else(|| {
                f.error(
                    "spec.indicatorRef",
                    line(doc, r),
                    format!("no SLI named {:?} in the file", r.value),
                    "add the SLI document, or write the indicator inline",
                )
            })?,
            line(doc, r),
        ),
        (None, None) => {
            return Err(f.error(
                "spec.indicator",
                meta_at,
                "no indicator",
                "add spec.indicator with a ratioMetric or thresholdMetric",
            ));
        }
    })
}

/// loadgen's settings in `loadgen/<setting>` annotations.
fn annotations(
    f: &mut YamlFile,
    meta: &Metadata,
    at: usize,
    i: usize,
    out: &mut SloFile,
) -> Result<(), FileError> {
    for key in [
        "client",
        "client_requests",
        "client_flow",
        "min_samples",
        "confidence",
        "severity",
        "alert_window",
        "alert_for",
        "runbook",
        "area",
        "unit",
        "name",
    ] {
        f.map(format!("slo[{i}].{key}"), "metadata.annotations", at);
    }
    let extras = import::extras(&meta.annotations, PREFIX).map_err(|key| {
        f.error(
            &key,
            at,
            "not a loadgen setting",
            import::extras_fix(PREFIX),
        )
    })?;
    for (extra, value) in extras {
        import::apply_extra(out, extra, value).map_err(|(m, fix)| {
            f.error(
                &format!("{PREFIX}{}", extra.as_str().replace('_', "-")),
                at,
                m,
                fix,
            )
        })?;
    }
    Ok(())
}

/// The rolling time window: the SLO period.
fn period(
    f: &mut YamlFile,
    doc: &Document,
    spec: &SloSpec,
    i: usize,
    out: &mut SloFile,
) -> Result<(), FileError> {
    let Some(windows) = &spec.time_window else {
        return Ok(());
    };
    let at = line(doc, windows);
    f.map(format!("slo[{i}].period"), "spec.timeWindow", at);
    let [w] = &windows.value[..] else {
        return Err(f.error(
            "spec.timeWindow",
            at,
            "more than one time window",
            "keep one rolling window, such as duration: 30d",
        ));
    };
    if w.is_rolling == Some(false) || w.calendar.is_some() {
        return Err(f.error(
            "spec.timeWindow",
            at,
            "a calendar window",
            "write isRolling: true: loadgen's error budget is a rolling period",
        ));
    }
    let d = crate::duration::parse(&w.duration).map_err(|e| {
        f.error(
            "spec.timeWindow[0].duration",
            at,
            e,
            "write a duration such as 28d or 30d",
        )
    })?;
    out.period = Some(DurationField(d));
    Ok(())
}

/// The query of a metric source (Prometheus: `query` or `promql`).
fn query<'h>(f: &YamlFile, h: &'h Holder, key: &str, at: usize) -> Result<&'h str, FileError> {
    let source = &h.metric_source;
    if let Some(t) = &source.kind
        && !t.eq_ignore_ascii_case("prometheus")
    {
        return Err(f.error(
            &format!("{key}.metricSource.type"),
            at,
            format!("{t:?} is not Prometheus"),
            "loadgen judges Prometheus queries: write type: Prometheus",
        ));
    }
    source
        .spec
        .get("query")
        .or(source.spec.get("promql"))
        .map(String::as_str)
        .ok_or_else(|| {
            f.error(
                &format!("{key}.metricSource.spec"),
                at,
                "no query",
                "write the PromQL as metricSource.spec.query",
            )
        })
}

/// The objective's share of good events (`target`, or `targetPercent` / 100).
fn target(f: &YamlFile, objective: &ObjectiveDoc, at: usize) -> Result<f64, FileError> {
    match (objective.target, objective.target_percent) {
        (Some(t), _) => Ok(t),
        (None, Some(p)) => Ok(p / 100.0),
        (None, None) => Err(f.error(
            "spec.objectives[0].target",
            at,
            "no target",
            "write target: 0.99 (the share of good events)",
        )),
    }
}

/// The indicator and objective, as one of our kinds.
fn indicator(
    f: &YamlFile,
    sli: &SliSpec,
    at: usize,
    objective: &ObjectiveDoc,
    objective_at: usize,
    out: &mut SloFile,
) -> Result<(), FileError> {
    let target = target(f, objective, objective_at)?;
    if let Some(t) = &sli.threshold_metric {
        return threshold(f, t, at, objective, objective_at, target, out);
    }
    if let Some(r) = &sli.ratio_metric
        && (r.raw.is_some() || r.raw_type.is_some())
    {
        return Err(f.error(
            "spec.indicator.spec.ratioMetric.raw",
            at,
            "a raw ratio gives no event counts",
            "write good (or bad) and total: verdicts are decided on the events' confidence bounds",
        ));
    }
    let Some(r) = &sli.ratio_metric else {
        return Err(f.error(
            "spec.indicator.spec",
            at,
            "neither ratioMetric nor thresholdMetric",
            "write a ratioMetric (good or bad over total) or a thresholdMetric",
        ));
    };
    let (numerator, bad) = match (&r.good, &r.bad) {
        (Some(g), None) => (g, false),
        (None, Some(b)) => (b, true),
        _ => {
            return Err(f.error(
                "spec.indicator.spec.ratioMetric",
                at,
                "needs one of good and bad",
                "write good (or bad) and total",
            ));
        }
    };
    let total = r.total.as_ref().ok_or_else(|| {
        f.error(
            "spec.indicator.spec.ratioMetric.total",
            at,
            "no total",
            "write total: the query of all events",
        )
    })?;
    let read = |h: &Holder, key: &str| -> Result<Events, FileError> {
        let q = query(f, h, key, at)?;
        import::events(q, r.counter).map_err(|why| {
            f.error(
                &format!("{key}.metricSource.spec.query"),
                at,
                why,
                import::EVENTS_FIX,
            )
        })
    };
    let key = if bad {
        "ratioMetric.bad"
    } else {
        "ratioMetric.good"
    };
    let (n, t) = (read(numerator, key)?, read(total, "ratioMetric.total")?);
    event_slo(out, n, bad, t, target, None);
    Ok(())
}

/// A threshold metric with target 1: a gauge every sample of which meets the objective.
fn threshold(
    f: &YamlFile,
    t: &Holder,
    at: usize,
    objective: &ObjectiveDoc,
    objective_at: usize,
    target: f64,
    out: &mut SloFile,
) -> Result<(), FileError> {
    let key = "spec.indicator.spec.thresholdMetric";
    let q = query(f, t, key, at)?;
    let metric = Selector::parse(q).map_err(|e| {
        f.error(&format!("{key}.metricSource.spec.query"), at, e.to_string(), "write one metric selector, such as process_resident_memory_bytes{job=\"api\"}: loadgen aggregates it over the window per service")
    })?;
    if target != 1.0 {
        return Err(f.error("spec.objectives[0].target", objective_at, format!("{target} of the samples"), "write target: 1: a threshold metric is judged on every sample (for a share of events, write a ratioMetric)"));
    }
    let op = match objective.op.as_deref() {
        Some("lt") => Op::Lt,
        Some("lte") => Op::Le,
        Some("gt") => Op::Gt,
        Some("gte") => Op::Ge,
        Some("eq") => Op::Eq,
        other => {
            return Err(f.error(
                "spec.objectives[0].op",
                objective_at,
                format!("{other:?} is not an operator"),
                "write op: lt, lte, gt or gte",
            ));
        }
    };
    let value = objective.value.ok_or_else(|| {
        f.error(
            "spec.objectives[0].value",
            objective_at,
            "no value",
            "write value: the threshold every sample must meet",
        )
    })?;
    out.kind = SloKind::Gauge;
    out.metric = Some(metric);
    out.aggregation = Some(if op.larger_is_worse() {
        Aggregation::MaxOverTime
    } else {
        Aggregation::MinOverTime
    });
    out.objective = Some(Objective { op, value });
    Ok(())
}
