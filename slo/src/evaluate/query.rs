//! Query SLOs: events as PromQL, judged through Prometheus only, on the same
//! confidence bounds as ratio SLOs once the queries' values are read as events.

use super::{Reader, apply, decide_share, inconclusive, too_few};
use crate::definition::{Query, Slo};
use crate::error::Error;
use crate::format::{percent, trim_float};
use crate::promql::range_at;
use crate::verdict::{Source, Verdict, Window, WindowKind};

/// Judges a query SLO over one window.
pub async fn judge<R: Reader>(
    slo: &Slo,
    q: &Query,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
) -> Result<Verdict, Error> {
    let source = reader.source();
    let only = format!("judged through Prometheus only: {}", q.why);
    if source != Source::Prometheus {
        return Ok(inconclusive(
            slo,
            window_kind,
            source,
            format!("{only}; the {source} source cannot evaluate PromQL (give a Prometheus URL)"),
        ));
    }
    let counted = reader.counted(window);
    let range = range_at(counted);
    let seconds = counted.end_ms.saturating_sub(counted.start_ms) as f64 / 1000.0;
    let (part_query, total_query) = (q.numerator.over(&range), q.total.over(&range));
    let (part, total) = futures::join!(reader.promql(&part_query), reader.promql(&total_query));
    let (Some(part), Some(total)) = (part?, total?) else {
        return Ok(inconclusive(
            slo,
            window_kind,
            source,
            format!("{only}; a query returned no series"),
        ));
    };
    let mut v = inconclusive(slo, window_kind, source, only);
    v.exact = false;
    let k = q.numerator.to_events(part, seconds).round().max(0.0) as u64;
    let n = q.total.to_events(total, seconds).round().max(0.0) as u64;
    v.samples = n;
    if n < slo.min_samples || n == 0 {
        super::add_note(&mut v, &too_few(n, slo.min_samples));
        return Ok(v);
    }
    if k > n {
        super::add_note(
            &mut v,
            &format!(
                "the numerator ({k}) exceeds the total ({n}): the queries do not count the same events"
            ),
        );
        return Ok(v);
    }
    let ratio = k as f64 / n as f64;
    let (bad_share, allowed_bad) = if q.numerator_is_bad {
        (ratio, q.objective.value)
    } else {
        (1.0 - ratio, 1.0 - q.objective.value)
    };
    v.value = Some(ratio);
    v.display = format!("{} ({}/{n})", percent(ratio), trim_float(k as f64));
    v.burn_rate = (allowed_bad > 0.0).then(|| bad_share / allowed_bad);
    v.budget_consumed = v.burn_rate;
    let d = decide_share((k, k), n, slo.confidence, q.objective.op, q.objective.value);
    apply(&mut v, d, slo.confidence);
    Ok(v)
}
