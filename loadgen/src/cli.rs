//! The command line: every command, flag and environment variable of `loadgen`,
//! documented in one place (`loadgen <command> --help` lists them all).
//!
//! Values here are as given; [`crate::settings`] decides what they mean together
//! with the scenario file (flag, then environment variable, then scenario file,
//! then default).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use reports::baseline::Margins;

use crate::exit::HELP as EXIT_CODES;

/// A point in time on the command line: unix seconds or milliseconds, or RFC 3339.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<f64>() {
        // Seconds before the year 2286, else milliseconds.
        return Ok(if n < 1e10 {
            (n * 1000.0).round() as u64
        } else {
            n.round() as u64
        });
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis().max(0) as u64)
        .map_err(|_| format!("{t:?} is not a time: use unix seconds (1700000000), milliseconds or RFC 3339 (2026-11-27T10:00:00Z)"))
}

/// `--matcher label=value` pairs.
pub fn matchers(given: &[String]) -> Result<BTreeMap<String, String>, String> {
    given
        .iter()
        .map(|m| match m.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && k.trim() != "job" => {
                Ok((k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            }
            _ => Err(format!(
                "--matcher {m:?}: write LABEL=VALUE, such as env=staging (job comes from the SLO set's services)"
            )),
        })
        .collect()
}

/// Athlete Ally load generator and SLO verifier.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about, after_help = EXIT_CODES, arg_required_else_help = true)]
pub struct Cli {
    /// Log filter, in tracing's `EnvFilter` syntax (such as `info` or `loadgen=debug`) [default: warn].
    #[arg(long, global = true, env = "LOADGEN_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive a scenario's load, judge it against its SLO set and write the run directory.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Check scenario and SLO files without running anything.
    #[command(
        after_help = "Exit codes: 0 every file is valid, 2 a file is not (the message names the file, line, key and fix)."
    )]
    Check(CheckArgs),
    /// Judge a time window on a Prometheus without driving load.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// Render a run directory's reports again, optionally against a baseline.
    #[command(after_help = EXIT_CODES)]
    Report(ReportArgs),
    /// Run the three reference services in this process until Ctrl-C.
    #[command(after_help = services_help())]
    Services(ServicesArgs),
    /// Generate the Prometheus recording and alerting rules of an SLO set.
    Rules(RulesArgs),
    /// Merge the run directories of a distributed run's workers into one run, and judge it.
    #[command(after_help = EXIT_CODES)]
    Merge(MergeArgs),
    /// Run the runbook's release check on a scenario's target without driving load:
    /// health, metrics endpoints, the SLO set's metrics, Prometheus targets, traces, NATS.
    #[command(
        after_help = "Exit codes: 0 every check passed (or did not apply), 2 bad input, 3 a check failed (the line says what to fix)."
    )]
    Preflight(RunArgs),
    /// Work with SLO sets: convert between loadgen TOML, OpenSLO and Sloth.
    #[command(subcommand)]
    Slo(SloCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page, or write every command's page into a directory.
    Man(ManArgs),
}

/// The services' environment variables, for `loadgen services --help`.
fn services_help() -> String {
    #[cfg(feature = "embedded")]
    {
        let mut text = String::from("Environment variables of the services (see the README):\n");
        for v in services::config::VARIABLES {
            text.push_str(&format!("  {:<34} {}\n", v.name, v.meaning));
        }
        text
    }
    #[cfg(not(feature = "embedded"))]
    String::from("This loadgen was built without the reference services.")
}

/// The noise margins of a baseline comparison.
#[derive(Debug, Clone, Args)]
pub struct MarginArgs {
    /// A latency is a regression only when worse by more than this share...
    #[arg(long, default_value_t = 0.10, value_name = "SHARE")]
    pub regression_relative: f64,
    /// ...and by more than this many milliseconds.
    #[arg(long, default_value_t = 5.0, value_name = "MS")]
    pub regression_absolute_ms: f64,
    /// An error rate is a regression when up by more than this many percentage points.
    #[arg(long, default_value_t = 0.5, value_name = "POINTS")]
    pub regression_error_points: f64,
    /// Latencies are compared only with at least this many requests in both runs.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub regression_min_count: u64,
}

