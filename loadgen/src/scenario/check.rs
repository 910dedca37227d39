//! Checks of a scenario file, section by section: the target, the load shape, the
//! flows, then the SLO, Prometheus and output sections. Values were typed when the
//! file was read; what is left are ranges and which keys go together. Every error
//! names the file, the line of its key and the fix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use slo::schema::Checker;
use slo::toml_file::FileError;

use crate::slo_file::SloFile;

use super::file::{
    EmbeddedSection, FlowSection, LoadSection, ScenarioFile, StageSection, TargetSection,
    ThinkTimeSection,
};
use super::flows::FlowFiles;
use super::{
    Embedded, Executor, Flow, Gate, Scenario, Stage, StageKind, Target, ThinkTime, UrlTarget,
};

/// Default think time between iterations and steps.
pub const DEFAULT_THINK_TIME: ThinkTime = ThinkTime {
    min: Duration::from_millis(500),
    max: Duration::from_millis(1500),
};
/// Users start within this long (or a quarter of the run) when no hatch rate is given.
const DEFAULT_RAMP: Duration = Duration::from_secs(10);
/// Iterations in flight may finish for this long after the planned end.
const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(10);
/// Timeout of one request.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The token endpoint of the gateway.
pub const DEFAULT_TOKEN_PATH: &str = api::paths::AUTH_TOKEN;
/// Scrape interval of the managed Prometheus and the embedded source.
const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
/// Share of requests sent with a sampled `traceparent`.
const DEFAULT_TRACE_SAMPLE: f64 = 0.05;
/// Runs longer than this get 5 s slices by default (1 s otherwise).
const LONG_RUN: Duration = Duration::from_secs(15 * 60);

pub(super) fn check(
    path: &Path,
    text: String,
    file: ScenarioFile,
    files: FlowFiles,
) -> Result<Scenario, FileError> {
    let c = Checker::new(path, &text);
    let base = path.parent().unwrap_or(Path::new("."));
    check_name(&c, &file.name)?;
    let target = check_target(&c, &file.target)?;
    let think_time = match &file.load.think_time {
        Some(t) => think_time(&c, "load.think_time", t)?,
        None => DEFAULT_THINK_TIME,
    };
    let stages = check_load(&c, &file.load)?;
    let mut flows = check_flows(&c, &file.flows, think_time, &stages, (base, files))?;
    let series = std::sync::Arc::new(super::series_table(&flows));
    for f in &mut flows {
        f.series = super::FlowSeries::in_table(&series, &f.name, &f.program.requests);
    }
    let total = super::run_length(&stages, &flows);
    let (scrape_interval, slice, trace_sample) = check_output(&c, &file, total)?;
    if let Some(url) = &file.prometheus.url {
        c.http_url("prometheus.url", url, "http://127.0.0.1:9090")?;
    }
    for label in file.prometheus.matchers.keys() {
        let mut chars = label.chars();
        let valid = chars
            .next()
            .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
            && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        c.forbid(
            &format!("prometheus.matchers.{label}"),
            !valid || label == "job",
            &format!("{label:?} cannot be a matcher here"),
            "use a label name (letters, digits, _) other than job: the SLO set's services are the jobs",
        )?;
    }
    Ok(Scenario {
        name: file.name.clone(),
        description: file.description.clone(),
        path: path.to_path_buf(),
        target,
        stages,
        think_time,
        graceful_stop: file
            .load
            .graceful_stop
            .map_or(DEFAULT_GRACEFUL_STOP, |d| d.get()),
        seed: file.seed,
        flows,
        series,
        slo_file: file
            .slo
            .file
            .as_deref()
            .map_or(SloFile::BuiltIn, |f| SloFile::Path(base.join(f))),
        gate: file.slo.gate.unwrap_or(Gate::Both),
        slo_only: file.slo.only.clone(),
        prometheus_url: file.prometheus.url.clone(),
        prometheus_managed: file.prometheus.managed.unwrap_or(false),
        prometheus_matchers: file.prometheus.matchers.clone(),
        scrape_interval,
        results: file.output.results.as_deref().map(PathBuf::from),
        slice,
        trace_sample,
        request_timeout: file
            .target
            .request_timeout
            .map_or(DEFAULT_REQUEST_TIMEOUT, |d| d.get()),
        text,
    })
}

