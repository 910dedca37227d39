//! Latency SLOs: the share of a histogram's events at or under the threshold,
//! read from the bucket whose `le` is the threshold.

use std::collections::BTreeMap;

use super::{Buckets, Reader, add_note, apply, inconclusive, too_few};
use crate::definition::{Latency, Slo};
use crate::error::Error;
use crate::format::{percent, quantile_name, seconds, trim_float};
use crate::verdict::{Verdict, Window, WindowKind};

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

/// The events of a histogram within a threshold, counted per series: each
/// series' bucket at or below it (`low`) and at or above it (`high`), equal when
/// the series has a bucket at the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Within {
    /// Events surely within the threshold.
    pub low: f64,
    /// Events perhaps within it.
    pub high: f64,
    /// All events.
    pub count: f64,
    /// Every series has a bucket at the threshold.
    pub exact: bool,
    /// Every series has the same bounds.
    pub same_layout: bool,
}

/// Counts the events within `threshold` over every series.
pub fn within(series: &[Buckets], threshold: f64) -> Option<Within> {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    let mut w = Within {
        low: 0.0,
        high: 0.0,
        count: 0.0,
        exact: true,
        same_layout: true,
    };
    let layout = |b: &Buckets| b.iter().map(|x| x.0.to_bits()).collect::<Vec<_>>();
    let first = series.first().map(layout);
    for buckets in series {
        let count = buckets
            .iter()
            .find(|(le, _)| le.is_infinite())
            .map(|b| b.1)?;
        let at = buckets
            .iter()
            .find(|(le, _)| close(*le, threshold))
            .map(|b| b.1);
        let below = buckets
            .iter()
            .filter(|(le, _)| *le < threshold)
            .map(|b| b.1)
            .fold(0.0, f64::max);
        let above = buckets
            .iter()
            .filter(|(le, _)| *le > threshold)
            .map(|b| b.1)
            .fold(count, f64::min);
        w.low += at.unwrap_or(below);
        w.high += at.unwrap_or(above);
        w.count += count;
        w.exact &= at.is_some();
        w.same_layout &= first.as_ref() == Some(&layout(buckets));
    }
    Some(w)
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
    let Some(h) = reader.buckets(&l.histogram, window).await? else {
        let note = format!("no series {}_bucket in the {source}", l.histogram);
        return Ok(inconclusive(slo, window_kind, source, note));
    };
    let Some(w) = within(&h.series, l.threshold_seconds) else {
        let note = format!("{} has no +Inf bucket", l.histogram);
        return Ok(inconclusive(slo, window_kind, source, note));
    };
    let mut v = inconclusive(slo, window_kind, source, String::new());
    v.edges = h.edges.read;
    v.resets = h.edges.resets;
    let n = w.count.round().max(0.0) as u64;
    let (low, high) = (w.low.round() as u64, (w.high.round() as u64).min(n));
    v.samples = n;
    v.exact = w.exact;
    if n < slo.min_samples || n == 0 {
        v.note = Some(too_few(n, slo.min_samples));
        return Ok(v);
    }
    let share = low as f64 / n as f64;
    let t = trim_float(l.threshold_seconds);
    let quantile = if w.same_layout {
        let merged = merge_buckets_of(&h.series);
        quantile_text(&merged, l.quantile)
    } else {
        "mixed bucket layouts".to_string()
    };
    v.value = Some(share);
    v.display = if w.exact {
        format!("{} <= {t} s ({quantile})", percent(share))
    } else {
        format!(
            "{}-{} <= {t} s ({quantile})",
            percent(share),
            percent(high as f64 / n as f64)
        )
    };
    v.burn_rate = Some((1.0 - share) / (1.0 - l.quantile));
    v.budget_consumed = v.burn_rate;
    let (lowest, highest) = match h
        .inner
        .as_ref()
        .and_then(|i| within(i, l.threshold_seconds))
    {
        Some(i) => widened((low, high, n), &i),
        None => ((low, n), (high, n)),
    };
    if (lowest, highest) != ((low, n), (high, n)) {
        add_note(&mut v, &super::edges_note(lowest, highest));
    }
    let op = crate::definition::Op::Ge;
    let d = super::decide_between(lowest, highest, slo.confidence, op, l.quantile);
    if !w.exact {
        add_note(
            &mut v,
            &format!(
                "no bucket at {t} s in every series: the share lies between the buckets around it, and only a bound that decides does"
            ),
        );
    }
    apply(&mut v, d, slo.confidence);
    Ok(v)
}

/// The lowest and highest shares within the threshold, `(k, n)`, once the
/// reading between the window's inner scrapes is beside its outer one: the
/// lowest from the buckets below the threshold, the highest from those above.
fn widened((low, high, n): (u64, u64, u64), inner: &Within) -> ((u64, u64), (u64, u64)) {
    let n_in = inner.count.round().max(0.0) as u64;
    let (low_in, high_in) = (inner.low.round() as u64, inner.high.round() as u64);
    let (lowest, _) = super::share_range((low_in, low), (n_in, n));
    let (_, highest) = super::share_range((high_in, high), (n_in, n));
    (lowest, highest)
}

/// Every series' buckets added up by bound.
fn merge_buckets_of(series: &[Buckets]) -> Buckets {
    let mut merged: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for b in series {
        for &(le, n) in b {
            merged.entry(le.to_bits()).or_insert((le, 0.0)).1 += n;
        }
    }
    let mut out: Buckets = merged.into_values().collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
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
    fn without_a_bucket_at_the_threshold_the_neighbours_bound_the_share() {
        let a = vec![(1.0, 80.0), (5.0, 99.0), (INF, 100.0)];
        let w = within(std::slice::from_ref(&a), 2.0).unwrap();
        assert_eq!(
            (w.low, w.high, w.count, w.exact),
            (80.0, 99.0, 100.0, false)
        );
        // Mixed layouts: one series has the bucket, the other does not.
        let b = vec![(2.0, 40.0), (INF, 50.0)];
        let w = within(&[a, b], 2.0).unwrap();
        assert_eq!((w.low, w.high, w.count), (120.0, 139.0, 150.0));
        assert!(!w.exact && !w.same_layout);
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