impl MarginArgs {
    /// The margins.
    pub fn margins(&self) -> Margins {
        Margins {
            relative: self.regression_relative,
            absolute_ms: self.regression_absolute_ms,
            error_rate_points: self.regression_error_points,
            min_count: self.regression_min_count,
        }
    }
}

/// Where the embedded services' spans go.
#[derive(Debug, Clone, Args)]
pub struct TracingArgs {
    /// OTLP gRPC endpoint for the embedded services' spans (such as http://127.0.0.1:4317).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Jaeger's OTLP endpoint, used when --otlp-endpoint is not set.
    #[arg(long, env = "JAEGER_ENDPOINT", value_name = "URL")]
    pub jaeger_endpoint: Option<String>,
    /// Share of new traces sampled, 0 to 1 [default: 1].
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", value_name = "SHARE")]
    pub trace_sample_ratio: Option<String>,
}

/// `loadgen run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The scenario file (scenarios/<name>.toml).
    pub scenario: PathBuf,
    /// Results directory; the run goes into <DIR>/<scenario>-<time>/ [default: the scenario's, else results].
    #[arg(long, env = "LOADGEN_RESULTS", value_name = "DIR")]
    pub results: Option<PathBuf>,
    /// Drive this gateway URL instead of the scenario's target.
    #[arg(long, env = "LOADGEN_TARGET_URL", value_name = "URL")]
    pub target_url: Option<String>,
    /// Judge against this Prometheus (overrides the scenario's [prometheus] url).
    #[arg(long, env = "PROMETHEUS_URL", value_name = "URL")]
    pub prometheus: Option<String>,
    /// Start a local Prometheus (needs the `prometheus` binary) scraping the target every second.
    #[arg(long, conflicts_with = "no_prometheus")]
    pub managed_prometheus: bool,
    /// Judge from the services' own /metrics, never from Prometheus.
    #[arg(long)]
    pub no_prometheus: bool,
    /// The binary of the managed Prometheus [default: prometheus, on PATH].
    #[arg(long, env = "PROMETHEUS_BIN", value_name = "PATH")]
    pub prometheus_bin: Option<PathBuf>,
    /// Jaeger UI base URL: the report links trace ids to it.
    #[arg(long, env = "JAEGER_UI_URL", value_name = "URL")]
    pub jaeger_url: Option<String>,
    /// A previous run directory to compare with.
    #[arg(long, value_name = "RUN_DIR")]
    pub baseline: Option<PathBuf>,
    /// Exit 1 when the comparison with --baseline finds a regression.
    #[arg(long, requires = "baseline")]
    pub fail_on_regression: bool,
    /// The comparison's noise margins.
    #[command(flatten)]
    pub margins: MarginArgs,
    /// No live progress (the final tables are still printed).
    #[arg(long, short)]
    pub quiet: bool,
    /// Span export of the embedded services.
    #[command(flatten)]
    pub tracing: TracingArgs,
    /// Distributed runs: which worker this is.
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// Skip the release check before the load (`loadgen preflight`).
    #[arg(long)]
    pub no_preflight: bool,
    /// NATS's monitoring endpoint, for the release check [default: port 8222 on the
    /// host of the embedded target's nats_url].
    #[arg(long, env = "NATS_MONITORING_URL", value_name = "URL")]
    pub nats_monitoring_url: Option<String>,
    /// Where the run's verdicts go as metrics.
    #[command(flatten)]
    pub push: PushArgs,
    /// Which engine runs the shipped flows: their flow files (data), or the Rust
    /// code they replace (native), to compare the two on one scenario.
    #[arg(long, env = "LOADGEN_FLOW_ENGINE", value_enum, default_value_t = FlowEngine::Data)]
    pub flow_engine: FlowEngine,
    /// Write every request and iteration, with its outcome and times, to
    /// requests.jsonl in the run directory (the raw truth an audit recounts the
    /// verdicts from; a line of I/O per request).
    #[arg(long)]
    pub request_log: bool,
}

