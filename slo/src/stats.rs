//! Confidence bounds on a share of events, so a verdict says what the evidence
//! proves: PASS only when the pessimistic bound clears the objective, FAIL only
//! when the optimistic one misses it, INCONCLUSIVE in between.
//!
//! The bounds are exact one-sided Clopper-Pearson bounds at the SLO's confidence
//! (Clopper and Pearson, 1934): the share `p` whose binomial tail makes `k` events
//! in `n` just as unlikely as `1 - confidence`, found from the beta distribution's
//! quantiles (`Beta(k, n - k + 1)` below, `Beta(k + 1, n - k)` above). PASS is a
//! one-sided test that the objective holds, FAIL one that it does not, each at
//! that confidence, and unlike a normal approximation the coverage is never below
//! the nominal level, at 0 or n events included: 0 errors in 20 requests has a
//! 95% upper bound of 13.9%, and 0 in 270 still 1.10%, not proof of "< 1%"
//! (299 clean requests are).

use statrs::function::beta::beta_reg;

/// Bisection steps of a beta quantile: 64 halvings of [0, 1] reach the
/// resolution of an `f64` near the bound.
const QUANTILE_STEPS: u32 = 64;

/// The `p` quantile of `Beta(a, b)`: the `x` where the regularised incomplete
/// beta function `I_x(a, b)` reaches `p` (bisection: `I_x` rises with `x`).
fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..QUANTILE_STEPS {
        let mid = 0.5 * (lo + hi);
        if beta_reg(a, b, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The exact (Clopper-Pearson) bounds of `k` events out of `n`, each one-sided
/// at `confidence`: (lower, upper) bounds of the true share. `None` without
/// events.
pub fn bounds(k: u64, n: u64, confidence: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let k = k.min(n);
    let alpha = (1.0 - confidence).clamp(1e-12, 0.5);
    let (kf, nf) = (k as f64, n as f64);
    let lower = if k == 0 {
        0.0
    } else {
        beta_quantile(alpha, kf, nf - kf + 1.0)
    };
    let upper = if k == n {
        1.0
    } else {
        beta_quantile(1.0 - alpha, kf + 1.0, nf - kf)
    };
    Some((lower, upper))
}

/// Which way a share must go to meet its objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The share must be at least the threshold (a good share).
    AtLeast,
    /// The share must stay under the threshold (a bad share).
    Below,
}

/// Whether a share of `k` in `n` is proven to meet (`Some(true)`) or to miss
/// (`Some(false)`) `threshold` on `side` at `confidence`; `None` when the interval
/// straddles it.
pub fn decide(k: u64, n: u64, confidence: f64, side: Side, threshold: f64) -> Option<bool> {
    let (lo, hi) = bounds(k, n, confidence)?;
    match side {
        Side::AtLeast if lo >= threshold => Some(true),
        Side::AtLeast if hi < threshold => Some(false),
        Side::Below if hi < threshold => Some(true),
        Side::Below if lo >= threshold => Some(false),
        _ => None,
    }
}

/// About how many events in all a run needs for the interval to leave
/// `threshold` behind (proving the objective met or missed, whichever side the
/// observed share is on), if that share held; `None` when the share sits on the
/// threshold itself.
pub fn events_needed(k: u64, n: u64, confidence: f64, side: Side, threshold: f64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let p = k as f64 / n as f64;
    let meets = match side {
        Side::AtLeast => p > threshold,
        Side::Below => p < threshold,
    };
    let misses = match side {
        Side::AtLeast => p < threshold,
        Side::Below => p > threshold,
    };
    if !meets && !misses {
        return None;
    }
    let decided = |m: u64| {
        let km = (p * m as f64).round() as u64;
        decide(km, m, confidence, side, threshold) == Some(meets)
    };
    // Double, then bisect, on the number of events at the same share.
    let mut hi = n.max(1);
    while !decided(hi) {
        hi = hi.checked_mul(2)?;
        if hi > 1_000_000_000_000 {
            return None;
        }
    }
    let mut lo = hi / 2;
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if decided(mid) { hi = mid } else { lo = mid }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_match_the_closed_forms_at_zero_and_n_events() {
        // 0 of n: the upper bound is 1 - alpha^(1/n); n of n: the lower is alpha^(1/n).
        let (lo, hi) = bounds(0, 270, 0.95).unwrap();
        assert_eq!(lo, 0.0);
        assert!(
            (hi - (1.0 - 0.05_f64.powf(1.0 / 270.0))).abs() < 1e-12,
            "{hi}"
        );
        assert!((hi - 0.011034).abs() < 1e-5, "{hi}");
        let (lo, hi) = bounds(50, 50, 0.95).unwrap();
        assert!((lo - 0.05_f64.powf(1.0 / 50.0)).abs() < 1e-12, "{lo}");
        assert_eq!(hi, 1.0);
        assert!(bounds(0, 0, 0.95).is_none());
    }

    #[test]
    fn bounds_match_published_exact_intervals() {
        // Two-sided 95% exact intervals are the one-sided 97.5% bounds:
        // 5 of 20 is 0.0866-0.4910, 1 of 10 is 0.0025-0.4450 (Clopper-Pearson tables).
        let (lo, hi) = bounds(5, 20, 0.975).unwrap();
        assert!(
            (lo - 0.0866).abs() < 1e-4 && (hi - 0.4910).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = bounds(1, 10, 0.975).unwrap();
        assert!(
            (lo - 0.0025).abs() < 1e-4 && (hi - 0.4450).abs() < 1e-4,
            "{lo} {hi}"
        );
        // A million events: the exact bound meets the normal approximation.
        let (_, hi) = bounds(10_000, 1_000_000, 0.95).unwrap();
        assert!((hi - 0.010164).abs() < 2e-6, "{hi}");
    }

    #[test]
    fn no_errors_in_270_requests_does_not_prove_under_one_percent() {
        assert_eq!(decide(0, 20, 0.95, Side::Below, 0.01), None);
        assert_eq!(decide(0, 270, 0.95, Side::Below, 0.01), None);
        // 299 clean requests prove it: 1 - 0.05^(1/299) < 1%.
        let n = events_needed(0, 20, 0.95, Side::Below, 0.01).unwrap();
        assert_eq!(n, 299);
        assert_eq!(decide(0, 299, 0.95, Side::Below, 0.01), Some(true));
        assert_eq!(decide(0, 298, 0.95, Side::Below, 0.01), None);
    }

    #[test]
    fn clear_breaches_fail_and_close_calls_wait() {
        // 80 bad of 6,000 (1.33%) against < 1%: the lower bound is past 1%.
        assert_eq!(decide(80, 6000, 0.95, Side::Below, 0.01), Some(false));
        // 65 of 6,000 (1.08%): too close to call; about 40,000 events would prove
        // the breach if the share held.
        assert_eq!(decide(65, 6000, 0.95, Side::Below, 0.01), None);
        let n = events_needed(65, 6000, 0.95, Side::Below, 0.01).unwrap();
        assert!((30_000..50_000).contains(&n), "{n}");
        // 93.5% completed of 154 against >= 80%: proven.
        assert_eq!(decide(144, 154, 0.95, Side::AtLeast, 0.80), Some(true));
        assert_eq!(decide(7, 10, 0.95, Side::AtLeast, 0.80), None);
        assert_eq!(decide(3, 10, 0.95, Side::AtLeast, 0.80), Some(false));
    }
}
