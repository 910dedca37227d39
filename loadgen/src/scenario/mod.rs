//! Scenario files: what to drive, how hard, for how long, and what to judge it by.
//!
//! A scenario is TOML (see `scenarios/` and the README for every key). Reading one
//! checks everything before anything starts: unknown keys, wrong types and
//! impossible values are errors that name the file, the line, the key and the fix.
//!
//! ```toml
//! name = "smoke"
//! description = "A short check of both flows"
//!
//! [target.embedded]              # or: [target] url = "http://127.0.0.1:4000"
//! llm_latency_p50 = "200ms"
//!
//! [load]
//! users = 20
//! hatch_rate = 10
//! duration = "20s"               # or: stages = [{ kind = "ramp", users = 20, duration = "10s" }, ...]
//!
//! [[flows]]
//! name = "onboarding"
//! weight = 3
//!
//! [slo]
//! file = "../slo/athlete-ally.toml"
//! ```
//!
//! The parts: `file` is the file as written; `check` validates it section by
//! section into the [`Scenario`] defined here, and `executor` each flow's
//! executor and shape; [`embedded`] turns the embedded target's section into the
//! services' configuration; [`measures`] places each SLO's client measurement in
//! the scenario's flows (by their declared roles).

mod check;
#[cfg(feature = "embedded")]
pub mod embedded;
mod executor;
mod file;
pub mod flows;
pub mod measures;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use slo::toml_file::{self, FileError};

use crate::recorder::{Series, SeriesTable};
use crate::slo_file::SloFile;

slo::closed_set! {
    /// Stage kinds; `ramp` stages before the first other stage and after the last
    /// one are outside the steady window.
    pub enum StageKind ("a stage kind") {
        /// Users change linearly to the stage's count.
        Ramp = "ramp",
        /// Users held.
        Steady = "steady",
        /// A sudden change of users.
        Spike = "spike",
        /// Users held for a long time.
        Soak = "soak",
    }
}

slo::closed_set! {
    /// How a flow's iterations are started.
    pub enum ExecutorKind ("an executor") {
        /// A number of users, each running iterations one after another (think
        /// time between): the load follows the server's speed.
        Closed = "closed",
        /// Iterations started at a fixed rate, whatever the server's speed.
        ConstantArrivalRate = "constant-arrival-rate",
        /// Iterations started at a rate that changes linearly stage by stage.
        RampingArrivalRate = "ramping-arrival-rate",
    }
}

slo::closed_set! {
    /// How the start times of an arrival rate are spaced.
    pub enum Arrivals ("an arrival process") {
        /// Evenly spaced.
        Uniform = "uniform",
        /// Random (exponential gaps), at the same mean rate.
        Poisson = "poisson",
    }
}

slo::closed_set! {
    /// Which verdicts set the exit code.
    pub enum Gate ("a gate") {
        /// The whole run's and the steady window's.
        Both = "both",
        /// The whole run's only.
        Whole = "whole",
        /// The steady window's only.
        Steady = "steady",
    }
}

/// A checked scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name (the run directory is named after it).
    pub name: String,
    /// What it is.
    pub description: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The file's text, copied into the run directory.
    pub text: String,
    /// What to drive.
    pub target: Target,
    /// The load shape.
    pub stages: Vec<Stage>,
    /// Wait between iterations and steps.
    pub think_time: ThinkTime,
    /// How long iterations in flight may finish after the planned end.
    pub graceful_stop: Duration,
    /// Each iteration's random draws follow this seed (`seed`; else a random one).
    pub seed: Option<u64>,
    /// The flows, each with its share of the users.
    pub flows: Vec<Flow>,
    /// Every flow's requests and the flows: what the recorder measures.
    pub series: std::sync::Arc<SeriesTable>,
    /// The SLO set: `[slo] file`, relative to the scenario, else the built-in set.
    pub slo_file: SloFile,
    /// Which verdicts set the exit code.
    pub gate: Gate,
    /// SLO names to judge; `None`: all.
    pub slo_only: Option<Vec<String>>,
    /// `[prometheus] url`.
    pub prometheus_url: Option<String>,
    /// `[prometheus] managed`.
    pub prometheus_managed: bool,
    /// `[prometheus] matchers`: extra matchers every query gets.
    pub prometheus_matchers: BTreeMap<String, String>,
    /// Scrape interval of the managed Prometheus and of the embedded source.
    pub scrape_interval: Duration,
    /// `[output] results`, when given.
    pub results: Option<PathBuf>,
    /// Time slice of the timeline and interval log.
    pub slice: Duration,
    /// Share of requests sent with a sampled `traceparent`.
    pub trace_sample: f64,
    /// Timeout of one request.
    pub request_timeout: Duration,
}

