//! Client-side recording: HDR histograms per request name and per flow, for the
//! whole run and per time slice, in bounded memory however long the run.
//!
//! Virtual users record into a few shards (chosen by user index) so they rarely
//! contend. Every slice, the collector swaps each shard's data for an empty set
//! (the lock is held for a pointer swap), merges the slice, appends it to the
//! timeline and streams it to the HdrHistogram interval log on disk, then adds it to
//! the whole-run totals. Only real requests are recorded: no synthetic samples.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use reports::hdr::{LogWriter, MAX_MICROS, new_histogram};
use reports::summary::{Slice, SlicePercentiles, TracedRequest};

use crate::scenario::FlowName;

/// Every measured series: one per named request, one per flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Series {
    AuthToken,
    PurposeSelection,
    Proficiency,
    Equipment,
    Availability,
    Complete,
    PlanGenerate,
    PlanStatus,
    Health,
    FlowOnboarding,
    FlowPlans,
    FlowHealth,
}

/// Number of series.
pub const SERIES_COUNT: usize = 12;

/// What a histogram of a series holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Response time from the intended start (coordinated omission corrected);
    /// the same as the service time when the flow is not paced.
    Response,
    /// Service time, from the actual send: what the server can be compared with.
    Service,
    /// Ages of iterations still unfinished when the run ended (flows only).
    Open,
}

impl Measure {
    const ALL: [Measure; 3] = [Measure::Response, Measure::Service, Measure::Open];

    /// The histogram slot of a series for this measure.
    fn slot(self, series: Series) -> usize {
        self as usize * SERIES_COUNT + series.index()
    }

    /// The interval log tag's prefix.
    fn prefix(self) -> &'static str {
        match self {
            Measure::Response => "",
            Measure::Service => "svc.",
            Measure::Open => "open.",
        }
    }
}

/// Histogram slots: every measure of every series.
const SLOTS: usize = SERIES_COUNT * 3;

/// How long a request took: from the actual send (service) and from the intended
/// start (response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From the actual send to the last byte.
    pub service: Duration,
    /// From the intended start (paced flows) or the send, to the last byte.
    pub response: Duration,
}

impl Series {
    pub const ALL: [Series; SERIES_COUNT] = [
        Series::AuthToken,
        Series::PurposeSelection,
        Series::Proficiency,
        Series::Equipment,
        Series::Availability,
        Series::Complete,
        Series::PlanGenerate,
        Series::PlanStatus,
        Series::Health,
        Series::FlowOnboarding,
        Series::FlowPlans,
        Series::FlowHealth,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The request or flow name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Series::AuthToken => "auth_token",
            Series::PurposeSelection => "purpose_selection",
            Series::Proficiency => "proficiency",
            Series::Equipment => "equipment",
            Series::Availability => "availability",
            Series::Complete => "complete",
            Series::PlanGenerate => "plan_generate",
            Series::PlanStatus => "plan_status",
            Series::Health => "health",
            Series::FlowOnboarding => "onboarding",
            Series::FlowPlans => "plans",
            Series::FlowHealth => "health",
        }
    }

    /// The flow a request belongs to (a flow series belongs to itself).
    pub fn flow(self) -> &'static str {
        match self {
            Series::AuthToken
            | Series::PurposeSelection
            | Series::Proficiency
            | Series::Equipment
            | Series::Availability
            | Series::Complete
            | Series::FlowOnboarding => "onboarding",
            Series::PlanGenerate | Series::PlanStatus | Series::FlowPlans => "plans",
            Series::Health | Series::FlowHealth => "health",
        }
    }

    pub fn is_flow(self) -> bool {
        matches!(
            self,
            Series::FlowOnboarding | Series::FlowPlans | Series::FlowHealth
        )
    }

    /// Tag in the interval log: `req.<name>` or `flow.<name>`.
    pub fn tag(self) -> String {
        if self.is_flow() {
            format!("flow.{}", self.name())
        } else {
            format!("req.{}", self.name())
        }
    }

    /// Tag of one measure: `req.<name>`, `svc.req.<name>`, `open.flow.<name>`.
    pub fn measure_tag(self, m: Measure) -> String {
        format!("{}{}", m.prefix(), self.tag())
    }

    /// The series of an onboarding step.
    pub fn of_step(step: api::OnboardingStep) -> Series {
        match step {
            api::OnboardingStep::PurposeSelection => Series::PurposeSelection,
            api::OnboardingStep::Proficiency => Series::Proficiency,
            api::OnboardingStep::Equipment => Series::Equipment,
            api::OnboardingStep::Availability => Series::Availability,
            api::OnboardingStep::Complete => Series::Complete,
        }
    }

    /// The flow series of a flow.
    pub fn of_flow(flow: FlowName) -> Series {
        match flow {
            FlowName::Onboarding => Series::FlowOnboarding,
            FlowName::Plans => Series::FlowPlans,
            FlowName::Health => Series::FlowHealth,
        }
    }
}

