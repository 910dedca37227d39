//! The settings of a run, resolved once: [`Settings::resolve`] is the only place
//! that decides precedence. For every setting: the command-line flag, then its
//! environment variable, then the scenario file, then the default below.
//!
//! The command line gives each value with where it came from ([`Layer`]: flag or
//! environment), so the rule can be applied, and tested, here.

use std::path::PathBuf;
use std::time::Duration;

use clap::ArgMatches;
use clap::parser::ValueSource;
use reports::baseline::Margins;

use std::time::SystemTime;

use crate::cli::{RunArgs, TracingArgs, WorkerArgs};
use crate::scenario::{DEFAULT_TOKEN_PATH, Scenario, Target, UrlTarget};
use crate::worker::Worker;

/// Results directory when neither flag, environment nor scenario names one.
pub const DEFAULT_RESULTS: &str = "results";
/// The managed Prometheus binary when none is named.
pub const DEFAULT_PROMETHEUS_BIN: &str = slo::managed::DEFAULT_BINARY;
/// Log filter when `--log` / `LOADGEN_LOG` is unset.
pub const DEFAULT_LOG: &str = "warn";
/// Share of new traces the embedded services sample when unset.
pub const DEFAULT_TRACE_SAMPLE_RATIO: f64 = 1.0;

/// One value from the command line: given as a flag, or through the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer<T> {
    /// The flag's value, when given on the command line.
    pub flag: Option<T>,
    /// The environment variable's value, when set and no flag was given.
    pub env: Option<T>,
}

impl<T> Default for Layer<T> {
    fn default() -> Self {
        Layer {
            flag: None,
            env: None,
        }
    }
}

impl<T> Layer<T> {
    /// A value clap parsed, split by where it came from.
    pub fn of(value: Option<T>, source: Option<ValueSource>) -> Layer<T> {
        match source {
            Some(ValueSource::EnvVariable) => Layer {
                flag: None,
                env: value,
            },
            _ => Layer {
                flag: value,
                env: None,
            },
        }
    }

    /// Flag, then environment, then `file`, then `default`.
    pub fn or_file(self, file: Option<T>, default: T) -> T {
        self.or_maybe(file).unwrap_or(default)
    }

    /// Flag, then environment, then `file`; `None` when none is set.
    pub fn or_maybe(self, file: Option<T>) -> Option<T> {
        self.flag.or(self.env).or(file)
    }
}

/// What `loadgen run` was given, before the scenario is read.
#[derive(Debug, Clone, Default)]
pub struct RunInputs {
    /// `--results` / `LOADGEN_RESULTS`.
    pub results: Layer<PathBuf>,
    /// `--target-url` / `LOADGEN_TARGET_URL`.
    pub target_url: Layer<String>,
    /// `--prometheus` / `PROMETHEUS_URL`.
    pub prometheus: Layer<String>,
    /// `--managed-prometheus`.
    pub managed_prometheus: bool,
    /// `--no-prometheus`.
    pub no_prometheus: bool,
    /// `--prometheus-bin` / `PROMETHEUS_BIN`.
    pub prometheus_bin: Layer<PathBuf>,
    /// `--jaeger-url` / `JAEGER_UI_URL`.
    pub jaeger_url: Layer<String>,
    /// `--quiet`.
    pub quiet: bool,
    /// `--baseline`.
    pub baseline: Option<PathBuf>,
    /// The comparison's margins.
    pub margins: Margins,
    /// `--fail-on-regression`.
    pub fail_on_regression: bool,
    /// `--worker`, `--workers`, `--run-id`, `--start-at` (and their variables).
    pub worker: WorkerArgs,
    /// `--pushgateway` / `LOADGEN_PUSHGATEWAY_URL`.
    pub pushgateway: Layer<String>,
    /// `--no-preflight`.
    pub no_preflight: bool,
    /// `--nats-monitoring-url` / `NATS_MONITORING_URL`.
    pub nats_monitoring_url: Layer<String>,
    /// Where the embedded services export spans (`--otlp-endpoint`, `--jaeger-endpoint`).
    pub otlp_endpoint: Option<String>,
    /// `--flow-engine` / `LOADGEN_FLOW_ENGINE`.
    pub flow_engine: crate::cli::FlowEngine,
    /// `--request-log`.
    pub request_log: bool,
}

impl RunInputs {
    /// The arguments of `loadgen run`, with where each value came from.
    pub fn from_args(args: &RunArgs, matches: Option<&ArgMatches>) -> RunInputs {
        let source = |id: &str| matches.and_then(|m| m.value_source(id));
        RunInputs {
            results: Layer::of(args.results.clone(), source("results")),
            target_url: Layer::of(args.target_url.clone(), source("target_url")),
            prometheus: Layer::of(args.prometheus.clone(), source("prometheus")),
            managed_prometheus: args.managed_prometheus,
            no_prometheus: args.no_prometheus,
            prometheus_bin: Layer::of(args.prometheus_bin.clone(), source("prometheus_bin")),
            jaeger_url: Layer::of(args.jaeger_url.clone(), source("jaeger_url")),
            quiet: args.quiet,
            baseline: args.baseline.clone(),
            margins: args.margins.margins(),
            fail_on_regression: args.fail_on_regression,
            worker: args.worker.clone(),
            pushgateway: Layer::of(args.push.pushgateway.clone(), source("pushgateway")),
            no_preflight: args.no_preflight,
            nats_monitoring_url: Layer::of(
                args.nats_monitoring_url.clone(),
                source("nats_monitoring_url"),
            ),
            otlp_endpoint: span_export(&args.tracing).0,
            flow_engine: args.flow_engine,
            request_log: args.request_log,
        }
    }
}

