//! The client's record over one window of a run (the steady window), read back
//! from the run directory's interval log, so every window judged gets the
//! client's view and not only the whole run.
//!
//! Each slice of the log holds every series' histograms: successes and failures
//! of each request apart, and each flow's completed, failed and unfinished
//! iterations. Summing the slices inside the window gives the same measures the
//! whole run's totals give: a request's count is its two histograms' counts, its
//! failures the failures' histogram's (every request that was not accepted is
//! recorded there, cancelled ones included). The kinds of the failures are not in
//! the log, so a window's results carry counts and histograms, not outcomes by
//! kind. A slice counts in the window its middle falls in.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use reports::hdr::{LogReader, add_encoded, new_histogram};

use crate::recorder::{Results, SeriesResult, SeriesTable};

/// A window of a run, as offsets from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    /// Where it starts.
    pub from: Duration,
    /// Where it ends.
    pub to: Duration,
}

impl Offsets {
    /// Whether a slice starting at `start`, `length` long, falls in the window.
    fn holds(&self, start: Duration, length: Duration) -> bool {
        let middle = start + length / 2;
        middle >= self.from && middle < self.to
    }
}

/// Every tag's histogram summed over the slices inside `window`.
fn histograms_in(log: &Path, window: Offsets) -> std::io::Result<BTreeMap<String, Histogram<u64>>> {
    let mut reader = LogReader::open(log)?;
    let mut out: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    while let Some(interval) = reader.next_encoded() {
        let interval = interval?;
        if !window.holds(interval.start, interval.duration) {
            continue;
        }
        let tag = interval.tag.unwrap_or_default();
        add_encoded(
            out.entry(tag).or_insert_with(new_histogram),
            &interval.bytes,
        )?;
    }
    Ok(out)
}

/// One series over the window, its counts from its histograms' counts.
fn series_in(
    info: &crate::recorder::SeriesInfo,
    h: &BTreeMap<String, Histogram<u64>>,
) -> SeriesResult {
    let mut r = SeriesResult::with_histograms(info.clone(), |m| {
        h.get(info.measure_tag(m))
            .cloned()
            .unwrap_or_else(new_histogram)
    });
    if info.is_flow {
        r.completed = r.histogram.len();
        r.failed = r.failed_histogram.len();
        r.interrupted = r.open.len();
    } else {
        r.errors = r.failed_histogram.len();
        r.requests = r.histogram.len() + r.errors;
    }
    r
}

/// The client's record of the run in `dir` over `window`: each series'
/// histograms and counts (no errors by kind, no timeline).
pub fn results_in(
    dir: &Path,
    table: &Arc<SeriesTable>,
    window: Offsets,
) -> std::io::Result<Results> {
    let log = dir.join(reports::summary::INTERVAL_LOG_FILE);
    let histograms = histograms_in(&log, window)?;
    let series = table
        .all()
        .map(|s| series_in(table.info(s), &histograms))
        .collect();
    Ok(Results {
        table: table.clone(),
        series,
        errors: Vec::new(),
        slowest: Vec::new(),
        timeline: Vec::new(),
        scheduler: histograms
            .get("generator.scheduler_lag")
            .cloned()
            .unwrap_or_else(new_histogram),
    })
}

/// The steady window of a summarised run as offsets from its start.
pub fn steady_offsets(s: &reports::summary::RunSummary) -> Option<Offsets> {
    let (a, b) = (s.steady_start_ms?, s.steady_end_ms?);
    (a < b).then(|| Offsets {
        from: Duration::from_millis(a.saturating_sub(s.start_ms)),
        to: Duration::from_millis(b.saturating_sub(s.start_ms)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{ErrorKind, FlowOutcome, Recorder, Timing};

    fn t(ms: u64) -> Timing {
        Timing {
            service: Duration::from_millis(ms),
            response: Duration::from_millis(ms),
        }
    }

    #[test]
    fn a_windows_results_hold_only_its_slices() {
        let dir = testkit::TempDir::new("lg-window");
        let log = reports::hdr::LogWriter::create(
            &dir.path().join(reports::summary::INTERVAL_LOG_FILE),
            std::time::SystemTime::now(),
            "test",
        )
        .unwrap();
        let table = Arc::new(SeriesTable::standard());
        let r = Recorder::new(table.clone(), Duration::from_millis(100), 2, Some(log));
        let health = SeriesTable::req("health");
        let plans = SeriesTable::flow_of("plans");
        // Slice 0: 3 clean requests; slice 2: 2 clean, 4 failed, a failed plan.
        for _ in 0..3 {
            r.request(0, health, t(1), Some(200), None, None);
        }
        std::thread::sleep(Duration::from_millis(210));
        for _ in 0..2 {
            r.request(0, health, t(1), Some(200), None, None);
        }
        for _ in 0..4 {
            r.request(
                0,
                health,
                t(1),
                None,
                Some((ErrorKind::Interrupted, "x")),
                None,
            );
        }
        r.flow(
            1,
            plans,
            FlowOutcome::Failed(ErrorKind::PlanFailed, "no".into(), t(5)),
        );
        r.finish(Default::default()).unwrap();
        let window = Offsets {
            from: Duration::from_millis(150),
            to: Duration::from_secs(10),
        };
        let w = results_in(dir.path(), &table, window).unwrap();
        let h = w.get(health);
        assert_eq!((h.requests, h.errors), (6, 4));
        assert_eq!(w.get(plans).failed, 1);
        let all = Offsets {
            from: Duration::ZERO,
            to: Duration::from_secs(10),
        };
        assert_eq!(
            results_in(dir.path(), &table, all)
                .unwrap()
                .get(health)
                .requests,
            9
        );
    }
}