/// Why a request or an iteration failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The connection could not be made.
    Connect,
    /// No answer within the request timeout.
    Timeout,
    /// Another transport failure (reset, unreadable body).
    Transport,
    /// 429 from the rate limiter.
    RateLimited,
    /// Another 4xx.
    Http4xx,
    /// A 5xx.
    Http5xx,
    /// A 2xx whose body says failure or is not what the API documents.
    Body,
    /// The plan job ended `failed`.
    PlanFailed,
    /// The plan did not finish within the flow's timeout.
    PlanTimeout,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::RateLimited => "http_429",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::Body => "body",
            ErrorKind::PlanFailed => "plan_failed",
            ErrorKind::PlanTimeout => "plan_timeout",
        }
    }

    /// The kind of an HTTP error status.
    pub fn of_status(status: u16) -> ErrorKind {
        match status {
            429 => ErrorKind::RateLimited,
            500.. => ErrorKind::Http5xx,
            _ => ErrorKind::Http4xx,
        }
    }
}

/// How a flow iteration ended.
#[derive(Debug, Clone)]
pub enum FlowOutcome {
    /// Finished: its time end to end.
    Completed(Timing),
    Failed(ErrorKind, String),
    /// Stopped on purpose part-way (onboarding).
    Abandoned,
    /// Cut short by the end of the run, this long after it started.
    Interrupted(Duration),
}

/// A sampled request's trace, for the report's slowest-requests table.
#[derive(Debug, Clone)]
pub struct Trace {
    pub trace_id: String,
    pub at_ms: u64,
}

/// Slowest sampled requests kept per series.
pub const SLOWEST_KEPT: usize = 10;
/// Longest error example kept, in bytes.
const EXAMPLE_LEN: usize = 300;
/// Status class slots: 1xx..5xx, then none (transport error).
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"];

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    requests: u64,
    errors: u64,
    classes: [u64; 6],
    completed: u64,
    failed: u64,
    abandoned: u64,
    interrupted: u64,
    dropped: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors += o.errors;
        for (a, b) in self.classes.iter_mut().zip(o.classes) {
            *a += b;
        }
        self.completed += o.completed;
        self.failed += o.failed;
        self.abandoned += o.abandoned;
        self.interrupted += o.interrupted;
        self.dropped += o.dropped;
    }
}

#[derive(Debug, Clone)]
struct ErrorTally {
    count: u64,
    example: String,
}

/// What one shard gathered since the last collection.
struct ShardData {
    histograms: Vec<Option<Histogram<u64>>>,
    counts: [Counts; SERIES_COUNT],
    errors: HashMap<(ErrorKind, Series), ErrorTally>,
    slowest: Vec<(Series, TracedRequest)>,
}

impl ShardData {
    fn new() -> Self {
        ShardData {
            histograms: (0..SLOTS).map(|_| None).collect(),
            counts: [Counts::default(); SERIES_COUNT],
            errors: HashMap::new(),
            slowest: Vec::new(),
        }
    }

    fn record_latency(&mut self, series: Series, measure: Measure, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        let h = self.histograms[measure.slot(series)].get_or_insert_with(new_histogram);
        let _ = h.record(micros);
    }

