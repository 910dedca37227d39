//! Client-side recording: HDR histograms per request name and per flow, for the
//! whole run and per time slice, in bounded memory however long the run.
//!
//! - [`series`]: what is measured (series, measures, outcomes);
//! - [`shard`]: one shard's data for one slice.
//!
//! Slices have a fixed length and are indexed by time since the run's start
//! (which is the engine's clock): an event lands in the slice it happened in,
//! a dropped slot in the slice it was due. Virtual users record into a few
//! shards; each collection takes every slice that has ended from the shards
//! (holding each lock for a swap), emits them in order, empty ones included, to
//! the timeline and the HdrHistogram interval log, then adds them to the
//! whole-run totals. A collection late after a stall emits the slices it missed,
//! each of its own length: no bursts of near-empty slices. Only real requests
//! are recorded: no synthetic samples.

pub mod series;
pub mod shard;

pub use series::{
    ErrorKind, FlowOutcome, Measure, OUTCOMES, Outcome, Series, SeriesInfo, SeriesTable, Timing,
    Trace,
};
pub use shard::SLOWEST_KEPT;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use parking_lot::{Mutex, MutexGuard};
use reports::hdr::{LogWriter, new_histogram};
use reports::summary::{ErrorTrace, Outcomes, Slice, SlicePercentiles, TracedRequest};

use shard::{CLASSES, Counts, ErrorKey, ErrorTally, Shard, ShardData};

/// Spare slice data kept for reuse beyond this many per shard is freed.
const SPARES_PER_SHARD: usize = 2;

/// Arrival-rate iterations due in one slice, counted by when they were due.
#[derive(Debug, Clone, Copy, Default)]
struct SlotCounts {
    started: u64,
    dropped: u64,
}

/// An arrival-rate flow's pool of users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStat {
    /// Users in the pool at its largest.
    pub size: u64,
    /// Times it grew past its pre-allocated users.
    pub grew: u64,
}

/// Slots by the slice they were due in, and the pools.
struct Book {
    slots: Vec<SlotCounts>,
    /// Per series (flows only are used).
    pools: Vec<PoolStat>,
}

impl Book {
    fn at(&mut self, slice: u64) -> &mut SlotCounts {
        let i = slice as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, SlotCounts::default());
        }
        &mut self.slots[i]
    }
}

/// How a request was answered, for [`Recorder::request_at`].
pub struct Answer<'a> {
    /// The status answered, if any.
    pub status: Option<u16>,
    /// Its error: the kind and the message.
    pub error: Option<(ErrorKind, &'a str)>,
    /// Its trace, when kept.
    pub trace: Option<Trace>,
}

/// What the generator measured of itself when a collection ran.
#[derive(Debug, Clone, Copy, Default)]
pub struct Probe {
    /// Its CPU use since the last collection, as a share of all cores.
    pub cpu_share: Option<f64>,
    /// Requests on the wire.
    pub in_flight: u64,
    /// The oldest of them.
    pub oldest: Duration,
}

/// What the live display shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Live {
    pub elapsed: Duration,
    pub users: i64,
    pub requests_per_second: f64,
    /// Failed requests over requests, last slice.
    pub error_rate: f64,
    /// Successful requests' p95 (response time), last slice.
    pub p95_ms: f64,
    pub total_requests: u64,
    pub dropped: u64,
    /// Requests on the wire, and the oldest one's age: a stalled target shows here
    /// before any request completes.
    pub in_flight: u64,
    pub oldest_ms: f64,
    pub cpu_share: Option<f64>,
    /// The generator's timer lateness, p99 of the last slice.
    pub scheduler_lag_ms: f64,
}

/// The whole run so far.
struct Totals {
    whole: ShardData,
    slowest: BTreeMap<Series, Vec<TracedRequest>>,
    timeline: Vec<Slice>,
    /// The next slice to emit.
    next: u64,
    log: Option<LogWriter>,
}

