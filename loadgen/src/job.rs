//! The main job, `loadgen run SCENARIO`, in its six steps: the checked input
//! (step 1, [`crate::commands::run`]), the target, the load, the record, the
//! verdicts, and the run directory with its exit code.
//!
//! Nothing starts before the scenario and the SLO set are valid (exit 2). Whatever
//! happens after the load started (Ctrl-C, SIGTERM, an unreachable Prometheus), the
//! results gathered so far are written before the process exits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use reports::summary::{self, RunSummary, Timeline};

use parking_lot::Mutex;

use crate::context::RunContext;
use crate::exit::Exit;
use crate::generator::CpuClock;
use crate::judge::Judge;
use crate::monitor::Monitor;
use crate::recorder::{Recorder, Results};
use crate::scenario::Scenario;
use crate::settings::Settings;
use crate::signals::{LastResort, Stopper};
use crate::slo_file::LoadedSlo;
use crate::target::RunningTarget;

/// Shards of the recorder per core: two keep contention low (a shard's lock is
/// held for a few hundred nanoseconds per record); each shard holds its slice's
/// histograms (about 190 KB each), so more only cost memory.
const RECORDER_SHARDS_PER_CORE: usize = 2;

/// The recorder's shards on this machine: two per core, 4 to 16.
fn recorder_shards() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * RECORDER_SHARDS_PER_CORE).clamp(4, 16)
}

/// The input of a run, checked before anything starts.
pub struct Checked {
    /// The scenario.
    pub scenario: Scenario,
    /// Its SLO set.
    pub slo: LoadedSlo,
    /// The settings, resolved.
    pub settings: Settings,
    /// The baseline run, when comparing.
    pub baseline: Option<RunSummary>,
}

/// A run's id and directory.
#[derive(Debug, Clone)]
struct RunFiles {
    id: String,
    dir: PathBuf,
}

/// A run's outcome: where its results are and how the process exits.
pub struct Outcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The exit.
    pub exit: Exit,
}