/// What a scenario drives.
#[derive(Debug, Clone)]
pub enum Target {
    /// The reference services, started in this process.
    Embedded(Embedded),
    /// A running deployment.
    Url(UrlTarget),
}

/// What stands in a results copy of a scenario for its fixed `[target] token`.
pub const REDACTED_TOKEN: &str = "REDACTED: a fixed token is not kept in results";

impl Scenario {
    /// The file's text as the run directory keeps it: a fixed `[target] token`
    /// is a credential, and run directories are uploaded, attached and shared.
    pub fn text_for_results(&self) -> String {
        match &self.target {
            Target::Url(UrlTarget {
                token: Some(token), ..
            }) if !token.is_empty() => self.text.replace(token.as_str(), REDACTED_TOKEN),
            _ => self.text.clone(),
        }
    }
}

/// Settings of the embedded reference services.
#[derive(Debug, Clone, Default)]
pub struct Embedded {
    /// Median latency of the simulated model.
    pub llm_latency_p50: Option<Duration>,
    /// 95th percentile latency of the simulated model.
    pub llm_latency_p95: Option<Duration>,
    /// Share of model calls failing.
    pub llm_failure_rate: Option<f64>,
    /// Mean completion tokens.
    pub llm_completion_tokens: Option<u32>,
    /// Plans generated at once.
    pub plan_concurrency: Option<usize>,
    /// Deliveries before a job is dead-lettered.
    pub plan_max_deliveries: Option<u32>,
    /// Per-athlete requests per second at the gateway (0: off).
    pub rate_limit_per_second: u32,
    /// Burst above it.
    pub rate_limit_burst: u32,
    /// JetStream server for plan jobs.
    pub nats_url: Option<String>,
    /// Worker threads per service runtime.
    pub workers: usize,
    /// Lifetime of issued tokens, when not the services' default.
    pub token_ttl: Option<Duration>,
    /// The faults table, checked by the services when they start.
    pub faults: toml::Table,
}

/// A deployment driven by URL.
#[derive(Debug, Clone)]
pub struct UrlTarget {
    /// The gateway's base URL, no trailing slash.
    pub base_url: String,
    /// Path of the token endpoint.
    pub token_path: String,
    /// One fixed bearer token instead of the endpoint.
    pub token: Option<String>,
    /// Metrics endpoints by Prometheus job, for the scrape source.
    pub metrics: BTreeMap<String, String>,
    /// Jaeger UI for trace links.
    pub jaeger_url: Option<String>,
}

impl Target {
    /// `embedded` or `url`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Embedded(_) => "embedded",
            Target::Url(_) => "url",
        }
    }
}

/// One step of the load shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Its name (shown live and in the report).
    pub name: String,
    /// What it is.
    pub kind: StageKind,
    /// Users at its end.
    pub users: u64,
    /// How long it lasts.
    pub duration: Duration,
}

/// A random wait between `min` and `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThinkTime {
    /// Shortest wait.
    pub min: Duration,
    /// Longest wait.
    pub max: Duration,
}

/// A shipped flow as Rust code, with its settings (`--flow-engine native`).
#[derive(Debug, Clone, PartialEq)]
pub enum FlowKind {
    /// Onboarding.
    Onboarding {
        /// Share of athletes who stop part-way.
        abandon_share: f64,
    },
    /// Plan generation.
    Plans {
        /// Status poll interval.
        poll_interval: Duration,
        /// Give up on a plan after this long.
        timeout: Duration,
        /// Plan complexity.
        complexity: String,
        /// Equipment items.
        equipment_count: u32,
        /// Days per week.
        availability_days: u32,
    },
    /// One `GET` per iteration.
    Health {
        /// The path requested.
        path: String,
    },
}

/// A flow's series in the run's table: the flow's own and its requests', in
/// the order of its program's requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowSeries {
    /// The flow's iterations.
    pub flow: Series,
    /// Its requests.
    pub requests: Vec<Series>,
}

impl FlowSeries {
    /// The series of flow `name` sending `requests` in `table`, which must list them.
    pub fn in_table(table: &SeriesTable, name: &str, requests: &[String]) -> FlowSeries {
        let missing = "the series table is built from the scenario's flows";
        FlowSeries {
            flow: table.flow(name).expect(missing),
            requests: requests
                .iter()
                .map(|r| table.request(r).expect(missing))
                .collect(),
        }
    }
}

/// The series table of `flows`.
pub fn series_table(flows: &[Flow]) -> SeriesTable {
    SeriesTable::new(flows.iter().map(|f| {
        let requests = f.program.requests.iter().map(String::as_str).collect();
        (f.name.as_str(), requests)
    }))
}

