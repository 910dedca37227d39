//! The main job, `loadgen run SCENARIO`: check the files, start the target, drive
//! the flows, record, judge, and write the run directory.
//!
//! Nothing starts before the scenario and the SLO set are valid (exit 2). Whatever
//! happens after the load started (Ctrl-C, SIGTERM, an unreachable Prometheus), the
//! results gathered so far are written before the process exits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use reports::summary::{
    self, Environment, ErrorStats, FlowStats, RequestStats, RunSummary, StageRun, TargetInfo,
    Timeline,
};
use slo::verdict::exit_code;

use crate::context::{Pacer, RunContext, Tokens};
use crate::monitor::Monitor;
use crate::recorder::{Recorder, Results, Series, percentiles};
use crate::scenario::{Scenario, Target};
use crate::target::RunningTarget;

/// Shards of the recorder: a few per core keeps contention low.
const RECORDER_SHARDS: usize = 8;

/// Options of `loadgen run` that are not in the scenario.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Results directory (overrides the scenario's).
    pub results: Option<PathBuf>,
    /// Drive this URL instead of the scenario's target.
    pub target_url: Option<String>,
    /// Judge against this Prometheus (overrides the scenario's).
    pub prometheus: Option<String>,
    /// Start a managed local Prometheus.
    pub managed_prometheus: bool,
    /// Judge from the services' metrics only, never Prometheus.
    pub no_prometheus: bool,
    /// Jaeger UI base URL for trace links.
    pub jaeger_url: Option<String>,
    /// No progress display.
    pub quiet: bool,
    /// Baseline run directory to compare with.
    pub baseline: Option<PathBuf>,
    /// Noise margins of the baseline comparison.
    pub margins: reports::baseline::Margins,
    /// Exit 1 on a regression against the baseline.
    pub fail_on_regression: bool,
}

/// A run's outcome: where its results are and the exit code.
pub struct Outcome {
    pub run_dir: PathBuf,
    pub exit_code: u8,
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

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

/// A new run directory `<results>/<scenario>-<UTC time>`.
fn run_dir(results: &Path, scenario: &str) -> anyhow::Result<(String, PathBuf)> {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let mut id = format!("{scenario}-{stamp}");
    let mut n = 1;
    while results.join(&id).exists() {
        n += 1;
        id = format!("{scenario}-{stamp}-{n}");
    }
    let dir = results.join(&id);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the run directory {}", dir.display()))?;
    Ok((id, dir))
}

/// Turns the recorder's results into the summary's tables.
pub fn tables(results: &Results) -> (Vec<RequestStats>, Vec<FlowStats>, Vec<ErrorStats>) {
    let mut requests = Vec::new();
    let mut flows = Vec::new();
    for r in &results.series {
        if r.series.is_flow() {
            let ran = r.completed + r.failed + r.abandoned + r.interrupted + r.dropped;
            if ran == 0 {
                continue;
            }
            flows.push(FlowStats {
                name: r.series.name().to_string(),
                iterations: r.completed + r.failed,
                failed: r.failed,
                abandoned: r.abandoned,
                dropped: r.dropped,
                interrupted: r.interrupted,
                latency_ms: percentiles(&r.histogram),
            });
        } else if r.requests > 0 {
            requests.push(RequestStats {
                name: r.series.name().to_string(),
                flow: r.series.flow().to_string(),
                count: r.requests,
                errors: r.errors,
                status_classes: r.classes.clone(),
                latency_ms: percentiles(&r.histogram),
            });
        }
    }
    let errors = results
        .errors
        .iter()
        .map(|(kind, series, count, example)| ErrorStats {
            kind: kind.as_str().to_string(),
            request: series.name().to_string(),
            count: *count,
            example: example.clone(),
        })
        .collect();
    (requests, flows, errors)
}

/// Writes the whole-run histograms, one interval per tag.
fn write_total_log(
    dir: &Path,
    results: &Results,
    start: SystemTime,
    length: Duration,
) -> std::io::Result<()> {
    let intervals: Vec<reports::hdr::Interval> = results
        .series
        .iter()
        .filter(|r| !r.histogram.is_empty())
        .map(|r| reports::hdr::Interval {
            tag: Some(r.series.tag()),
            start: Duration::ZERO,
            duration: length,
            histogram: r.histogram.clone(),
        })
        .collect();
    reports::hdr::write_log(
        &dir.join(summary::TOTAL_LOG_FILE),
        start,
        "athlete-ally loadgen: whole run, microseconds",
        &intervals,
    )
}

/// Stops the attack on SIGTERM (Ctrl-C is goose's own handler).
fn watch_sigterm(reason: Arc<parking_lot::Mutex<Option<String>>>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            && term.recv().await.is_some()
        {
            *reason.lock() = Some("SIGTERM received".to_string());
            crate::attack::stop("SIGTERM received");
        }
    });
}

