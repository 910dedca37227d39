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
use reports::hdr::{Interval, new_histogram};
use reports::summary::{Slice, SlicePercentiles, TracedRequest};

use super::read::WorkerData;
use crate::recorder::{ErrorKind, Measure, PoolStat, Results, SLOWEST_KEPT, Series, SeriesResult};

/// The tag of the generator's timer lag in the interval log.
const SCHEDULER_TAG: &str = "generator.scheduler_lag";

/// The workers' records, added up.
pub struct Combined {
    /// Everything recorded, as one recorder would have.
    pub results: Results,
    /// The merged interval log, offsets from `start_ms`.
    pub intervals: Vec<Interval>,
    /// The earliest worker's start, unix ms.
    pub start_ms: u64,
}

fn histogram(totals: &BTreeMap<String, Histogram<u64>>, tag: &str) -> Histogram<u64> {
    totals.get(tag).cloned().unwrap_or_else(new_histogram)
}

/// One worker's series, as its recorder had them.
fn series_of(w: &WorkerData, s: Series) -> SeriesResult {
    let h = |m: Measure| histogram(&w.totals, &s.measure_tag(m));
    let mut r = SeriesResult {
        series: s,
        histogram: h(Measure::Response),
        service: h(Measure::Service),
        failed_histogram: h(Measure::Failed),
        failed_service: h(Measure::FailedService),
        open: h(Measure::Open),
        lag: h(Measure::Lag),
        requests: 0,
        errors: 0,
        classes: BTreeMap::new(),
        completed: 0,
        failed: 0,
        abandoned: 0,
        interrupted: 0,
        started_slots: 0,
        dropped: 0,
        pool: PoolStat::default(),
    };
    match (&w.summary, s.is_flow()) {
        (Some(sum), true) => {
            if let Some(f) = sum.flows.iter().find(|f| f.name == s.name()) {
                r.completed = f.iterations - f.failed;
                r.failed = f.failed;
                r.abandoned = f.abandoned;
                r.dropped = f.dropped;
                r.interrupted = f.interrupted;
            }
            let load = sum
                .integrity
                .as_ref()
                .and_then(|i| i.flows.iter().find(|f| f.name == s.name()));
            if let Some(l) = load {
                r.started_slots = l.started;
                r.pool.size = l.peak_users;
            }
        }
        (Some(sum), false) => {
            if let Some(q) = sum.requests.iter().find(|q| q.name == s.name()) {
                r.requests = q.count;
                r.errors = q.errors;
                r.classes = q.status_classes.clone();
                r.interrupted = q.interrupted;
            }
        }
        (None, true) => {
            r.completed = r.histogram.len();
            r.failed = r.failed_histogram.len();
        }
        (None, false) => {
            r.errors = r.failed_histogram.len();
            r.requests = r.histogram.len() + r.errors;
        }
    }
    r
}

/// Adds `b` into `a`.
fn absorb(a: &mut SeriesResult, b: &SeriesResult) {
    for (x, y) in [
        (&mut a.histogram, &b.histogram),
        (&mut a.service, &b.service),
        (&mut a.failed_histogram, &b.failed_histogram),
        (&mut a.failed_service, &b.failed_service),
        (&mut a.open, &b.open),
        (&mut a.lag, &b.lag),
    ] {
        let _ = x.add(y);
    }
    a.requests += b.requests;
    a.errors += b.errors;
    for (class, n) in &b.classes {
        *a.classes.entry(class.clone()).or_default() += n;
    }
    a.completed += b.completed;
    a.failed += b.failed;
    a.abandoned += b.abandoned;
    a.interrupted += b.interrupted;
    a.started_slots += b.started_slots;
    a.dropped += b.dropped;
    a.pool.size += b.pool.size;
    a.pool.grew += b.pool.grew;
}

