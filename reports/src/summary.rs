//! The run directory's data: `summary.json` (versioned schema) and `timeline.json`.
//!
//! `loadgen run` writes them; `loadgen report` and the renderers read them. The
//! schema is versioned by [`SCHEMA`]; fields are only ever added within a version,
//! so a reader of version 1 reads any version-1 file. The layout of a run directory:
//!
//! | file | what |
//! |---|---|
//! | `summary.json` | this module's [`RunSummary`] |
//! | `timeline.json` | [`Timeline`]: one entry per time slice |
//! | `histograms.hlog` | HdrHistogram V2 interval log, one interval per slice and tag |
//! | `histograms-total.hlog` | the whole run's histogram per tag (mergeable across workers) |
//! | `scenario.toml`, `slo.toml` | the scenario and the SLO set as run |
//! | `report.html`, `summary.md`, `junit.xml` | the rendered reports |
//!
//! Histogram tags: `req.<request name>` for each named request, `flow.<flow name>`
//! for each flow iteration (end to end), all in microseconds.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use slo::verdict::Verdicts;

/// Schema identifier written into every summary.
pub const SCHEMA: &str = "athlete-ally-loadgen/summary/v1";
/// File names inside a run directory.
pub const SUMMARY_FILE: &str = "summary.json";
/// The per-slice timeline.
pub const TIMELINE_FILE: &str = "timeline.json";
/// The HdrHistogram interval log, one interval per slice and tag.
pub const INTERVAL_LOG_FILE: &str = "histograms.hlog";
/// The whole run's histogram per tag.
pub const TOTAL_LOG_FILE: &str = "histograms-total.hlog";
/// The scenario as run.
pub const SCENARIO_FILE: &str = "scenario.toml";
/// The SLO set as run.
pub const SLO_FILE: &str = "slo.toml";

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Microseconds to milliseconds.
fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Percentiles {
    /// The percentiles of a histogram of microseconds (zero when empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// How the requests a generator started ended: exactly one outcome each, so the
/// outcomes add up to the requests started (none vanishes), and every outcome
/// but `accepted` is a bad event for the client's error measure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOutcomes {
    /// Answered with a status the step accepts, every check holding.
    pub accepted: u64,
    /// Refused by status: a 5xx, a 4xx (429 included), a 3xx, or any status the
    /// step does not accept.
    pub status: u64,
    /// Answered with an accepted status, but a check or capture failed.
    pub check: u64,
    /// No answer: refused, reset or cut short.
    pub transport: u64,
    /// No answer within the request timeout.
    pub timeout: u64,
    /// Still unanswered at the run's hard stop (after the graceful stop).
    pub cancelled: u64,
}

impl RequestOutcomes {
    /// From counts in the order accepted, status, check, transport, timeout,
    /// cancelled.
    pub fn from_counts(c: [u64; 6]) -> RequestOutcomes {
        RequestOutcomes {
            accepted: c[0],
            status: c[1],
            check: c[2],
            transport: c[3],
            timeout: c[4],
            cancelled: c[5],
        }
    }

    /// The counts, in [`RequestOutcomes::from_counts`]'s order.
    pub fn counts(&self) -> [u64; 6] {
        [
            self.accepted,
            self.status,
            self.check,
            self.transport,
            self.timeout,
            self.cancelled,
        ]
    }

    /// Every request started: the sum of the outcomes.
    pub fn started(&self) -> u64 {
        self.counts().iter().sum()
    }

    /// The requests that were not accepted.
    pub fn bad(&self) -> u64 {
        self.started() - self.accepted
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &RequestOutcomes) {
        let mut c = self.counts();
        for (a, b) in c.iter_mut().zip(other.counts()) {
            *a += b;
        }
        *self = RequestOutcomes::from_counts(c);
    }

    /// `680 started: 441 accepted, 239 cancelled`: the outcomes that occurred.
    pub fn describe(&self) -> String {
        let names = [
            "accepted",
            "refused by status",
            "failed a check",
            "transport errors",
            "timed out",
            "cancelled",
        ];
        let parts: Vec<String> = names
            .iter()
            .zip(self.counts())
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        format!("{} started: {}", self.started(), parts.join(", "))
    }
}

/// One named request (a step of a flow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestStats {
    /// The request's name (`purpose_selection`).
    pub name: String,
    /// The flow it belongs to.
    pub flow: String,
    /// Requests started (the sum of `outcomes`).
    pub count: u64,
    /// Requests not accepted: every outcome but `accepted`.
    pub errors: u64,
    /// How the requests ended, one outcome each.
    #[serde(default)]
    pub outcomes: RequestOutcomes,
    /// Responses by status class (`2xx`, `4xx`, `5xx`, `none` for transport errors).
    pub status_classes: BTreeMap<String, u64>,
    /// Successful requests' full response time, body included, in milliseconds,
    /// from the intended start of a scheduled iteration's first request
    /// (coordinated omission corrected).
    pub latency_ms: Percentiles,
    /// Successful requests' service time, from the actual send (what the server
    /// can be compared with).
    #[serde(default)]
    pub service_ms: Percentiles,
    /// Failed requests' service time (error answers and timeouts), kept apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_ms: Option<Percentiles>,
    /// Requests cancelled by the run's hard stop (also in `outcomes` and `errors`).
    #[serde(default)]
    pub interrupted: u64,
}

