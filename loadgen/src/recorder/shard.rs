//! One shard's data for one slice: histograms, counts, error tallies and the
//! slowest sampled requests. Virtual users record into a few shards (chosen by
//! user number) so they rarely contend; a shard moves to a new slice when the
//! first event of that slice arrives, keeping the old one ready for the collector.

use std::collections::HashMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use reports::hdr::{MAX_MICROS, new_histogram};
use reports::summary::{ERROR_TRACES_KEPT, ErrorTrace, TracedRequest, keep_first_traces};

use super::series::{ErrorKind, MEASURES, Measure, OUTCOMES, Series, Timing, Trace};

/// Slowest sampled requests kept per series.
pub const SLOWEST_KEPT: usize = 10;
/// Longest error example kept, in bytes.
const EXAMPLE_LEN: usize = 300;
/// A slot's histogram left empty through this many clears (about two slices: a
/// shard's data is cleared when its slice is taken and when it goes back to the
/// spares) is freed: data reused by another shard does not keep every histogram
/// it ever held, so the recorder's memory stays what its shards use.
const IDLE_CLEARS: u8 = 4;
/// Status class slots: 1xx..5xx, then none (no answer).
pub const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"];

/// What happened to a series in a slice.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Requests that ended, however they ended (answered, failed or cancelled).
    pub requests: u64,
    /// Requests not accepted (every outcome but `Accepted`).
    pub errors: u64,
    /// Requests by status class.
    pub classes: [u64; 6],
    /// Requests by outcome ([`Outcome`]'s order): they sum to `requests`.
    pub outcomes: [u64; OUTCOMES],
    /// Iterations completed.
    pub completed: u64,
    /// Iterations failed.
    pub failed: u64,
    /// Iterations abandoned on purpose.
    pub abandoned: u64,
    /// Requests or iterations cut by the run's stop.
    pub interrupted: u64,
    /// Slots handed to a user (arrival-rate flows).
    pub started_slots: u64,
    /// Slots dropped (arrival-rate flows).
    pub dropped: u64,
}

impl Counts {
    /// Adds `o` into these.
    pub fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors += o.errors;
        for (a, b) in self.classes.iter_mut().zip(o.classes) {
            *a += b;
        }
        for (a, b) in self.outcomes.iter_mut().zip(o.outcomes) {
            *a += b;
        }
        self.completed += o.completed;
        self.failed += o.failed;
        self.abandoned += o.abandoned;
        self.interrupted += o.interrupted;
        self.started_slots += o.started_slots;
        self.dropped += o.dropped;
    }

    /// Iterations that started, however they ended.
    pub fn iterations(&self) -> u64 {
        self.completed + self.failed + self.abandoned + self.interrupted
    }
}

/// Errors are tallied by kind, request and status answered.
pub type ErrorKey = (ErrorKind, Series, Option<u16>);

/// An error's count, its first example and its first traces.
#[derive(Debug, Clone)]
pub struct ErrorTally {
    pub count: u64,
    pub example: String,
    pub traces: Vec<ErrorTrace>,
}

impl ErrorTally {
    /// Adds another tally's count, and its traces while there is room.
    fn add(&mut self, other: ErrorTally) {
        self.count += other.count;
        keep_first_traces(&mut self.traces, other.traces);
    }
}

/// What a shard gathered in a slice.
pub struct ShardData {
    /// Every measure of every series (see [`Measure::slot`]).
    pub histograms: Vec<Option<Histogram<u64>>>,
    /// Per slot, the clears its histogram has stayed empty through.
    idle: Vec<u8>,
    /// Per series.
    pub counts: Vec<Counts>,
    pub errors: HashMap<ErrorKey, ErrorTally>,
    pub slowest: Vec<(Series, TracedRequest)>,
    /// How late the scheduler's probe woke (the generator's own lag).
    pub scheduler: Option<Histogram<u64>>,
    /// Whether anything was recorded.
    pub used: bool,
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_MICROS)
}

impl ShardData {
    /// Empty data for a table of `series` series.
    pub fn new(series: usize) -> Self {
        ShardData {
            histograms: (0..series * MEASURES).map(|_| None).collect(),
            idle: vec![0; series * MEASURES],
            counts: vec![Counts::default(); series],
            errors: HashMap::new(),
            slowest: Vec::new(),
            scheduler: None,
            used: false,
        }
    }

    /// Records one value of `measure` for `series`.
    pub fn record(&mut self, series: Series, measure: Measure, value: Duration) {
        self.used = true;
        let slot = measure.slot(series, self.counts.len());
        let h = self.histograms[slot].get_or_insert_with(new_histogram);
        let _ = h.record(micros(value));
    }

    /// Records both latencies, as a success or a failure.
    pub fn record_timing(&mut self, series: Series, t: Timing, failed: bool) {
        let (response, service) = if failed {
            (Measure::Failed, Measure::FailedService)
        } else {
            (Measure::Response, Measure::Service)
        };
        self.record(series, response, t.response);
        self.record(series, service, t.service);
    }

    /// Records one lateness of the scheduler probe.
    pub fn record_scheduler(&mut self, lag: Duration) {
        self.used = true;
        let _ = self
            .scheduler
            .get_or_insert_with(new_histogram)
            .record(micros(lag));
    }

    /// The counts of `series`, marking the data used.
    pub fn counts(&mut self, series: Series) -> &mut Counts {
        self.used = true;
        &mut self.counts[series.index()]
    }

