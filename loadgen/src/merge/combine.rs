//! Adding the workers' records up into one run's: histograms added bucket for
//! bucket (HDR histograms merge exactly), counts summed, slices aligned on
//! absolute time, the slowest requests across workers kept.
//!
//! A finished worker's counts come from its summary (the tables invert exactly
//! into the recorder's counts); a dead worker's from its interval log alone:
//! requests are its histograms' counts, failures its failure histograms'
//! (status classes are unknown, so its failures count as errors but not as 5xx).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use reports::hdr::new_histogram;
use reports::summary::{Slice, SlicePercentiles, TracedRequest, keep_first_traces};

use super::read::WorkerData;
use std::sync::Arc;

use crate::recorder::{
    ErrorKind, ErrorResult, Results, SLOWEST_KEPT, Series, SeriesInfo, SeriesResult, SeriesTable,
};

/// The tag of the generator's timer lag in the interval log.
const SCHEDULER_TAG: &str = "generator.scheduler_lag";

/// The workers' records, added up.
pub struct Combined {
    /// Everything recorded, as one recorder would have.
    pub results: Results,
    /// The earliest worker's start, unix ms.
    pub start_ms: u64,
}

fn histogram(totals: &BTreeMap<String, Histogram<u64>>, tag: &str) -> Histogram<u64> {
    totals.get(tag).cloned().unwrap_or_else(new_histogram)
}

/// One worker's series, as its recorder had them.
fn series_of(w: &WorkerData, info: &SeriesInfo) -> SeriesResult {
    let mut r =
        SeriesResult::with_histograms(info.clone(), |m| histogram(&w.totals, info.measure_tag(m)));
    match (&w.summary, info.is_flow) {
        (Some(sum), true) => {
            if let Some(f) = sum.flows.iter().find(|f| f.name == info.name) {
                r.completed = f.iterations - f.failed;
                r.failed = f.failed;
                r.abandoned = f.abandoned;
                r.dropped = f.dropped;
                r.interrupted = f.interrupted;
            }
            let load = sum
                .integrity
                .as_ref()
                .and_then(|i| i.flows.iter().find(|f| f.name == info.name));
            if let Some(l) = load {
                r.started_slots = l.started;
                r.pool.size = l.peak_users;
            }
        }
        (Some(sum), false) => {
            if let Some(q) = sum.requests.iter().find(|q| q.name == info.name) {
                r.requests = q.count;
                r.errors = q.errors;
                r.classes = q.status_classes.clone();
                r.interrupted = q.interrupted;
                r.outcomes = q.outcomes.counts();
            }
        }
        (None, true) => {
            r.completed = r.histogram.len();
            r.failed = r.failed_histogram.len();
        }
        (None, false) => {
            r.errors = r.failed_histogram.len();
            r.requests = r.histogram.len() + r.errors;
            // How each failure ended is not in the log: transport errors stand
            // for them (bad events either way, and the sum still holds).
            r.outcomes = [r.histogram.len(), 0, 0, r.errors, 0, 0];
        }
    }
    r
}

/// The errors by kind, request and status, summed; the first example and the
/// first traces kept.
fn errors(workers: &[WorkerData], table: &SeriesTable) -> Vec<ErrorResult> {
    let mut out: BTreeMap<(ErrorKind, Series, Option<u16>), ErrorResult> = BTreeMap::new();
    for s in workers.iter().filter_map(|w| w.summary.as_ref()) {
        for e in &s.errors {
            let kind = ErrorKind::from_name(&e.kind);
            let series = table.request(&e.request).or_else(|| table.flow(&e.request));
            let (Some(kind), Some(series)) = (kind, series) else {
                continue;
            };
            let entry = out
                .entry((kind, series, e.status))
                .or_insert_with(|| ErrorResult {
                    kind,
                    series,
                    status: e.status,
                    count: 0,
                    example: e.example.clone(),
                    traces: Vec::new(),
                });
            entry.count += e.count;
            keep_first_traces(&mut entry.traces, e.traces.iter().cloned());
        }
    }
    out.into_values().collect()
}

/// The slowest traced requests across workers, per flow.
fn slowest(workers: &[WorkerData]) -> Vec<TracedRequest> {
    let mut by_flow: BTreeMap<String, Vec<TracedRequest>> = BTreeMap::new();
    for s in workers.iter().filter_map(|w| w.summary.as_ref()) {
        for t in &s.slowest {
            by_flow.entry(t.flow.clone()).or_default().push(t.clone());
        }
    }
    by_flow
        .into_values()
        .flat_map(|mut list| {
            list.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
            list.truncate(SLOWEST_KEPT);
            list
        })
        .collect()
}

