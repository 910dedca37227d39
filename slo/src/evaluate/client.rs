//! The client's view of an SLO beside the server's verdict, and verdicts from the
//! client's data alone when no server-side source answers. The client's share is
//! decided on the same confidence bounds as the server's.

use crate::client::{ClientData, ClientValue};
use crate::definition::{ClientMeasure, Kind, Slo, SloSet};
use crate::verdict::{ClientView, Source, Status, Verdict, WindowKind};

use super::{apply, decide_share, inconclusive};

/// The client's value counting the same events as the SLO's numerator (a
/// failure measure beside a success ratio counts the other side).
fn oriented(slo: &Slo, measure: ClientMeasure, c: ClientValue) -> ClientValue {
    match (&slo.kind, measure.counts_bad()) {
        (Kind::Ratio(r), Some(bad)) if bad != r.numerator_is_bad => ClientValue {
            value: 1.0 - c.value,
            part: c.samples - c.part,
            ..c
        },
        _ => c,
    }
}

/// The status the client's counts prove.
fn status(slo: &Slo, c: &ClientValue) -> (Status, Option<(f64, f64)>, Option<u64>) {
    if c.samples < slo.min_samples {
        return (Status::Inconclusive, None, None);
    }
    match slo.share_objective() {
        Some((op, threshold)) => {
            let d = decide_share((c.part, c.part), c.samples, slo.confidence, op, threshold);
            (d.status, d.bounds, d.needed)
        }
        None if slo.holds(c.value) => (Status::Pass, None, None),
        None => (Status::Fail, None, None),
    }
}

/// The client's measurement for an SLO judged by the server, settled with the
/// server's verdict (see [`super::reconcile`]). When nothing in the run measures
/// it, the verdict says so.
pub fn view(
    set: &SloSet,
    slo: &Slo,
    measure: ClientMeasure,
    client: &ClientData,
    server: &mut Verdict,
) -> Option<ClientView> {
    if let Some(side) = server.client_side.as_mut() {
        side.flow = client.flow(&slo.name).map(str::to_string);
    }
    if let Some(why) = client.why_missing(&slo.name) {
        super::add_note(server, &format!("no client view: {why}"));
        return None;
    }
    let c = oriented(
        slo,
        measure,
        client.measure(&slo.name, slo.threshold_seconds())?,
    );
    let (status, _, _) = status(slo, &c);
    let mut view = ClientView {
        status,
        value: Some(c.value),
        display: c.display,
        samples: c.samples,
        disagreement: None,
    };
    view.disagreement = super::reconcile::settle(
        server,
        &super::reconcile::Other {
            name: "the client",
            status,
            value: Some(c.value),
            display: &view.display,
        },
        slo,
        set.source_tolerance,
    );
    Some(view)
}

/// One SLO judged from the client's data alone.
fn judge_one(slo: &Slo, window_kind: WindowKind, client: &ClientData) -> Verdict {
    let mut v = inconclusive(
        slo,
        window_kind,
        Source::Client,
        "no server-side source, and no client measurement for this SLO".to_string(),
    );
    if let Some(why) = client.why_missing(&slo.name) {
        v.note = Some(format!("no server-side source, and no client view: {why}"));
        return v;
    }
    let Some(c) = slo.client.and_then(|m| {
        Some(oriented(
            slo,
            m,
            client.measure(&slo.name, slo.threshold_seconds())?,
        ))
    }) else {
        return v;
    };
    if let Some(side) = v.client_side.as_mut() {
        side.flow = client.flow(&slo.name).map(str::to_string);
    }
    v.samples = c.samples;
    if c.samples < slo.min_samples {
        v.note = Some(format!(
            "only {} events measured by the client; at least {} are needed",
            c.samples, slo.min_samples
        ));
        return v;
    }
    v.value = Some(c.value);
    v.display = c.display.clone();
    v.exact = !matches!(slo.kind, Kind::Latency(_));
    v.note = Some("judged from the client's measurements only".to_string());
    let (status, bounds, needed) = status(slo, &c);
    apply(
        &mut v,
        super::Decision {
            status,
            bounds,
            needed,
        },
        slo.confidence,
    );
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
