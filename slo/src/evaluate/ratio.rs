//! Ratio SLOs: good (or bad) events over all events, from counter increases,
//! decided on the confidence bounds of the share.

use super::{Edges, Reader, apply, decide_share, inconclusive, too_few};
use crate::definition::{Ratio, Slo};
use crate::error::Error;
use crate::format::{percent, trim_float};
use crate::selector::Selector;
use crate::verdict::{Verdict, Window, WindowKind};

/// Sums the increases of several selectors; `Ok(Err(note))` when one is missing.
async fn sum_increase<R: Reader>(
    reader: &R,
    selectors: &[Selector],
    window: Window,
) -> Result<Result<(f64, Edges), String>, Error> {
    let mut total = 0.0;
    let mut edges = Edges::default();
    for s in selectors {
        match reader.increase(s, window).await? {
            Some(v) => {
                total += v.value;
                edges = edges.join(v.edges);
            }
            None => return Ok(Err(format!("no series {s} in the {}", reader.source()))),
        }
    }
    Ok(Ok((total, edges)))
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
    let (total, total_edges) = match sum_increase(reader, &r.total, window).await? {
        Ok(t) => t,
        Err(missing) => return Ok(inconclusive(slo, window_kind, source, missing)),
    };
    let (part, part_edges) = match sum_increase(reader, &r.numerator, window).await? {
        Ok(t) => t,
        Err(missing) => return Ok(inconclusive(slo, window_kind, source, missing)),
    };
    let mut v = inconclusive(slo, window_kind, source, String::new());
    let edges = total_edges.join(part_edges);
    v.edges = edges.read;
    v.resets = edges.resets;
    let (k, n) = (part.round().max(0.0) as u64, total.round().max(0.0) as u64);
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
    let d = decide_share((k, k), n, slo.confidence, r.objective.op, r.objective.value);
    apply(&mut v, d, slo.confidence);
    Ok(v)
}
