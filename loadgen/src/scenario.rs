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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slo::toml_file::{self, FileError};

/// The flows a scenario can run.
pub const FLOW_NAMES: [&str; 3] = ["onboarding", "plans", "health"];

/// Stage kinds; `ramp` stages before the first other stage and after the last one
/// are outside the steady window.
pub const STAGE_KINDS: [&str; 4] = ["ramp", "steady", "spike", "soak"];

/// The file as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub target: TargetSection,
    pub load: LoadSection,
    pub flows: Vec<FlowSection>,
    #[serde(default)]
    pub slo: SloSection,
    #[serde(default)]
    pub prometheus: PrometheusSection,
    #[serde(default)]
    pub output: OutputSection,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// Start the reference services in-process with these settings.
    pub embedded: Option<EmbeddedSection>,
    /// Or drive a running deployment: the gateway's base URL.
    pub url: Option<String>,
    /// Path of the test-token endpoint (default `/api/v1/auth/token`).
    pub token_path: Option<String>,
    /// A fixed bearer token for every virtual user, instead of the token endpoint.
    pub token: Option<String>,
    /// Metrics endpoints of a deployment, by Prometheus job name, for the scrape source.
    #[serde(default)]
    pub metrics: BTreeMap<String, String>,
    /// Jaeger UI base URL, for trace links in the report.
    pub jaeger_url: Option<String>,
    /// Timeout of one request (default 30s).
    pub request_timeout: Option<String>,
}

