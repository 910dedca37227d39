//! `loadgen merge`: the workers of a distributed run, merged into one run
//! directory and judged as one run.
//!
//! - [`read`]: finding the workers' directories (waiting for them when asked)
//!   and reading their public files;
//! - [`combine`]: adding their records up, exactly;
//! - [`clock`]: the workers' windows on one clock.
//!
//! The merged run is judged like a run of one process: the whole and steady
//! windows from the earliest start to the latest end, the server side from
//! Prometheus (one server, one window, whatever the number of workers), the
//! client side from the merged histograms. A missing, dead or interrupted worker,
//! or one whose generator was the limit, makes the run invalid: it can fail, but
//! never pass on partial load.

pub mod clock;
pub mod combine;
pub mod read;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;
use reports::summary::{self, RunSummary, Timeline, WorkerRun};

use crate::cli::MergeArgs;
use crate::exit::Exit;
use crate::judge::Judge;
use crate::scenario::Scenario;
use crate::settings::SourcePlan;
use crate::slo_file::LoadedSlo;
use read::WorkerData;

/// Workers' starts further apart than this did not share a `--start-at`.
const MAX_START_SPREAD: Duration = Duration::from_secs(1);

/// What the workers ran: the scenario (whole, not a worker's share) and the SLO set.
struct Plan {
    scenario: Scenario,
    slo: LoadedSlo,
    count: u32,
}

/// The scenario and SLO set from the first worker that kept them.
fn plan(workers: &[WorkerData], out: &Path, count: Option<u32>) -> anyhow::Result<Plan> {
    let w = workers
        .iter()
        .find(|w| w.scenario_text.is_some() && w.slo_text.is_some())
        .context("no worker directory holds scenario.toml and slo.toml")?;
    let scenario_path = w.dir.join(summary::SCENARIO_FILE);
    let mut scenario =
        crate::scenario::parse_run_copy(&scenario_path, w.scenario_text.as_deref().unwrap_or(""))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(out.join(summary::SCENARIO_FILE), &scenario.text)?;
    crate::scenario::flows::write_copies(out, &scenario.flows)?;
    std::fs::write(
        out.join(summary::SLO_FILE),
        w.slo_text.as_deref().unwrap_or(""),
    )?;
    let mut slo = crate::slo_file::SloFile::Path(out.join(summary::SLO_FILE))
        .load()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    scenario
        .select_slos(&mut slo.set)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    scenario.path = scenario_path;
    let declared = workers
        .iter()
        .filter_map(|w| w.summary.as_ref()?.worker.map(|p| p.count))
        .max();
    let found = workers.iter().map(|w| w.index + 1).max().unwrap_or(0);
    Ok(Plan {
        scenario,
        slo,
        count: count.or(declared).unwrap_or(found).max(found),
    })
}

