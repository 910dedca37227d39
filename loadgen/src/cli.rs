//! The command line: every command and flag, documented in one place.
//!
//! Configuration precedence: command-line flag, then environment variable, then
//! scenario file, then default.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use reports::baseline::Margins;
use slo::verdict::exit_code;

const EXIT_CODES: &str = "Exit codes:
  0  every SLO passed
  1  an SLO failed (or, with --fail-on-regression, a regression against the baseline)
  2  bad input or usage: nothing was run
  3  inconclusive: nothing failed, but an SLO could not be judged (no data, target or
     Prometheus unreachable)";

/// Athlete Ally load generator and SLO verifier.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about, after_help = EXIT_CODES, arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive a scenario's load, judge it against its SLO set and write the run directory.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Check scenario and SLO files without running anything.
    #[command(
        after_help = "Exit codes: 0 every file is valid, 2 a file is not (the message names the file, line, key and fix)."
    )]
    Check {
        /// Scenario files (scenarios/*.toml) or SLO sets (slo/*.toml).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Judge a time window on a Prometheus without driving load.
    #[command(after_help = EXIT_CODES)]
    Verify(VerifyArgs),
    /// Render a run directory's reports again, optionally against a baseline.
    #[command(after_help = EXIT_CODES)]
    Report(ReportArgs),
    /// Run the three reference services in this process until Ctrl-C (ports from the
    /// environment: GATEWAY_BFF_PORT, ...; see the README).
    Services,
    /// Generate the Prometheus recording and alerting rules of an SLO set.
    Rules(RulesArgs),
}

#[derive(Debug, Args)]
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
    pub fn margins(&self) -> Margins {
        Margins {
            relative: self.regression_relative,
            absolute_ms: self.regression_absolute_ms,
            error_rate_points: self.regression_error_points,
            min_count: self.regression_min_count,
        }
    }
}

#[derive(Debug, Args)]
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
    #[arg(long, env = "PROMETHEUS_URL", value_name = "URL", conflicts_with_all = ["managed_prometheus", "no_prometheus"])]
    pub prometheus: Option<String>,
    /// Start a local Prometheus (needs the `prometheus` binary) scraping the target every second.
    #[arg(long, conflicts_with = "no_prometheus")]
    pub managed_prometheus: bool,
    /// Judge from the services' own /metrics, never from Prometheus.
    #[arg(long)]
    pub no_prometheus: bool,
    /// Jaeger UI base URL: the report links trace ids to it.
    #[arg(long, env = "JAEGER_UI_URL", value_name = "URL")]
    pub jaeger_url: Option<String>,
    /// A previous run directory to compare with.
    #[arg(long, value_name = "RUN_DIR")]
    pub baseline: Option<PathBuf>,
    /// Exit 1 when the comparison with --baseline finds a regression.
    #[arg(long, requires = "baseline")]
    pub fail_on_regression: bool,
    #[command(flatten)]
    pub margins: MarginArgs,
    /// No live progress (the final tables are still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The SLO set.
    #[arg(long, default_value = "slo/athlete-ally.toml", value_name = "FILE")]
    pub slo: PathBuf,
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
}

#[derive(Debug, Args)]
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
    #[command(flatten)]
    pub margins: MarginArgs,
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// The SLO set.
    #[arg(default_value = "slo/athlete-ally.toml")]
    pub slo: PathBuf,
    /// Write the rules here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 1 if FILE differs from what would be generated (CI keeps them in step).
    #[arg(long, value_name = "FILE", conflicts_with = "out")]
    pub check: Option<PathBuf>,
}

/// Whether a TOML file is an SLO set (it has `[[slo]]` tables).
fn is_slo_file(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key("slo") && !t.contains_key("load"))
}

/// `loadgen check`: 0 when every file is valid, else 2.
pub fn check(files: &[PathBuf]) -> u8 {
    let mut code = exit_code::PASS;
    for file in files {
        if is_slo_file(file) {
            match crate::verify::load_slo(file) {
                Ok(l) => println!(
                    "{}: ok (SLO set {}, {} SLOs)",
                    file.display(),
                    l.set.name,
                    l.set.slos.len()
                ),
                Err(e) => {
                    eprintln!("{e}");
                    code = exit_code::USAGE;
                }
            }
            continue;
        }
        match crate::scenario::load(file) {
            Ok(s) => match crate::verify::load_slo(&s.slo_file)
                .and_then(|mut l| s.select_slos(&mut l.set).map(|_| l))
            {
                Ok(l) => println!(
                    "{}: ok ({} flows, {} stages, {}s, judged by {} SLOs of {})",
                    file.display(),
                    s.flows.len(),
                    s.stages.len(),
                    s.duration().as_secs(),
                    l.set.slos.len(),
                    s.slo_file.display()
                ),
                Err(e) => {
                    eprintln!("{e}\n  (the SLO set of {})", file.display());
                    code = exit_code::USAGE;
                }
            },
            Err(e) => {
                eprintln!("{e}");
                code = exit_code::USAGE;
            }
        }
    }
    code
}