/// The recorder of one run.
pub struct Recorder {
    table: Arc<SeriesTable>,
    started: Instant,
    start_unix_ms: u64,
    slice: Duration,
    shards: Box<[Mutex<Shard>]>,
    spares: Mutex<Vec<ShardData>>,
    book: Mutex<Book>,
    totals: Mutex<Totals>,
    users: AtomicI64,
    live: Mutex<Live>,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Now, in Unix milliseconds.
pub fn now_unix_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// Per-series results at the end of a run.
#[derive(Debug, Clone)]
pub struct SeriesResult {
    /// Its names.
    pub info: SeriesInfo,
    /// Successes' response times (from the intended start when scheduled).
    pub histogram: Histogram<u64>,
    /// Successes' service times, from the actual send.
    pub service: Histogram<u64>,
    /// Failures' response times.
    pub failed_histogram: Histogram<u64>,
    /// Failures' service times.
    pub failed_service: Histogram<u64>,
    /// Ages of iterations unfinished at the end.
    pub open: Histogram<u64>,
    /// How late iterations started after their slot.
    pub lag: Histogram<u64>,
    /// Requests that ended (the sum of `outcomes`).
    pub requests: u64,
    /// Requests not accepted.
    pub errors: u64,
    pub classes: BTreeMap<String, u64>,
    /// Requests by outcome, in [`Outcome`]'s order.
    pub outcomes: [u64; OUTCOMES],
    pub completed: u64,
    pub failed: u64,
    pub abandoned: u64,
    pub interrupted: u64,
    pub started_slots: u64,
    pub dropped: u64,
    /// The flow's pool (arrival-rate flows).
    pub pool: PoolStat,
}

/// One kind of error on one request and status, at the end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResult {
    pub kind: ErrorKind,
    pub series: Series,
    /// The status answered, if any.
    pub status: Option<u16>,
    pub count: u64,
    /// The first message.
    pub example: String,
    /// The first failures' traces.
    pub traces: Vec<ErrorTrace>,
}

/// Everything recorded, at the end of a run.
#[derive(Debug, Clone)]
pub struct Results {
    /// The run's series.
    pub table: Arc<SeriesTable>,
    /// Per series, in the table's order.
    pub series: Vec<SeriesResult>,
    /// Errors by kind, request and status.
    pub errors: Vec<ErrorResult>,
    pub slowest: Vec<TracedRequest>,
    pub timeline: Vec<Slice>,
    /// How late the generator's timer woke, over the run.
    pub scheduler: Histogram<u64>,
}

impl Results {
    pub fn get(&self, series: Series) -> &SeriesResult {
        &self.series[series.index()]
    }

    /// The request named `name`, when the run has it.
    pub fn request(&self, name: &str) -> Option<&SeriesResult> {
        self.table.request(name).map(|s| self.get(s))
    }

    /// The flow named `name`, when the run has it.
    pub fn flow(&self, name: &str) -> Option<&SeriesResult> {
        self.table.flow(name).map(|s| self.get(s))
    }
}

impl Recorder {
    /// A recorder of `table`'s series whose clock starts now, streaming slices
    /// to `log` when given.
    pub fn new(
        table: Arc<SeriesTable>,
        slice: Duration,
        shards: usize,
        log: Option<LogWriter>,
    ) -> Arc<Recorder> {
        let shards = shards.max(1);
        let n = table.len();
        Arc::new(Recorder {
            table,
            started: Instant::now(),
            start_unix_ms: now_unix_ms(),
            slice: slice.max(Duration::from_millis(10)),
            shards: (0..shards).map(|_| Mutex::new(Shard::new(n))).collect(),
            spares: Mutex::new(Vec::new()),
            book: Mutex::new(Book {
                slots: Vec::new(),
                pools: vec![PoolStat::default(); n],
            }),
            totals: Mutex::new(Totals {
                whole: ShardData::new(n),
                slowest: BTreeMap::new(),
                timeline: Vec::new(),
                next: 0,
                log,
            }),
            users: AtomicI64::new(0),
            live: Mutex::new(Live::default()),
        })
    }

    /// The run's series.
    pub fn table(&self) -> &SeriesTable {
        &self.table
    }

