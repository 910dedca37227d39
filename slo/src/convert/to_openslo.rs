//! A checked set as OpenSLO v1: a `Service` document carrying the set's own
//! settings, then one `SLO` document per SLO (counters as `ratioMetric` with
//! `counter: true`, latency as the bucket under the threshold over the count,
//! gauges as a `thresholdMetric`), loadgen's settings in `loadgen/<setting>`
//! annotations.

use serde::Serialize;

use crate::definition::openslo::{
    API_VERSION, Holder, Metadata, MetricSource, ObjectiveDoc, PREFIX, RatioMetric, ServiceSpec,
    Sli, SliSpec, TimeWindow,
};
use crate::definition::{Extra, Kind, Op, Slo, SloSet, round};
use crate::selector::Selector;

/// Writes a checked set as OpenSLO v1: a `Service` document, then one `SLO` per SLO.
pub fn write(set: &SloSet) -> Result<String, String> {
    let mut service = Metadata {
        name: dns_name(&set.name),
        ..Metadata::default()
    };
    service
        .annotations
        .insert(format!("{PREFIX}services"), set.services.join(","));
    service.annotations.insert(
        format!("{PREFIX}source-tolerance"),
        crate::format::trim_float(set.source_tolerance),
    );
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<S> {
        api_version: &'static str,
        kind: &'static str,
        metadata: Metadata,
        spec: S,
    }
    let mut out = serde_saphyr::to_string(&Doc {
        api_version: API_VERSION,
        kind: "Service",
        metadata: service,
        spec: ServiceSpec {
            description: set.description.clone(),
        },
    })
    .map_err(|e| e.to_string())?;
    for slo in &set.slos {
        let (metadata, spec) = slo_doc(set, slo);
        out.push_str("---\n");
        out.push_str(
            &serde_saphyr::to_string(&Doc {
                api_version: API_VERSION,
                kind: "SLO",
                metadata,
                spec,
            })
            .map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

/// A name as OpenSLO spells names (RFC 1123: lower case, `-`).
fn dns_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SloSpecOut {
    description: String,
    service: String,
    indicator: Sli,
    time_window: Vec<TimeWindow>,
    budgeting_method: &'static str,
    objectives: Vec<ObjectiveDoc>,
}

fn source(query: String) -> Holder {
    Holder {
        metric_source: MetricSource {
            metric_source_ref: None,
            kind: Some("Prometheus".into()),
            spec: [("query".to_string(), query)].into(),
        },
    }
}

fn counters(selectors: &[Selector]) -> String {
    selectors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" + ")
}

/// One SLO as an OpenSLO `SLO` document's metadata and spec.
fn slo_doc(set: &SloSet, slo: &Slo) -> (Metadata, SloSpecOut) {
    let mut metadata = Metadata {
        name: dns_name(&slo.name),
        display_name: Some(slo.description.clone()),
        ..Metadata::default()
    };
    let a = &mut metadata.annotations;
    for (extra, value) in super::extras(slo) {
        if extra == Extra::Period {
            continue; // the time window
        }
        a.insert(
            format!("{PREFIX}{}", extra.as_str().replace('_', "-")),
            value,
        );
    }
    let (sli, objective) = indicator(slo);
    let spec = SloSpecOut {
        description: slo.description.clone(),
        service: dns_name(&set.name),
        indicator: Sli {
            metadata: Metadata {
                name: dns_name(&slo.name),
                ..Metadata::default()
            },
            spec: sli,
        },
        time_window: vec![TimeWindow {
            duration: crate::duration::promql(slo.period),
            is_rolling: Some(true),
            calendar: None,
        }],
        budgeting_method: "Occurrences",
        objectives: vec![objective],
    };
    (metadata, spec)
}

/// A ratio indicator: good (or bad) events over all events.
fn ratio(counter: bool, numerator: Holder, bad: bool, total: Holder) -> SliSpec {
    SliSpec {
        description: None,
        threshold_metric: None,
        ratio_metric: Some(RatioMetric {
            counter,
            good: (!bad).then(|| numerator.clone()),
            bad: bad.then_some(numerator),
            total: Some(total),
            raw_type: None,
            raw: None,
        }),
    }
}

/// An objective on the share of good events.
fn share(target: f64) -> ObjectiveDoc {
    ObjectiveDoc {
        target: Some(target),
        ..Default::default()
    }
}

/// An SLO's indicator and objective.
fn indicator(slo: &Slo) -> (SliSpec, ObjectiveDoc) {
    match &slo.kind {
        Kind::Ratio(r) => (
            ratio(
                true,
                source(counters(&r.numerator)),
                r.numerator_is_bad,
                source(counters(&r.total)),
            ),
            share(good_target(r.numerator_is_bad, r.objective.value)),
        ),
        Kind::Query(q) => (
            ratio(
                false,
                source(q.numerator.template.clone()),
                q.numerator_is_bad,
                source(q.total.template.clone()),
            ),
            share(good_target(q.numerator_is_bad, q.objective.value)),
        ),
        Kind::Latency(l) => {
            let bucket = crate::promql::selector(
                &crate::promql::bucket(&l.histogram),
                &[&crate::promql::le_matcher(l.threshold_seconds)],
            );
            let count = crate::promql::count(&l.histogram).to_string();
            (
                ratio(true, source(bucket), false, source(count)),
                share(l.quantile),
            )
        }
        Kind::Gauge(g) => (
            SliSpec {
                description: None,
                threshold_metric: Some(source(g.metric.to_string())),
                ratio_metric: None,
            },
            ObjectiveDoc {
                op: Some(op_name(g.objective.op).into()),
                value: Some(g.objective.value),
                target: Some(1.0),
                ..Default::default()
            },
        ),
    }
}

/// The share of good events an objective on good (or bad) events asks for.
fn good_target(bad: bool, value: f64) -> f64 {
    if bad { round(1.0 - value) } else { value }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Lt => "lt",
        Op::Le => "lte",
        Op::Gt => "gt",
        Op::Ge => "gte",
        Op::Eq => "eq",
    }
}