/// Each worker's outcome, the missing ones included, and what they say about the run.
fn worker_runs(workers: &[WorkerData], count: u32) -> (Vec<WorkerRun>, Vec<String>) {
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    for index in 0..count {
        let Some(w) = workers.iter().find(|w| w.index == index) else {
            problems.push(format!(
                "worker {index} of {count} is missing: its load is not in this run"
            ));
            runs.push(WorkerRun {
                index,
                dir: None,
                status: "missing".into(),
                requests: 0,
                start_ms: 0,
                end_ms: 0,
                generator: None,
            });
            continue;
        };
        let (status, requests, end_ms) = match &w.summary {
            None => {
                problems.push(format!(
                    "worker {index} died (no summary in {}): only its interval log up to its last slice is merged",
                    w.dir.display()
                ));
                let requests = w
                    .totals
                    .iter()
                    .filter(|(t, _)| t.starts_with("req.") || t.starts_with("failed.req."))
                    .map(|(_, h)| h.len())
                    .sum();
                let end = Some(w.log_end);
                (
                    "died",
                    requests,
                    w.start_ms + end.map_or(0, |d| d.as_millis() as u64),
                )
            }
            Some(s) if s.interrupted => {
                problems.push(format!(
                    "worker {index} stopped early ({})",
                    s.stop_reason.as_deref().unwrap_or("interrupted")
                ));
                ("interrupted", s.total_requests, s.end_ms)
            }
            Some(s) => ("finished", s.total_requests, s.end_ms),
        };
        let generator = w.summary.as_ref().and_then(|s| s.generator.clone());
        if let Some(g) = generator.as_ref().filter(|g| g.limited) {
            problems.push(format!(
                "worker {index}'s generator was the limit: {}",
                g.reasons.join("; ")
            ));
        }
        runs.push(WorkerRun {
            index,
            dir: Some(w.dir.display().to_string()),
            status: status.into(),
            requests,
            start_ms: w.start_ms,
            end_ms,
            generator,
        });
    }
    let starts: Vec<u64> = workers.iter().map(|w| w.start_ms).collect();
    if let (Some(a), Some(b)) = (starts.iter().min(), starts.iter().max())
        && b - a > MAX_START_SPREAD.as_millis() as u64
    {
        problems.push(format!(
            "the workers started {:.1} s apart: give them one --start-at so their stages line up",
            (b - a) as f64 / 1000.0
        ));
    }
    (runs, problems)
}

