//! The client's view of an SLO beside the server's verdict, and verdicts from the
//! client's data alone when no server-side source answers.

use crate::client::ClientData;
use crate::definition::{ClientMeasure, Kind, Slo, SloSet};
use crate::format::percent;
use crate::verdict::{ClientView, Source, Status, Verdict, WindowKind};

use super::inconclusive;

/// The client's measurement for an SLO judged by the server, with a note when the
/// two differ by more than the set's tolerance or reach different verdicts.
pub fn view(
    set: &SloSet,
    slo: &Slo,
    measure: ClientMeasure,
    client: &ClientData,
    server: &Verdict,
) -> Option<ClientView> {
    let c = client.measure(measure, slo.threshold_seconds())?;
    let status = if slo.holds(c.value) {
        Status::Pass
    } else {
        Status::Fail
    };
    let disagreement = server.value.and_then(|s| {
        let diff = (c.value - s).abs();
        (diff > set.client_tolerance
            || (server.status != Status::Inconclusive && status != server.status))
            .then(|| {
                format!(
                    "client {} vs {} {} (difference {:.2} points, tolerance {:.2})",
                    percent(c.value),
                    server.source,
                    percent(s),
                    diff * 100.0,
                    set.client_tolerance * 100.0
                )
            })
    });
    Some(ClientView {
        status,
        value: Some(c.value),
        display: c.display,
        samples: c.samples,
        disagreement,
    })
}

/// One SLO judged from the client's data alone.
fn judge_one(slo: &Slo, window_kind: WindowKind, client: &ClientData) -> Verdict {
    let mut v = inconclusive(
        slo,
        window_kind,
        Source::Client,
        "no server-side source, and no client measurement for this SLO".to_string(),
    );
    let Some(c) = slo
        .client
        .and_then(|m| client.measure(m, slo.threshold_seconds()))
    else {
        return v;
    };
    v.samples = c.samples;
    if c.samples < slo.min_samples {
        v.note = Some(format!(
            "only {} events measured by the client; at least {} are needed",
            c.samples, slo.min_samples
        ));
        return v;
    }
    v.status = if slo.holds(c.value) {
        Status::Pass
    } else {
        Status::Fail
    };
    v.value = Some(c.value);
    v.display = c.display;
    v.exact = !matches!(slo.kind, Kind::Latency(_));
    v.note = Some("judged from the client's measurements only".to_string());
    v
}

/// Judges from the client's data alone (no server-side source reachable): SLOs
/// without a client measurement are inconclusive.
pub fn judge_only(set: &SloSet, window_kind: WindowKind, client: &ClientData) -> Vec<Verdict> {
    set.slos
        .iter()
        .map(|slo| judge_one(slo, window_kind, client))
        .collect()
}