fn check_name(c: &Checker, name: &str) -> Result<(), FileError> {
    if name.trim().is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        return Err(c.error(
            "name",
            format!("{name:?} is not a usable name"),
            "use letters, digits, - _ .",
        ));
    }
    Ok(())
}

fn think_time(c: &Checker, key: &str, t: &ThinkTimeSection) -> Result<ThinkTime, FileError> {
    let (min, max) = (t.min.get(), t.max.get());
    if min > max {
        return Err(c.error(key, "min is longer than max", "make min at most max"));
    }
    Ok(ThinkTime { min, max })
}

fn check_target(c: &Checker, t: &TargetSection) -> Result<Target, FileError> {
    match (&t.embedded, &t.url) {
        (Some(_), Some(_)) => Err(c.error(
            "target.url",
            "both [target.embedded] and target.url are set",
            "keep one: [target.embedded] to start the reference services, or url for a deployment",
        )),
        (None, None) => Err(c.error(
            "target",
            "no target",
            "add [target.embedded] (the reference services) or url = \"http://127.0.0.1:4000\"",
        )),
        (Some(e), None) => {
            if t.token.is_some() || !t.metrics.is_empty() {
                return Err(c.error(
                    "target",
                    "token and metrics are for url targets",
                    "remove them: the embedded services issue tokens and expose their metrics themselves",
                ));
            }
            Ok(Target::Embedded(check_embedded(c, e)?))
        }
        (None, Some(url)) => check_url_target(c, t, url).map(Target::Url),
    }
}

fn check_url_target(c: &Checker, t: &TargetSection, url: &str) -> Result<UrlTarget, FileError> {
    c.http_url("target.url", url, "http://127.0.0.1:4000")?;
    for (job, metrics) in &t.metrics {
        c.http_url(
            &format!("target.metrics.{job}"),
            metrics,
            "http://127.0.0.1:9464/metrics",
        )?;
    }
    if let Some(j) = &t.jaeger_url {
        c.http_url("target.jaeger_url", j, "http://127.0.0.1:16686")?;
    }
    Ok(UrlTarget {
        base_url: url.trim_end_matches('/').to_string(),
        token_path: t
            .token_path
            .clone()
            .unwrap_or_else(|| DEFAULT_TOKEN_PATH.to_string()),
        token: t.token.clone(),
        metrics: t.metrics.clone(),
        jaeger_url: t.jaeger_url.clone(),
    })
}

fn check_embedded(c: &Checker, e: &EmbeddedSection) -> Result<Embedded, FileError> {
    let (p50, p95) = (
        e.llm_latency_p50.map(|d| d.get()),
        e.llm_latency_p95.map(|d| d.get()),
    );
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
        c.forbid(
            &format!("target.embedded.{key}"),
            v == Some(0),
            "must be at least 1",
            "use 1 or more",
        )?;
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
        token_ttl: token_ttl(c, e)?,
        faults: e.faults.clone().unwrap_or_default(),
    };
    #[cfg(feature = "embedded")]
    if let Err(message) = super::embedded::services_config(&embedded) {
        return Err(c.error(
            &message.key,
            message.message,
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
            check_stages(c, stages)
        }
        // No shape of its own: flows with their own shapes (checked with the flows).
        (None, None) if load.users.is_none() && load.hatch_rate.is_none() => Ok(Vec::new()),
        (None, None) => Err(c.error(
            "load",
            "no duration",
            "set users and duration (for example users = 20, duration = \"30s\"), or stages",
        )),
        (None, Some(d)) => ramp_and_steady(c, load, d.get()),
    }
}