/// Which engine runs the shipped flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum FlowEngine {
    /// Their flow files (`scenarios/flows/`), like every other flow.
    #[default]
    Data,
    /// The Rust journeys the flow files replace (flows of files or written in
    /// the scenario still run from their files).
    Native,
}

/// Pushing a run's `verdicts.prom` to a Prometheus Pushgateway.
#[derive(Debug, Clone, Default, Args)]
pub struct PushArgs {
    /// Push the verdicts (verdicts.prom) to this Pushgateway, grouped by job="loadgen"
    /// and the scenario; a failed push is a warning.
    #[arg(long, env = "LOADGEN_PUSHGATEWAY_URL", value_name = "URL")]
    pub pushgateway: Option<String>,
}

/// `loadgen slo ...`.
#[derive(Debug, Subcommand)]
pub enum SloCommand {
    /// Write an SLO set (loadgen TOML, OpenSLO v1 or Sloth prometheus/v1) in another format.
    #[command(
        after_help = "Exit codes: 0 written, 2 bad input (the message names the file, line, key and fix), or SLOs the format cannot hold without --skip-gauges."
    )]
    Convert(ConvertArgs),
}

/// `loadgen slo convert`.
#[derive(Debug, Clone, Args)]
pub struct ConvertArgs {
    /// The SLO set to convert, in any of the three formats [default: the Athlete Ally set built into loadgen].
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// The format to write: toml, openslo or sloth.
    #[arg(long, value_name = "FORMAT", value_parser = slo_format)]
    pub to: slo::definition::Format,
    /// Write here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Converting to Sloth, leave out the gauge SLOs (Sloth holds only event SLOs) instead of refusing.
    #[arg(long)]
    pub skip_gauges: bool,
}

/// Reads `--to`.
fn slo_format(text: &str) -> Result<slo::definition::Format, String> {
    slo::definition::Format::parse(text)
        .ok_or_else(|| format!("{text:?}: use {}", slo::definition::Format::choices()))
}

/// `loadgen completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `loadgen man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write loadgen.1 and one page per command into this directory instead of
    /// printing loadgen.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// One worker of a distributed run (`loadgen run --worker I/N`, or an Indexed Job).
#[derive(Debug, Clone, Default, Args)]
pub struct WorkerArgs {
    /// Run as worker I of N (0-based): this process takes its share of every flow's
    /// users and rates, and writes <results>/<run-id>/worker-<I>/.
    #[arg(long, env = "LOADGEN_WORKER", value_name = "I/N")]
    pub worker: Option<String>,
    /// The number of workers, with the index from JOB_COMPLETION_INDEX (a Kubernetes
    /// Indexed Job) when --worker is not given.
    #[arg(long, env = "LOADGEN_WORKERS", value_name = "N")]
    pub workers: Option<u32>,
    /// The worker index Kubernetes gives each pod of an Indexed Job.
    #[arg(long, env = "JOB_COMPLETION_INDEX", value_name = "I", hide = true)]
    pub job_completion_index: Option<u32>,
    /// The run id every worker shares [default: <scenario>-<UTC time>, which only
    /// one process can know: give it to every worker].
    #[arg(long, env = "LOADGEN_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,
    /// Start the load at this wall-clock time (unix seconds or milliseconds, or
    /// RFC 3339), so every worker's stages and slices line up; up to an hour ahead.
    #[arg(long, env = "LOADGEN_START_AT", value_name = "TIME")]
    pub start_at: Option<String>,
}