/// The merged slice a worker's offset falls in.
fn slot(start: u64, start_ms: u64, offset: Duration, slice: Duration) -> usize {
    let at = (start + offset.as_millis() as u64).saturating_sub(start_ms) as f64;
    (at / slice.as_millis().max(1) as f64).round() as usize
}

/// One interval's non-zero counts, with the merged slice it falls in.
struct Item {
    slot: usize,
    tag: String,
    duration: Duration,
    counts: Vec<(u64, u64)>,
}

/// Batches of intervals read at most this far ahead of the merge, per worker.
const FEED_AHEAD: usize = 4;
/// Intervals sent to the merge at once (fewer hand-overs between threads).
const BATCH: usize = 64;

/// One worker's interval log, decoded on its own thread in slice order.
struct Feed {
    rx: std::sync::mpsc::Receiver<std::io::Result<Vec<Item>>>,
    /// Received, not yet merged (in slice order).
    pending: std::collections::VecDeque<Item>,
    /// A dead worker: its slices' counts come from its intervals.
    dead: bool,
}

impl Feed {
    fn spawn<'s>(
        scope: &'s std::thread::Scope<'s, '_>,
        w: &WorkerData,
        path: &'s std::path::Path,
        start_ms: u64,
        slice: Duration,
    ) -> Feed {
        let (tx, rx) = std::sync::mpsc::sync_channel(FEED_AHEAD);
        let start = w.start_ms;
        scope.spawn(move || {
            let mut reader = match reports::hdr::LogReader::open(path) {
                Ok(r) => r,
                Err(e) => return drop(tx.send(Err(e))),
            };
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(interval) = reader.next_encoded() {
                let item = interval.and_then(|i| {
                    Ok(Item {
                        slot: slot(start, start_ms, i.start, slice),
                        counts: reports::hdr::decode_counts(&i.bytes)?,
                        tag: i.tag.unwrap_or_default(),
                        duration: i.duration,
                    })
                });
                match item {
                    Ok(item) => batch.push(item),
                    Err(e) => return drop(tx.send(Err(e))),
                }
                if batch.len() == BATCH && tx.send(Ok(std::mem::take(&mut batch))).is_err() {
                    return;
                }
            }
            let _ = tx.send(Ok(batch));
        });
        Feed {
            rx,
            pending: Default::default(),
            dead: w.summary.is_none(),
        }
    }

    /// Adds every interval up to slice `k` into `acc` (and, for a dead worker,
    /// its counts into `counts`); whether intervals remain.
    fn take_until(
        &mut self,
        k: usize,
        acc: &mut Slices,
        counts: &mut Slice,
    ) -> std::io::Result<bool> {
        loop {
            if self.pending.is_empty() {
                match self.rx.recv() {
                    Ok(batch) => self.pending.extend(batch?),
                    Err(_) => return Ok(false),
                }
                continue;
            }
            match self.pending.front() {
                Some(item) if item.slot <= k => {
                    let item = self.pending.pop_front().expect("a front item");
                    let added = acc.add(&item)?;
                    if self.dead {
                        add_intervals(counts, &item.tag, added);
                    }
                }
                _ => return Ok(true),
            }
        }
    }
}

/// One merged slice's histograms: by tag (with the longest interval length),
/// and the sums its timeline entry needs.
struct Slices {
    tags: BTreeMap<String, (Histogram<u64>, Duration)>,
    all: Histogram<u64>,
    service: Histogram<u64>,
    lag: Histogram<u64>,
    scheduler: Histogram<u64>,
}

impl Slices {
    fn new() -> Slices {
        Slices {
            tags: BTreeMap::new(),
            all: new_histogram(),
            service: new_histogram(),
            lag: new_histogram(),
            scheduler: new_histogram(),
        }
    }

    /// Adds one interval (decoded straight into the sums); the count it held.
    fn add(&mut self, item: &Item) -> std::io::Result<u64> {
        let entry = self
            .tags
            .entry(item.tag.clone())
            .or_insert_with(|| (new_histogram(), Duration::ZERO));
        entry.1 = entry.1.max(item.duration);
        let added = reports::hdr::add_counts(&mut entry.0, &item.counts)?;
        let tag = item.tag.as_str();
        let sum = if tag.starts_with("req.") {
            Some(&mut self.all)
        } else if tag.starts_with("svc.req.") {
            Some(&mut self.service)
        } else if tag.starts_with("lag.flow.") {
            Some(&mut self.lag)
        } else if tag == SCHEDULER_TAG {
            Some(&mut self.scheduler)
        } else {
            None
        };
        if let Some(sum) = sum {
            reports::hdr::add_counts(sum, &item.counts)?;
        }
        Ok(added)
    }

    fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

/// Adds a worker's slice into the merged one (counts; percentiles come later).
fn add_slice(into: &mut Slice, s: &Slice, cpu: &mut Vec<f64>) {
    into.users += s.users;
    into.requests += s.requests;
    into.errors += s.errors;
    into.server_errors += s.server_errors;
    into.dropped += s.dropped;
    into.failed_iterations += s.failed_iterations;
    into.interrupted += s.interrupted;
    into.planned += s.planned;
    into.started += s.started;
    into.in_flight += s.in_flight;
    cpu.extend(s.cpu_share);
    for name in s.flows.keys() {
        into.flows.entry(name.clone()).or_default();
    }
    for (name, o) in &s.outcomes {
        into.outcomes.entry(name.clone()).or_default().add(o);
    }
}

/// A dead worker's slice counts, from its intervals.
fn add_intervals(into: &mut Slice, tag: &str, count: u64) {
    if tag.starts_with("req.") {
        into.requests += count;
    } else if tag.starts_with("failed.req.") {
        into.requests += count;
        into.errors += count;
    } else if let Some(flow) = tag.strip_prefix("flow.") {
        into.flows.entry(flow.to_string()).or_default();
    }
}

/// The workers' slices' counts, summed per merged slice.
fn counted(
    workers: &[WorkerData],
    start_ms: u64,
    slice: Duration,
) -> BTreeMap<usize, (Slice, Vec<f64>)> {
    let mut slices: BTreeMap<usize, (Slice, Vec<f64>)> = BTreeMap::new();
    for w in workers {
        for s in &w.timeline {
            let k = slot(w.start_ms, start_ms, Duration::from_millis(s.t_ms), slice);
            let (into, cpu) = slices.entry(k).or_default();
            add_slice(into, s, cpu);
        }
    }
    slices
}

/// Streams the workers' interval logs slice by slice: each merged slice's
/// histograms are written to `log` and its percentiles computed, then dropped,
/// so memory stays bounded however long the run. Returns the merged timeline.
fn stream(
    workers: &[WorkerData],
    start_ms: u64,
    slice: Duration,
    log: &reports::hdr::LogWriter,
) -> std::io::Result<Vec<Slice>> {
    let mut counts = counted(workers, start_ms, slice);
    let last_counted = counts.keys().max().copied();
    std::thread::scope(|scope| {
        let mut feeds: Vec<Feed> = workers
            .iter()
            .filter_map(|w| Some(Feed::spawn(scope, w, w.log.as_deref()?, start_ms, slice)))
            .collect();
        let mut timeline = Vec::new();
        for k in 0.. {
            let (mut s, cpu) = counts.remove(&k).unwrap_or_default();
            let mut acc = Slices::new();
            let mut open = false;
            for f in &mut feeds {
                open |= f.take_until(k, &mut acc, &mut s)?;
            }
            if !open && acc.is_empty() && last_counted.is_none_or(|l| k > l) {
                break;
            }
            let at = slice * k as u32;
            s.t_ms = at.as_millis() as u64;
            s.cpu_share = (!cpu.is_empty()).then(|| cpu.iter().sum::<f64>() / cpu.len() as f64);
            percentiles(&mut s, &acc);
            for (tag, (h, length)) in acc.tags {
                log.write(&tag, h, at, length);
            }
            timeline.push(s);
        }
        Ok(timeline)
    })
}

/// A slice's percentiles from its merged intervals, as the recorder makes them.
fn percentiles(s: &mut Slice, acc: &Slices) {
    for (tag, (h, _)) in &acc.tags {
        if let Some(flow) = tag.strip_prefix("flow.") {
            s.flows
                .insert(flow.to_string(), SlicePercentiles::of(Some(h)));
        }
    }
    s.all = SlicePercentiles::of(Some(&acc.all));
    s.all_service = SlicePercentiles::of(Some(&acc.service));
    s.schedule_lag = SlicePercentiles::of(Some(&acc.lag));
    s.scheduler_lag = SlicePercentiles::of(Some(&acc.scheduler));
}

/// Adds the workers' records up, streaming the merged interval log to `log`.
pub fn combine(
    workers: &[WorkerData],
    table: &Arc<SeriesTable>,
    slice: Duration,
    log: &reports::hdr::LogWriter,
) -> std::io::Result<Combined> {
    let start_ms = workers.iter().map(|w| w.start_ms).min().unwrap_or(0);
    let series = table
        .all()
        .map(|s| {
            let info = table.info(s);
            let mut total = series_of(&workers[0], info);
            for w in &workers[1..] {
                total.add(&series_of(w, info));
            }
            total
        })
        .collect();
    let mut scheduler = new_histogram();
    for w in workers {
        let _ = scheduler.add(histogram(&w.totals, SCHEDULER_TAG));
    }
    let timeline = stream(workers, start_ms, slice, log)?;
    Ok(Combined {
        results: Results {
            table: table.clone(),
            series,
            errors: errors(workers, table),
            slowest: slowest(workers),
            timeline,
            scheduler,
        },
        start_ms,
    })
}