/// Where the verdicts should come from, as asked; the verifier falls back (and
/// says so) when the asked source cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePlan {
    /// A Prometheus at this URL.
    Prometheus(String),
    /// A Prometheus started for the run.
    Managed {
        /// Its binary.
        binary: PathBuf,
    },
    /// The services' own `/metrics`, scraped by the verifier (the client's data
    /// alone when no metrics endpoint is known).
    Scrape,
}

/// How virtual users get bearer tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tokens {
    /// `POST <path> {"athleteId"}` on the gateway.
    Endpoint(String),
    /// One fixed token for every user.
    Fixed(String),
}

/// Everything a run needs beyond the scenario's load, decided.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the run directory goes.
    pub results: PathBuf,
    /// What is driven.
    pub target: Target,
    /// How users get tokens.
    pub tokens: Tokens,
    /// Where verdicts should come from.
    pub source: SourcePlan,
    /// Scrape interval of the managed Prometheus and the embedded source.
    pub scrape_interval: Duration,
    /// Extra matchers every Prometheus query gets beside the SLO set's jobs.
    pub matchers: std::collections::BTreeMap<String, String>,
    /// Jaeger UI for the report's trace links.
    pub jaeger_url: Option<String>,
    /// No live progress.
    pub quiet: bool,
    /// A baseline run to compare with.
    pub baseline: Option<PathBuf>,
    /// The comparison's margins.
    pub margins: Margins,
    /// Exit 1 on a regression.
    pub fail_on_regression: bool,
    /// This process's place in a distributed run; `None` for a lone run.
    pub worker: Option<Worker>,
    /// The run id given (every worker of a distributed run shares it).
    pub run_id: Option<String>,
    /// When the load starts (a barrier every worker waits for); `None`: at once.
    pub start_at: Option<SystemTime>,
    /// The Pushgateway the verdicts go to.
    pub pushgateway: Option<String>,
    /// Run the release check before the load.
    pub preflight: bool,
    /// NATS's monitoring endpoint for the release check, when NATS carries the plans.
    pub nats_monitoring: Option<String>,
    /// Where the embedded services export spans, for the release check.
    pub otlp_endpoint: Option<String>,
    /// Which engine runs the shipped flows.
    pub flow_engine: crate::cli::FlowEngine,
    /// Write the request log (`requests.jsonl`).
    pub request_log: bool,
}

pub use crate::exit::UsageError;

fn http_url(flag: &str, value: &Option<String>) -> Result<(), UsageError> {
    match value {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            Err(UsageError(format!("{flag} {u:?} is not an http(s) URL")))
        }
        _ => Ok(()),
    }
}

impl Settings {
    /// Applies precedence (flag, environment, scenario file, default) to every
    /// setting of a run.
    pub fn resolve(inputs: &RunInputs, scenario: &Scenario) -> Result<Settings, UsageError> {
        let file_url = match &scenario.target {
            Target::Url(u) => Some(u),
            Target::Embedded(_) => None,
        };
        let target_url = inputs.target_url.clone().or_maybe(None);
        http_url("--target-url", &target_url)?;
        let jaeger_url = inputs
            .jaeger_url
            .clone()
            .or_maybe(file_url.and_then(|u| u.jaeger_url.clone()));
        http_url("--jaeger-url", &jaeger_url)?;
        let pushgateway = inputs.pushgateway.clone().or_maybe(None);
        http_url("--pushgateway", &pushgateway)?;
        let nats_monitoring = inputs
            .nats_monitoring_url
            .clone()
            .or_maybe(None)
            .or_else(|| nats_monitoring(&scenario.target));
        http_url("--nats-monitoring-url", &nats_monitoring)?;
        let (target, tokens) = match target_url {
            Some(url) => (
                Target::Url(UrlTarget {
                    base_url: url.trim_end_matches('/').to_string(),
                    token_path: DEFAULT_TOKEN_PATH.to_string(),
                    token: None,
                    metrics: Default::default(),
                    jaeger_url: None,
                }),
                Tokens::Endpoint(DEFAULT_TOKEN_PATH.to_string()),
            ),
            None => (scenario.target.clone(), file_tokens(file_url)),
        };
        let settings = Settings {
            results: inputs
                .results
                .clone()
                .or_file(scenario.results.clone(), PathBuf::from(DEFAULT_RESULTS)),
            target,
            tokens,
            source: source_plan(inputs, scenario)?,
            scrape_interval: scenario.scrape_interval,
            matchers: scenario.prometheus_matchers.clone(),
            jaeger_url,
            quiet: inputs.quiet,
            baseline: inputs.baseline.clone(),
            margins: inputs.margins,
            fail_on_regression: inputs.fail_on_regression,
            worker: Worker::resolve(&inputs.worker)?,
            run_id: run_id(&inputs.worker)?,
            start_at: inputs
                .worker
                .start_at
                .as_deref()
                .map(|t| crate::worker::start_at(t, SystemTime::now()))
                .transpose()?,
            pushgateway,
            preflight: !inputs.no_preflight,
            nats_monitoring,
            otlp_endpoint: inputs.otlp_endpoint.clone(),
            flow_engine: inputs.flow_engine,
            request_log: inputs.request_log,
        };
        if let (Some(w), None) = (&settings.worker, &settings.run_id) {
            return Err(UsageError(format!(
                "worker {}/{} has no run id: give every worker the same --run-id (or LOADGEN_RUN_ID), so their results land in one run",
                w.index, w.count
            )));
        }
        Ok(settings)
    }
}