/// One flow (a user journey): its iterations end to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowStats {
    /// The flow's name.
    pub name: String,
    /// Iterations that ran to their end (completed or failed).
    pub iterations: u64,
    /// Iterations that failed.
    pub failed: u64,
    /// Onboarding: iterations abandoned part-way on purpose (not failures).
    pub abandoned: u64,
    /// Paced flows: intended starts skipped because they were too late.
    pub dropped: u64,
    /// Iterations cut short by the end of the run (neither success nor failure).
    pub interrupted: u64,
    /// End-to-end time of completed iterations, in milliseconds, from the
    /// intended start on an arrival-rate schedule (coordinated omission corrected).
    pub latency_ms: Percentiles,
    /// Completed iterations' time from their actual start.
    #[serde(default)]
    pub service_ms: Percentiles,
    /// Failed and timed-out iterations' time until they failed, kept apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_ms: Option<Percentiles>,
    /// Arrival-rate flows: how late iterations started after their slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag_ms: Option<Percentiles>,
}

/// One kind of error on one request and status, with an example message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorStats {
    /// The error's kind (`http_5xx`, `timeout`, ...).
    pub kind: String,
    /// The request it happened on.
    pub request: String,
    /// The HTTP status answered; none for a request never answered (refused,
    /// reset, timed out) or a failed iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How many times.
    pub count: u64,
    /// The first message seen (an error answer's body).
    pub example: String,
    /// Trace ids of the first failures (at most [`ERROR_TRACES_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<ErrorTrace>,
}

/// Trace ids kept per kind of error.
pub const ERROR_TRACES_KEPT: usize = 3;

/// Adds `more` to `kept` while it holds fewer than [`ERROR_TRACES_KEPT`]: the
/// first failures' traces, whether tallied in one process or merged from workers.
pub fn keep_first_traces(kept: &mut Vec<ErrorTrace>, more: impl IntoIterator<Item = ErrorTrace>) {
    let room = ERROR_TRACES_KEPT.saturating_sub(kept.len());
    kept.extend(more.into_iter().take(room));
}

/// The trace id of a failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorTrace {
    /// Its W3C trace id.
    pub trace_id: String,
    /// Whether it was sent sampled (only sampled traces reach a trace backend).
    pub sampled: bool,
}

/// A slow sampled request, with its trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedRequest {
    /// The flow.
    pub flow: String,
    /// The request.
    pub request: String,
    /// Its response time, milliseconds.
    pub latency_ms: f64,
    /// Its W3C trace id.
    pub trace_id: String,
    /// Unix milliseconds when it started.
    pub at_ms: u64,
    /// Its HTTP status, when answered.
    pub status: Option<u16>,
}

/// A stage of the load shape, with when it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRun {
    /// The stage's name.
    pub name: String,
    /// `ramp`, `steady`, `spike` or `soak`.
    pub kind: String,
    /// Users at its end.
    pub users: u64,
    /// Its planned length, seconds.
    pub duration_s: f64,
    /// When it started (unix ms).
    pub start_ms: u64,
    /// When it ended (unix ms).
    pub end_ms: u64,
}

/// The target that was driven.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `embedded` or `url`.
    pub kind: String,
    /// The gateway's base URL.
    pub base_url: String,
    /// Metrics endpoints scraped, by Prometheus job name.
    #[serde(default)]
    pub metrics: BTreeMap<String, String>,
    /// Jaeger UI for trace links, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jaeger_url: Option<String>,
}

/// The tool and the machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// The tool's name.
    pub tool: String,
    /// Its version.
    pub version: String,
    /// The machine's name.
    pub hostname: String,
    /// Operating system and architecture.
    pub os: String,
    /// CPUs available.
    pub cpus: usize,
    /// The command line as run.
    pub command: String,
}

/// Whether the load happened as planned: a run is judged only if it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Integrity {
    /// The load ran as planned (not interrupted, no drops beyond the bound, the
    /// planned rate achieved); when false, no verdict can pass.
    pub valid: bool,
    /// What went wrong, for people.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The planned and achieved load of each paced flow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowLoad>,
}

