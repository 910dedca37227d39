//! The run's summary (`summary.json`), built from the recorder's results, the
//! scenario's stages and the run's clock: the tables, the stages as they ran, the
//! steady window, and the tool and machine.

use std::path::Path;
use std::time::{Duration, SystemTime};

use reports::summary::{
    self, Environment, ErrorStats, FlowStats, Percentiles, RequestStats, RunSummary, StageRun,
    TargetInfo,
};
use slo::evaluate::Windows;
use slo::verdict::Window;

use crate::exit::Exit;
use crate::recorder::{Measure, Results};
use crate::scenario::Scenario;
use crate::target::RunningTarget;

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The tool and the machine.
pub fn environment() -> Environment {
    Environment {
        tool: "loadgen".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        hostname: hostname(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    }
}

/// Percentiles of a histogram that holds anything.
fn some_percentiles(h: &hdrhistogram::Histogram<u64>) -> Option<Percentiles> {
    (!h.is_empty()).then(|| Percentiles::of(h))
}

/// Turns the recorder's results into the summary's tables.
pub fn tables(results: &Results) -> (Vec<RequestStats>, Vec<FlowStats>, Vec<ErrorStats>) {
    let mut requests = Vec::new();
    let mut flows = Vec::new();
    for r in &results.series {
        if r.info.is_flow {
            let ran = r.completed + r.failed + r.abandoned + r.interrupted + r.dropped;
            if ran == 0 {
                continue;
            }
            flows.push(FlowStats {
                name: r.info.name.clone(),
                iterations: r.completed + r.failed,
                failed: r.failed,
                abandoned: r.abandoned,
                dropped: r.dropped,
                interrupted: r.interrupted,
                latency_ms: Percentiles::of(&r.histogram),
                service_ms: Percentiles::of(&r.service),
                failed_ms: some_percentiles(&r.failed_histogram),
                schedule_lag_ms: some_percentiles(&r.lag),
            });
        } else if r.requests > 0 {
            requests.push(RequestStats {
                name: r.info.name.clone(),
                flow: r.info.flow.clone(),
                count: r.requests,
                errors: r.errors,
                outcomes: reports::summary::RequestOutcomes::from_counts(r.outcomes),
                status_classes: r.classes.clone(),
                latency_ms: Percentiles::of(&r.histogram),
                service_ms: Percentiles::of(&r.service),
                failed_ms: some_percentiles(&r.failed_service),
                interrupted: r.interrupted,
            });
        }
    }
    let errors = results
        .errors
        .iter()
        .map(|e| ErrorStats {
            kind: e.kind.as_str().to_string(),
            request: results.table.info(e.series).name.clone(),
            status: e.status,
            count: e.count,
            example: e.example.clone(),
            traces: e.traces.clone(),
        })
        .collect();
    (requests, flows, errors)
}

/// The stages as they ran (the last one cut at the run's end).
fn stages(scenario: &Scenario, start_ms: u64, end_ms: u64) -> Vec<StageRun> {
    let mut out = Vec::new();
    let mut offset = Duration::ZERO;
    for s in &scenario.stages {
        let stage_start = start_ms + offset.as_millis() as u64;
        offset += s.duration;
        out.push(StageRun {
            name: s.name.clone(),
            kind: s.kind.as_str().to_string(),
            users: s.users,
            duration_s: s.duration.as_secs_f64(),
            start_ms: stage_start,
            end_ms: (start_ms + offset.as_millis() as u64).min(end_ms),
        });
    }
    out
}

/// The steady window of a run from `start_ms` to `end_ms`. Without a final
/// ramp-down it runs to the end, graceful stop included, so journeys begun in it
/// can finish in it.
fn steady(scenario: &Scenario, start_ms: u64, end_ms: u64) -> Option<(u64, u64)> {
    scenario
        .steady_offsets()
        .map(|(a, b)| {
            let end = if scenario.ends_steady() {
                end_ms
            } else {
                (start_ms + b.as_millis() as u64).min(end_ms)
            };
            (start_ms + a.as_millis() as u64, end)
        })
        .filter(|(a, b)| a < b)
}

/// The windows the verdicts judge.
pub fn windows(s: &RunSummary) -> Windows {
    Windows {
        whole: Window {
            start_ms: s.start_ms,
            end_ms: s.end_ms,
        },
        steady: match (s.steady_start_ms, s.steady_end_ms) {
            (Some(a), Some(b)) if a < b => Some(Window {
                start_ms: a,
                end_ms: b,
            }),
            _ => None,
        },
    }
}

/// The summary's account of the target.
pub fn target_info(target: &RunningTarget, jaeger_url: Option<String>) -> TargetInfo {
    TargetInfo {
        kind: target.kind.to_string(),
        base_url: target.base_url.clone(),
        metrics: target.metrics.clone(),
        jaeger_url,
    }
}

/// A finished run, as the summary needs it.
pub struct Finished<'a> {
    /// Its id.
    pub run_id: &'a str,
    /// What ran.
    pub scenario: &'a Scenario,
    /// What it ran against.
    pub target: TargetInfo,
    /// Everything recorded.
    pub results: &'a Results,
    /// The run's window, unix ms.
    pub start_ms: u64,
    /// Its end, unix ms.
    pub end_ms: u64,
    /// Why it stopped early, when it did.
    pub stop: Option<String>,
}