/// `--run-id`: a directory name (letters, digits, `-`, `_`, `.`).
fn run_id(w: &WorkerArgs) -> Result<Option<String>, UsageError> {
    match &w.run_id {
        Some(id)
            if id.is_empty()
                || id.starts_with('.')
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            Err(UsageError(format!(
                "--run-id {id:?} is not a directory name: use letters, digits, '-', '_' and '.'"
            )))
        }
        other => Ok(other.clone()),
    }
}

/// NATS's default monitoring port.
pub const DEFAULT_NATS_MONITORING_PORT: u16 = 8222;

/// NATS's monitoring endpoint when the embedded target uses NATS: its default port
/// on the host of `nats_url`.
fn nats_monitoring(target: &Target) -> Option<String> {
    let Target::Embedded(e) = target else {
        return None;
    };
    let url = e.nats_url.as_deref()?;
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', ',']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => h,
        _ => host_port,
    };
    Some(format!("http://{host}:{DEFAULT_NATS_MONITORING_PORT}"))
}

/// The tokens of the scenario's own target.
fn file_tokens(url: Option<&UrlTarget>) -> Tokens {
    match url {
        Some(UrlTarget { token: Some(t), .. }) => Tokens::Fixed(t.clone()),
        Some(u) => Tokens::Endpoint(u.token_path.clone()),
        None => Tokens::Endpoint(DEFAULT_TOKEN_PATH.to_string()),
    }
}

/// The verdicts' source: one of the three flags, then `PROMETHEUS_URL`, then the
/// scenario's `[prometheus]` (url, then managed), then the services' metrics.
fn source_plan(inputs: &RunInputs, scenario: &Scenario) -> Result<SourcePlan, UsageError> {
    let binary = inputs
        .prometheus_bin
        .clone()
        .or_file(None, PathBuf::from(DEFAULT_PROMETHEUS_BIN));
    let flags = [
        inputs.prometheus.flag.is_some(),
        inputs.managed_prometheus,
        inputs.no_prometheus,
    ];
    if flags.iter().filter(|f| **f).count() > 1 {
        return Err(UsageError(
            "--prometheus, --managed-prometheus and --no-prometheus exclude each other: give one"
                .to_string(),
        ));
    }
    let url = |u: &String| -> Result<SourcePlan, UsageError> {
        http_url("--prometheus", &Some(u.clone()))?;
        Ok(SourcePlan::Prometheus(u.clone()))
    };
    if let Some(u) = &inputs.prometheus.flag {
        return url(u);
    }
    if inputs.managed_prometheus {
        return Ok(SourcePlan::Managed { binary });
    }
    if inputs.no_prometheus {
        return Ok(SourcePlan::Scrape);
    }
    if let Some(u) = inputs
        .prometheus
        .env
        .as_ref()
        .or(scenario.prometheus_url.as_ref())
    {
        return url(u);
    }
    if scenario.prometheus_managed {
        return Ok(SourcePlan::Managed { binary });
    }
    Ok(SourcePlan::Scrape)
}

/// The log filter: `--log` / `LOADGEN_LOG`, else [`DEFAULT_LOG`].
pub fn log_filter(log: Option<&str>) -> String {
    log.filter(|l| !l.is_empty())
        .unwrap_or(DEFAULT_LOG)
        .to_string()
}

/// Where the embedded services' spans go: `--otlp-endpoint`
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`), else `--jaeger-endpoint` (`JAEGER_ENDPOINT`),
/// and the share of new traces sampled (an unusable share is the default).
pub fn span_export(t: &TracingArgs) -> (Option<String>, f64) {
    let endpoint = [&t.otlp_endpoint, &t.jaeger_endpoint]
        .into_iter()
        .find_map(|v| v.clone().filter(|s| !s.is_empty()));
    let ratio = t
        .trace_sample_ratio
        .as_deref()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|r| (0.0..=1.0).contains(r))
        .unwrap_or(DEFAULT_TRACE_SAMPLE_RATIO);
    (endpoint, ratio)
}

#[cfg(test)]
mod tests;