    /// Tallies an error, keeping the first example and the first traces.
    pub fn error(&mut self, key: ErrorKey, message: &str, trace: Option<&Trace>) {
        self.used = true;
        let kept = |t: &Trace| ErrorTrace {
            trace_id: t.trace_id.clone(),
            sampled: t.sampled,
        };
        match self.errors.get_mut(&key) {
            Some(t) => {
                t.count += 1;
                if t.traces.len() < ERROR_TRACES_KEPT {
                    t.traces.extend(trace.map(kept));
                }
            }
            None => {
                self.errors.insert(
                    key,
                    ErrorTally {
                        count: 1,
                        example: truncate(message),
                        traces: trace.map(kept).into_iter().collect(),
                    },
                );
            }
        }
    }

    /// Keeps a sampled request if it is among its series' slowest.
    pub fn keep_slowest(&mut self, series: Series, traced: TracedRequest) {
        self.used = true;
        let mine = self.slowest.iter().filter(|(k, _)| *k == series).count();
        if mine >= SLOWEST_KEPT {
            let fastest = self
                .slowest
                .iter()
                .enumerate()
                .filter(|(_, (k, _))| *k == series)
                .min_by(|a, b| a.1.1.latency_ms.total_cmp(&b.1.1.latency_ms))
                .map(|(i, (_, t))| (i, t.latency_ms));
            match fastest {
                Some((i, ms)) if ms < traced.latency_ms => {
                    self.slowest.swap_remove(i);
                }
                _ => return,
            }
        }
        self.slowest.push((series, traced));
    }

    /// Adds another shard's data into this one, leaving `data` empty.
    pub fn absorb(&mut self, data: &mut ShardData) {
        if !data.used {
            return;
        }
        self.used = true;
        for (k, h) in data.histograms.iter().enumerate() {
            if let Some(h) = h
                && !h.is_empty()
            {
                let _ = self.histograms[k].get_or_insert_with(new_histogram).add(h);
            }
        }
        if let Some(h) = &data.scheduler {
            let _ = self.scheduler.get_or_insert_with(new_histogram).add(h);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&data.counts) {
            mine.add(theirs);
        }
        for (key, tally) in data.errors.drain() {
            match self.errors.get_mut(&key) {
                Some(t) => t.add(tally),
                None => {
                    self.errors.insert(key, tally);
                }
            }
        }
        self.slowest.append(&mut data.slowest);
        data.clear();
    }

    /// Empties it, keeping the memory of the histograms in use for reuse. An
    /// empty histogram is not reset (a reset writes its whole count array,
    /// hundreds of KiB); one empty through [`IDLE_CLEARS`] clears is freed.
    pub fn clear(&mut self) {
        for (h, idle) in self.histograms.iter_mut().zip(self.idle.iter_mut()) {
            match h {
                Some(used) if !used.is_empty() => {
                    used.reset();
                    *idle = 0;
                }
                Some(_) if *idle + 1 >= IDLE_CLEARS => {
                    *h = None;
                    *idle = 0;
                }
                Some(_) => *idle += 1,
                None => {}
            }
        }
        if let Some(h) = self.scheduler.as_mut().filter(|h| !h.is_empty()) {
            h.reset();
        }
        self.counts.fill(Counts::default());
        self.errors.clear();
        self.slowest.clear();
        self.used = false;
    }

    /// The histogram of `measure` for `series`, if anything was recorded.
    pub fn histogram(&self, series: Series, measure: Measure) -> Option<&Histogram<u64>> {
        self.histograms[measure.slot(series, self.counts.len())]
            .as_ref()
            .filter(|h| !h.is_empty())
    }
}

fn truncate(message: &str) -> String {
    let mut cut = message.len().min(EXAMPLE_LEN);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message[..cut].to_string()
}

/// A shard: the slice it records into, and the earlier slices it holds for the
/// collector.
pub struct Shard {
    /// The slice `data` belongs to.
    pub slice: u64,
    pub data: ShardData,
    /// Earlier slices, not yet collected.
    pub ready: Vec<(u64, ShardData)>,
}

impl Shard {
    /// A shard for a table of `series` series.
    pub fn new(series: usize) -> Self {
        Shard {
            slice: 0,
            data: ShardData::new(series),
            ready: Vec::new(),
        }
    }

    /// Moves to slice `slice` (later than the current one), with `fresh` as its data.
    pub fn roll(&mut self, slice: u64, fresh: ShardData) -> Option<ShardData> {
        let old = std::mem::replace(&mut self.data, fresh);
        let old_slice = std::mem::replace(&mut self.slice, slice);
        if old.used {
            self.ready.push((old_slice, old));
            None
        } else {
            Some(old)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::SeriesTable;

    #[test]
    fn histograms_in_use_are_kept_and_idle_ones_freed() {
        let table = SeriesTable::standard();
        let (health, plans) = (
            table.request("health").unwrap(),
            table.request("plan_status").unwrap(),
        );
        let mut d = ShardData::new(table.len());
        let used = |d: &ShardData| d.histograms.iter().filter(|h| h.is_some()).count();
        d.record(health, Measure::Response, Duration::from_millis(2));
        d.record(plans, Measure::Response, Duration::from_millis(3));
        d.clear();
        assert_eq!(used(&d), 2, "reset, kept for the next slice");
        for _ in 0..3 {
            d.record(health, Measure::Response, Duration::from_millis(2));
            d.clear();
            d.clear();
        }
        assert_eq!(used(&d), 1, "plan_status's, unused for slices, is freed");
        assert!(
            d.histogram(health, Measure::Response).is_none(),
            "and the kept one is empty"
        );
    }
}
