//! One clock: a run's windows are taken on loadgen's clock, Prometheus stamps its
//! samples with its own. Prometheus's clock is measured against this machine's
//! before and after the load ([`slo::clock`]); an offset beyond a
//! tenth of the scrape interval moves the windows onto Prometheus's clock, and
//! the verdicts say so. An offset that cannot be measured leaves every verdict
//! inconclusive: the window read might not be the window that ran (35 s of skew
//! once put a run's slow first 18 s outside its window and passed it).

use std::time::Duration;

use slo::clock::ClockOffset;
use slo::evaluate::Windows;
use slo::verdict::Window;

/// A target's clock further than this from loadgen's (its `Date` header, whole
/// seconds) is said: its own timestamps (logs, traces) will not line up with the
/// run's.
pub const TARGET_SKEW_WARNING: Duration = Duration::from_secs(2);

/// The target's clock against this machine's, from the `Date` header of one
/// answer of `url`: whole seconds, so the uncertainty is a second and half the
/// round trip. `None` when it does not answer with one.
pub async fn target_offset(url: &str) -> Option<ClockOffset> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?;
    let sent = slo::scrape::now_ms();
    let answer = client.get(url).send().await.ok()?;
    let received = slo::scrape::now_ms();
    let date = answer.headers().get(http::header::DATE)?.to_str().ok()?;
    let at = chrono::DateTime::parse_from_rfc2822(date).ok()?;
    // The header's second began at `at`: its middle is the best guess.
    let mut o = slo::clock::exchange(sent, at.timestamp_millis() as u64 + 500, received);
    o.uncertainty_ms += 500;
    Some(o)
}

/// What to say of the target's clock, when it is further than
/// [`TARGET_SKEW_WARNING`] from loadgen's.
pub fn target_warning(offset: ClockOffset) -> Option<String> {
    (!offset.within(TARGET_SKEW_WARNING)).then(|| {
        format!(
            "the target's clock (its Date header) is {offset} from loadgen's: its own timestamps will not line up with the run's"
        )
    })
}

/// The smallest offset that moves a window, whatever the scrape interval: below
/// it, the offset is noise beside when a scrape happens.
const MIN_SHIFT: Duration = Duration::from_millis(50);

/// The offset over the run from the measurements before and after the load: the
/// more certain one, its uncertainty widened by half their difference (a clock
/// that moved during the run).
pub fn over_the_run(
    before: Option<ClockOffset>,
    after: Option<ClockOffset>,
) -> Option<ClockOffset> {
    match (before, after) {
        (Some(a), Some(b)) => {
            let best = if a.uncertainty_ms <= b.uncertainty_ms {
                a
            } else {
                b
            };
            Some(ClockOffset {
                offset_ms: best.offset_ms,
                uncertainty_ms: best.uncertainty_ms + a.offset_ms.abs_diff(b.offset_ms).div_ceil(2),
            })
        }
        (a, b) => a.or(b),
    }
}

/// How far the clocks may differ before the windows move: a tenth of the scrape
/// interval, at least [`MIN_SHIFT`].
pub fn tolerance(interval: Duration) -> Duration {
    (interval / 10).max(MIN_SHIFT)
}

/// A window moved by `offset_ms`.
fn moved(w: Window, offset_ms: i64) -> Window {
    Window {
        start_ms: w.start_ms.saturating_add_signed(offset_ms),
        end_ms: w.end_ms.saturating_add_signed(offset_ms),
    }
}

/// The windows on Prometheus's clock, and what was done, when they moved.
pub fn onto_prometheus(
    windows: Windows,
    offset: ClockOffset,
    interval: Duration,
) -> (Windows, Option<String>) {
    if offset.within(tolerance(interval)) {
        return (windows, None);
    }
    let moved_windows = Windows {
        whole: moved(windows.whole, offset.offset_ms),
        steady: windows.steady.map(|s| moved(s, offset.offset_ms)),
    };
    let way = if offset.offset_ms > 0 {
        "behind"
    } else {
        "ahead of"
    };
    let note = format!(
        "loadgen's clock is {:.3} s {way} Prometheus's (±{} ms, measured around the load): the windows were moved onto Prometheus's clock",
        offset.offset_ms.unsigned_abs() as f64 / 1000.0,
        offset.uncertainty_ms
    );
    (moved_windows, Some(note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(offset_ms: i64, uncertainty_ms: u64) -> ClockOffset {
        ClockOffset {
            offset_ms,
            uncertainty_ms,
        }
    }

    #[test]
    fn a_clock_ahead_moves_the_windows_back_onto_prometheus_s() {
        let w = Windows {
            whole: Window {
                start_ms: 100_000,
                end_ms: 140_000,
            },
            steady: None,
        };
        // loadgen 12 s ahead: Prometheus's clock reads 12 s less.
        let (on, note) = onto_prometheus(w, offset(-12_000, 2), Duration::from_secs(5));
        assert_eq!((on.whole.start_ms, on.whole.end_ms), (88_000, 128_000));
        assert!(note.unwrap().contains("12.000 s ahead of Prometheus's"));
        // 30 ms at a 1 s interval: within a tenth of it, nothing moves.
        let (same, note) = onto_prometheus(w, offset(30, 1), Duration::from_secs(1));
        assert_eq!((same, note), (w, None));
    }

    #[test]
    fn two_measurements_keep_the_surer_and_widen_by_their_difference() {
        let o = over_the_run(Some(offset(-12_000, 3)), Some(offset(-11_990, 1))).unwrap();
        assert_eq!(o, offset(-11_990, 6));
        assert_eq!(over_the_run(None, Some(offset(5, 1))), Some(offset(5, 1)));
        assert_eq!(over_the_run(None, None), None);
    }
}
