//! Writing a checked SLO set out in any of the formats it can be read from
//! ([`Format`]): our TOML ([`to_toml`]), OpenSLO v1 ([`to_openslo`]) and Sloth
//! `prometheus/v1` ([`to_sloth`]). The readers live in [`crate::definition`]; the
//! writers are apart because they build PromQL ([`crate::promql`]), which itself
//! reads definitions.
//!
//! The other formats have no field for most of loadgen's settings (client side,
//! minimum samples, confidence, severity, alert window...): [`extras`] lists them,
//! resolved, for the writers to carry in annotations (OpenSLO) or labels (Sloth),
//! so a round trip gives the same set.

mod to_openslo;
mod to_sloth;
mod to_toml;

use crate::definition::{Extra, Format, Kind, Objective, Slo, SloSet};
use crate::duration::promql as duration;
use crate::format::trim_float;

/// Writes a checked set in a format, with the names of the SLOs that format
/// cannot hold (Sloth has no gauge SLOs): the caller decides whether leaving
/// them out is acceptable.
pub fn write(set: &SloSet, format: Format) -> Result<(String, Vec<String>), String> {
    match format {
        Format::Toml => Ok((to_toml::toml(set), Vec::new())),
        Format::OpenSlo => Ok((to_openslo::write(set)?, Vec::new())),
        Format::Sloth => to_sloth::write(set),
    }
}

/// The loadgen settings of an SLO that the other formats have no field for.
pub fn extras(slo: &Slo) -> Vec<(Extra, String)> {
    let mut out = Vec::new();
    if slo.name.chars().any(|c| c.is_ascii_uppercase()) {
        out.push((Extra::Name, slo.name.clone()));
    }
    if !slo.area.is_empty() {
        out.push((Extra::Area, slo.area.clone()));
    }
    if let Some(c) = slo.client {
        out.push((Extra::Client, c.to_string()));
    }
    if !slo.client_requests.is_empty() {
        out.push((Extra::ClientRequests, slo.client_requests.join(",")));
    }
    if let Some(flow) = &slo.client_flow {
        out.push((Extra::ClientFlow, flow.clone()));
    }
    match &slo.kind {
        Kind::Ratio(r) => out.push((Extra::Objective, objective(r.objective))),
        Kind::Query(q) => out.push((Extra::Objective, objective(q.objective))),
        Kind::Gauge(g) => {
            out.push((Extra::Aggregation, g.aggregation.to_string()));
            if !g.unit.is_empty() {
                out.push((Extra::Unit, g.unit.clone()));
            }
        }
        Kind::Latency(_) => {}
    }
    out.extend([
        (Extra::MinSamples, slo.min_samples.to_string()),
        (Extra::Confidence, trim_float(slo.confidence)),
        (Extra::Severity, slo.severity.to_string()),
        (Extra::AlertWindow, duration(slo.alert_window)),
        (Extra::AlertFor, duration(slo.alert_for)),
        (Extra::Period, duration(slo.period)),
    ]);
    if let Some(r) = &slo.runbook {
        out.push((Extra::Runbook, r.clone()));
    }
    out
}

/// `< 0.01`, as objectives are written.
fn objective(o: Objective) -> String {
    format!("{} {}", o.op.as_str(), trim_float(o.value))
}

#[cfg(test)]
mod tests;