/// A new run directory: `<results>/<scenario>-<UTC time>`, or `<results>/<run id>`
/// when one is given, and `<results>/<run id>/worker-<I>` for a worker.
fn run_dir(settings: &Settings, scenario: &str) -> anyhow::Result<(String, PathBuf)> {
    let results = &settings.results;
    let (id, dir) = match (&settings.run_id, &settings.worker) {
        (Some(id), Some(w)) => {
            let dir = results.join(id).join(w.dir_name());
            anyhow::ensure!(
                !dir.join(summary::SUMMARY_FILE).exists(),
                "{} already holds a finished run: is another worker {}/{} running with run id {id}? Give each worker its own index, and each run its own id",
                dir.display(),
                w.index,
                w.count
            );
            (id.clone(), dir)
        }
        (Some(id), None) => (id.clone(), fresh(results, id)),
        (None, _) => {
            let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
            let id = fresh_name(results, &format!("{scenario}-{stamp}"));
            (id.clone(), results.join(id))
        }
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the run directory {}", dir.display()))?;
    Ok((id, dir))
}

/// `base`, or `base-2`, `base-3`, ... : the first name not taken in `results`.
fn fresh_name(results: &Path, base: &str) -> String {
    let mut id = base.to_string();
    let mut n = 1;
    while results.join(&id).exists() {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

fn fresh(results: &Path, id: &str) -> PathBuf {
    results.join(fresh_name(results, id))
}

/// Waits for `--start-at` (or a stop); says how long.
async fn wait_for_start(settings: &Settings, stopper: &Stopper) -> bool {
    let Some(at) = settings.start_at else {
        return true;
    };
    let wait = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    eprintln!(
        "waiting {:.1} s for the common start (--start-at)",
        wait.as_secs_f64()
    );
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stopper.stop.cancelled() => false,
    }
}

/// What the load step hands on.
struct Driven {
    results: Results,
    start_system: SystemTime,
    start_ms: u64,
    end_ms: u64,
    length: Duration,
    stop: Option<String>,
    /// CPU seconds the generator used.
    cpu_seconds: f64,
}

/// Step 3: drives the flows to the end of their shapes (or Ctrl-C / SIGTERM),
/// recording every request, with the generator watching itself.
async fn drive(
    checked: &Checked,
    target: &RunningTarget,
    judge: &Judge,
    run: &RunFiles,
    stopper: &Arc<Stopper>,
) -> anyhow::Result<Driven> {
    let scenario = &checked.scenario;
    let start_system = SystemTime::now();
    let log = reports::hdr::LogWriter::create(
        &run.dir.join(summary::INTERVAL_LOG_FILE),
        start_system,
        &format!(
            "athlete-ally loadgen: {} ({}), microseconds",
            scenario.name, run.id
        ),
    )?;
    let recorder = Recorder::new(
        scenario.series.clone(),
        scenario.slice,
        recorder_shards(),
        Some(log),
    );
    judge.started(recorder.start_unix_ms(), scenario);
    let ctx = Arc::new(context(
        checked,
        (target, &run.dir),
        recorder.clone(),
        stopper,
    )?);
    let cpu = Arc::new(Mutex::new(CpuClock::new(target.embedded_cpu())));
    stopper.set_last_resort(last_resort(
        checked,
        target,
        run,
        recorder.clone(),
        start_system,
    ));
    let monitor = Monitor::spawn(
        ctx.clone(),
        cpu.clone(),
        scenario.stages.clone(),
        scenario.duration(),
        checked.settings.quiet,
    );
    let probe = crate::generator::spawn_probe(ctx.clone());
    let phase = checked.settings.worker.map_or(0.0, |w| w.phase());
    crate::engine::run(ctx.clone(), scenario, phase).await;
    let length = ctx.started.elapsed();
    ctx.hard_stop.cancel();
    let _ = probe.await;
    monitor.stop().await;
    let results = recorder.finish(crate::generator::probe(&ctx, &cpu))?;
    if let Some(log) = &ctx.request_log {
        log.flush()?;
    }
    let cpu_seconds = cpu.lock().used();
    Ok(Driven {
        results,
        start_system,
        start_ms: recorder.start_unix_ms(),
        end_ms: recorder.start_unix_ms() + length.as_millis() as u64,
        length,
        stop: stopper.reason(),
        cpu_seconds,
    })
}

/// What a second Ctrl-C writes during the load: the interval log flushed, the
/// timeline and a summary marked interrupted.
fn last_resort(
    checked: &Checked,
    target: &RunningTarget,
    run: &RunFiles,
    recorder: Arc<Recorder>,
    start_system: SystemTime,
) -> LastResort {
    let scenario = checked.scenario.clone();
    let info = crate::summary::target_info(target, checked.settings.jaeger_url.clone());
    let run = run.clone();
    Box::new(move || {
        let Ok(results) = recorder.finish(Default::default()) else {
            return;
        };
        let start_ms = recorder.start_unix_ms();
        let length = recorder.started().elapsed();
        let summary = crate::summary::build(&crate::summary::Finished {
            run_id: &run.id,
            scenario: &scenario,
            target: info,
            results: &results,
            start_ms,
            end_ms: start_ms + length.as_millis() as u64,
            stop: Some("stopped twice: written at once, not judged".to_string()),
        });
        let _ = crate::summary::write_total_log(&run.dir, &results, start_system, length);
        let _ = Timeline {
            slice_seconds: scenario.slice.as_secs_f64(),
            slices: results.timeline.clone(),
        }
        .write(&run.dir);
        let _ = summary.write(&run.dir);
        eprintln!("results (not judged): {}", run.dir.display());
    })
}

/// What every virtual user shares.
fn context(
    checked: &Checked,
    (target, dir): (&RunningTarget, &Path),
    recorder: Arc<Recorder>,
    stopper: &Stopper,
) -> anyhow::Result<RunContext> {
    let scenario = &checked.scenario;
    let started = recorder.started();
    let deadline = started + scenario.duration();
    let request_log = match checked.settings.request_log {
        true => Some(Arc::new(crate::request_log::RequestLog::create(
            dir,
            started,
            recorder.start_unix_ms(),
        )?)),
        false => None,
    };
    Ok(RunContext {
        http: crate::http::HttpClient::new(
            &target.base_url,
            scenario.request_timeout,
            crate::http::USER_AGENT,
        )
        .map_err(anyhow::Error::msg)?,
        recorder,
        tokens: checked.settings.tokens.clone(),
        trace_sample: scenario.trace_sample,
        nonce: match checked.settings.worker {
            Some(w) => format!("{}w{}", crate::context::nonce(), w.index),
            None => crate::context::nonce(),
        },
        worker: checked.settings.worker.map_or(0, |w| w.index),
        seed: scenario.seed.unwrap_or_else(rand::random),
        flow_engine: checked.settings.flow_engine,
        started,
        deadline,
        stop_by: deadline + scenario.graceful_stop,
        stop: stopper.stop.clone(),
        hard_stop: crate::context::Signal::new(),
        inflight: Default::default(),
        request_log,
    })
}

/// Step 4: the tables, histograms and timeline, written before judging.
fn record(
    checked: &Checked,
    target: &RunningTarget,
    run: &RunFiles,
    d: &Driven,
) -> anyhow::Result<RunSummary> {
    let dir = &run.dir;
    let mut summary = crate::summary::build(&crate::summary::Finished {
        run_id: &run.id,
        scenario: &checked.scenario,
        target: crate::summary::target_info(target, checked.settings.jaeger_url.clone()),
        results: &d.results,
        start_ms: d.start_ms,
        end_ms: d.end_ms,
        stop: d.stop.clone(),
    });
    summary.generator = Some(crate::generator::health(&d.results, d.cpu_seconds));
    summary.worker = checked
        .settings
        .worker
        .map(|w| reports::summary::WorkerPlace {
            index: w.index,
            count: w.count,
        });
    crate::summary::write_total_log(dir, &d.results, d.start_system, d.length)?;
    Timeline {
        slice_seconds: checked.scenario.slice.as_secs_f64(),
        slices: d.results.timeline.clone(),
    }
    .write(dir)?;
    summary.write(dir)?;
    print!("{}", crate::printer::summary_tables(&summary));
    Ok(summary)
}

/// The run's inputs, kept in its directory: the scenario (without its fixed
/// token), its flow files and the SLO set.
fn write_inputs(dir: &std::path::Path, checked: &Checked) -> std::io::Result<()> {
    std::fs::write(
        dir.join(summary::SCENARIO_FILE),
        checked.scenario.text_for_results(),
    )?;
    crate::scenario::flows::write_copies(dir, &checked.scenario.flows)?;
    std::fs::write(dir.join(summary::SLO_FILE), &checked.slo.text)
}

/// Runs a checked scenario to its end and writes its run directory.
pub async fn run(checked: Checked) -> anyhow::Result<Outcome> {
    // Step 2: the run directory and the target.
    let (run_id, dir) = run_dir(&checked.settings, &checked.scenario.name)?;
    let run = RunFiles {
        id: run_id.clone(),
        dir: dir.clone(),
    };
    write_inputs(&dir, &checked)?;
    eprintln!("run {run_id}: results in {}", dir.display());
    let stopper = Stopper::spawn();
    let started = tokio::select! {
        t = RunningTarget::start(&checked.settings.target) => t.map_err(|e| e.to_string()),
        _ = stopper.stop.cancelled() => Err("stopped before the load started".to_string()),
    };
    let target = match started {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Outcome {
                run_dir: dir,
                exit: Exit::Inconclusive,
            });
        }
    };
    eprintln!("target: {} ({})", target.base_url, target.kind);
    let mut judge = prepare_judge(&checked, &target, &dir).await;
    if checked.settings.preflight {
        let checked_ok = tokio::select! {
            exit = preflight(&checked, &target, &judge) => exit == Exit::Pass,
            _ = stopper.stop.cancelled() => false,
        };
        if !checked_ok {
            let why = "the release check failed or was stopped: no load was driven (--no-preflight skips the check)";
            return Ok(before_load(target, judge, dir, why).await);
        }
    }
    if !wait_for_start(&checked.settings, &stopper).await {
        let why = "stopped before the common start: nothing ran";
        return Ok(before_load(target, judge, dir, why).await);
    }
    let _ = judge.measure_clock().await;
    // Beside the load, so a target slow to answer does not delay it.
    let target_clock = tokio::spawn(target_clock(&target));
    // Steps 3 and 4: the load, and its record.
    let driven = drive(&checked, &target, &judge, &run, &stopper).await?;
    let target_clock = target_clock.await.ok().flatten();
    if let Some(reason) = &driven.stop {
        eprintln!("stopped early: {reason}; writing the results gathered so far");
    }
    let mut run_summary = record(&checked, &target, &run, &driven)?;
    run_summary.target_clock = target_clock;
    stopper.set_last_resort(rewrite_interrupted(&run, &run_summary));
    // Step 5: the verdicts (the embedded source scrapes the target after the run).
    let verdicts = verdicts(&checked, &mut judge, &driven, (&run_summary, &dir)).await;
    target.stop().await;
    judge.finish().await;
    let integrity = crate::integrity::check(&checked.scenario, &driven.results, &run_summary);
    print!("{}", crate::printer::verdict_table(&verdicts));
    print!("{}", crate::printer::integrity(&integrity));
    let verdict = crate::integrity::gate(
        crate::judge::gate_exit(&verdicts, checked.scenario.gate),
        &integrity,
    );
    run_summary.verdicts = Some(verdicts);
    run_summary.integrity = Some(integrity);
    // Step 6: the reports and the exit code.
    let s = &checked.settings;
    let exit = crate::report::finish(
        &dir,
        &mut run_summary,
        checked.baseline.as_ref(),
        s.margins,
        s.fail_on_regression,
        verdict,
    )?;
    let metrics = dir.join(reports::openmetrics::FILE);
    crate::report::push(s.pushgateway.as_deref(), &metrics, &run_summary.scenario).await;
    eprintln!("results: {}  (exit {})", dir.display(), exit.code());
    Ok(Outcome { run_dir: dir, exit })
}