/// The errors by kind and request, summed; the first example kept.
fn errors(workers: &[WorkerData]) -> Vec<(ErrorKind, Series, u64, String)> {
    let mut out: BTreeMap<(ErrorKind, Series), (u64, String)> = BTreeMap::new();
    for s in workers.iter().filter_map(|w| w.summary.as_ref()) {
        for e in &s.errors {
            let kind = ErrorKind::from_name(&e.kind);
            let series = Series::ALL
                .into_iter()
                .find(|x| x.name() == e.request && !x.is_flow())
                .or_else(|| Series::ALL.into_iter().find(|x| x.name() == e.request));
            if let (Some(kind), Some(series)) = (kind, series) {
                let entry = out.entry((kind, series)).or_insert((0, e.example.clone()));
                entry.0 += e.count;
            }
        }
    }
    out.into_iter()
        .map(|((k, s), (n, example))| (k, s, n, example))
        .collect()
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
fn slot(w: &WorkerData, start_ms: u64, offset: Duration, slice: Duration) -> usize {
    let at = (w.start_ms + offset.as_millis() as u64).saturating_sub(start_ms) as f64;
    (at / slice.as_millis().max(1) as f64).round() as usize
}

/// The merged interval log: per merged slice and tag, the sum of the workers'.
fn intervals(workers: &[WorkerData], start_ms: u64, slice: Duration) -> Vec<Interval> {
    let mut merged: BTreeMap<(usize, String), (Histogram<u64>, Duration)> = BTreeMap::new();
    for w in workers {
        for i in &w.intervals {
            let k = slot(w, start_ms, i.start, slice);
            let entry = merged
                .entry((k, i.tag.clone().unwrap_or_default()))
                .or_insert_with(|| (new_histogram(), Duration::ZERO));
            let _ = entry.0.add(&i.histogram);
            entry.1 = entry.1.max(i.duration);
        }
    }
    merged
        .into_iter()
        .map(|((k, tag), (histogram, duration))| Interval {
            tag: Some(tag),
            start: slice * k as u32,
            duration,
            histogram,
        })
        .collect()
}

/// Adds a worker's slice into the merged one (counts; percentiles come later).
fn add_slice(into: &mut Slice, s: &Slice, cpu: &mut Vec<f64>) {
    into.users += s.users;
    into.requests += s.requests;
    into.errors += s.errors;
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
}

/// A dead worker's slice counts, from its intervals.
fn add_intervals(into: &mut Slice, tag: &str, h: &Histogram<u64>) {
    if tag.starts_with("req.") {
        into.requests += h.len();
    } else if tag.starts_with("failed.req.") {
        into.requests += h.len();
        into.errors += h.len();
    } else if let Some(flow) = tag.strip_prefix("flow.") {
        into.flows.entry(flow.to_string()).or_default();
    }
}

/// The merged timeline: counts summed per aligned slice, percentiles from the
/// merged intervals.
fn timeline(
    workers: &[WorkerData],
    merged: &[Interval],
    start_ms: u64,
    slice: Duration,
) -> Vec<Slice> {
    let mut slices: BTreeMap<usize, (Slice, Vec<f64>)> = BTreeMap::new();
    for w in workers {
        for s in &w.timeline {
            let k = slot(w, start_ms, Duration::from_millis(s.t_ms), slice);
            let (into, cpu) = slices.entry(k).or_default();
            add_slice(into, s, cpu);
        }
        if w.summary.is_none() {
            for i in &w.intervals {
                let k = slot(w, start_ms, i.start, slice);
                let tag = i.tag.clone().unwrap_or_default();
                add_intervals(&mut slices.entry(k).or_default().0, &tag, &i.histogram);
            }
        }
    }
    let mut by_slice: BTreeMap<usize, Vec<&Interval>> = BTreeMap::new();
    for i in merged {
        let k = (i.start.as_millis() / slice.as_millis().max(1)) as usize;
        by_slice.entry(k).or_default().push(i);
    }
    let last = slices.keys().chain(by_slice.keys()).max().copied();
    (0..last.map_or(0, |l| l + 1))
        .map(|k| {
            let (mut s, cpu) = slices.remove(&k).unwrap_or_default();
            s.t_ms = (slice * k as u32).as_millis() as u64;
            s.cpu_share = (!cpu.is_empty()).then(|| cpu.iter().sum::<f64>() / cpu.len() as f64);
            percentiles(&mut s, by_slice.get(&k).map_or(&[][..], |v| v.as_slice()));
            s
        })
        .collect()
}

/// A slice's percentiles from its merged intervals, as the recorder makes them.
fn percentiles(s: &mut Slice, intervals: &[&Interval]) {
    let (mut all, mut service, mut lag, mut scheduler) = (
        new_histogram(),
        new_histogram(),
        new_histogram(),
        new_histogram(),
    );
    for i in intervals {
        let tag = i.tag.as_deref().unwrap_or("");
        let h = &i.histogram;
        if tag.starts_with("req.") {
            let _ = all.add(h);
        } else if tag.starts_with("svc.req.") {
            let _ = service.add(h);
        } else if tag.starts_with("lag.flow.") {
            let _ = lag.add(h);
        } else if tag == SCHEDULER_TAG {
            let _ = scheduler.add(h);
        } else if let Some(flow) = tag.strip_prefix("flow.") {
            s.flows
                .insert(flow.to_string(), SlicePercentiles::of(Some(h)));
        }
    }
    s.all = SlicePercentiles::of(Some(&all));
    s.all_service = SlicePercentiles::of(Some(&service));
    s.schedule_lag = SlicePercentiles::of(Some(&lag));
    s.scheduler_lag = SlicePercentiles::of(Some(&scheduler));
}

/// Adds the workers' records up.
pub fn combine(workers: &[WorkerData], slice: Duration) -> Combined {
    let start_ms = workers.iter().map(|w| w.start_ms).min().unwrap_or(0);
    let series = Series::ALL
        .into_iter()
        .map(|s| {
            let mut total = series_of(&workers[0], s);
            for w in &workers[1..] {
                absorb(&mut total, &series_of(w, s));
            }
            total
        })
        .collect();
    let mut scheduler = new_histogram();
    for w in workers {
        let _ = scheduler.add(histogram(&w.totals, SCHEDULER_TAG));
    }
    let intervals = intervals(workers, start_ms, slice);
    let timeline = timeline(workers, &intervals, start_ms, slice);
    Combined {
        results: Results {
            series,
            errors: errors(workers),
            slowest: slowest(workers),
            timeline,
            scheduler,
        },
        intervals,
        start_ms,
    }
}
