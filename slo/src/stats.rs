//! Confidence bounds on a share of events, so a verdict says what the evidence
//! proves: PASS only when the pessimistic bound clears the objective, FAIL only
//! when the optimistic one misses it, INCONCLUSIVE in between.
//!
//! The bounds are one-sided Wilson score bounds at the SLO's confidence: PASS is a
//! one-sided test that the objective holds, FAIL one that it does not, each at
//! that confidence. Wilson keeps its coverage close to the nominal level even at 0
//! or n events, where the textbook normal interval collapses to a point: 0 errors
//! in 20 requests has a 95% upper bound of 12%, far from proving "< 1%".

/// The standard normal quantile (Acklam's rational approximation, relative error
/// under 1.2e-9), for `p` in (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The z of a one-sided bound at `confidence` (1.645 at 0.95).
pub fn z(confidence: f64) -> f64 {
    normal_quantile(confidence)
}

/// The Wilson score bounds of `k` events out of `n`, each one-sided at
/// `confidence`: (lower, upper) bounds of the true share. `None` without events.
pub fn wilson(k: u64, n: u64, confidence: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k.min(n) as f64, n as f64);
    let z = z(confidence);
    let p = k / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
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
    let (lo, hi) = wilson(k, n, confidence)?;
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
    fn quantiles_of_the_normal() {
        assert!((z(0.975) - 1.959964).abs() < 1e-5);
        assert!((z(0.95) - 1.644854).abs() < 1e-5);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090232).abs() < 1e-5);
    }

    #[test]
    fn no_errors_in_twenty_requests_does_not_prove_under_one_percent() {
        let (lo, hi) = wilson(0, 20, 0.95).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.1192).abs() < 1e-3, "{hi}");
        assert_eq!(decide(0, 20, 0.95, Side::Below, 0.01), None);
        // About 270 clean requests prove it.
        let n = events_needed(0, 20, 0.95, Side::Below, 0.01).unwrap();
        assert!((260..=280).contains(&n), "{n}");
        assert_eq!(decide(0, n, 0.95, Side::Below, 0.01), Some(true));
        assert_eq!(decide(0, n - 2, 0.95, Side::Below, 0.01), None);
    }

    #[test]
    fn clear_breaches_fail_and_close_calls_wait() {
        // 80 bad of 6,000 (1.33%) against < 1%: the lower bound is past 1%.
        assert_eq!(decide(80, 6000, 0.95, Side::Below, 0.01), Some(false));
        // 65 of 6,000 (1.08%): too close to call; about 39,000 events would prove
        // the breach if the share held.
        assert_eq!(decide(65, 6000, 0.95, Side::Below, 0.01), None);
        let n = events_needed(65, 6000, 0.95, Side::Below, 0.01).unwrap();
        assert!((30_000..50_000).contains(&n), "{n}");
        // 93.5% completed of 154 against >= 80%: proven.
        assert_eq!(decide(144, 154, 0.95, Side::AtLeast, 0.80), Some(true));
        assert_eq!(decide(7, 10, 0.95, Side::AtLeast, 0.80), None);
        assert_eq!(decide(5, 10, 0.95, Side::AtLeast, 0.80), Some(false));
    }
}