/// Where the merged run goes: `--out`, else `merged/` beside the workers.
fn out_dir(args: &MergeArgs, found: &[(u32, PathBuf)]) -> PathBuf {
    args.out.clone().unwrap_or_else(|| {
        let run = match args.dirs.as_slice() {
            [one] if !found.iter().any(|(_, d)| d == one) => one.clone(),
            _ => found
                .first()
                .and_then(|(_, d)| d.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        run.join("merged")
    })
}

/// The merged run's id: the workers' shared one.
fn run_id(workers: &[WorkerData]) -> String {
    workers
        .iter()
        .find_map(|w| w.summary.as_ref().map(|s| s.run_id.clone()))
        .unwrap_or_else(|| "merged".to_string())
}

/// Writes the merged histograms, timeline and summary (before judging).
fn record(
    out: &Path,
    workers: &[WorkerData],
    plan: &Plan,
    c: &combine::Combined,
    jaeger: Option<String>,
) -> anyhow::Result<RunSummary> {
    let end_ms = workers
        .iter()
        .filter_map(|w| w.summary.as_ref().map(|s| s.end_ms))
        .max()
        .unwrap_or(c.start_ms);
    let mut target = workers
        .iter()
        .find_map(|w| w.summary.as_ref().map(|s| s.target.clone()))
        .unwrap_or(reports::summary::TargetInfo {
            kind: "unknown".into(),
            base_url: String::new(),
            metrics: Default::default(),
            jaeger_url: None,
        });
    target.jaeger_url = jaeger.or(target.jaeger_url);
    let start = UNIX_EPOCH + Duration::from_millis(c.start_ms);
    let length = Duration::from_millis(end_ms.saturating_sub(c.start_ms));
    crate::summary::write_total_log(out, &c.results, start, length)?;
    Timeline {
        slice_seconds: plan.scenario.slice.as_secs_f64(),
        slices: c.results.timeline.clone(),
    }
    .write(out)?;
    let stop = workers
        .iter()
        .filter_map(|w| w.summary.as_ref()?.stop_reason.clone())
        .next();
    let mut s = crate::summary::build(&crate::summary::Finished {
        run_id: &run_id(workers),
        scenario: &plan.scenario,
        target,
        results: &c.results,
        start_ms: c.start_ms,
        end_ms,
        stop,
    });
    s.generator = None;
    s.write(out)?;
    Ok(s)
}

/// Judges the merged window: Prometheus when given (the workers' windows moved
/// onto one clock), else the client's view; what makes the run invalid.
async fn judge(
    args: &MergeArgs,
    matchers: &BTreeMap<String, String>,
    plan: &Plan,
    s: &RunSummary,
    c: &combine::Combined,
    (out, workers): (&Path, &[WorkerData]),
) -> (slo::verdict::Verdicts, Vec<String>) {
    let source_plan = match &args.prometheus {
        Some(url) => SourcePlan::Prometheus(url.clone()),
        None => SourcePlan::Scrape,
    };
    let interval = plan.scenario.scrape_interval;
    let (source, warnings) = crate::judge::source::choose(
        &source_plan,
        &plan.slo.set,
        &Default::default(),
        interval,
        out,
    )
    .await;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("{}", source.describe(interval));
    let mut scope = plan.scenario.prometheus_matchers.clone();
    scope.extend(matchers.clone());
    let mut judge = Judge::new(&plan.slo, source, interval, warnings, scope, false);
    let clients = crate::judge::client::WindowClients::of(
        &c.results,
        out,
        s,
        &plan.slo.set,
        &plan.scenario.flows,
    );
    judge.bound_edges();
    let (mut windows, mut problems) = (crate::summary::windows(s), Vec::new());
    if let Some(local) = judge.measure_clock().await {
        (windows, problems) = clock::place(workers, windows, local);
    }
    let verdicts = judge.judge(windows, clients.clients()).await;
    judge.finish().await;
    (verdicts, problems)
}

/// Merges, judges, writes the merged run directory; returns the exit.
async fn merge(args: &MergeArgs) -> anyhow::Result<Exit> {
    let matchers = crate::cli::matchers(&args.matchers).map_err(anyhow::Error::msg)?;
    let found = read::wait_for(&args.dirs, args.workers, args.wait, args.quiet)?;
    let workers = found
        .iter()
        .map(|(i, d)| read::read(*i, d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let out = out_dir(args, &found);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let plan = plan(&workers, &out, args.workers)?;
    let start_ms = workers.iter().map(|w| w.start_ms).min().unwrap_or(0);
    let log = reports::hdr::LogWriter::create(
        &out.join(summary::INTERVAL_LOG_FILE),
        UNIX_EPOCH + Duration::from_millis(start_ms),
        &format!(
            "athlete-ally loadgen: {} merged from {} workers, microseconds",
            plan.scenario.name,
            workers.len()
        ),
    )?;
    let combined = combine::combine(&workers, &plan.scenario.series, plan.scenario.slice, &log)?;
    log.finish()?;
    let mut s = record(&out, &workers, &plan, &combined, args.jaeger_url.clone())?;
    print!("{}", crate::printer::summary_tables(&s));
    let (runs, problems) = worker_runs(&workers, plan.count);
    let (verdicts, clocks) = judge(args, &matchers, &plan, &s, &combined, (&out, &workers)).await;
    let mut integrity = crate::integrity::check(&plan.scenario, &combined.results, &s);
    integrity.problems.extend(problems);
    integrity.problems.extend(clocks);
    integrity
        .problems
        .extend(clock::against_the_target(&workers));
    integrity.valid = integrity.problems.is_empty();
    print!("{}", crate::printer::verdict_table(&verdicts));
    print!("{}", crate::printer::workers(&runs));
    print!("{}", crate::printer::integrity(&integrity));
    let verdict = crate::integrity::gate(
        crate::judge::gate_exit(&verdicts, plan.scenario.gate),
        &integrity,
    );
    s.workers = runs;
    s.verdicts = Some(verdicts);
    s.integrity = Some(integrity);
    let exit = crate::report::finish(&out, &mut s, None, Default::default(), false, verdict)?;
    let metrics = out.join(reports::openmetrics::FILE);
    crate::report::push(args.push.pushgateway.as_deref(), &metrics, &s.scenario).await;
    eprintln!("merged run: {}  (exit {})", out.display(), exit.code());
    Ok(exit)
}

/// `loadgen merge`.
pub async fn command(args: &MergeArgs) -> Exit {
    match merge(args).await {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Usage
        }
    }
}
