//! `loadgen`: see `loadgen --help` and the README.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use loadgen::cli::{Cli, Command, TracingArgs};
use loadgen::exit::Exit;

/// mimalloc, when built with `--features mimalloc`: off by default, as the system
/// allocator measured as fast here and held less memory (see `Cargo.toml`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Raises the open-file limit to its hard maximum: every virtual user's connection
/// is a file descriptor.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The command line, with where each value came from; `Err` is the exit of a
/// usage error or of `--help` / `--version`.
fn parse() -> Result<(Cli, clap::ArgMatches), Exit> {
    let failed = |e: clap::Error| {
        let _ = e.print();
        if e.use_stderr() {
            Exit::Usage
        } else {
            Exit::Pass
        }
    };
    let matches = Cli::command().try_get_matches().map_err(failed)?;
    let cli = Cli::from_arg_matches(&matches).map_err(failed)?;
    Ok((cli, matches))
}

fn main() -> ExitCode {
    let (cli, matches) = match parse() {
        Ok(p) => p,
        Err(exit) => return exit.into(),
    };
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Usage.into();
        }
    };
    let filter = loadgen::settings::log_filter(cli.log.as_deref());
    let spans = match &cli.command {
        Command::Run(a) | Command::Preflight(a) => Some(a.tracing.clone()),
        Command::Services(a) => Some(a.tracing.clone()),
        _ => None,
    };
    let exit = runtime.block_on(async {
        let tracing = init_tracing(&filter, spans.as_ref());
        let exit = loadgen::commands::execute(cli.command, Some(&matches)).await;
        tracing.shutdown().await;
        exit
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    exit.into()
}

/// Logs to stderr and, for the commands that run the embedded services when an
/// OTLP endpoint is set, their spans, each under its own service name.
#[cfg(feature = "embedded")]
fn init_tracing(filter: &str, spans: Option<&TracingArgs>) -> services::otlp::Tracing {
    let filter = tracing_subscriber::EnvFilter::new(filter);
    let (endpoint, ratio) = spans
        .map(loadgen::settings::span_export)
        .unwrap_or((None, loadgen::settings::DEFAULT_TRACE_SAMPLE_RATIO));
    services::otlp::init_embedded(filter, endpoint.as_deref(), ratio)
}

#[cfg(not(feature = "embedded"))]
fn init_tracing(filter: &str, _spans: Option<&TracingArgs>) -> NoTracing {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
    NoTracing
}

/// Without the embedded services there are no spans to export.
#[cfg(not(feature = "embedded"))]
struct NoTracing;

#[cfg(not(feature = "embedded"))]
impl NoTracing {
    async fn shutdown(self) {}
}