    /// The run's clock: the engine's and every slice's.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn start_unix_ms(&self) -> u64 {
        self.start_unix_ms
    }

    pub fn slice(&self) -> Duration {
        self.slice
    }

    /// The slice `t` falls in.
    fn index_at(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.started).as_nanos() / self.slice.as_nanos()) as u64
    }

    fn spare(&self) -> ShardData {
        self.spares
            .lock()
            .pop()
            .unwrap_or_else(|| ShardData::new(self.table.len()))
    }

    fn give_back(&self, mut data: ShardData) {
        data.clear();
        let mut spares = self.spares.lock();
        if spares.len() < self.shards.len() * SPARES_PER_SHARD {
            spares.push(data);
        }
    }

    /// The shard of `hint`, moved to the current slice.
    fn shard(&self, hint: usize) -> MutexGuard<'_, Shard> {
        self.shard_at(hint, Instant::now())
    }

    /// The shard of `hint`, moved to the slice of `at` (a time just read).
    fn shard_at(&self, hint: usize, at: Instant) -> MutexGuard<'_, Shard> {
        let now = self.index_at(at);
        let mut s = self.shards[hint % self.shards.len()].lock();
        if now > s.slice {
            let fresh = self.spare();
            if let Some(back) = s.roll(now, fresh) {
                self.give_back(back);
            }
        }
        s
    }

    /// One request recorded now: its two latencies, its status, its error if any.
    #[cfg(test)]
    pub fn request(
        &self,
        hint: usize,
        series: Series,
        timing: Timing,
        status: Option<u16>,
        error: Option<(ErrorKind, &str)>,
        trace: Option<Trace>,
    ) {
        let answer = Answer {
            status,
            error,
            trace,
        };
        self.request_at(Instant::now(), hint, series, timing, answer);
    }

    /// One request that ended `at`: its two latencies (body included), its
    /// status, its error if any.
    pub fn request_at(
        &self,
        at: Instant,
        hint: usize,
        series: Series,
        timing: Timing,
        answer: Answer<'_>,
    ) {
        let Answer {
            status,
            error,
            trace,
        } = answer;
        let mut s = self.shard_at(hint, at);
        let d = &mut s.data;
        d.record_timing(series, timing, error.is_some());
        let c = d.counts(series);
        c.requests += 1;
        let class = match status {
            Some(code) => ((code / 100) as usize).clamp(1, 5) - 1,
            None => 5,
        };
        c.classes[class] += 1;
        c.outcomes[Outcome::of(error.map(|e| e.0)).index()] += 1;
        if let Some((kind, message)) = error {
            c.errors += 1;
            if kind == ErrorKind::Interrupted {
                c.interrupted += 1;
            }
            d.error((kind, series, status), message, trace.as_ref());
        }
        if let Some(trace) = trace.filter(|t| t.sampled) {
            let info = self.table.info(series);
            d.keep_slowest(
                series,
                TracedRequest {
                    flow: info.flow.clone(),
                    request: info.name.clone(),
                    latency_ms: timing.response.as_secs_f64() * 1000.0,
                    trace_id: trace.trace_id,
                    at_ms: trace.at_ms,
                    status,
                },
            );
        }
    }

    /// The end of a flow iteration.
    pub fn flow(&self, hint: usize, series: Series, outcome: FlowOutcome) {
        let mut s = self.shard(hint);
        let d = &mut s.data;
        match outcome {
            FlowOutcome::Completed(timing) => {
                d.record_timing(series, timing, false);
                d.counts(series).completed += 1;
            }
            FlowOutcome::Failed(kind, message, timing) => {
                d.record_timing(series, timing, true);
                d.counts(series).failed += 1;
                d.error((kind, series, None), &message, None);
            }
            FlowOutcome::Abandoned => d.counts(series).abandoned += 1,
            FlowOutcome::Interrupted(age) => {
                d.record(series, Measure::Open, age);
                d.counts(series).interrupted += 1;
            }
        }
    }

    /// An arrival-rate slot due at `due` handed to a user `lag` after it was due.
    pub fn started_slot(&self, series: Series, due: Instant, lag: Duration) {
        {
            let mut s = self.shard(series.index());
            s.data.record(series, Measure::Lag, lag);
            s.data.counts(series).started_slots += 1;
        }
        self.book.lock().at(self.index_at(due)).started += 1;
    }

    /// An arrival-rate slot due at `due` that no user could start in time: counted
    /// in the slice it was due.
    pub fn dropped(&self, series: Series, due: Instant) {
        self.shard(series.index()).data.counts(series).dropped += 1;
        self.book.lock().at(self.index_at(due)).dropped += 1;
    }

    /// An arrival-rate flow's pool grew to `size` users.
    pub fn pool_grew(&self, series: Series, size: usize) {
        let mut book = self.book.lock();
        let pool = &mut book.pools[series.index()];
        pool.size = pool.size.max(size as u64);
        pool.grew += 1;
    }

    /// An arrival-rate flow's pool starts with `size` users.
    pub fn pool_started(&self, series: Series, size: usize) {
        let mut book = self.book.lock();
        let pool = &mut book.pools[series.index()];
        pool.size = pool.size.max(size as u64);
    }

    /// How late the generator's probe timer woke.
    pub fn scheduler_lag(&self, lag: Duration) {
        self.shard(0).data.record_scheduler(lag);
    }

    pub fn user_started(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    pub fn user_stopped(&self) {
        self.users.fetch_sub(1, Ordering::Relaxed);
    }

    /// Users running now.
    pub fn users(&self) -> i64 {
        self.users.load(Ordering::Relaxed)
    }

    pub fn live(&self) -> Live {
        *self.live.lock()
    }

    /// Emits every slice that has ended: call once per slice interval (a late
    /// call emits the slices it missed).
    pub fn collect(&self, probe: Probe) {
        self.emit(self.index_at(Instant::now()), None, probe);
    }

    /// Takes the data of slices before `upto` out of every shard, merged by slice;
    /// anything older than `next` (already emitted) joins `next`.
    fn take_ready(&self, upto: u64, next: u64) -> BTreeMap<u64, ShardData> {
        let mut out: BTreeMap<u64, ShardData> = BTreeMap::new();
        for shard in self.shards.iter() {
            let taken = {
                let mut s = shard.lock();
                if s.slice < upto {
                    let fresh = self.spare();
                    if let Some(back) = s.roll(upto, fresh) {
                        self.give_back(back);
                    }
                }
                std::mem::take(&mut s.ready)
            };
            for (idx, mut data) in taken {
                out.entry(idx.max(next))
                    .or_insert_with(|| self.spare())
                    .absorb(&mut data);
                self.give_back(data);
            }
        }
        out
    }

    /// Emits the slices from the next one up to `upto` (excluded); the last one
    /// ends at `end` when given (the run's end), else each is a full slice.
    fn emit(&self, upto: u64, end: Option<Duration>, probe: Probe) {
        let mut totals = self.totals.lock();
        let users = self.users().max(0);
        let mut ready = self.take_ready(upto, totals.next);
        for idx in totals.next..upto {
            let mut data = ready.remove(&idx).unwrap_or_else(|| self.spare());
            let start = self.slice * idx as u32;
            let length = match end {
                Some(end) if idx + 1 == upto => {
                    end.saturating_sub(start).max(Duration::from_millis(1))
                }
                _ => self.slice,
            };
            let slice = self.timeline_slice(&data, idx, start, users as u64, &probe);
            if let Some(log) = &totals.log {
                write_log(log, &self.table, &data, start, length);
            }
            for (series, traced) in data.slowest.drain(..) {
                let list = totals.slowest.entry(series).or_default();
                list.push(traced);
                list.sort_by(|a, b| b.latency_ms.total_cmp(&a.latency_ms));
                list.truncate(SLOWEST_KEPT);
            }
            totals.whole.absorb(&mut data);
            self.give_back(data);
            self.update_live(&totals.whole, &slice, length, users, &probe);
            totals.timeline.push(slice);
        }
        totals.next = totals.next.max(upto);
    }

    fn update_live(
        &self,
        whole: &ShardData,
        slice: &Slice,
        length: Duration,
        users: i64,
        probe: &Probe,
    ) {
        let (total_requests, dropped) = whole
            .counts
            .iter()
            .fold((0, 0), |acc, c| (acc.0 + c.requests, acc.1 + c.dropped));
        *self.live.lock() = Live {
            elapsed: self.started.elapsed(),
            users,
            requests_per_second: slice.requests as f64 / length.as_secs_f64().max(1e-3),
            error_rate: if slice.requests > 0 {
                slice.errors as f64 / slice.requests as f64
            } else {
                0.0
            },
            p95_ms: slice.all.p95,
            total_requests,
            dropped,
            in_flight: probe.in_flight,
            oldest_ms: probe.oldest.as_secs_f64() * 1000.0,
            cpu_share: probe.cpu_share,
            scheduler_lag_ms: slice.scheduler_lag.p99,
        };
    }

    /// The timeline entry of slice `idx`.
    fn timeline_slice(
        &self,
        data: &ShardData,
        idx: u64,
        start: Duration,
        users: u64,
        probe: &Probe,
    ) -> Slice {
        let (mut all, mut all_service, mut lag) =
            (new_histogram(), new_histogram(), new_histogram());
        let mut slice = Slice {
            t_ms: start.as_millis() as u64,
            users,
            cpu_share: probe.cpu_share,
            in_flight: probe.in_flight,
            scheduler_lag: SlicePercentiles::of(data.scheduler.as_ref()),
            ..Slice::default()
        };
        for series in self.table.all() {
            let c = &data.counts[series.index()];
            let info = self.table.info(series);
            slice.interrupted += c.interrupted;
            if info.is_flow {
                slice.failed_iterations += c.failed;
                if c.completed + c.failed + c.abandoned > 0 {
                    slice.outcomes.insert(
                        info.name.clone(),
                        Outcomes {
                            completed: c.completed,
                            failed: c.failed,
                            abandoned: c.abandoned,
                        },
                    );
                }
                if c.iterations() + c.dropped > 0 {
                    let h = data.histogram(series, Measure::Response);
                    slice
                        .flows
                        .insert(info.name.clone(), SlicePercentiles::of(h));
                }
                if let Some(h) = data.histogram(series, Measure::Lag) {
                    let _ = lag.add(h);
                }
            } else {
                slice.requests += c.requests;
                slice.errors += c.errors;
                slice.server_errors += c.classes[4] + c.classes[5];
                if let Some(h) = data.histogram(series, Measure::Response) {
                    let _ = all.add(h);
                }
                if let Some(h) = data.histogram(series, Measure::Service) {
                    let _ = all_service.add(h);
                }
            }
        }
        slice.all = SlicePercentiles::of(Some(&all));
        slice.all_service = SlicePercentiles::of(Some(&all_service));
        slice.schedule_lag = SlicePercentiles::of(Some(&lag));
        let slots = self
            .book
            .lock()
            .slots
            .get(idx as usize)
            .copied()
            .unwrap_or_default();
        fill_slots(&mut slice, slots);
        slice
    }

    /// Emits the last (partial) slice and hands back everything recorded, with
    /// the interval log closed. Call once the load has stopped.
    pub fn finish(&self, probe: Probe) -> std::io::Result<Results> {
        let elapsed = self.started.elapsed();
        self.emit(self.index_at(Instant::now()) + 1, Some(elapsed), probe);
        let mut totals = self.totals.lock();
        if let Some(log) = totals.log.take() {
            log.finish()?;
        }
        let book = self.book.lock();
        // Slots dropped after their slice was emitted (waiting, then too late).
        for (slice, slots) in totals.timeline.iter_mut().zip(&book.slots) {
            fill_slots(slice, *slots);
        }
        let series = self
            .table
            .all()
            .map(|s| {
                let info = self.table.info(s).clone();
                series_result(&totals.whole, s, info, book.pools[s.index()])
            })
            .collect();
        let mut errors: Vec<ErrorResult> = totals
            .whole
            .errors
            .iter()
            .map(
                |(&(kind, series, status), t): (&ErrorKey, &ErrorTally)| ErrorResult {
                    kind,
                    series,
                    status,
                    count: t.count,
                    example: t.example.clone(),
                    traces: t.traces.clone(),
                },
            )
            .collect();
        errors.sort_by_key(|e| (e.kind, e.series, e.status));
        Ok(Results {
            table: self.table.clone(),
            series,
            errors,
            slowest: totals.slowest.values().flatten().cloned().collect(),
            timeline: totals.timeline.clone(),
            scheduler: totals.whole.scheduler.clone().unwrap_or_else(new_histogram),
        })
    }
}