/// Runs a checked scenario to its end and writes its run directory.
pub async fn run(
    scenario: Scenario,
    slo_set: crate::verify::LoadedSlo,
    options: RunOptions,
) -> anyhow::Result<Outcome> {
    let baseline = options
        .baseline
        .as_deref()
        .map(crate::report::load_baseline)
        .transpose()?;
    let results_root = options
        .results
        .clone()
        .unwrap_or_else(|| scenario.results.clone());
    let (run_id, dir) = run_dir(&results_root, &scenario.name)?;
    std::fs::write(dir.join(summary::SCENARIO_FILE), &scenario.text)?;
    std::fs::write(dir.join(summary::SLO_FILE), &slo_set.text)?;
    eprintln!("run {run_id}: results in {}", dir.display());

    let target = match RunningTarget::start(&scenario, options.target_url.as_deref()).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Outcome {
                run_dir: dir,
                exit_code: exit_code::INCONCLUSIVE,
            });
        }
    };
    eprintln!("target: {} ({})", target.base_url, target.kind);

    let mut judge =
        crate::verify::Judge::prepare(&scenario, &slo_set, &target, &options, &dir).await;

    let start_system = SystemTime::now();
    let log = reports::hdr::LogWriter::create(
        &dir.join(summary::INTERVAL_LOG_FILE),
        start_system,
        &format!(
            "athlete-ally loadgen: {} ({}), microseconds",
            scenario.name, run_id
        ),
    )?;
    let recorder = Recorder::new(scenario.slice, RECORDER_SHARDS, Some(log));
    let started = recorder.started();
    judge.started(recorder.start_unix_ms(), &scenario);
    let deadline = started + scenario.duration();
    let pacers = scenario
        .flows
        .iter()
        .filter_map(|f| {
            let pace = f.pace?;
            Some((
                Series::of_flow(f.name)?,
                Pacer::new(started, pace.per_second, pace.max_start_delay),
            ))
        })
        .collect();
    let tokens = match (&scenario.target, options.target_url.is_some()) {
        (Target::Url(u), false) => match &u.token {
            Some(t) => Tokens::Fixed(t.clone()),
            None => Tokens::Endpoint(u.token_path.clone()),
        },
        _ => Tokens::Endpoint("/api/v1/auth/token".to_string()),
    };
    let ctx = Arc::new(RunContext {
        recorder: recorder.clone(),
        http: crate::http::HttpClient::new(
            &target.base_url,
            scenario.request_timeout,
            crate::attack::USER_AGENT,
        )
        .map_err(anyhow::Error::msg)?,
        tokens,
        trace_sample: scenario.trace_sample,
        run_tag: run_id.rsplit('-').next().unwrap_or("run").to_string(),
        deadline,
        stop_by: deadline + scenario.graceful_stop,
        pacers,
        stop_asked: Default::default(),
    });
    let stop_reason = Arc::new(parking_lot::Mutex::new(None));
    watch_sigterm(stop_reason.clone());

    let monitor = Monitor::spawn(recorder.clone(), scenario.stages.clone(), options.quiet);
    let stop_watch = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                ctx.refresh_stop();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let attack = crate::attack::run(ctx.clone(), &scenario, &target.base_url).await;
    let ended = Instant::now();
    stop_watch.abort();
    monitor.stop().await;
    let results = recorder.finish()?;
    let end_ms = recorder.start_unix_ms() + (ended - started).as_millis() as u64;

    let killed = goose::is_killswitch_triggered();
    let mut stop = stop_reason.lock().clone();
    if let Err(e) = &attack {
        stop = Some(format!("the load engine stopped: {e}"));
    } else if killed && stop.is_none() {
        stop = Some("Ctrl-C".to_string());
    }
    let interrupted = stop.is_some();
    if let Some(reason) = &stop {
        eprintln!("stopped early: {reason}; writing the results gathered so far");
    }

    // The run's tables, histograms and timeline, written before judging.
    let start_ms = recorder.start_unix_ms();
    let (requests, flows, errors) = tables(&results);
    let total_requests: u64 = requests.iter().map(|r| r.count).sum();
    let total_errors: u64 = requests.iter().map(|r| r.errors).sum();
    let seconds = (end_ms - start_ms) as f64 / 1000.0;
    let mut stages = Vec::new();
    let mut offset = Duration::ZERO;
    for s in &scenario.stages {
        let stage_start = start_ms + offset.as_millis() as u64;
        offset += s.duration;
        stages.push(StageRun {
            name: s.name.clone(),
            kind: s.kind.clone(),
            users: s.users,
            duration_s: s.duration.as_secs_f64(),
            start_ms: stage_start,
            end_ms: (start_ms + offset.as_millis() as u64).min(end_ms),
        });
    }
    // Without a final ramp-down, the steady window runs to the end, graceful stop
    // included, so journeys begun in it can finish in it.
    let ends_steady = scenario.stages.last().is_some_and(|s| s.kind != "ramp");
    let steady = scenario
        .steady_offsets()
        .map(|(a, b)| {
            let end = if ends_steady {
                end_ms
            } else {
                (start_ms + b.as_millis() as u64).min(end_ms)
            };
            (start_ms + a.as_millis() as u64, end)
        })
        .filter(|(a, b)| a < b);
    let mut slowest = results.slowest.clone();
    slowest.sort_by(|a, b| {
        a.flow
            .cmp(&b.flow)
            .then(b.latency_ms.total_cmp(&a.latency_ms))
    });
    let mut run_summary = RunSummary {
        schema: summary::SCHEMA.to_string(),
        run_id: run_id.clone(),
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        scenario_file: scenario.path.display().to_string(),
        target: TargetInfo {
            kind: target.kind.to_string(),
            base_url: target.base_url.clone(),
            metrics: target.metrics.clone(),
            jaeger_url: options.jaeger_url.clone(),
        },
        environment: environment(),
        start_ms,
        end_ms,
        steady_start_ms: steady.map(|s| s.0),
        steady_end_ms: steady.map(|s| s.1),
        stages,
        users: scenario.peak_users(),
        slice_seconds: scenario.slice.as_secs_f64(),
        interrupted,
        stop_reason: stop,
        total_requests,
        total_errors,
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
        verdicts: None,
        exit_code: exit_code::INCONCLUSIVE,
    };
    write_total_log(&dir, &results, start_system, ended - started)?;
    Timeline {
        slice_seconds: scenario.slice.as_secs_f64(),
        slices: results.timeline.clone(),
    }
    .write(&dir)?;
    run_summary.write(&dir)?;
    print!("{}", crate::printer::summary_tables(&run_summary));

    // Judge, then stop the target (the embedded source scrapes it after the run).
    let verdicts = judge.judge(&run_summary, &results).await;
    target.stop().await;
    judge.finish().await;
    print!("{}", crate::printer::verdict_table(&verdicts));
    let verdict_code = crate::verify::gate_exit_code(&verdicts, scenario.gate);
    run_summary.verdicts = Some(verdicts);
    let code = crate::report::finish(
        &dir,
        &mut run_summary,
        baseline.as_ref(),
        options.margins,
        options.fail_on_regression,
        verdict_code,
    )?;
    eprintln!("results: {}  (exit {code})", dir.display());
    Ok(Outcome {
        run_dir: dir,
        exit_code: code,
    })
}