/// Settings of the embedded reference services.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSection {
    pub llm_latency_p50: Option<String>,
    pub llm_latency_p95: Option<String>,
    pub llm_failure_rate: Option<f64>,
    pub llm_completion_tokens: Option<u32>,
    pub plan_concurrency: Option<usize>,
    pub plan_max_deliveries: Option<u32>,
    /// Per-athlete rate limit at the gateway (0: off; default off for load tests).
    pub rate_limit_per_second: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    /// JetStream server for plan jobs; without it, the in-process queue.
    pub nats_url: Option<String>,
    /// Worker threads of each embedded service's runtime (gateway: twice this).
    pub workers: Option<usize>,
    /// Faults, one table per service: `gateway_bff`, `profile_onboarding`, `planning_engine`.
    pub faults: Option<toml::Table>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    pub users: Option<u64>,
    /// Users started per second (default: all within 10 s).
    pub hatch_rate: Option<f64>,
    pub duration: Option<String>,
    pub stages: Option<Vec<StageSection>>,
    /// Wait between iterations and between steps: `{ min = "1s", max = "3s" }`.
    pub think_time: Option<ThinkTimeSection>,
    /// After the planned end, iterations in flight may finish for this long (default 10s).
    pub graceful_stop: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StageSection {
    pub name: Option<String>,
    pub kind: String,
    pub users: u64,
    pub duration: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThinkTimeSection {
    pub min: String,
    pub max: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSection {
    pub name: String,
    pub weight: Option<u32>,
    /// Onboarding: share of athletes who stop part-way (default 0.1).
    pub abandon_share: Option<f64>,
    /// Wait between the steps of this flow (default: the load's think time).
    pub think_time: Option<ThinkTimeSection>,
    /// Plans: status poll interval (default 500ms).
    pub poll_interval: Option<String>,
    /// Plans: give up on a plan after this long (default 60s).
    pub timeout: Option<String>,
    /// Plans: request parameters.
    pub complexity: Option<String>,
    pub equipment_count: Option<u32>,
    pub availability_days: Option<u32>,
    /// Health: the path to request (default `/api/health`).
    pub path: Option<String>,
    /// Open model: target iterations per second for this flow.
    pub pace: Option<f64>,
    /// Paced: an iteration starting later than this after its intended time is dropped (default 5s).
    pub max_start_delay: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SloSection {
    /// The SLO set, relative to the scenario file (default `../slo/athlete-ally.toml`).
    pub file: Option<String>,
    /// Which verdicts decide the exit code: `both` (default), `whole` or `steady`.
    pub gate: Option<String>,
    /// Judge only these SLOs of the set (by name), for scenarios that exercise part
    /// of the system.
    pub only: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSection {
    /// Judge against this Prometheus.
    pub url: Option<String>,
    /// Start a local Prometheus scraping the embedded services (needs `prometheus` installed).
    pub managed: Option<bool>,
    /// Scrape interval of the managed Prometheus (default 1s).
    pub scrape_interval: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// Results directory, relative to the current directory (default `results`).
    pub results: Option<String>,
    /// Time slice of the timeline and interval log: 1s to 60s (default 1s, 5s past 15 minutes).
    pub slice: Option<String>,
    /// Share of requests sent with a sampled `traceparent` (default 0.05).
    pub trace_sample: Option<f64>,
}

/// A checked scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub path: PathBuf,
    /// The file's text, copied into the run directory.
    pub text: String,
    pub target: Target,
    pub stages: Vec<Stage>,
    pub think_time: ThinkTime,
    pub graceful_stop: Duration,
    pub flows: Vec<Flow>,
    pub slo_file: PathBuf,
    pub gate: Gate,
    /// SLO names to judge; `None`: all.
    pub slo_only: Option<Vec<String>>,
    pub prometheus_url: Option<String>,
    pub prometheus_managed: bool,
    pub scrape_interval: Duration,
    pub results: PathBuf,
    pub slice: Duration,
    pub trace_sample: f64,
    pub request_timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum Target {
    Embedded(Embedded),
    Url(UrlTarget),
}

#[derive(Debug, Clone, Default)]
pub struct Embedded {
    pub llm_latency_p50: Option<Duration>,
    pub llm_latency_p95: Option<Duration>,
    pub llm_failure_rate: Option<f64>,
    pub llm_completion_tokens: Option<u32>,
    pub plan_concurrency: Option<usize>,
    pub plan_max_deliveries: Option<u32>,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub nats_url: Option<String>,
    pub workers: usize,
    /// The faults table, checked by the services when they start.
    pub faults: toml::Table,
}

#[derive(Debug, Clone)]
pub struct UrlTarget {
    pub base_url: String,
    pub token_path: String,
    pub token: Option<String>,
    pub metrics: BTreeMap<String, String>,
}

impl Target {
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
    pub name: String,
    pub kind: String,
    pub users: u64,
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThinkTime {
    pub min: Duration,
    pub max: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Both,
    Whole,
    Steady,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FlowKind {
    Onboarding {
        abandon_share: f64,
    },
    Plans {
        poll_interval: Duration,
        timeout: Duration,
        complexity: String,
        equipment_count: u32,
        availability_days: u32,
    },
    Health {
        path: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub name: &'static str,
    pub kind: FlowKind,
    pub weight: u32,
    pub think_time: ThinkTime,
    pub pace: Option<Pace>,
}

/// Open-model pacing of a flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub per_second: f64,
    pub max_start_delay: Duration,
}

/// Parses `30s`, `2m`, `1h30m`, `500ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim()).ok()
}

/// Default think time between iterations and steps.
pub const DEFAULT_THINK_TIME: ThinkTime = ThinkTime {
    min: Duration::from_millis(500),
    max: Duration::from_millis(1500),
};
/// Users start within this long (or a quarter of the run) when no hatch rate is given.
const DEFAULT_RAMP: Duration = Duration::from_secs(10);

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, FileError> {
    let (file, text): (ScenarioFile, String) = toml_file::read(path)?;
    check(path, text, file)
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn error(&self, key: &str, message: impl Into<String>, fix: impl Into<String>) -> FileError {
        FileError::at_key(self.path, self.text, key, message, fix)
    }

    fn duration(&self, key: &str, text: &str) -> Result<Duration, FileError> {
        parse_duration(text).ok_or_else(|| {
            self.error(
                key,
                format!("{text:?} is not a duration"),
                "write a number and a unit, such as 500ms, 30s, 2m or 1h30m",
            )
        })
    }

    fn fraction(&self, key: &str, value: f64) -> Result<f64, FileError> {
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err(self.error(
                key,
                format!("{value} is out of range"),
                "use a share between 0 and 1 (0.1 is 10%)",
            ))
        }
    }

    fn think_time(&self, key: &str, t: &ThinkTimeSection) -> Result<ThinkTime, FileError> {
        let min = self.duration(&format!("{key}.min"), &t.min)?;
        let max = self.duration(&format!("{key}.max"), &t.max)?;
        if min > max {
            return Err(self.error(key, "min is longer than max", "make min at most max"));
        }
        Ok(ThinkTime { min, max })
    }
}

fn check(path: &Path, text: String, file: ScenarioFile) -> Result<Scenario, FileError> {
    let c = Checker { path, text: &text };
    if file.name.trim().is_empty()
        || !file
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        return Err(c.error(
            "name",
            format!("{:?} is not a usable name", file.name),
            "use letters, digits, - _ .",
        ));
    }

    let request_timeout = match &file.target.request_timeout {
        Some(t) => c.duration("target.request_timeout", t)?,
        None => Duration::from_secs(30),
    };
    let target = match (&file.target.embedded, &file.target.url) {
        (Some(_), Some(_)) => {
            return Err(c.error(
                "target.url",
                "both [target.embedded] and target.url are set",
                "keep one: [target.embedded] to start the reference services, or url for a deployment",
            ));
        }
        (None, None) => {
            return Err(c.error(
                "target",
                "no target",
                "add [target.embedded] (the reference services) or url = \"http://127.0.0.1:4000\"",
            ));
        }
        (Some(e), None) => Target::Embedded(check_embedded(&c, e)?),
        (None, Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(c.error(
                    "target.url",
                    format!("{url:?} is not an http(s) URL"),
                    "write it like http://127.0.0.1:4000",
                ));
            }
            for (job, metrics) in &file.target.metrics {
                if !(metrics.starts_with("http://") || metrics.starts_with("https://")) {
                    return Err(c.error(
                        &format!("target.metrics.{job}"),
                        format!("{metrics:?} is not an http(s) URL"),
                        "write it like http://127.0.0.1:9464/metrics",
                    ));
                }
            }
            Target::Url(UrlTarget {
                base_url: url.trim_end_matches('/').to_string(),
                token_path: file
                    .target
                    .token_path
                    .clone()
                    .unwrap_or_else(|| "/api/v1/auth/token".to_string()),
                token: file.target.token.clone(),
                metrics: file.target.metrics.clone(),
            })
        }
    };
    if matches!(target, Target::Embedded(_))
        && (file.target.token.is_some() || !file.target.metrics.is_empty())
    {
        return Err(c.error(
            "target",
            "token and metrics are for url targets",
            "remove them: the embedded services issue tokens and expose their metrics themselves",
        ));
    }

    let think_time = match &file.load.think_time {
        Some(t) => c.think_time("load.think_time", t)?,
        None => DEFAULT_THINK_TIME,
    };
    let stages = check_load(&c, &file.load)?;
    let graceful_stop = match &file.load.graceful_stop {
        Some(t) => c.duration("load.graceful_stop", t)?,
        None => Duration::from_secs(10),
    };

    if file.flows.is_empty() {
        return Err(c.error(
            "flows",
            "no flows",
            "add at least one [[flows]] with name = \"onboarding\", \"plans\" or \"health\"",
        ));
    }
    let mut flows = Vec::new();
    for (i, f) in file.flows.iter().enumerate() {
        flows.push(check_flow(&c, i, f, think_time)?);
        if file.flows[..i].iter().any(|g| g.name == f.name) {
            return Err(c.error(
                &format!("flows[{i}].name"),
                format!("flow {:?} is listed twice", f.name),
                "list each flow once",
            ));
        }
    }

    let base = path.parent().unwrap_or(Path::new("."));
    let slo_file = base.join(
        file.slo
            .file
            .as_deref()
            .unwrap_or("../slo/athlete-ally.toml"),
    );
    let gate = match file.slo.gate.as_deref().unwrap_or("both") {
        "both" => Gate::Both,
        "whole" => Gate::Whole,
        "steady" => Gate::Steady,
        other => {
            return Err(c.error(
                "slo.gate",
                format!("{other:?} is not a gate"),
                "use both, whole or steady",
            ));
        }
    };
    let scrape_interval = match &file.prometheus.scrape_interval {
        Some(t) => c.duration("prometheus.scrape_interval", t)?,
        None => Duration::from_secs(1),
    };
    if scrape_interval < Duration::from_secs(1) || scrape_interval.subsec_millis() != 0 {
        return Err(c.error(
            "prometheus.scrape_interval",
            "must be whole seconds, at least 1s",
            "use 1s, 5s or 15s",
        ));
    }
    if let Some(url) = &file.prometheus.url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(c.error(
            "prometheus.url",
            format!("{url:?} is not an http(s) URL"),
            "write it like http://127.0.0.1:9090",
        ));
    }
    let total: Duration = stages.iter().map(|s| s.duration).sum();
    let slice = match &file.output.slice {
        Some(t) => c.duration("output.slice", t)?,
        None if total > Duration::from_secs(15 * 60) => Duration::from_secs(5),
        None => Duration::from_secs(1),
    };
    if slice < Duration::from_secs(1)
        || slice > Duration::from_secs(60)
        || slice.subsec_millis() != 0
    {
        return Err(c.error(
            "output.slice",
            "must be whole seconds from 1s to 60s",
            "use 1s or 5s",
        ));
    }
    let trace_sample = c.fraction(
        "output.trace_sample",
        file.output.trace_sample.unwrap_or(0.05),
    )?;

    Ok(Scenario {
        name: file.name.clone(),
        description: file.description.clone(),
        path: path.to_path_buf(),
        target,
        stages,
        think_time,
        graceful_stop,
        flows,
        slo_file,
        gate,
        slo_only: file.slo.only.clone(),
        prometheus_url: file.prometheus.url.clone(),
        prometheus_managed: file.prometheus.managed.unwrap_or(false),
        scrape_interval,
        results: PathBuf::from(file.output.results.as_deref().unwrap_or("results")),
        slice,
        trace_sample,
        request_timeout,
        text,
    })
}

fn check_embedded(c: &Checker, e: &EmbeddedSection) -> Result<Embedded, FileError> {
    let opt_duration = |key: &str, v: &Option<String>| -> Result<Option<Duration>, FileError> {
        v.as_ref()
            .map(|t| c.duration(&format!("target.embedded.{key}"), t))
            .transpose()
    };
    let p50 = opt_duration("llm_latency_p50", &e.llm_latency_p50)?;
    let p95 = opt_duration("llm_latency_p95", &e.llm_latency_p95)?;
    if let (Some(a), Some(b)) = (p50, p95)
        && a > b
    {
        return Err(c.error(
            "target.embedded.llm_latency_p95",
            "p95 is below p50",
            "make llm_latency_p95 at least llm_latency_p50",
        ));
    }
    if let Some(r) = e.llm_failure_rate {
        c.fraction("target.embedded.llm_failure_rate", r)?;
    }
    for (key, v) in [
        ("plan_concurrency", e.plan_concurrency.map(|v| v as u64)),
        ("plan_max_deliveries", e.plan_max_deliveries.map(u64::from)),
        ("workers", e.workers.map(|v| v as u64)),
    ] {
        if v == Some(0) {
            return Err(c.error(
                &format!("target.embedded.{key}"),
                "must be at least 1",
                "use 1 or more",
            ));
        }
    }
    if let Some(faults) = &e.faults {
        for key in faults.keys() {
            if !["gateway_bff", "profile_onboarding", "planning_engine"].contains(&key.as_str()) {
                return Err(c.error(
                    &format!("target.embedded.faults.{key}"),
                    format!("{key:?} is not a service"),
                    "use gateway_bff, profile_onboarding or planning_engine",
                ));
            }
        }
    }
    let embedded = Embedded {
        llm_latency_p50: p50,
        llm_latency_p95: p95,
        llm_failure_rate: e.llm_failure_rate,
        llm_completion_tokens: e.llm_completion_tokens,
        plan_concurrency: e.plan_concurrency,
        plan_max_deliveries: e.plan_max_deliveries,
        rate_limit_per_second: e.rate_limit_per_second.unwrap_or(0),
        rate_limit_burst: e.rate_limit_burst.unwrap_or(0),
        nats_url: e.nats_url.clone(),
        workers: e.workers.unwrap_or(1),
        faults: e.faults.clone().unwrap_or_default(),
    };
    #[cfg(feature = "embedded")]
    if let Err(message) = crate::target::services_config(&embedded) {
        return Err(c.error(
            "target.embedded.faults",
            message,
            "see \"Fault injection\" in the README for the fields of each service's table",
        ));
    }
    Ok(embedded)
}

fn check_load(c: &Checker, load: &LoadSection) -> Result<Vec<Stage>, FileError> {
    match (&load.stages, &load.duration) {
        (Some(_), Some(_)) => Err(c.error(
            "load.duration",
            "both stages and duration are set",
            "keep stages (each with its duration), or users + duration without stages",
        )),
        (Some(stages), None) => {
            if load.users.is_some() || load.hatch_rate.is_some() {
                return Err(c.error(
                    "load.users",
                    "users and hatch_rate do not apply with stages",
                    "set the users of each stage instead",
                ));
            }
            if stages.is_empty() {
                return Err(c.error("load.stages", "no stages", "add at least one stage"));
            }
            let mut out = Vec::new();
            for (i, s) in stages.iter().enumerate() {
                let key = format!("load.stages[{i}]");
                if !STAGE_KINDS.contains(&s.kind.as_str()) {
                    return Err(c.error(
                        &format!("{key}.kind"),
                        format!("{:?} is not a stage kind", s.kind),
                        "use ramp, steady, spike or soak",
                    ));
                }
                let duration = c.duration(&format!("{key}.duration"), &s.duration)?;
                if duration < Duration::from_secs(1) || duration.subsec_millis() != 0 {
                    return Err(c.error(
                        &format!("{key}.duration"),
                        format!("{:?} is not a whole number of seconds", s.duration),
                        "stages last whole seconds: 1s or more",
                    ));
                }
                out.push(Stage {
                    name: s
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{} {}", s.kind, i + 1)),
                    kind: s.kind.clone(),
                    users: s.users,
                    duration,
                });
            }
            if out.iter().all(|s| s.users == 0) {
                return Err(c.error(
                    "load.stages",
                    "every stage has 0 users",
                    "give at least one stage some users",
                ));
            }
            Ok(out)
        }
        (None, None) => Err(c.error(
            "load",
            "no duration",
            "set users and duration (for example users = 20, duration = \"30s\"), or stages",
        )),
        (None, Some(d)) => {
            let duration = c.duration("load.duration", d)?;
            let users = load
                .users
                .ok_or_else(|| c.error("load.users", "missing", "set users = N (at least 1)"))?;
            if users == 0 {
                return Err(c.error("load.users", "0 users", "use at least 1 user"));
            }
            if duration < Duration::from_secs(1) || duration.subsec_millis() != 0 {
                return Err(c.error(
                    "load.duration",
                    format!("{d:?} is not a whole number of seconds"),
                    "use 1s or more, in whole seconds",
                ));
            }
            let ramp = match load.hatch_rate {
                Some(rate) if !(rate > 0.0 && rate.is_finite()) => {
                    return Err(c.error(
                        "load.hatch_rate",
                        format!("{rate} is not a rate"),
                        "use a positive number of users per second",
                    ));
                }
                Some(rate) => Duration::from_secs((users as f64 / rate).ceil().max(1.0) as u64),
                // Users start over a quarter of the run, at most 10 s, at least 1 s.
                None => {
                    Duration::from_secs((duration.as_secs() / 4).clamp(1, DEFAULT_RAMP.as_secs()))
                }
            };
            if ramp >= duration {
                return Err(c.error(
                    "load.hatch_rate",
                    format!(
                        "starting {users} users takes {}s, as long as the whole run",
                        ramp.as_secs()
                    ),
                    "raise hatch_rate or lengthen duration",
                ));
            }
            Ok(vec![
                Stage {
                    name: "ramp-up".to_string(),
                    kind: "ramp".to_string(),
                    users,
                    duration: ramp,
                },
                Stage {
                    name: "steady".to_string(),
                    kind: "steady".to_string(),
                    users,
                    duration: duration - ramp,
                },
            ])
        }
    }
}

fn check_flow(c: &Checker, i: usize, f: &FlowSection, think: ThinkTime) -> Result<Flow, FileError> {
    let key = |k: &str| format!("flows[{i}].{k}");
    let Some(name) = FLOW_NAMES.iter().copied().find(|n| *n == f.name) else {
        return Err(c.error(
            &key("name"),
            format!("{:?} is not a flow", f.name),
            "use onboarding, plans or health",
        ));
    };
    let only = |field: &str, set: bool, flow: &str| -> Result<(), FileError> {
        if set && name != flow {
            Err(c.error(
                &key(field),
                format!("{field} applies to the {flow} flow only"),
                "remove it from this flow",
            ))
        } else {
            Ok(())
        }
    };
    only("abandon_share", f.abandon_share.is_some(), "onboarding")?;
    for (field, set) in [
        ("poll_interval", f.poll_interval.is_some()),
        ("timeout", f.timeout.is_some()),
        ("complexity", f.complexity.is_some()),
        ("equipment_count", f.equipment_count.is_some()),
        ("availability_days", f.availability_days.is_some()),
    ] {
        only(field, set, "plans")?;
    }
    only("path", f.path.is_some(), "health")?;
    let weight = f.weight.unwrap_or(1);
    if weight == 0 {
        return Err(c.error(
            &key("weight"),
            "weight 0",
            "use 1 or more, or remove the flow",
        ));
    }
    let think_time = match &f.think_time {
        Some(t) => c.think_time(&key("think_time"), t)?,
        None => think,
    };
    let pace = match f.pace {
        None => {
            if f.max_start_delay.is_some() {
                return Err(c.error(
                    &key("max_start_delay"),
                    "applies to paced flows only",
                    "set pace too, or remove it",
                ));
            }
            None
        }
        Some(rate) if !(rate > 0.0 && rate.is_finite()) => {
            return Err(c.error(
                &key("pace"),
                format!("{rate} is not a rate"),
                "use a positive number of iterations per second",
            ));
        }
        Some(per_second) => Some(Pace {
            per_second,
            max_start_delay: match &f.max_start_delay {
                Some(t) => c.duration(&key("max_start_delay"), t)?,
                None => Duration::from_secs(5),
            },
        }),
    };
    let kind = match name {
        "onboarding" => FlowKind::Onboarding {
            abandon_share: c.fraction(&key("abandon_share"), f.abandon_share.unwrap_or(0.1))?,
        },
        "plans" => {
            let poll_interval = match &f.poll_interval {
                Some(t) => c.duration(&key("poll_interval"), t)?,
                None => Duration::from_millis(500),
            };
            if poll_interval < Duration::from_millis(10) {
                return Err(c.error(
                    &key("poll_interval"),
                    "shorter than 10ms",
                    "poll every 10ms or slower",
                ));
            }
            let timeout = match &f.timeout {
                Some(t) => c.duration(&key("timeout"), t)?,
                None => Duration::from_secs(60),
            };
            let complexity = f
                .complexity
                .clone()
                .unwrap_or_else(|| "standard".to_string());
            if !["basic", "standard", "advanced"].contains(&complexity.as_str()) {
                return Err(c.error(
                    &key("complexity"),
                    format!("{complexity:?} is not a complexity"),
                    "use basic, standard or advanced",
                ));
            }
            let availability_days = f.availability_days.unwrap_or(3);
            if !(1..=7).contains(&availability_days) {
                return Err(c.error(
                    &key("availability_days"),
                    format!("{availability_days} days"),
                    "use 1 to 7",
                ));
            }
            let equipment_count = f.equipment_count.unwrap_or(5);
            if equipment_count > 50 {
                return Err(c.error(
                    &key("equipment_count"),
                    format!("{equipment_count} items"),
                    "use at most 50",
                ));
            }
            FlowKind::Plans {
                poll_interval,
                timeout,
                complexity,
                equipment_count,
                availability_days,
            }
        }
        _ => {
            let path = f.path.clone().unwrap_or_else(|| "/api/health".to_string());
            if !path.starts_with('/') {
                return Err(c.error(
                    &key("path"),
                    format!("{path:?} does not start with /"),
                    "write it like /api/health",
                ));
            }
            FlowKind::Health { path }
        }
    };
    Ok(Flow {
        name,
        kind,
        weight,
        think_time,
        pace,
    })
}

impl Scenario {
    /// Keeps the SLOs named in `[slo] only`; an unknown name is an error at that key.
    pub fn select_slos(&self, set: &mut slo::definition::SloSet) -> Result<(), FileError> {
        let Some(only) = &self.slo_only else {
            return Ok(());
        };
        for (i, name) in only.iter().enumerate() {
            if !set.slos.iter().any(|s| &s.name == name) {
                return Err(FileError::at_key(
                    &self.path,
                    &self.text,
                    &format!("slo.only[{i}]"),
                    format!("{name:?} is not an SLO of {}", set.path.display()),
                    format!(
                        "use one of {}",
                        set.slos
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        set.slos.retain(|s| only.contains(&s.name));
        Ok(())
    }

    /// Total planned duration.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// Peak users.
    pub fn peak_users(&self) -> u64 {
        self.stages.iter().map(|s| s.users).max().unwrap_or(0)
    }

    /// Offsets of the steady window: from the end of the leading ramps to the start
    /// of the trailing ramps. `None` when the whole run is the steady window or no
    /// stage is steady.
    pub fn steady_offsets(&self) -> Option<(Duration, Duration)> {
        let first = self.stages.iter().position(|s| s.kind != "ramp")?;
        let last = self.stages.iter().rposition(|s| s.kind != "ramp")?;
        let start: Duration = self.stages[..first].iter().map(|s| s.duration).sum();
        let end: Duration = self.stages[..=last].iter().map(|s| s.duration).sum();
        if start.is_zero() && end == self.duration() {
            None
        } else {
            Some((start, end))
        }
    }

    /// The goose test plan: `users,seconds;...`, each step ramping linearly. Goose
    /// holds the last step's users until canceled, so a plan not ending at 0 users
    /// gets a final `0,0s`: every user stops when the last stage ends.
    pub fn test_plan(&self) -> String {
        let mut steps: Vec<String> = self
            .stages
            .iter()
            .map(|s| format!("{},{}s", s.users, s.duration.as_secs()))
            .collect();
        if self.stages.last().is_some_and(|s| s.users > 0) {
            steps.push("0,0s".to_string());
        }
        steps.join(";")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, FileError> {
        let file: ScenarioFile = toml_file::parse(Path::new("t.toml"), text)?;
        check(Path::new("scenarios/t.toml"), text.to_string(), file)
    }

    const GOOD: &str = r#"
name = "t"
[target.embedded]
llm_latency_p50 = "100ms"
[load]
users = 10
hatch_rate = 5
duration = "30s"
[[flows]]
name = "onboarding"
weight = 2
[[flows]]
name = "plans"
poll_interval = "200ms"
"#;

    #[test]
    fn a_good_scenario_becomes_ramp_and_steady() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.stages.len(), 2);
        assert_eq!(s.stages[0].duration, Duration::from_secs(2));
        assert_eq!(s.test_plan(), "10,2s;10,28s;0,0s");
        assert_eq!(
            s.steady_offsets(),
            Some((Duration::from_secs(2), Duration::from_secs(30)))
        );
        assert_eq!(s.slo_file, Path::new("scenarios/../slo/athlete-ally.toml"));
        assert!(
            matches!(s.flows[1].kind, FlowKind::Plans { poll_interval, .. } if poll_interval == Duration::from_millis(200))
        );
    }

    #[test]
    fn stages_with_ramp_down_have_a_steady_window() {
        let s = parse(&GOOD.replace(
            "users = 10\nhatch_rate = 5\nduration = \"30s\"",
            "stages = [\n {kind = \"ramp\", users = 10, duration = \"5s\"},\n {kind = \"steady\", users = 10, duration = \"20s\"},\n {kind = \"spike\", users = 30, duration = \"5s\"},\n {kind = \"ramp\", users = 0, duration = \"5s\"},\n]",
        ))
        .unwrap();
        assert_eq!(s.test_plan(), "10,5s;10,20s;30,5s;0,5s");
        assert_eq!(
            s.steady_offsets(),
            Some((Duration::from_secs(5), Duration::from_secs(30)))
        );
        assert_eq!(s.peak_users(), 30);
    }

    fn error_of(text: &str) -> FileError {
        parse(text).unwrap_err()
    }

    #[test]
    fn errors_name_the_line_and_the_fix() {
        let e = error_of(&GOOD.replace("users = 10", "userz = 10"));
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("unknown field `userz`"), "{e}");

        let e = error_of(&GOOD.replace("users = 10", "users = -3"));
        assert_eq!(e.line, Some(6), "{e}");

        let e = error_of(&GOOD.replace("duration = \"30s\"", "duration = \"30 parsecs\""));
        assert_eq!(e.line, Some(8), "{e}");
        assert_eq!(e.key.as_deref(), Some("load.duration"));
        assert!(e.fix.as_ref().unwrap().contains("30s"), "{e}");

        let e = error_of(&GOOD.replace("name = \"plans\"", "name = \"yoga\""));
        assert_eq!(e.key.as_deref(), Some("flows[1].name"));
        assert_eq!(e.line, Some(13), "{e}");

        let e = error_of(&GOOD.replace("poll_interval = \"200ms\"", "abandon_share = 0.5"));
        assert!(
            e.to_string()
                .contains("applies to the onboarding flow only"),
            "{e}"
        );

        let e = error_of(&GOOD.replace("hatch_rate = 5", "hatch_rate = 0.1"));
        assert_eq!(e.key.as_deref(), Some("load.hatch_rate"), "{e}");

        let e =
            error_of(&GOOD.replace("[target.embedded]\nllm_latency_p50 = \"100ms\"", "[target]"));
        assert!(e.message.contains("no target"), "{e}");
    }

    #[test]
    fn stage_durations_must_be_whole_seconds() {
        let text = GOOD.replace(
            "users = 10\nhatch_rate = 5\nduration = \"30s\"",
            "stages = [{kind = \"ramp\", users = 10, duration = \"1500ms\"}]",
        );
        let e = error_of(&text);
        assert_eq!(e.key.as_deref(), Some("load.stages[0].duration"), "{e}");
        let text = GOOD.replace(
            "users = 10\nhatch_rate = 5\nduration = \"30s\"",
            "stages = [{kind = \"plateau\", users = 10, duration = \"10s\"}]",
        );
        assert!(
            error_of(&text)
                .fix
                .unwrap()
                .contains("ramp, steady, spike or soak")
        );
    }
}