/// A flow of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Its name in this run (the flow series).
    pub name: String,
    /// What it does: its flow file, compiled.
    pub program: std::sync::Arc<crate::flow_file::Program>,
    /// The same journey as Rust code, for a shipped flow.
    pub native: Option<FlowKind>,
    /// Where it came from.
    pub source: flows::FlowSource,
    /// Its series in the run's table.
    pub series: FlowSeries,
    /// Its share of the users.
    pub weight: u32,
    /// Wait between its steps (and between a closed user's iterations).
    pub think_time: ThinkTime,
    /// How its iterations are started.
    pub executor: Executor,
    /// When it starts, after the run starts.
    pub start: Duration,
}

/// How a flow's iterations are started.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// Users looping over iterations.
    Closed {
        /// The flow's own shape; `None`: its weight's share of `[load]`.
        stages: Option<Vec<Stage>>,
        /// Iterations per user before it stops.
        iterations: Option<u64>,
    },
    /// Iterations started at a rate, by a pool of users that grows when they lag.
    Arrival(ArrivalRate),
}

/// An arrival-rate executor's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalRate {
    /// Rate stages: each reaches its rate linearly from the previous one's.
    pub stages: Vec<RateStage>,
    /// The rate at the start (the first stage ramps from it).
    pub initial_rate: f64,
    /// Users started before the load.
    pub pre_allocated: u64,
    /// The most users the pool may grow to.
    pub max_users: u64,
    /// How start times are spaced.
    pub arrivals: Arrivals,
    /// How long an iteration may wait for a free user before it is dropped.
    pub max_start_delay: Duration,
    /// Its users are its weight's share of `[load]`'s (the old `pace`).
    pub shares_load: bool,
}

/// One stage of an arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    /// Iterations per second at the stage's end.
    pub rate: f64,
    /// Its length.
    pub duration: Duration,
}

impl ArrivalRate {
    /// Total length of the rate plan.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The highest rate planned.
    pub fn peak_rate(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.rate)
            .fold(self.initial_rate, f64::max)
    }

    /// Iterations the plan holds over its length.
    pub fn planned(&self) -> f64 {
        let mut from = self.initial_rate;
        let mut total = 0.0;
        for s in &self.stages {
            total += (from + s.rate) / 2.0 * s.duration.as_secs_f64();
            from = s.rate;
        }
        total
    }
}

pub use check::DEFAULT_TOKEN_PATH;

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, FileError> {
    let (file, text): (file::ScenarioFile, String) = toml_file::read(path)?;
    check::check(path, text, file, flows::FlowFiles::Beside)
}

/// Checks scenario text read from `path` (its flow files beside it).
pub fn parse(path: &Path, text: &str) -> Result<Scenario, FileError> {
    let file: file::ScenarioFile = toml_file::parse(path, text)?;
    check::check(path, text.to_string(), file, flows::FlowFiles::Beside)
}

/// Checks a run directory's copy of a scenario, `path`, whose flow files are
/// the run's copies beside it.
pub fn parse_run_copy(path: &Path, text: &str) -> Result<Scenario, FileError> {
    let file: file::ScenarioFile = toml_file::parse(path, text)?;
    check::check(path, text.to_string(), file, flows::FlowFiles::RunCopies)
}

impl Scenario {
    /// The SLO set this scenario is judged by: the SLOs of `[slo] only`, each
    /// client measurement kept to requests (`client_requests`) naming requests
    /// the scenario's flows send (else that SLO's client side would be silently
    /// empty).
    pub fn judged_by(
        &self,
        mut loaded: crate::slo_file::LoadedSlo,
    ) -> Result<crate::slo_file::LoadedSlo, FileError> {
        let sent: Vec<&str> = self
            .flows
            .iter()
            .flat_map(|f| f.program.requests.iter().map(String::as_str))
            .collect();
        for (i, slo) in loaded.set.slos.iter().enumerate() {
            let judged = self.slo_only.as_ref().is_none_or(|o| o.contains(&slo.name));
            let unsent = slo
                .client_requests
                .iter()
                .position(|r| !sent.contains(&r.as_str()));
            if let (true, Some(j)) = (judged, unsent) {
                return Err(FileError::at_key(
                    &loaded.set.path,
                    &loaded.text,
                    &format!("slo[{i}].client_requests[{j}]"),
                    format!(
                        "{}: no flow of {} sends a request named {:?}",
                        slo.name,
                        self.path.display(),
                        slo.client_requests[j]
                    ),
                    format!(
                        "name one of the scenario's requests ({}), or leave the SLO out with [slo] only",
                        sent.join(", ")
                    ),
                ));
            }
        }
        self.check_client_targets(&loaded)?;
        self.select_slos(&mut loaded.set)?;
        Ok(loaded)
    }