fn whole_seconds(d: Duration) -> bool {
    d >= Duration::from_secs(1) && d.subsec_millis() == 0
}

fn check_stages(c: &Checker, stages: &[StageSection]) -> Result<Vec<Stage>, FileError> {
    if stages.is_empty() {
        return Err(c.error("load.stages", "no stages", "add at least one stage"));
    }
    let mut out = Vec::new();
    for (i, s) in stages.iter().enumerate() {
        let duration = s.duration.get();
        if !whole_seconds(duration) {
            return Err(c.error(
                &format!("load.stages[{i}].duration"),
                format!(
                    "{:?} is not a whole number of seconds",
                    humantime::format_duration(duration).to_string()
                ),
                "stages last whole seconds: 1s or more",
            ));
        }
        out.push(Stage {
            name: s
                .name
                .clone()
                .unwrap_or_else(|| format!("{} {}", s.kind, i + 1)),
            kind: s.kind,
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
    super::executor::check_shape(c, "load.stages", &out)?;
    Ok(out)
}

/// `target.embedded.token_ttl`: whole seconds (tokens carry their expiry in seconds).
fn token_ttl(c: &Checker, e: &super::file::EmbeddedSection) -> Result<Option<Duration>, FileError> {
    let Some(ttl) = e.token_ttl.map(|d| d.get()) else {
        return Ok(None);
    };
    c.forbid(
        "target.embedded.token_ttl",
        !whole_seconds(ttl),
        &format!("{ttl:?} is not a whole number of seconds"),
        "use 1s or more, in whole seconds",
    )?;
    Ok(Some(ttl))
}

/// `users` and `duration`: a ramp at the hatch rate, then a steady stage.
fn ramp_and_steady(
    c: &Checker,
    load: &LoadSection,
    duration: Duration,
) -> Result<Vec<Stage>, FileError> {
    let users = load
        .users
        .ok_or_else(|| c.error("load.users", "missing", "set users = N (at least 1)"))?;
    if users == 0 {
        return Err(c.error("load.users", "0 users", "use at least 1 user"));
    }
    if !whole_seconds(duration) {
        return Err(c.error(
            "load.duration",
            format!(
                "{:?} is not a whole number of seconds",
                humantime::format_duration(duration).to_string()
            ),
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
        None => Duration::from_secs((duration.as_secs() / 4).clamp(1, DEFAULT_RAMP.as_secs())),
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
            kind: StageKind::Ramp,
            users,
            duration: ramp,
        },
        Stage {
            name: "steady".to_string(),
            kind: StageKind::Steady,
            users,
            duration: duration - ramp,
        },
    ])
}

fn check_flows(
    c: &Checker,
    flows: &[FlowSection],
    think: ThinkTime,
    load: &[Stage],
    files: (&Path, FlowFiles),
) -> Result<Vec<Flow>, FileError> {
    if flows.is_empty() {
        return Err(c.error(
            "flows",
            "no flows",
            format!(
                "add at least one [[flows]] with name = one of {}, or a flow file",
                crate::flow_file::builtin::names()
            ),
        ));
    }
    let load_length: Duration = load.iter().map(|s| s.duration).sum();
    let mut out: Vec<Flow> = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        let flow = check_flow(c, i, f, think, load_length, files)?;
        unique_names(c, i, &flow, &out)?;
        out.push(flow);
        c.forbid(
            &format!("flows[{i}]"),
            super::executor::shares_load(&out[i].executor, f) && load.is_empty(),
            "this flow takes a share of [load]'s users, and [load] has none",
            "add users and duration (or stages) to [load], or give the flow its own users, duration or executor",
        )?;
    }
    share_users(&mut out, flows, load);
    Ok(out)
}

/// A flow's name and its requests' names are its own in the run.
fn unique_names(c: &Checker, i: usize, flow: &Flow, before: &[Flow]) -> Result<(), FileError> {
    let key = format!("flows[{i}].name");
    if before.iter().any(|g| g.name == flow.name) {
        return Err(c.error(
            &key,
            format!("flow {:?} is listed twice", flow.name),
            "list each flow once, or give the second one another name = \"...\"",
        ));
    }
    for g in before {
        if let Some(r) = flow
            .program
            .requests
            .iter()
            .find(|r| g.program.requests.contains(r))
        {
            return Err(c.error(
                &key,
                format!("the flows {:?} and {:?} both name a request {r:?}", g.name, flow.name),
                "give the requests of different flows different names: reports and SLOs tell them apart by name",
            ));
        }
    }
    Ok(())
}

/// Paced flows (the old `pace`) run with their weight's share of `[load]`'s peak
/// users, as they always did.
fn share_users(out: &mut [Flow], flows: &[FlowSection], load: &[Stage]) {
    let sharing: Vec<bool> = out
        .iter()
        .zip(flows)
        .map(|(flow, f)| super::executor::shares_load(&flow.executor, f))
        .collect();
    let total: u32 = out
        .iter()
        .zip(&sharing)
        .filter(|(_, s)| **s)
        .map(|(f, _)| f.weight)
        .sum();
    let peak = load.iter().map(|s| s.users).max().unwrap_or(0);
    for (flow, f) in out.iter_mut().zip(flows) {
        if let (Executor::Arrival(a), Some(_)) = (&mut flow.executor, f.pace) {
            let share = (peak as f64 * flow.weight as f64 / total.max(1) as f64)
                .round()
                .max(1.0) as u64;
            a.pre_allocated = share;
            a.max_users = share;
        }
    }
}

fn check_flow(
    c: &Checker,
    i: usize,
    f: &FlowSection,
    think: ThinkTime,
    load: Duration,
    (base, files): (&Path, FlowFiles),
) -> Result<Flow, FileError> {
    let (program, source) = super::flows::resolve(c, i, f, base, files)?;
    let executor = super::executor::check_executor(c, i, f, load)?;
    let weight = f.weight.unwrap_or(1);
    c.forbid(
        &format!("flows[{i}].weight"),
        weight == 0,
        "weight 0",
        "use 1 or more, or remove the flow",
    )?;
    let think_time = match &f.think_time {
        Some(t) => think_time(c, &format!("flows[{i}].think_time"), t)?,
        None => think,
    };
    Ok(Flow {
        name: program.name.clone(),
        native: super::flows::native_kind(&program, &source),
        program,
        source,
        // Set once every flow is known (the run's series table).
        series: super::FlowSeries::default(),
        weight,
        think_time,
        executor,
        start: f.start.map_or(Duration::ZERO, |d| d.get()),
    })
}

/// The scrape interval, the slice and the trace sample.
fn check_output(
    c: &Checker,
    file: &ScenarioFile,
    total: Duration,
) -> Result<(Duration, Duration, f64), FileError> {
    let scrape_interval = file
        .prometheus
        .scrape_interval
        .map_or(DEFAULT_SCRAPE_INTERVAL, |d| d.get());
    if !whole_seconds(scrape_interval) {
        return Err(c.error(
            "prometheus.scrape_interval",
            "must be whole seconds, at least 1s",
            "use 1s, 5s or 15s",
        ));
    }
    let slice = match file.output.slice {
        Some(t) => t.get(),
        None if total > LONG_RUN => Duration::from_secs(5),
        None => Duration::from_secs(1),
    };
    if !whole_seconds(slice) || slice > Duration::from_secs(60) {
        return Err(c.error(
            "output.slice",
            "must be whole seconds from 1s to 60s",
            "use 1s or 5s",
        ));
    }
    let trace_sample = c.fraction(
        "output.trace_sample",
        file.output.trace_sample.unwrap_or(DEFAULT_TRACE_SAMPLE),
    )?;
    Ok((scrape_interval, slice, trace_sample))
}