    fn record_timing(&mut self, series: Series, t: Timing) {
        self.record_latency(series, Measure::Response, t.response);
        self.record_latency(series, Measure::Service, t.service);
    }

    fn error(&mut self, kind: ErrorKind, series: Series, message: &str) {
        self.errors
            .entry((kind, series))
            .and_modify(|t| t.count += 1)
            .or_insert_with(|| ErrorTally {
                count: 1,
                example: truncate(message),
            });
    }

    /// Adds another shard's data into this one (which keeps it).
    fn absorb(&mut self, data: &mut ShardData) {
        for (k, h) in data.histograms.iter().enumerate() {
            if let Some(h) = h
                && !h.is_empty()
            {
                let _ = self.histograms[k].get_or_insert_with(new_histogram).add(h);
            }
        }
        for k in 0..SERIES_COUNT {
            self.counts[k].add(&data.counts[k]);
        }
        for (key, tally) in data.errors.drain() {
            self.errors
                .entry(key)
                .and_modify(|t| t.count += tally.count)
                .or_insert(tally);
        }
        self.slowest.append(&mut data.slowest);
    }

    fn clear(&mut self) {
        for h in self.histograms.iter_mut().flatten() {
            h.reset();
        }
        self.counts = [Counts::default(); SERIES_COUNT];
        self.errors.clear();
        self.slowest.clear();
    }
}

fn truncate(message: &str) -> String {
    let mut cut = message.len().min(EXAMPLE_LEN);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message[..cut].to_string()
}

/// The whole run so far.
struct Totals {
    histograms: Vec<Histogram<u64>>,
    counts: [Counts; SERIES_COUNT],
    errors: BTreeMap<(ErrorKind, Series), ErrorTally>,
    slowest: BTreeMap<Series, Vec<TracedRequest>>,
    timeline: Vec<Slice>,
    /// Offset of the next slice's start.
    next_slice: Duration,
    spares: Vec<ShardData>,
    log: Option<LogWriter>,
}

impl Totals {
    /// Adds a merged slice to the whole run's totals.
    fn add(&mut self, merged: ShardData) {
        for (k, h) in merged.histograms.iter().enumerate() {
            if let Some(h) = h {
                let _ = self.histograms[k].add(h);
            }
        }
        for series in Series::ALL {
            let k = series.index();
            let c = merged.counts[k];
            self.counts[k].add(&c);
        }
        for (key, tally) in merged.errors {
            self.errors
                .entry(key)
                .and_modify(|t| t.count += tally.count)
                .or_insert(tally);
        }
        for (series, traced) in merged.slowest {
            let list = self.slowest.entry(series).or_default();
            list.push(traced);
            list.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
            list.truncate(SLOWEST_KEPT);
        }
    }

    /// Requests and dropped iterations so far.
    fn counted(&self) -> (u64, u64) {
        Series::ALL.iter().fold((0, 0), |acc, s| {
            let c = &self.counts[s.index()];
            if s.is_flow() {
                (acc.0, acc.1 + c.dropped)
            } else {
                (acc.0 + c.requests, acc.1)
            }
        })
    }
}

/// The timeline entry of a merged slice.
fn timeline_slice(merged: &ShardData, start: Duration, users: u64) -> Slice {
    let mut all_requests = new_histogram();
    let (mut requests, mut errors, mut dropped) = (0, 0, 0);
    let mut flows = BTreeMap::new();
    for series in Series::ALL {
        let c = merged.counts[series.index()];
        let h = merged.histograms[series.index()].as_ref();
        if series.is_flow() {
            errors += c.failed;
            dropped += c.dropped;
            if c.completed + c.failed + c.abandoned + c.interrupted + c.dropped > 0 || h.is_some() {
                flows.insert(series.name().to_string(), SlicePercentiles::of(h));
            }
        } else {
            requests += c.requests;
            errors += c.errors;
            if let Some(h) = h {
                let _ = all_requests.add(h);
            }
        }
    }
    Slice {
        t_ms: start.as_millis() as u64,
        users,
        requests,
        errors,
        dropped,
        flows,
        all: SlicePercentiles::of(Some(&all_requests)),
    }
}

