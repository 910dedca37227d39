//! The main job, `loadgen run SCENARIO`, in its six steps: the checked input
//! (step 1, [`crate::commands::run`]), the target, the load, the record, the
//! verdicts, and the run directory with its exit code.
//!
//! Nothing starts before the scenario and the SLO set are valid (exit 2). Whatever
//! happens after the load started (Ctrl-C, SIGTERM, an unreachable Prometheus), the
//! results gathered so far are written before the process exits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use reports::summary::{self, RunSummary, Timeline};

use crate::context::{Pacer, RunContext};
use crate::exit::Exit;
use crate::judge::{Judge, LoadedSlo};
use crate::monitor::Monitor;
use crate::recorder::{Recorder, Results, Series};
use crate::scenario::Scenario;
use crate::settings::Settings;
use crate::target::RunningTarget;

/// Shards of the recorder: a few per core keeps contention low.
const RECORDER_SHARDS: usize = 8;

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

/// A run's outcome: where its results are and how the process exits.
pub struct Outcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The exit.
    pub exit: Exit,
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

/// What the load step hands on.
struct Driven {
    results: Results,
    start_system: SystemTime,
    start_ms: u64,
    end_ms: u64,
    length: Duration,
    stop: Option<String>,
}

/// Step 3: drives the flows to the end of the load shape (or Ctrl-C / SIGTERM),
/// recording every request.
async fn drive(
    checked: &Checked,
    target: &RunningTarget,
    judge: &Judge,
    run_id: &str,
    dir: &Path,
) -> anyhow::Result<Driven> {
    let scenario = &checked.scenario;
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
    judge.started(recorder.start_unix_ms(), scenario);
    let ctx = Arc::new(context(checked, target, recorder.clone(), started, run_id)?);
    let stop_reason = Arc::new(parking_lot::Mutex::new(None));
    watch_sigterm(stop_reason.clone());
    let monitor = Monitor::spawn(
        recorder.clone(),
        scenario.stages.clone(),
        checked.settings.quiet,
    );
    let stop_watch = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                ctx.refresh_stop();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let attack = crate::attack::run(ctx.clone(), scenario, &target.base_url).await;
    let ended = Instant::now();
    stop_watch.abort();
    monitor.stop().await;
    let results = recorder.finish()?;
    let mut stop = stop_reason.lock().clone();
    if let Err(e) = &attack {
        stop = Some(format!("the load engine stopped: {e}"));
    } else if goose::is_killswitch_triggered() && stop.is_none() {
        stop = Some("Ctrl-C".to_string());
    }
    Ok(Driven {
        results,
        start_system,
        start_ms: recorder.start_unix_ms(),
        end_ms: recorder.start_unix_ms() + (ended - started).as_millis() as u64,
        length: ended - started,
        stop,
    })
}

/// What every virtual user shares.
fn context(
    checked: &Checked,
    target: &RunningTarget,
    recorder: Arc<Recorder>,
    started: Instant,
    run_id: &str,
) -> anyhow::Result<RunContext> {
    let scenario = &checked.scenario;
    let deadline = started + scenario.duration();
    let pacers = scenario
        .flows
        .iter()
        .filter_map(|f| {
            let pace = f.pace?;
            Some((
                Series::of_flow(f.name),
                Pacer::new(started, pace.per_second, pace.max_start_delay),
            ))
        })
        .collect();
    Ok(RunContext {
        recorder,
        http: crate::http::HttpClient::new(
            &target.base_url,
            scenario.request_timeout,
            crate::attack::USER_AGENT,
        )
        .map_err(anyhow::Error::msg)?,
        tokens: checked.settings.tokens.clone(),
        trace_sample: scenario.trace_sample,
        run_tag: run_id.rsplit('-').next().unwrap_or("run").to_string(),
        deadline,
        stop_by: deadline + scenario.graceful_stop,
        pacers,
        stop_asked: Default::default(),
    })
}

/// Step 4: the tables, histograms and timeline, written before judging.
fn record(
    checked: &Checked,
    target: &RunningTarget,
    run_id: &str,
    dir: &Path,
    d: &Driven,
) -> anyhow::Result<RunSummary> {
    let summary = crate::summary::build(&crate::summary::Finished {
        run_id,
        scenario: &checked.scenario,
        target,
        jaeger_url: checked.settings.jaeger_url.clone(),
        results: &d.results,
        start_ms: d.start_ms,
        end_ms: d.end_ms,
        stop: d.stop.clone(),
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

/// Runs a checked scenario to its end and writes its run directory.
pub async fn run(checked: Checked) -> anyhow::Result<Outcome> {
    // Step 2: the run directory and the target.
    let (run_id, dir) = run_dir(&checked.settings.results, &checked.scenario.name)?;
    std::fs::write(dir.join(summary::SCENARIO_FILE), &checked.scenario.text)?;
    std::fs::write(dir.join(summary::SLO_FILE), &checked.slo.text)?;
    eprintln!("run {run_id}: results in {}", dir.display());
    let target = match RunningTarget::start(&checked.settings.target).await {
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
    // Steps 3 and 4: the load, and its record.
    let driven = drive(&checked, &target, &judge, &run_id, &dir).await?;
    if let Some(reason) = &driven.stop {
        eprintln!("stopped early: {reason}; writing the results gathered so far");
    }
    let mut run_summary = record(&checked, &target, &run_id, &dir, &driven)?;
    // Step 5: the verdicts (the embedded source scrapes the target after the run).
    let client = crate::judge::client::client_data(&driven.results);
    let verdicts = judge
        .judge(crate::summary::windows(&run_summary), &client)
        .await;
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
    eprintln!("results: {}  (exit {})", dir.display(), exit.code());
    Ok(Outcome { run_dir: dir, exit })
}

/// Chooses the verdicts' source and starts it before the load.
async fn prepare_judge(checked: &Checked, target: &RunningTarget, dir: &Path) -> Judge {
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