fn fill_slots(slice: &mut Slice, slots: SlotCounts) {
    slice.started = slots.started;
    slice.dropped = slots.dropped;
    slice.planned = slots.started + slots.dropped;
}

/// Streams one slice's histograms to the interval log.
fn write_log(
    log: &LogWriter,
    table: &SeriesTable,
    data: &ShardData,
    start: Duration,
    length: Duration,
) {
    for series in table.all() {
        for m in Measure::ALL {
            if let Some(h) = data.histogram(series, m) {
                log.write(table.info(series).measure_tag(m), h.clone(), start, length);
            }
        }
    }
    if let Some(h) = data.scheduler.as_ref().filter(|h| !h.is_empty()) {
        log.write("generator.scheduler_lag", h.clone(), start, length);
    }
}

/// One series' totals.
fn series_result(whole: &ShardData, s: Series, info: SeriesInfo, pool: PoolStat) -> SeriesResult {
    let c: Counts = whole.counts[s.index()];
    let mut r = SeriesResult::with_histograms(info, |m| {
        whole.histogram(s, m).cloned().unwrap_or_else(new_histogram)
    });
    r.requests = c.requests;
    r.errors = c.errors;
    r.classes = CLASSES
        .iter()
        .zip(c.classes)
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect();
    r.outcomes = c.outcomes;
    r.completed = c.completed;
    r.failed = c.failed;
    r.abandoned = c.abandoned;
    r.interrupted = c.interrupted;
    r.started_slots = c.started_slots;
    r.dropped = c.dropped;
    r.pool = pool;
    r
}

