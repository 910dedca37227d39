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

use serde::{Deserialize, Serialize};
use slo::verdict::Verdicts;

/// Schema identifier written into every summary.
pub const SCHEMA: &str = "athlete-ally-loadgen/summary/v1";
/// File names inside a run directory.
pub const SUMMARY_FILE: &str = "summary.json";
pub const TIMELINE_FILE: &str = "timeline.json";
pub const INTERVAL_LOG_FILE: &str = "histograms.hlog";
pub const TOTAL_LOG_FILE: &str = "histograms-total.hlog";
pub const SCENARIO_FILE: &str = "scenario.toml";
pub const SLO_FILE: &str = "slo.toml";

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// One named request (a step of a flow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestStats {
    pub name: String,
    /// The flow it belongs to.
    pub flow: String,
    pub count: u64,
    /// Requests that failed (transport error, 4xx/5xx, or a body saying failure).
    pub errors: u64,
    /// Responses by status class (`2xx`, `4xx`, `5xx`, `none` for transport errors).
    pub status_classes: BTreeMap<String, u64>,
    /// Full response time, body included, in milliseconds.
    pub latency_ms: Percentiles,
}

/// One flow (a user journey): its iterations end to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowStats {
    pub name: String,
    /// Iterations that ran to their end (completed or failed).
    pub iterations: u64,
    pub failed: u64,
    /// Onboarding: iterations abandoned part-way on purpose (not failures).
    pub abandoned: u64,
    /// Paced flows: intended starts skipped because they were too late.
    pub dropped: u64,
    /// Iterations cut short by the end of the run (neither success nor failure).
    pub interrupted: u64,
    /// End-to-end time of completed iterations, in milliseconds (from the intended
    /// start when paced).
    pub latency_ms: Percentiles,
}

/// One kind of error, with an example message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorStats {
    pub kind: String,
    pub request: String,
    pub count: u64,
    pub example: String,
}

/// A slow sampled request, with its trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedRequest {
    pub flow: String,
    pub request: String,
    pub latency_ms: f64,
    pub trace_id: String,
    /// Unix milliseconds when it started.
    pub at_ms: u64,
    pub status: Option<u16>,
}

/// A stage of the load shape, with when it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRun {
    pub name: String,
    /// `ramp`, `steady`, `spike` or `soak`.
    pub kind: String,
    pub users: u64,
    pub duration_s: f64,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// The target that was driven.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `embedded` or `url`.
    pub kind: String,
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
    pub tool: String,
    pub version: String,
    pub hostname: String,
    pub os: String,
    pub cpus: usize,
    /// The command line as run.
    pub command: String,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub schema: String,
    pub run_id: String,
    pub scenario: String,
    pub description: String,
    pub scenario_file: String,
    pub target: TargetInfo,
    pub environment: Environment,
    /// Run window, unix milliseconds.
    pub start_ms: u64,
    pub end_ms: u64,
    /// Steady window (first ramp and final ramp-down excluded), when distinct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_start_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady_end_ms: Option<u64>,
    pub stages: Vec<StageRun>,
    /// Peak virtual users planned.
    pub users: u64,
    /// Seconds per time slice of the timeline and interval log.
    pub slice_seconds: f64,
    /// Whether the run stopped early (Ctrl-C, SIGTERM, target down).
    pub interrupted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    pub total_requests: u64,
    pub total_errors: u64,
    pub requests_per_second: f64,
    pub dropped_iterations: u64,
    pub requests: Vec<RequestStats>,
    pub flows: Vec<FlowStats>,
    pub errors: Vec<ErrorStats>,
    /// Slowest sampled requests per flow, slowest first.
    pub slowest: Vec<TracedRequest>,
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
    pub users: u64,
    pub requests: u64,
    pub errors: u64,
    pub dropped: u64,
    /// Latency percentiles of completed flow iterations, per flow, in milliseconds.
    pub flows: BTreeMap<String, SlicePercentiles>,
    /// All requests together.
    pub all: SlicePercentiles,
}

/// p50/p95/p99 of one slice, milliseconds; zero count means no data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SlicePercentiles {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// `timeline.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub slice_seconds: f64,
    pub slices: Vec<Slice>,
}

/// Reading or writing a run directory failed.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a run summary: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "{path}: schema {found:?} is not {SCHEMA:?}: render it with the loadgen version that wrote it"
    )]
    Schema { path: String, found: String },
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

    pub fn write(&self, dir: &Path) -> Result<(), RunDirError> {
        write_json(&dir.join(SUMMARY_FILE), self)
    }

    /// Seconds of the run window.
    pub fn duration_seconds(&self) -> f64 {
        self.end_ms.saturating_sub(self.start_ms) as f64 / 1000.0
    }
}

impl Timeline {
    pub fn read(dir: &Path) -> Result<Timeline, RunDirError> {
        let path = dir.join(TIMELINE_FILE);
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        serde_json::from_str(&text).map_err(|source| RunDirError::Json {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn write(&self, dir: &Path) -> Result<(), RunDirError> {
        write_json(&dir.join(TIMELINE_FILE), self)
    }
}
