//! A checked SLO set as our TOML, every setting written resolved (defaults
//! included), so reading the output gives the same set.

use std::fmt::Write;

use super::objective;
use crate::definition::{Kind, Slo, SloSet};
use crate::duration::promql as duration;
use crate::format::trim_float;

/// A TOML string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(selectors: &[crate::selector::Selector]) -> String {
    let items: Vec<String> = selectors.iter().map(|s| quoted(&s.to_string())).collect();
    format!("[{}]", items.join(", "))
}

/// The set as our TOML.
pub fn toml(set: &SloSet) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "name = {}", quoted(&set.name));
    if !set.description.is_empty() {
        let _ = writeln!(out, "description = {}", quoted(&set.description));
    }
    let services: Vec<String> = set.services.iter().map(|s| quoted(s)).collect();
    let _ = writeln!(out, "services = [{}]", services.join(", "));
    let _ = writeln!(
        out,
        "\n[defaults]\nsource_tolerance = {}",
        trim_float(set.source_tolerance)
    );
    for slo in &set.slos {
        slo_toml(slo, &mut out);
    }
    out
}

fn slo_toml(slo: &Slo, out: &mut String) {
    let _ = writeln!(out, "\n[[slo]]\nname = {}", quoted(&slo.name));
    let _ = writeln!(out, "description = {}", quoted(&slo.description));
    if !slo.area.is_empty() {
        let _ = writeln!(out, "area = {}", quoted(&slo.area));
    }
    let _ = writeln!(out, "kind = \"{}\"", slo.kind_name());
    let good_bad = |bad: bool| if bad { "bad" } else { "good" };
    match &slo.kind {
        Kind::Ratio(r) => {
            let _ = writeln!(
                out,
                "{} = {}",
                good_bad(r.numerator_is_bad),
                list(&r.numerator)
            );
            let _ = writeln!(out, "total = {}", list(&r.total));
            let _ = writeln!(out, "objective = {}", quoted(&objective(r.objective)));
        }
        Kind::Query(q) => {
            let _ = writeln!(
                out,
                "{}_query = {}",
                good_bad(q.numerator_is_bad),
                quoted(&q.numerator.template)
            );
            let _ = writeln!(out, "total_query = {}", quoted(&q.total.template));
            let _ = writeln!(out, "objective = {}", quoted(&objective(q.objective)));
        }
        Kind::Latency(l) => {
            let _ = writeln!(out, "histogram = {}", quoted(&l.histogram.to_string()));
            let _ = writeln!(out, "quantile = {}", trim_float(l.quantile));
            let _ = writeln!(
                out,
                "threshold_seconds = {}",
                trim_float(l.threshold_seconds)
            );
        }
        Kind::Gauge(g) => {
            let _ = writeln!(out, "metric = {}", quoted(&g.metric.to_string()));
            let _ = writeln!(out, "aggregation = \"{}\"", g.aggregation);
            let _ = writeln!(out, "objective = {}", quoted(&objective(g.objective)));
            if !g.unit.is_empty() {
                let _ = writeln!(out, "unit = {}", quoted(&g.unit));
            }
        }
    }
    if let Some(c) = slo.client {
        let _ = writeln!(out, "client = \"{c}\"");
    }
    if !slo.client_requests.is_empty() {
        let names: Vec<String> = slo.client_requests.iter().map(|r| quoted(r)).collect();
        let _ = writeln!(out, "client_requests = [{}]", names.join(", "));
    }
    if let Some(flow) = &slo.client_flow {
        let _ = writeln!(out, "client_flow = {}", quoted(flow));
    }
    let _ = writeln!(out, "min_samples = {}", slo.min_samples);
    let _ = writeln!(out, "confidence = {}", trim_float(slo.confidence));
    let _ = writeln!(out, "severity = \"{}\"", slo.severity);
    let _ = writeln!(out, "alert_window = \"{}\"", duration(slo.alert_window));
    let _ = writeln!(out, "alert_for = \"{}\"", duration(slo.alert_for));
    let _ = writeln!(out, "period = \"{}\"", duration(slo.period));
    if let Some(r) = &slo.runbook {
        let _ = writeln!(out, "runbook = {}", quoted(r));
    }
}
