//! Ratio SLOs: good (or bad) events over all events, from counter increases.

use super::{Reader, inconclusive, too_few};
use crate::definition::{Ratio, Slo};
use crate::error::Error;
use crate::format::{percent, trim_float};
use crate::selector::Selector;
use crate::verdict::{Status, Verdict, Window, WindowKind};

/// Sums the increases of several selectors; `Ok(Err(note))` when one is missing.
async fn sum_increase<R: Reader>(
    reader: &R,
    selectors: &[Selector],
    window: Window,
) -> Result<Result<f64, String>, Error> {
    let mut total = 0.0;
    for s in selectors {
        match reader.increase(s, window).await? {
            Some(v) => total += v,
            None => return Ok(Err(format!("no series {s} in the {}", reader.source()))),
        }
    }
    Ok(Ok(total))
}

/// Judges a ratio SLO over one window.
pub async fn judge<R: Reader>(
    slo: &Slo,
    r: &Ratio,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
) -> Result<Verdict, Error> {
    let Ratio {
        numerator,
        numerator_is_bad,
        total,
        objective,
    } = r;
    let source = reader.source();
    let total_value = match sum_increase(reader, total, window).await? {
        Ok(t) => t,
        Err(missing) => return Ok(inconclusive(slo, window_kind, source, missing)),
    };
    let part = match sum_increase(reader, numerator, window).await? {
        Ok(t) => t,
        Err(missing) => return Ok(inconclusive(slo, window_kind, source, missing)),
    };
    let mut v = inconclusive(slo, window_kind, source, String::new());
    let samples = total_value.round().max(0.0) as u64;
    v.samples = samples;
    if samples < slo.min_samples || total_value <= 0.0 {
        v.note = Some(too_few(samples, slo.min_samples));
        return Ok(v);
    }
    let ratio = (part / total_value).clamp(0.0, 1.0);
    let (bad_share, allowed_bad) = if *numerator_is_bad {
        (ratio, objective.value)
    } else {
        (1.0 - ratio, 1.0 - objective.value)
    };
    v.value = Some(ratio);
    v.display = format!(
        "{} ({}/{})",
        percent(ratio),
        trim_float(part.round()),
        samples
    );
    v.status = if objective.holds(ratio) {
        Status::Pass
    } else {
        Status::Fail
    };
    v.budget_consumed = (allowed_bad > 0.0).then(|| bad_share / allowed_bad);
    Ok(v)
}