/// A paced flow's load: planned against achieved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowLoad {
    /// The flow.
    pub name: String,
    /// Iterations per second planned.
    pub planned_per_second: f64,
    /// Iterations the plan held over the run.
    pub planned: u64,
    /// Iterations that started.
    pub started: u64,
    /// Iterations dropped (could not start in time).
    pub dropped: u64,
    /// Started over planned.
    pub achieved_share: f64,
    /// Users the pool started with.
    #[serde(default)]
    pub pre_allocated_users: u64,
    /// Users the pool may grow to.
    #[serde(default)]
    pub max_users: u64,
    /// Users it grew to.
    #[serde(default)]
    pub peak_users: u64,
}

/// The load generator's own health: a generator short of CPU or late on its own
/// timers charges its delay to the target, so such a run is not judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorHealth {
    /// The generator's mean CPU use, as a share of all cores (embedded services'
    /// threads not counted).
    pub cpu_share_mean: f64,
    /// The highest slice's CPU share.
    pub cpu_share_max: f64,
    /// CPU microseconds per request.
    pub cpu_us_per_request: f64,
    /// How late a 10 ms timer woke, 99th percentile, milliseconds.
    pub scheduler_lag_p99_ms: f64,
    /// The latest a timer woke, milliseconds.
    pub scheduler_lag_max_ms: f64,
    /// Whether the generator, not the target, limited the run.
    pub limited: bool,
    /// Why it was limited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// A worker's place in a distributed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerPlace {
    /// Its index, from 0.
    pub index: u32,
    /// How many workers the run had.
    pub count: u32,
}

/// What became of one worker of a merged run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerRun {
    /// Its index.
    pub index: u32,
    /// Its run directory, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// `finished`, `interrupted` (stopped early), `died` (no summary: killed
    /// mid-run; what its interval log holds is merged) or `missing`.
    pub status: String,
    /// Requests it sent (as far as known).
    pub requests: u64,
    /// Its run window, unix milliseconds.
    #[serde(default)]
    pub start_ms: u64,
    /// End of its window.
    #[serde(default)]
    pub end_ms: u64,
    /// Its generator's health, when it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorHealth>,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// [`SCHEMA`].
    pub schema: String,
    /// The run's id (its directory's name).
    pub run_id: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's description.
    pub description: String,
    /// The scenario file as given.
    pub scenario_file: String,
    /// What was driven.
    pub target: TargetInfo,
    /// A deployment's clock against loadgen's, from its `Date` header before the
    /// load (whole seconds): what a merge compares the workers' clocks with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_clock: Option<slo::clock::ClockOffset>,
    /// The tool and the machine.
    pub environment: Environment,
    /// Run window, unix milliseconds.
    pub start_ms: u64,
    /// End of the run window, unix milliseconds.
    pub end_ms: u64,
    /// Steady window (first ramp and final ramp-down excluded), when distinct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_start_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// End of the steady window.
    pub steady_end_ms: Option<u64>,
    /// The load shape's stages, with when they ran.
    pub stages: Vec<StageRun>,
    /// Peak virtual users planned.
    pub users: u64,
    /// Seconds per time slice of the timeline and interval log.
    pub slice_seconds: f64,
    /// Whether the run stopped early (Ctrl-C, SIGTERM, target down).
    pub interrupted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Why it stopped early.
    pub stop_reason: Option<String>,
    /// Requests started.
    pub total_requests: u64,
    /// How every request started ended (they add up to `total_requests`).
    #[serde(default)]
    pub outcomes: RequestOutcomes,
    /// Requests that failed.
    pub total_errors: u64,
    /// Requests per second over the run window.
    pub requests_per_second: f64,
    /// Paced iterations dropped (started too late).
    pub dropped_iterations: u64,
    /// One row per named request.
    pub requests: Vec<RequestStats>,
    /// One row per flow.
    pub flows: Vec<FlowStats>,
    /// Errors by kind and request.
    pub errors: Vec<ErrorStats>,
    /// Slowest sampled requests per flow, slowest first.
    pub slowest: Vec<TracedRequest>,
    /// Whether the load happened as planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Integrity>,
    /// The load generator's own health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorHealth>,
    /// A worker of a distributed run: its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerPlace>,
    /// A merged run: each worker's outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<WorkerRun>,
    /// The SLO verdicts, when the run was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdicts: Option<Verdicts>,
    /// The process exit code this run produced.
    pub exit_code: u8,
}