impl SeriesResult {
    /// A series with `histogram(measure)` for each measure and no counts yet.
    pub fn with_histograms(
        info: SeriesInfo,
        histogram: impl Fn(Measure) -> Histogram<u64>,
    ) -> Self {
        SeriesResult {
            info,
            histogram: histogram(Measure::Response),
            service: histogram(Measure::Service),
            failed_histogram: histogram(Measure::Failed),
            failed_service: histogram(Measure::FailedService),
            open: histogram(Measure::Open),
            lag: histogram(Measure::Lag),
            requests: 0,
            errors: 0,
            classes: BTreeMap::new(),
            outcomes: [0; OUTCOMES],
            completed: 0,
            failed: 0,
            abandoned: 0,
            interrupted: 0,
            started_slots: 0,
            dropped: 0,
            pool: PoolStat::default(),
        }
    }

    /// Adds another recorder's totals of the same series (histograms bucket for
    /// bucket, counts summed): how workers' results merge.
    pub fn add(&mut self, b: &SeriesResult) {
        for (x, y) in [
            (&mut self.histogram, &b.histogram),
            (&mut self.service, &b.service),
            (&mut self.failed_histogram, &b.failed_histogram),
            (&mut self.failed_service, &b.failed_service),
            (&mut self.open, &b.open),
            (&mut self.lag, &b.lag),
        ] {
            let _ = x.add(y);
        }
        self.requests += b.requests;
        self.errors += b.errors;
        for (class, n) in &b.classes {
            *self.classes.entry(class.clone()).or_default() += n;
        }
        for (a, n) in self.outcomes.iter_mut().zip(b.outcomes) {
            *a += n;
        }
        self.completed += b.completed;
        self.failed += b.failed;
        self.abandoned += b.abandoned;
        self.interrupted += b.interrupted;
        self.started_slots += b.started_slots;
        self.dropped += b.dropped;
        self.pool.size += b.pool.size;
        self.pool.grew += b.pool.grew;
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

    /// Sleeps until `at` after the recorder's start.
    fn until(r: &Recorder, at: Duration) {
        std::thread::sleep((r.started() + at).saturating_duration_since(Instant::now()));
    }

    #[test]
    fn slices_merge_shards_and_totals_keep_everything() {
        let r = Recorder::new(
            Arc::new(SeriesTable::standard()),
            Duration::from_millis(200),
            4,
            None,
        );
        for i in 0..1000u64 {
            let d = t(Duration::from_micros(1000 + i));
            r.request(
                i as usize,
                SeriesTable::req("health"),
                d,
                Some(200),
                None,
                None,
            );
        }
        let fast_error = t(Duration::from_millis(1));
        r.request(
            1,
            SeriesTable::req("health"),
            fast_error,
            Some(503),
            Some((ErrorKind::Http5xx, "down")),
            None,
        );
        r.flow(
            2,
            SeriesTable::flow_of("health"),
            FlowOutcome::Completed(t(Duration::from_millis(3))),
        );
        r.dropped(SeriesTable::flow_of("health"), Instant::now());
        until(&r, Duration::from_millis(250));
        r.collect(Probe::default());
        for _ in 0..10 {
            r.request(
                0,
                SeriesTable::req("health"),
                t(Duration::from_millis(2)),
                Some(200),
                None,
                None,
            );
        }
        let results = r.finish(Probe::default()).unwrap();
        let health = results.get(SeriesTable::req("health"));
        assert_eq!(health.requests, 1011);
        assert_eq!(health.errors, 1);
        assert_eq!(health.classes["2xx"], 1010);
        assert_eq!(health.classes["5xx"], 1);
        assert_eq!(
            health.outcomes,
            [1010, 1, 0, 0, 0, 0],
            "started = the outcomes' sum"
        );
        // The error is in its own histogram: the fast 503 does not pull the
        // successes' median down.
        assert_eq!(health.histogram.len(), 1010);
        assert_eq!(health.failed_service.len(), 1);
        assert!(health.histogram.value_at_quantile(0.01) >= 1000);
        assert_eq!(results.get(SeriesTable::flow_of("health")).dropped, 1);
        assert_eq!(results.timeline.len(), 2);
        assert_eq!(results.timeline[0].requests, 1001);
        assert_eq!(results.timeline[0].errors, 1);
        assert_eq!(results.timeline[0].dropped, 1);
        assert_eq!(results.timeline[1].requests, 10);
        assert_eq!(results.timeline[1].t_ms, 200);
        assert_eq!(results.errors.len(), 1);
        assert_eq!(results.errors[0].example, "down");
    }

    #[test]
    fn errors_are_kept_apart_by_status_with_their_first_traces() {
        let r = Recorder::new(
            Arc::new(SeriesTable::standard()),
            Duration::from_secs(10),
            2,
            None,
        );
        let fail = |hint: usize, status: Option<u16>, kind: ErrorKind, n: u64| {
            r.request(
                hint,
                SeriesTable::req("plan_status"),
                t(Duration::from_millis(2)),
                status,
                Some((kind, "no")),
                Some(Trace {
                    trace_id: format!("{n:032x}"),
                    at_ms: 0,
                    sampled: n.is_multiple_of(3),
                }),
            );
        };
        for n in 0..6 {
            fail(n as usize, Some(503), ErrorKind::Http5xx, n);
        }
        fail(0, Some(500), ErrorKind::Http5xx, 10);
        fail(0, None, ErrorKind::Timeout, 11);
        fail(0, Some(404), ErrorKind::Http4xx, 12);
        let results = r.finish(Probe::default()).unwrap();
        let find = |status| results.errors.iter().find(|e| e.status == status).unwrap();
        let unavailable = find(Some(503));
        assert_eq!((unavailable.count, unavailable.traces.len()), (6, 3));
        assert!(unavailable.traces.iter().any(|t| !t.sampled));
        assert_eq!(find(Some(500)).count, 1);
        assert_eq!(find(None).kind, ErrorKind::Timeout);
        // Unsampled failures are examples of their error, never "slowest traced".
        assert!(
            results
                .slowest
                .iter()
                .all(|s| s.trace_id != format!("{:032x}", 11))
        );
        // The slice's server errors are the 5xx and the unanswered, not the 404.
        assert_eq!(results.timeline[0].errors, 9);
        assert_eq!(results.timeline[0].server_errors, 8);
    }

    #[test]
    fn a_late_collection_emits_every_missed_slice_at_its_own_time() {
        let r = Recorder::new(
            Arc::new(SeriesTable::standard()),
            Duration::from_millis(100),
            2,
            None,
        );
        let due = Instant::now();
        r.request(
            0,
            SeriesTable::req("health"),
            t(Duration::from_millis(1)),
            Some(200),
            None,
            None,
        );
        until(&r, Duration::from_millis(220));
        r.request(
            1,
            SeriesTable::req("health"),
            t(Duration::from_millis(1)),
            Some(200),
            None,
            None,
        );
        until(&r, Duration::from_millis(350));
        // One collection after a stall of three slices.
        r.collect(Probe::default());
        // A slot due in the first slice, dropped only now (it waited for a user).
        r.dropped(SeriesTable::flow_of("health"), due);
        let results = r.finish(Probe::default()).unwrap();
        let t_ms: Vec<u64> = results.timeline.iter().map(|s| s.t_ms).collect();
        assert_eq!(t_ms, vec![0, 100, 200, 300]);
        let requests: Vec<u64> = results.timeline.iter().map(|s| s.requests).collect();
        assert_eq!(requests, vec![1, 0, 1, 0]);
        assert_eq!(results.timeline[0].dropped, 1, "counted where it was due");
        assert_eq!(results.timeline[3].dropped, 0);
    }

    #[test]
    fn failed_and_interrupted_iterations_are_kept_apart() {
        let r = Recorder::new(
            Arc::new(SeriesTable::standard()),
            Duration::from_secs(1),
            1,
            None,
        );
        let slow = t(Duration::from_secs(30));
        r.flow(
            0,
            SeriesTable::flow_of("plans"),
            FlowOutcome::Completed(t(Duration::from_secs(2))),
        );
        r.flow(
            0,
            SeriesTable::flow_of("plans"),
            FlowOutcome::Failed(ErrorKind::PlanTimeout, "late".into(), slow),
        );
        r.flow(
            0,
            SeriesTable::flow_of("plans"),
            FlowOutcome::Interrupted(Duration::from_secs(4)),
        );
        r.request(
            0,
            SeriesTable::req("plan_status"),
            t(Duration::from_secs(3)),
            None,
            Some((ErrorKind::Interrupted, "cancelled")),
            None,
        );
        let results = r.finish(Probe::default()).unwrap();
        let plans = results.get(SeriesTable::flow_of("plans"));
        assert_eq!(
            (plans.completed, plans.failed, plans.interrupted),
            (1, 1, 1)
        );
        assert_eq!(plans.histogram.len(), 1);
        assert!(plans.failed_histogram.min() >= 29_000_000);
        assert_eq!(plans.open.len(), 1);
        // A cancelled request is a request that ended badly: counted, an error.
        let status = results.get(SeriesTable::req("plan_status"));
        assert_eq!(
            (status.requests, status.errors, status.interrupted),
            (1, 1, 1)
        );
        assert_eq!(status.outcomes[Outcome::Cancelled.index()], 1);
        assert_eq!(status.failed_service.len(), 1);
        assert_eq!(results.timeline[0].interrupted, 2);
        assert_eq!(results.timeline[0].failed_iterations, 1);
        assert_eq!(results.timeline[0].outcomes["plans"].failed, 1);
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
        let r = Recorder::new(
            Arc::new(SeriesTable::standard()),
            Duration::from_secs(1),
            1,
            None,
        );
        for ms in 1..=50u64 {
            r.request(
                0,
                SeriesTable::req("plan_status"),
                t(Duration::from_millis(ms)),
                Some(200),
                None,
                Some(Trace {
                    trace_id: format!("{ms:032x}"),
                    at_ms: 0,
                    sampled: true,
                }),
            );
        }
        let results = r.finish(Probe::default()).unwrap();
        assert_eq!(results.slowest.len(), SLOWEST_KEPT);
        assert_eq!(results.slowest[0].latency_ms, 50.0);
        assert!(results.slowest.iter().all(|t| t.latency_ms > 40.0));
    }
}
