//! Ratio SLOs: good (or bad) events over all events, from counter increases,
//! decided on the confidence bounds of the share.

use super::{
    Edges, Reader, add_note, apply, decide_between, edges_note, inconclusive, share_range, too_few,
};
use crate::definition::{Ratio, Slo};
use crate::error::Error;
use crate::format::{percent, trim_float};
use crate::selector::Selector;
use crate::verdict::{Verdict, Window, WindowKind};

/// The increases of several selectors summed: over the window's outer edges,
/// and between its inner scrapes when the edges are uncertain.
struct Summed {
    value: f64,
    inner: Option<f64>,
    edges: Edges,
}

/// Sums the increases of several selectors; `Ok(Err(note))` when one is missing.
async fn sum_increase<R: Reader>(
    reader: &R,
    selectors: &[Selector],
    window: Window,
) -> Result<Result<Summed, String>, Error> {
    let mut sum = Summed {
        value: 0.0,
        inner: Some(0.0),
        edges: Edges::default(),
    };
    for s in selectors {
        match reader.increase(s, window).await? {
            Some(v) => {
                sum.value += v.value;
                sum.inner = sum.inner.zip(v.inner).map(|(a, b)| a + b);
                sum.edges = sum.edges.join(v.edges);
            }
            None => return Ok(Err(format!("no series {s} in the {}", reader.source()))),
        }
    }
    Ok(Ok(sum))
}

/// A count as a whole number of events.
fn events(v: f64) -> u64 {
    v.round().max(0.0) as u64
}

/// Judges a ratio SLO over one window.
pub async fn judge<R: Reader>(
    slo: &Slo,
    r: &Ratio,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
) -> Result<Verdict, Error> {
    let source = reader.source();
    let total = match sum_increase(reader, &r.total, window).await? {
        Ok(t) => t,
        Err(missing) => return Ok(inconclusive(slo, window_kind, source, missing)),
    };
    let part = match sum_increase(reader, &r.numerator, window).await? {
        Ok(t) => t,
        Err(missing) => return Ok(inconclusive(slo, window_kind, source, missing)),
    };
    let mut v = inconclusive(slo, window_kind, source, String::new());
    let edges = total.edges.join(part.edges);
    v.edges = edges.read;
    v.resets = edges.resets;
    let (k, n) = (events(part.value), events(total.value));
    v.samples = n;
    if n < slo.min_samples || n == 0 {
        v.note = Some(too_few(n, slo.min_samples));
        return Ok(v);
    }
    if k > n {
        v.note = Some(format!(
            "the numerator ({k}) exceeds the total ({n}): events begun before the window ended inside it (journeys cut by its start), or the selectors do not count the same events; a longer window, such as the whole run, decides"
        ));
        return Ok(v);
    }
    let ratio = k as f64 / n as f64;
    let (bad_share, allowed_bad) = if r.numerator_is_bad {
        (ratio, r.objective.value)
    } else {
        (1.0 - ratio, 1.0 - r.objective.value)
    };
    v.value = Some(ratio);
    v.display = format!("{} ({}/{n})", percent(ratio), trim_float(k as f64));
    v.burn_rate = (allowed_bad > 0.0).then(|| bad_share / allowed_bad);
    v.budget_consumed = v.burn_rate;
    let (lowest, highest) = match (part.inner, total.inner) {
        (Some(k_in), Some(n_in)) => share_range((events(k_in), k), (events(n_in), n)),
        _ => ((k, n), (k, n)),
    };
    let (op, goal) = (r.objective.op, r.objective.value);
    let d = decide_between(lowest, highest, slo.confidence, op, goal);
    if lowest != highest {
        add_note(&mut v, &edges_note(lowest, highest));
    }
    apply(&mut v, d, slo.confidence);
    Ok(v)
}
