//! The workers' clocks against one reference. Each worker took its window on its
//! own clock and measured that clock against Prometheus's; the merge measures
//! its own. A worker's window is moved onto the merge's clock by the difference,
//! so the merged window is the one the workers ran on Prometheus's clock, not
//! only what their start times say. A worker whose clock was not measured
//! (it judged without Prometheus) makes the run invalid when Prometheus judges
//! the merge: where its load lies on Prometheus's clock is unknown.

use slo::clock::ClockOffset;
use slo::evaluate::Windows;
use slo::verdict::Window;

use super::read::WorkerData;

/// The workers' clocks against the target's (its `Date` header), compared with
/// each other: further apart than a second and their uncertainties, their
/// reported times do not share a clock.
pub fn against_the_target(workers: &[WorkerData]) -> Option<String> {
    let offsets: Vec<(u32, ClockOffset)> = workers
        .iter()
        .filter_map(|w| Some((w.index, w.summary.as_ref()?.target_clock?)))
        .collect();
    let (lo, hi) = (
        offsets.iter().min_by_key(|(_, o)| o.offset_ms)?,
        offsets.iter().max_by_key(|(_, o)| o.offset_ms)?,
    );
    let apart = hi.1.offset_ms.abs_diff(lo.1.offset_ms);
    let slack = 1_000 + lo.1.uncertainty_ms + hi.1.uncertainty_ms;
    (apart > slack).then(|| {
        format!(
            "the workers' clocks disagree: worker {} reads the target's Date {:.1} s apart from worker {} (more than its uncertainty): their windows do not share a clock (synchronise them, e.g. with NTP)",
            hi.0,
            apart as f64 / 1000.0,
            lo.0
        )
    })
}

/// A worker's clock against Prometheus's, as it measured it.
fn measured(w: &WorkerData) -> Option<ClockOffset> {
    w.summary.as_ref()?.verdicts.as_ref()?.clock
}

/// `windows` (the merged run's, on the workers' reported times) moved onto the
/// merge's clock, whose offset to Prometheus is `local`; with what makes the run
/// invalid.
pub fn place(
    workers: &[WorkerData],
    windows: Windows,
    local: ClockOffset,
) -> (Windows, Vec<String>) {
    let mut problems = Vec::new();
    let (mut start, mut end) = (None::<u64>, None::<u64>);
    for w in workers.iter().filter(|w| w.summary.is_some()) {
        let Some(offset) = measured(w) else {
            problems.push(format!(
                "worker {}'s clock was not measured against Prometheus (it judged without one): where its load lies on Prometheus's clock is unknown (give every worker the Prometheus URL)",
                w.index
            ));
            continue;
        };
        let shift = offset.offset_ms - local.offset_ms;
        let w_end = w.summary.as_ref().map_or(w.start_ms, |s| s.end_ms);
        let (a, b) = (
            w.start_ms.saturating_add_signed(shift),
            w_end.saturating_add_signed(shift),
        );
        start = Some(start.map_or(a, |s| s.min(a)));
        end = Some(end.map_or(b, |e| e.max(b)));
    }
    let (Some(start), Some(end)) = (start, end) else {
        return (windows, problems);
    };
    let delta = start as i64 - windows.whole.start_ms as i64;
    let moved = Windows {
        whole: Window {
            start_ms: start,
            end_ms: end.max(start + 1),
        },
        steady: windows.steady.map(|s| Window {
            start_ms: s.start_ms.saturating_add_signed(delta),
            end_ms: s.end_ms.saturating_add_signed(delta),
        }),
    };
    (moved, problems)
}