    /// Refuses a judged SLO whose client measurement cannot be placed: a
    /// `client_flow` naming no flow, or a role several flows declare.
    fn check_client_targets(&self, loaded: &crate::slo_file::LoadedSlo) -> Result<(), FileError> {
        for (i, slo) in loaded.set.slos.iter().enumerate() {
            let judged = self.slo_only.as_ref().is_none_or(|o| o.contains(&slo.name));
            let Some(measure) = slo.client.filter(|_| judged) else {
                continue;
            };
            if let Err((message, fix)) = measures::target(slo, measure, &self.flows) {
                let key = match slo.client_flow {
                    Some(_) => format!("slo[{i}].client_flow"),
                    None => format!("slo[{i}].client"),
                };
                return Err(FileError::at_key(
                    &loaded.set.path,
                    &loaded.text,
                    &key,
                    format!("{}: {message} ({})", slo.name, self.path.display()),
                    fix,
                ));
            }
        }
        Ok(())
    }

    /// Keeps the SLOs named in `[slo] only`; an unknown name is an error at that key.
    pub fn select_slos(&self, set: &mut slo::definition::SloSet) -> Result<(), FileError> {
        let Some(only) = &self.slo_only else {
            return Ok(());
        };
        for (i, name) in only.iter().enumerate() {
            if !set.slos.iter().any(|s| &s.name == name) {
                let known: Vec<&str> = set.slos.iter().map(|s| s.name.as_str()).collect();
                return Err(FileError::at_key(
                    &self.path,
                    &self.text,
                    &format!("slo.only[{i}]"),
                    format!("{name:?} is not an SLO of {}", set.path.display()),
                    format!("use one of {}", known.join(", ")),
                ));
            }
        }
        set.slos.retain(|s| only.contains(&s.name));
        Ok(())
    }

    /// Total planned duration: the longest flow.
    pub fn duration(&self) -> Duration {
        run_length(&self.stages, &self.flows)
    }

    /// Peak users: `[load]`'s, plus the flows' own shapes and arrival pools.
    pub fn peak_users(&self) -> u64 {
        let shared = self.stages.iter().map(|s| s.users).max().unwrap_or(0);
        let own: u64 = self
            .flows
            .iter()
            .map(|f| match &f.executor {
                Executor::Closed {
                    stages: Some(s), ..
                } => s.iter().map(|s| s.users).max().unwrap_or(0),
                Executor::Closed { stages: None, .. } => 0,
                Executor::Arrival(a) if a.shares_load => 0,
                Executor::Arrival(a) => a.max_users,
            })
            .sum();
        shared + own
    }

    /// Offsets of the steady window: from the end of the leading ramps to the start
    /// of the trailing ramps. `None` when the whole run is the steady window or no
    /// stage is steady.
    pub fn steady_offsets(&self) -> Option<(Duration, Duration)> {
        let first = self.stages.iter().position(|s| s.kind != StageKind::Ramp)?;
        let last = self
            .stages
            .iter()
            .rposition(|s| s.kind != StageKind::Ramp)?;
        let start: Duration = self.stages[..first].iter().map(|s| s.duration).sum();
        let end: Duration = self.stages[..=last].iter().map(|s| s.duration).sum();
        if start.is_zero() && end == self.duration() {
            None
        } else {
            Some((start, end))
        }
    }

    /// Whether the run ends in a stage other than a ramp (then the steady window
    /// runs to the end, graceful stop included).
    pub fn ends_steady(&self) -> bool {
        self.stages
            .last()
            .is_some_and(|s| s.kind != StageKind::Ramp)
    }
}

/// A flow's own length, from its start.
fn flow_length(flow: &Flow, load: &[Stage]) -> Duration {
    let own = match &flow.executor {
        Executor::Closed {
            stages: Some(s), ..
        } => s.iter().map(|s| s.duration).sum(),
        Executor::Closed { stages: None, .. } => load.iter().map(|s| s.duration).sum(),
        Executor::Arrival(a) => a.duration(),
    };
    flow.start + own
}

/// The length of a run: its longest flow, start offset included.
pub fn run_length(load: &[Stage], flows: &[Flow]) -> Duration {
    flows
        .iter()
        .map(|f| flow_length(f, load))
        .max()
        .unwrap_or_default()
}

/// The users of a closed shape `t` into it: a ramp changes them linearly from
/// the previous stage's, a spike jumps at its start, steady and soak hold; 0
/// after the last stage.
pub fn users_at(stages: &[Stage], t: Duration) -> f64 {
    let mut from = 0.0;
    let mut start = Duration::ZERO;
    for s in stages {
        let end = start + s.duration;
        if t < end {
            return match s.kind {
                StageKind::Ramp => {
                    let done = (t - start).as_secs_f64() / s.duration.as_secs_f64();
                    from + (s.users as f64 - from) * done
                }
                _ => s.users as f64,
            };
        }
        from = s.users as f64;
        start = end;
    }
    0.0
}

#[cfg(test)]
mod tests;