/// One time slice of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    /// Milliseconds since the run's start, at the slice's start.
    pub t_ms: u64,
    /// Users active at the slice's end.
    pub users: u64,
    /// Requests answered or failed in the slice.
    pub requests: u64,
    /// Failed requests in the slice (the error rate is these over `requests`).
    pub errors: u64,
    /// Requests answered with a 5xx or never answered (what the `api_errors`
    /// measurement counts).
    #[serde(default)]
    pub server_errors: u64,
    /// Iterations due in the slice and dropped (arrival-rate flows).
    pub dropped: u64,
    /// Latency percentiles of completed flow iterations, per flow, in milliseconds.
    pub flows: BTreeMap<String, SlicePercentiles>,
    /// All successful requests together: response time (from the intended start).
    pub all: SlicePercentiles,
    /// All successful requests together: service time (from the actual send).
    #[serde(default)]
    pub all_service: SlicePercentiles,
    /// Iterations failed in the slice.
    #[serde(default)]
    pub failed_iterations: u64,
    /// Requests and iterations cut by the run's stop in the slice.
    #[serde(default)]
    pub interrupted: u64,
    /// Iterations due in the slice (arrival-rate flows).
    #[serde(default)]
    pub planned: u64,
    /// Iterations due in the slice that started (arrival-rate flows).
    #[serde(default)]
    pub started: u64,
    /// How late iterations started after their slot, for those started in the slice.
    #[serde(default)]
    pub schedule_lag: SlicePercentiles,
    /// How late the generator's 10 ms timer woke in the slice.
    #[serde(default)]
    pub scheduler_lag: SlicePercentiles,
    /// The generator's CPU use as a share of all cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_share: Option<f64>,
    /// Requests in flight at the slice's end.
    #[serde(default)]
    pub in_flight: u64,
    /// Per flow, how the iterations that ended in the slice ended.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outcomes: BTreeMap<String, Outcomes>,
}

/// How a flow's iterations ended in one slice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    /// Ran to their end.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
    /// Abandoned part-way on purpose.
    pub abandoned: u64,
}

impl Outcomes {
    /// Adds another slice's (or worker's) outcomes.
    pub fn add(&mut self, o: &Outcomes) {
        self.completed += o.completed;
        self.failed += o.failed;
        self.abandoned += o.abandoned;
    }
}

/// p50/p95/p99 of one slice, milliseconds; zero count means no data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SlicePercentiles {
    /// Events in the slice.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl SlicePercentiles {
    /// The percentiles of a slice's histogram of microseconds (zero when none).
    pub fn of(h: Option<&Histogram<u64>>) -> SlicePercentiles {
        match h {
            Some(h) if !h.is_empty() => SlicePercentiles {
                count: h.len(),
                p50: ms(h.value_at_quantile(0.50)),
                p95: ms(h.value_at_quantile(0.95)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
            },
            _ => SlicePercentiles::default(),
        }
    }
}

/// `timeline.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Seconds per slice.
    pub slice_seconds: f64,
    /// The slices, in time order.
    pub slices: Vec<Slice>,
}

/// Reading or writing a run directory failed.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{path}: {source}")]
    /// The file could not be read or written.
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    #[error("{path}: not a run summary: {source}")]
    /// The file is not the JSON expected.
    Json {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    #[error(
        "{path}: schema {found:?} is not {SCHEMA:?}: render it with the loadgen version that wrote it"
    )]
    /// The summary was written with another schema.
    Schema {
        /// The file read.
        path: String,
        /// The schema it declares.
        found: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes pretty JSON, atomically (temporary file, then rename).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunDirError> {
    let text = serde_json::to_string_pretty(value).expect("summaries serialise");
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error(path))
}

impl RunSummary {
    /// Reads `summary.json` from a run directory.
    pub fn read(dir: &Path) -> Result<RunSummary, RunDirError> {
        let path = dir.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| RunDirError::Json {
                path: path.display().to_string(),
                source,
            })?;
        let found = value
            .get("schema")
            .and_then(|s| s.as_str())
            .unwrap_or_default();
        if found != SCHEMA {
            return Err(RunDirError::Schema {
                path: path.display().to_string(),
                found: found.to_string(),
            });
        }
        serde_json::from_value(value).map_err(|source| RunDirError::Json {
            path: path.display().to_string(),
            source,
        })
    }

    /// Writes `summary.json` into a run directory.
    pub fn write(&self, dir: &Path) -> Result<(), RunDirError> {
        write_json(&dir.join(SUMMARY_FILE), self)
    }

    /// Seconds of the run window.
    pub fn duration_seconds(&self) -> f64 {
        self.end_ms.saturating_sub(self.start_ms) as f64 / 1000.0
    }
}

impl Timeline {
    /// Reads `timeline.json` from a run directory.
    pub fn read(dir: &Path) -> Result<Timeline, RunDirError> {
        let path = dir.join(TIMELINE_FILE);
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        serde_json::from_str(&text).map_err(|source| RunDirError::Json {
            path: path.display().to_string(),
            source,
        })
    }

    /// Writes `timeline.json` into a run directory.
    pub fn write(&self, dir: &Path) -> Result<(), RunDirError> {
        write_json(&dir.join(TIMELINE_FILE), self)
    }
}