/// What the live display shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Live {
    pub elapsed: Duration,
    pub users: i64,
    pub requests_per_second: f64,
    pub error_rate: f64,
    pub p95_ms: f64,
    pub total_requests: u64,
    pub dropped: u64,
}

/// The recorder of one run.
pub struct Recorder {
    started: Instant,
    start_unix_ms: u64,
    slice: Duration,
    shards: Box<[Mutex<ShardData>]>,
    totals: Mutex<Totals>,
    users: AtomicI64,
    live: Mutex<Live>,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn now_unix_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// Per-series results at the end of a run.
#[derive(Debug, Clone)]
pub struct SeriesResult {
    pub series: Series,
    /// Response times (from the intended start when paced).
    pub histogram: Histogram<u64>,
    /// Service times, from the actual send.
    pub service: Histogram<u64>,
    /// Ages of iterations unfinished at the end.
    pub open: Histogram<u64>,
    pub requests: u64,
    pub errors: u64,
    pub classes: BTreeMap<String, u64>,
    pub completed: u64,
    pub failed: u64,
    pub abandoned: u64,
    pub interrupted: u64,
    pub dropped: u64,
}

/// Everything recorded, at the end of a run.
#[derive(Debug, Clone)]
pub struct Results {
    pub series: Vec<SeriesResult>,
    /// (kind, request, count, example).
    pub errors: Vec<(ErrorKind, Series, u64, String)>,
    pub slowest: Vec<TracedRequest>,
    pub timeline: Vec<Slice>,
}

impl Results {
    pub fn get(&self, series: Series) -> &SeriesResult {
        &self.series[series.index()]
    }
}

impl Recorder {
    /// A recorder starting now, streaming slices to `log` when given.
    pub fn new(slice: Duration, shards: usize, log: Option<LogWriter>) -> Arc<Recorder> {
        let shards = shards.max(1);
        Arc::new(Recorder {
            started: Instant::now(),
            start_unix_ms: now_unix_ms(),
            slice,
            shards: (0..shards).map(|_| Mutex::new(ShardData::new())).collect(),
            totals: Mutex::new(Totals {
                histograms: (0..SLOTS).map(|_| new_histogram()).collect(),
                counts: [Counts::default(); SERIES_COUNT],
                errors: BTreeMap::new(),
                slowest: BTreeMap::new(),
                timeline: Vec::new(),
                next_slice: Duration::ZERO,
                spares: (0..shards).map(|_| ShardData::new()).collect(),
                log,
            }),
            users: AtomicI64::new(0),
            live: Mutex::new(Live::default()),
        })
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn start_unix_ms(&self) -> u64 {
        self.start_unix_ms
    }

    pub fn slice(&self) -> Duration {
        self.slice
    }

    fn shard(&self, hint: usize) -> &Mutex<ShardData> {
        &self.shards[hint % self.shards.len()]
    }

    /// One request: its full time (body included), its status, and its error if any.
    pub fn request(
        &self,
        hint: usize,
        series: Series,
        timing: Timing,
        status: Option<u16>,
        error: Option<(ErrorKind, &str)>,
        trace: Option<Trace>,
    ) {
        let latency = timing.response;
        let mut s = self.shard(hint).lock();
        s.record_timing(series, timing);
        let c = &mut s.counts[series.index()];
        c.requests += 1;
        let class = match status {
            Some(code) => ((code / 100) as usize).clamp(1, 5) - 1,
            None => 5,
        };
        c.classes[class] += 1;
        if let Some((kind, message)) = error {
            c.errors += 1;
            s.error(kind, series, message);
        }
        if let Some(trace) = trace {
            let latency_ms = latency.as_secs_f64() * 1000.0;
            let mine = s.slowest.iter().filter(|(k, _)| *k == series).count();
            if mine < SLOWEST_KEPT
                || s.slowest
                    .iter()
                    .any(|(k, t)| *k == series && t.latency_ms < latency_ms)
            {
                s.slowest.push((
                    series,
                    TracedRequest {
                        flow: series.flow().to_string(),
                        request: series.name().to_string(),
                        latency_ms,
                        trace_id: trace.trace_id,
                        at_ms: trace.at_ms,
                        status,
                    },
                ));
                if mine + 1 > SLOWEST_KEPT {
                    // Drop this series' fastest entry.
                    if let Some(pos) = s
                        .slowest
                        .iter()
                        .enumerate()
                        .filter(|(_, (k, _))| *k == series)
                        .min_by(|a, b| a.1.1.latency_ms.total_cmp(&b.1.1.latency_ms))
                        .map(|(i, _)| i)
                    {
                        s.slowest.swap_remove(pos);
                    }
                }
            }
        }
    }

    /// The end of a flow iteration.
    pub fn flow(&self, hint: usize, series: Series, outcome: FlowOutcome) {
        let mut s = self.shard(hint).lock();
        match outcome {
            FlowOutcome::Completed(timing) => {
                s.record_timing(series, timing);
                s.counts[series.index()].completed += 1;
            }
            FlowOutcome::Failed(kind, message) => {
                s.counts[series.index()].failed += 1;
                s.error(kind, series, &message);
            }
            FlowOutcome::Abandoned => s.counts[series.index()].abandoned += 1,
            FlowOutcome::Interrupted(age) => {
                s.record_latency(series, Measure::Open, age);
                s.counts[series.index()].interrupted += 1;
            }
        }
    }

    /// A paced iteration that could not start in time.
    pub fn dropped(&self, hint: usize, series: Series) {
        self.shard(hint).lock().counts[series.index()].dropped += 1;
    }

    pub fn user_started(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    pub fn user_stopped(&self) {
        self.users.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn live(&self) -> Live {
        *self.live.lock()
    }

    /// Closes the current slice: merges the shards, extends the timeline, writes the
    /// interval log and updates the totals. Call once per slice, and once at the end.
    pub fn collect(&self) {
        let mut totals = self.totals.lock();
        let now = self.started.elapsed();
        let slice_start = totals.next_slice;
        let slice_length = now.saturating_sub(slice_start);
        totals.next_slice = now;
        let merged = self.merge_shards(&mut totals);
        let users = self.users.load(Ordering::Relaxed).max(0);
        let slice = timeline_slice(&merged, slice_start, users as u64);
        if let Some(log) = &totals.log {
            for series in Series::ALL {
                for m in Measure::ALL {
                    if let Some(h) = &merged.histograms[m.slot(series)]
                        && !h.is_empty()
                    {
                        log.write(&series.measure_tag(m), h.clone(), slice_start, slice_length);
                    }
                }
            }
        }
        let live = Live {
            elapsed: now,
            users,
            requests_per_second: slice.requests as f64 / slice_length.as_secs_f64().max(1e-3),
            error_rate: if slice.requests > 0 {
                slice.errors as f64 / slice.requests as f64
            } else {
                0.0
            },
            p95_ms: slice.all.p95,
            ..Live::default()
        };
        totals.timeline.push(slice);
        totals.add(merged);
        let (total_requests, dropped) = totals.counted();
        *self.live.lock() = Live {
            total_requests,
            dropped,
            ..live
        };
    }

    /// Swaps each shard's data for an empty set and merges what they held.
    fn merge_shards(&self, totals: &mut Totals) -> ShardData {
        let mut merged = ShardData::new();
        for (i, shard) in self.shards.iter().enumerate() {
            let mut data = std::mem::replace(&mut totals.spares[i], ShardData::new());
            std::mem::swap(&mut *shard.lock(), &mut data);
            merged.absorb(&mut data);
            data.clear();
            totals.spares[i] = data;
        }
        merged
    }

    /// Collects the last (partial) slice and hands back everything recorded, with
    /// the interval log closed.
    pub fn finish(&self) -> std::io::Result<Results> {
        self.collect();
        let mut totals = self.totals.lock();
        if let Some(log) = totals.log.take() {
            log.finish()?;
        }
        let series = Series::ALL
            .iter()
            .map(|&s| {
                let c = totals.counts[s.index()];
                SeriesResult {
                    series: s,
                    histogram: totals.histograms[Measure::Response.slot(s)].clone(),
                    service: totals.histograms[Measure::Service.slot(s)].clone(),
                    open: totals.histograms[Measure::Open.slot(s)].clone(),
                    requests: c.requests,
                    errors: c.errors,
                    classes: CLASSES
                        .iter()
                        .zip(c.classes)
                        .filter(|(_, n)| *n > 0)
                        .map(|(k, n)| (k.to_string(), n))
                        .collect(),
                    completed: c.completed,
                    failed: c.failed,
                    abandoned: c.abandoned,
                    interrupted: c.interrupted,
                    dropped: c.dropped,
                }
            })
            .collect();
        let errors = totals
            .errors
            .iter()
            .map(|((kind, series), t)| (*kind, *series, t.count, t.example.clone()))
            .collect();
        let slowest = totals.slowest.values().flatten().cloned().collect();
        Ok(Results {
            series,
            errors,
            slowest,
            timeline: totals.timeline.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request timed from its send only.
    fn t(d: Duration) -> Timing {
        Timing {
            service: d,
            response: d,
        }
    }

    #[test]
    fn slices_merge_shards_and_totals_keep_everything() {
        let r = Recorder::new(Duration::from_secs(1), 4, None);
        for i in 0..1000u64 {
            r.request(
                i as usize,
                Series::Health,
                t(Duration::from_micros(1000 + i)),
                Some(200),
                None,
                None,
            );
        }
        r.request(
            1,
            Series::Health,
            t(Duration::from_millis(50)),
            Some(503),
            Some((ErrorKind::Http5xx, "down")),
            None,
        );
        r.flow(
            2,
            Series::FlowHealth,
            FlowOutcome::Completed(t(Duration::from_millis(3))),
        );
        r.dropped(3, Series::FlowHealth);
        r.collect();
        for _ in 0..10 {
            r.request(
                0,
                Series::Health,
                t(Duration::from_millis(2)),
                Some(200),
                None,
                None,
            );
        }
        let results = r.finish().unwrap();
        let health = results.get(Series::Health);
        assert_eq!(health.requests, 1011);
        assert_eq!(health.errors, 1);
        assert_eq!(health.classes["2xx"], 1010);
        assert_eq!(health.classes["5xx"], 1);
        assert_eq!(health.histogram.len(), 1011);
        assert_eq!(results.get(Series::FlowHealth).dropped, 1);
        assert_eq!(results.timeline.len(), 2);
        assert_eq!(results.timeline[0].requests, 1001);
        assert_eq!(results.timeline[0].errors, 1);
        assert_eq!(results.timeline[0].dropped, 1);
        assert_eq!(results.timeline[1].requests, 10);
        assert_eq!(results.errors.len(), 1);
        assert_eq!(results.errors[0].3, "down");
    }

    #[test]
    fn percentiles_are_within_a_tenth_of_a_percent() {
        let mut h = new_histogram();
        for v in 1..=100_000u64 {
            h.record(v).unwrap();
        }
        let p = reports::summary::Percentiles::of(&h);
        assert!((p.p95 - 95.0).abs() / 95.0 < 0.001, "{p:?}");
        assert!((p.p99 - 99.0).abs() / 99.0 < 0.001, "{p:?}");
    }

    #[test]
    fn only_the_slowest_sampled_requests_are_kept() {
        let r = Recorder::new(Duration::from_secs(1), 1, None);
        for ms in 1..=50u64 {
            r.request(
                0,
                Series::PlanStatus,
                t(Duration::from_millis(ms)),
                Some(200),
                None,
                Some(Trace {
                    trace_id: format!("{ms:032x}"),
                    at_ms: 0,
                }),
            );
        }
        let results = r.finish().unwrap();
        assert_eq!(results.slowest.len(), SLOWEST_KEPT);
        assert_eq!(results.slowest[0].latency_ms, 50.0);
        assert!(results.slowest.iter().all(|t| t.latency_ms > 40.0));
    }
}