/// Step 5: the verdicts of both windows, each with the client's view of it.
async fn verdicts(
    checked: &Checked,
    judge: &mut Judge,
    driven: &Driven,
    (summary, dir): (&RunSummary, &Path),
) -> slo::verdict::Verdicts {
    let clients = crate::judge::client::WindowClients::of(
        &driven.results,
        dir,
        summary,
        &checked.slo.set,
        &checked.scenario.flows,
    );
    judge
        .judge(crate::summary::windows(summary), clients.clients())
        .await
}

/// A deployment's clock against this machine's (its `Date` header), said when it
/// is far off; `None` for the embedded target (this process's own clock).
fn target_clock(
    target: &RunningTarget,
) -> impl Future<Output = Option<slo::clock::ClockOffset>> + Send + 'static {
    let url = target.health.values().next().cloned();
    let embedded = target.kind == crate::target::TargetKind::Embedded;
    async move { measured_target_clock(url.filter(|_| !embedded)?).await }
}

/// The target's clock from `url`'s `Date` header, said when it is far off.
async fn measured_target_clock(url: String) -> Option<slo::clock::ClockOffset> {
    let offset = crate::judge::clock::target_offset(&url).await?;
    if let Some(w) = crate::judge::clock::target_warning(offset) {
        eprintln!("warning: {w}");
    }
    Some(offset)
}

