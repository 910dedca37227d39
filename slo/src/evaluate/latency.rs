//! Latency SLOs: the share of a histogram's events at or under the threshold,
//! read from the bucket whose `le` is the threshold.

use std::collections::BTreeMap;

use super::{Buckets, Reader, inconclusive, too_few};
use crate::definition::{Latency, Slo};
use crate::error::Error;
use crate::format::{percent, quantile_name, seconds, trim_float};
use crate::verdict::{Status, Verdict, Window, WindowKind};

/// Adds up bucket increases by bound, from (labels, increase) rows: `le` values like
/// `2` and `2.0` are one bound; rows without `le` are skipped; `+Inf` sorts last.
pub fn merge_buckets<'a>(
    histogram: &str,
    rows: impl IntoIterator<Item = (&'a BTreeMap<String, String>, f64)>,
) -> Result<Buckets, Error> {
    let mut merged: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for (labels, value) in rows {
        let le = match labels.get("le").map(String::as_str) {
            Some("+Inf") => f64::INFINITY,
            Some(v) => v.parse().map_err(|_| Error::BadBucket {
                histogram: histogram.to_string(),
                le: v.to_string(),
            })?,
            None => continue,
        };
        merged.entry(le.to_bits()).or_insert((le, 0.0)).1 += value;
    }
    let mut buckets: Buckets = merged.into_values().collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(buckets)
}

/// Share of a histogram's events at or under `threshold`: (share, exact, count).
pub fn share_within(buckets: &[(f64, f64)], threshold: f64) -> Option<(f64, bool, f64)> {
    let count = buckets
        .iter()
        .find(|(le, _)| le.is_infinite())
        .map(|b| b.1)?;
    if count <= 0.0 {
        return Some((0.0, true, 0.0));
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    if let Some((_, within)) = buckets.iter().find(|(le, _)| close(*le, threshold)) {
        return Some((within / count, true, count));
    }
    // Interpolate linearly inside the bucket holding the threshold.
    let mut lower = (0.0, 0.0);
    for &(le, n) in buckets {
        if le > threshold {
            if le.is_infinite() {
                return Some((lower.1 / count, false, count));
            }
            let fraction = (threshold - lower.0) / (le - lower.0);
            let within = lower.1 + (n - lower.1) * fraction;
            return Some((within / count, false, count));
        }
        lower = (le, n);
    }
    Some((lower.1 / count, false, count))
}

/// The bucket a quantile falls in: its lower and upper bounds (`None` upper when it
/// lies in `+Inf`). Shown beside a latency verdict instead of an interpolated
/// number, which can be far off inside a wide bucket.
pub fn quantile_bucket(buckets: &[(f64, f64)], q: f64) -> Option<(f64, Option<f64>)> {
    let count = buckets
        .iter()
        .find(|(le, _)| le.is_infinite())
        .map(|b| b.1)?;
    if count <= 0.0 {
        return None;
    }
    let rank = q * count;
    let mut lower = 0.0;
    for &(le, n) in buckets {
        if n >= rank {
            return Some((lower, (!le.is_infinite()).then_some(le)));
        }
        lower = le;
    }
    None
}

/// "p95 in 1 s-2 s", "p95 above 30 s": where the quantile lies, never a number
/// made up inside a bucket.
fn quantile_text(buckets: &[(f64, f64)], quantile: f64) -> String {
    let q = quantile_name(quantile);
    match quantile_bucket(buckets, quantile) {
        Some((lo, Some(hi))) => format!("p{q} in {}-{}", seconds(lo), seconds(hi)),
        Some((lo, None)) => format!("p{q} above {}", seconds(lo)),
        None => format!("p{q} unknown"),
    }
}

/// Judges a latency SLO over one window.
pub async fn judge<R: Reader>(
    slo: &Slo,
    l: &Latency,
    reader: &R,
    window: Window,
    window_kind: WindowKind,
) -> Result<Verdict, Error> {
    let source = reader.source();
    let Some(buckets) = reader.buckets(&l.histogram, window).await? else {
        let note = format!("no series {}_bucket in the {source}", l.histogram);
        return Ok(inconclusive(slo, window_kind, source, note));
    };
    let Some((share, exact, count)) = share_within(&buckets, l.threshold_seconds) else {
        let note = format!("{} has no +Inf bucket", l.histogram);
        return Ok(inconclusive(slo, window_kind, source, note));
    };
    let mut v = inconclusive(slo, window_kind, source, String::new());
    let samples = count.round().max(0.0) as u64;
    v.samples = samples;
    v.exact = exact;
    if samples < slo.min_samples || count <= 0.0 {
        v.note = Some(too_few(samples, slo.min_samples));
        return Ok(v);
    }
    v.value = Some(share);
    v.display = format!(
        "{} <= {} s ({})",
        percent(share),
        trim_float(l.threshold_seconds),
        quantile_text(&buckets, l.quantile)
    );
    v.status = if share >= l.quantile {
        Status::Pass
    } else {
        Status::Fail
    };
    v.budget_consumed = Some((1.0 - share) / (1.0 - l.quantile));
    if !exact {
        v.note = Some(format!(
            "no bucket at {} s: the share is interpolated",
            trim_float(l.threshold_seconds)
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    #[test]
    fn share_at_a_bucket_is_exact() {
        let b = [(1.0, 80.0), (2.0, 95.0), (5.0, 99.0), (INF, 100.0)];
        assert_eq!(share_within(&b, 2.0), Some((0.95, true, 100.0)));
        let (share, exact, _) = share_within(&b, 1.5).unwrap();
        assert!(!exact);
        assert!((share - 0.875).abs() < 1e-12);
        // Everything in +Inf beyond the last bound: the share is what the bounds hold.
        assert_eq!(
            share_within(&[(1.0, 0.0), (INF, 10.0)], 3.0),
            Some((0.0, false, 10.0))
        );
    }

    #[test]
    fn quantile_bucket_never_invents_a_bound_for_inf() {
        let b = [(1.0, 50.0), (2.0, 90.0), (INF, 100.0)];
        assert_eq!(
            quantile_bucket(&b, 0.95),
            Some((2.0, None)),
            "p95 lies in +Inf: no upper bound"
        );
        assert_eq!(quantile_bucket(&b, 0.7), Some((1.0, Some(2.0))));
        assert_eq!(quantile_bucket(&b, 0.3), Some((0.0, Some(1.0))));
    }
}
