//! A checked set as a Sloth `prometheus/v1` file: each event SLO as its bad events
//! over all events in `rate(...[{{.window}}])` form, loadgen's settings in
//! `loadgen_<setting>` labels. Sloth holds no gauge SLO: [`write`] leaves them out
//! and names them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::definition::sloth::{EventsDoc, PREFIX, SliDoc, VERSION};
use crate::definition::{Extra, Kind, Slo, SloSet, round};

/// Writes a checked set as a Sloth file, and names the SLOs it cannot hold (gauges).
pub fn write(set: &SloSet) -> Result<(String, Vec<String>), String> {
    let mut labels = BTreeMap::new();
    labels.insert("loadgen_services".to_string(), set.services.join(","));
    labels.insert(
        "loadgen_source_tolerance".to_string(),
        crate::format::trim_float(set.source_tolerance),
    );
    if !set.description.is_empty() {
        labels.insert("loadgen_description".to_string(), set.description.clone());
    }
    #[derive(Serialize)]
    struct Out {
        version: &'static str,
        service: String,
        labels: BTreeMap<String, String>,
        slos: Vec<SloOut>,
    }
    #[derive(Serialize)]
    struct SloOut {
        name: String,
        objective: f64,
        description: String,
        labels: BTreeMap<String, String>,
        sli: SliDoc,
    }
    let (mut slos, mut left_out) = (Vec::new(), Vec::new());
    for slo in &set.slos {
        let Some((error_query, total_query)) = queries(slo) else {
            left_out.push(slo.name.clone());
            continue;
        };
        // A good-events query is written as bad events (all less good), so its
        // objective on good events would read backwards: the objective percent says it.
        let good_query = matches!(&slo.kind, Kind::Query(q) if !q.numerator_is_bad);
        let labels = super::extras(slo)
            .into_iter()
            .filter(|(e, _)| !(good_query && *e == Extra::Objective))
            .map(|(e, v)| (format!("{PREFIX}{e}"), v))
            .collect();
        let good = 1.0 - slo.allowed_bad_share().unwrap_or(0.0);
        slos.push(SloOut {
            name: slo.name.to_ascii_lowercase(),
            objective: round(good * 100.0),
            description: slo.description.clone(),
            labels,
            sli: SliDoc {
                events: Some(EventsDoc {
                    error_query,
                    total_query,
                }),
                raw: None,
                plugin: None,
            },
        });
    }
    let out = Out {
        version: VERSION,
        service: set.name.clone(),
        labels,
        slos,
    };
    Ok((
        serde_saphyr::to_string(&out).map_err(|e| e.to_string())?,
        left_out,
    ))
}

/// An event SLO's bad events and all events, as Sloth's queries (`None` for gauges).
fn queries(slo: &Slo) -> Option<(String, String)> {
    use crate::definition::WINDOW_PLACEHOLDER as W;
    let sum = |s: &[crate::selector::Selector]| {
        s.iter()
            .map(|s| format!("sum(rate({s}{W}))"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    Some(match &slo.kind {
        Kind::Ratio(r) if r.numerator_is_bad => (sum(&r.numerator), sum(&r.total)),
        Kind::Ratio(r) => {
            let minus: Vec<String> = r
                .numerator
                .iter()
                .map(|s| format!(" - sum(rate({s}{W}))"))
                .collect();
            (
                format!("{}{}", sum(&r.total), minus.concat()),
                sum(&r.total),
            )
        }
        Kind::Latency(l) => {
            let count = crate::promql::count(&l.histogram);
            let bucket = crate::promql::selector(
                &crate::promql::bucket(&l.histogram),
                &[&crate::promql::le_matcher(l.threshold_seconds)],
            );
            (
                format!("sum(rate({count}{W})) - sum(rate({bucket}{W}))"),
                format!("sum(rate({count}{W}))"),
            )
        }
        Kind::Query(q) if q.numerator_is_bad => {
            (q.numerator.template.clone(), q.total.template.clone())
        }
        Kind::Query(q) => (
            format!("({}) - ({})", q.total.template, q.numerator.template),
            q.total.template.clone(),
        ),
        Kind::Gauge(_) => return None,
    })
}