/// Ends a run before its load: says why, stops the target and the source; exit 3.
async fn before_load(target: RunningTarget, judge: Judge, run_dir: PathBuf, why: &str) -> Outcome {
    eprintln!("{why}");
    target.stop().await;
    judge.finish().await;
    Outcome {
        run_dir,
        exit: Exit::Inconclusive,
    }
}

/// What a second Ctrl-C writes after the load: the summary already written,
/// marked interrupted.
fn rewrite_interrupted(run: &RunFiles, summary: &RunSummary) -> LastResort {
    let mut summary = summary.clone();
    let dir = run.dir.clone();
    Box::new(move || {
        summary.interrupted = true;
        summary
            .stop_reason
            .get_or_insert_with(|| "stopped twice while judging: not judged".to_string());
        summary.exit_code = Exit::Inconclusive.code();
        let _ = summary.write(&dir);
        eprintln!("results (not judged): {}", dir.display());
    })
}

/// The runbook's release check on the started target and source; prints one line
/// per check and returns its exit.
pub async fn preflight(checked: &Checked, target: &RunningTarget, judge: &Judge) -> Exit {
    let s = &checked.settings;
    let inputs = crate::preflight::Inputs {
        base_url: &target.base_url,
        health: target.health.clone(),
        metrics: &target.metrics,
        set: &checked.slo.set,
        prometheus: judge.prometheus(),
        jaeger_url: s.jaeger_url.as_deref(),
        otlp_endpoint: s.otlp_endpoint.as_deref(),
        nats_monitoring: s.nats_monitoring.clone(),
    };
    let checks = crate::preflight::run(&inputs).await;
    eprint!("{}", crate::preflight::render(&checks));
    crate::preflight::exit(&checks)
}

/// Chooses the verdicts' source and starts it before the load.
pub async fn prepare_judge(checked: &Checked, target: &RunningTarget, dir: &Path) -> Judge {
    let s = &checked.settings;
    let (source, warnings) = crate::judge::source::choose(
        &s.source,
        &checked.slo.set,
        &target.metrics,
        s.scrape_interval,
        dir,
    )
    .await;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("{}", source.describe(s.scrape_interval));
    Judge::new(
        &checked.slo,
        source,
        s.scrape_interval,
        warnings,
        s.matchers.clone(),
        target.kind == crate::target::TargetKind::Embedded,
    )
}