/// `loadgen merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Worker run directories, or one directory holding worker-<I>/ directories.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the merged run [default: <first directory's parent run>/merged].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// How many workers the run had [default: what the workers' summaries say].
    #[arg(long, env = "LOADGEN_WORKERS", value_name = "N")]
    pub workers: Option<u32>,
    /// Wait up to this long for every worker's summary (workers still running).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "0s")]
    pub wait: std::time::Duration,
    /// Judge the merged window against this Prometheus [default: the client's view only].
    #[arg(long, env = "PROMETHEUS_URL", value_name = "URL")]
    pub prometheus: Option<String>,
    /// An extra label matcher every query gets (repeat for more).
    #[arg(long = "matcher", value_name = "LABEL=VALUE")]
    pub matchers: Vec<String>,
    /// Jaeger UI base URL: the report links trace ids to it.
    #[arg(long, env = "JAEGER_UI_URL", value_name = "URL")]
    pub jaeger_url: Option<String>,
    /// No progress while waiting.
    #[arg(long, short)]
    pub quiet: bool,
    /// Where the merged run's verdicts go as metrics.
    #[command(flatten)]
    pub push: PushArgs,
}

/// `loadgen check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Scenario files (scenarios/*.toml) or SLO sets (slo/*.toml, OpenSLO or Sloth YAML).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `loadgen verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The SLO set [default: the Athlete Ally set built into loadgen].
    #[arg(long, value_name = "FILE")]
    pub slo: Option<PathBuf>,
    /// The Prometheus to query.
    #[arg(long, env = "PROMETHEUS_URL", value_name = "URL")]
    pub prometheus: String,
    /// Window start: unix seconds or milliseconds, or RFC 3339.
    #[arg(long, value_name = "TIME")]
    pub from: String,
    /// Window end.
    #[arg(long, value_name = "TIME")]
    pub to: String,
    /// Steady window start (also judged when given).
    #[arg(long, value_name = "TIME", requires = "steady_to")]
    pub steady_from: Option<String>,
    /// Steady window end [default: --to].
    #[arg(long, value_name = "TIME")]
    pub steady_to: Option<String>,
    /// Write verdicts.json and junit.xml into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// An extra label matcher every query gets beside the SLO set's jobs (repeat
    /// for more), so other traffic on a shared Prometheus stays out.
    #[arg(long = "matcher", value_name = "LABEL=VALUE")]
    pub matchers: Vec<String>,
    /// Nothing the SLOs count ran in the scrape interval before --from or after
    /// --to: read the window's counters at the scrapes beside it. By default the
    /// window's events are bounded between the scrapes inside it and those beside
    /// it, and only a verdict that holds for both bounds decides.
    #[arg(long)]
    pub edges_quiet: bool,
}

/// `loadgen report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The run directory (results/<run>).
    pub run_dir: PathBuf,
    /// A previous run directory to compare with.
    #[arg(long, value_name = "RUN_DIR")]
    pub baseline: Option<PathBuf>,
    /// Where to write the reports [default: the run directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit 1 when the comparison finds a regression.
    #[arg(long, requires = "baseline")]
    pub fail_on_regression: bool,
    /// The comparison's noise margins.
    #[command(flatten)]
    pub margins: MarginArgs,
    /// Where the run's verdicts go as metrics.
    #[command(flatten)]
    pub push: PushArgs,
}

/// `loadgen services`.
#[derive(Debug, Clone, Args)]
pub struct ServicesArgs {
    /// Span export of the services.
    #[command(flatten)]
    pub tracing: TracingArgs,
}

/// `loadgen rules`.
#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// The SLO set [default: the Athlete Ally set built into loadgen].
    pub slo: Option<PathBuf>,
    /// Write the rules here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 1 if FILE differs from what would be generated (CI keeps them in step).
    #[arg(long, value_name = "FILE", conflicts_with = "out")]
    pub check: Option<PathBuf>,
    /// Also write (or, with --check, check) promtool unit tests of the budget alerts:
    /// each burn-rate alert fires on a breaching series and is silent on a healthy
    /// one and on one failure in one request (`promtool test rules FILE`).
    #[arg(long, value_name = "FILE")]
    pub tests: Option<PathBuf>,
}