/// Runs a parsed command; returns the exit code.
pub async fn execute(cli: Cli) -> u8 {
    match cli.command {
        Command::Check { files } => check(&files),
        Command::Run(args) => run(args).await,
        Command::Verify(args) => {
            let times = (|| -> Result<_, String> {
                let from = crate::verify::parse_time(&args.from)?;
                let to = crate::verify::parse_time(&args.to)?;
                if from >= to {
                    return Err(format!(
                        "--from {} is not before --to {}",
                        args.from, args.to
                    ));
                }
                let steady = match &args.steady_from {
                    Some(a) => Some((
                        crate::verify::parse_time(a)?,
                        crate::verify::parse_time(args.steady_to.as_deref().unwrap_or(&args.to))?,
                    )),
                    None => None,
                };
                Ok((from, to, steady))
            })();
            let (from, to, steady) = match times {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit_code::USAGE;
                }
            };
            let request = crate::verify::VerifyRequest {
                slo: args.slo,
                prometheus: args.prometheus,
                from,
                to,
                steady,
                out: args.out,
            };
            match crate::verify::verify(request).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    exit_code::INCONCLUSIVE
                }
            }
        }
        Command::Report(args) => {
            match crate::report::report_command(
                &args.run_dir,
                args.baseline.as_deref(),
                args.out.as_deref(),
                args.margins.margins(),
                args.fail_on_regression,
            ) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    exit_code::USAGE
                }
            }
        }
        Command::Services => services().await,
        Command::Rules(args) => crate::rules::command(&args),
    }
}

async fn run(args: RunArgs) -> u8 {
    let scenario = match crate::scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::USAGE;
        }
    };
    let slo = match crate::verify::load_slo(&scenario.slo_file)
        .and_then(|mut l| scenario.select_slos(&mut l.set).map(|_| l))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}\n  (the SLO set of {})", args.scenario.display());
            return exit_code::USAGE;
        }
    };
    if let Some(b) = &args.baseline
        && let Err(e) = crate::report::load_baseline(b)
    {
        eprintln!("error: {e:#}");
        return exit_code::USAGE;
    }
    for (flag, url) in [
        ("--target-url", &args.target_url),
        ("--prometheus", &args.prometheus),
        ("--jaeger-url", &args.jaeger_url),
    ] {
        if let Some(u) = url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            eprintln!("error: {flag} {u:?} is not an http(s) URL");
            return exit_code::USAGE;
        }
    }
    let options = crate::run::RunOptions {
        results: args.results,
        target_url: args.target_url,
        prometheus: args.prometheus,
        managed_prometheus: args.managed_prometheus,
        no_prometheus: args.no_prometheus,
        jaeger_url: args.jaeger_url,
        quiet: args.quiet,
        baseline: args.baseline,
        margins: args.margins.margins(),
        fail_on_regression: args.fail_on_regression,
    };
    match crate::run::run(scenario, slo, options).await {
        Ok(outcome) => outcome.exit_code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code::INCONCLUSIVE
        }
    }
}

#[cfg(feature = "embedded")]
async fn services() -> u8 {
    let config = match services::ServicesConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code::USAGE;
        }
    };
    let running =
        match services::start_all(config, services::RuntimeMode::Isolated { workers: 1 }).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return exit_code::FAIL;
            }
        };
    for h in [&running.gateway, &running.onboarding, &running.planning] {
        eprintln!(
            "{:<20} http://{}  metrics http://{}/metrics",
            h.name, h.http_addr, h.metrics_addr
        );
    }
    eprintln!("running; Ctrl-C stops them gracefully");
    services::shutdown_signal().await;
    match running.shutdown().await {
        Ok(()) => exit_code::PASS,
        Err(e) => {
            eprintln!("error: {e}");
            exit_code::FAIL
        }
    }
}

#[cfg(not(feature = "embedded"))]
async fn services() -> u8 {
    eprintln!(
        "error: this loadgen was built without the reference services (cargo feature `embedded`)"
    );
    exit_code::USAGE
}