/// The summary of a finished run, before it is judged.
pub fn build(f: &Finished) -> RunSummary {
    let (requests, flows, errors) = tables(f.results);
    let total_requests: u64 = requests.iter().map(|r| r.count).sum();
    let seconds = (f.end_ms - f.start_ms) as f64 / 1000.0;
    let steady = steady(f.scenario, f.start_ms, f.end_ms);
    let mut slowest = f.results.slowest.clone();
    slowest.sort_by(|a, b| {
        a.flow
            .cmp(&b.flow)
            .then(b.latency_ms.total_cmp(&a.latency_ms))
    });
    RunSummary {
        schema: summary::SCHEMA.to_string(),
        run_id: f.run_id.to_string(),
        scenario: f.scenario.name.clone(),
        description: f.scenario.description.clone(),
        scenario_file: f.scenario.path.display().to_string(),
        target: f.target.clone(),
        target_clock: None,
        environment: environment(),
        start_ms: f.start_ms,
        end_ms: f.end_ms,
        steady_start_ms: steady.map(|s| s.0),
        steady_end_ms: steady.map(|s| s.1),
        stages: stages(f.scenario, f.start_ms, f.end_ms),
        users: f.scenario.peak_users(),
        slice_seconds: f.scenario.slice.as_secs_f64(),
        interrupted: f.stop.is_some(),
        stop_reason: f.stop.clone(),
        total_requests,
        outcomes: requests.iter().fold(Default::default(), |mut all, r| {
            all.add(&r.outcomes);
            all
        }),
        total_errors: requests.iter().map(|r| r.errors).sum(),
        requests_per_second: if seconds > 0.0 {
            total_requests as f64 / seconds
        } else {
            0.0
        },
        dropped_iterations: flows.iter().map(|f| f.dropped).sum(),
        requests,
        flows,
        errors,
        slowest,
        integrity: None,
        generator: None,
        worker: None,
        workers: Vec::new(),
        verdicts: None,
        exit_code: Exit::Inconclusive.code(),
    }
}

/// Writes the whole-run histograms, one interval per series and measure (the
/// interval log's tags: `req.`, `svc.req.`, `failed.req.`, `lag.flow.`, ...).
pub fn write_total_log(
    dir: &Path,
    results: &Results,
    start: SystemTime,
    length: Duration,
) -> std::io::Result<()> {
    let mut intervals = Vec::new();
    for r in &results.series {
        let measures = [
            (Measure::Response, &r.histogram),
            (Measure::Service, &r.service),
            (Measure::Failed, &r.failed_histogram),
            (Measure::FailedService, &r.failed_service),
            (Measure::Open, &r.open),
            (Measure::Lag, &r.lag),
        ];
        for (m, h) in measures.into_iter().filter(|(_, h)| !h.is_empty()) {
            intervals.push(reports::hdr::Interval {
                tag: Some(r.info.measure_tag(m).to_string()),
                start: Duration::ZERO,
                duration: length,
                histogram: h.clone(),
            });
        }
    }
    reports::hdr::write_log(
        &dir.join(summary::TOTAL_LOG_FILE),
        start,
        "athlete-ally loadgen: whole run, microseconds",
        &intervals,
    )
}
