//! One clock: how far another clock (Prometheus's, a worker's) is from this
//! machine's, measured by one exchange and bounded by half its round trip
//! (NTP's way). A run's window is taken on the load generator's clock;
//! Prometheus stamps its samples with its own, so the two are compared before a
//! window is read (`Prometheus::clock_offset` measures Prometheus's).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How far another clock is from this machine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockOffset {
    /// The other clock minus this machine's, in milliseconds (positive: the
    /// other clock is ahead).
    pub offset_ms: i64,
    /// How far the true offset may lie from `offset_ms` (half the round trip, and
    /// the other clock's resolution).
    pub uncertainty_ms: u64,
}

impl ClockOffset {
    /// Whether the offset is known to be within `tolerance` either way.
    pub fn within(&self, tolerance: Duration) -> bool {
        self.offset_ms.unsigned_abs() + self.uncertainty_ms <= tolerance.as_millis() as u64
    }

    /// A time of this machine (unix ms) on the other clock.
    pub fn to_other(&self, local_ms: u64) -> u64 {
        local_ms.saturating_add_signed(self.offset_ms)
    }
}

impl std::fmt::Display for ClockOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (sign, ms) = (
            if self.offset_ms < 0 { "-" } else { "+" },
            self.offset_ms.unsigned_abs(),
        );
        write!(
            f,
            "{sign}{:.3} s (±{} ms)",
            ms as f64 / 1000.0,
            self.uncertainty_ms
        )
    }
}

/// One exchange's offset from its local send and receive times and the other
/// clock's reading (all unix ms).
pub fn exchange(sent_ms: u64, other_ms: u64, received_ms: u64) -> ClockOffset {
    let midpoint = (sent_ms + received_ms) / 2;
    ClockOffset {
        offset_ms: other_ms as i64 - midpoint as i64,
        uncertainty_ms: received_ms.saturating_sub(sent_ms).div_ceil(2) + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exchange_bounds_the_offset_by_half_its_round_trip() {
        // Sent at 1,000, answered at 1,010; the other clock read 36,005 in between.
        let o = exchange(1_000, 36_005, 1_010);
        assert_eq!(o.offset_ms, 35_000);
        assert_eq!(o.uncertainty_ms, 6);
        assert!(!o.within(Duration::from_secs(1)));
        assert_eq!(o.to_other(2_000), 37_000);
        let behind = exchange(1_000, 990, 1_002);
        assert_eq!(behind.offset_ms, -11);
        assert!(behind.within(Duration::from_millis(100)));
        assert_eq!(behind.to_string(), "-0.011 s (±2 ms)");
    }
}
