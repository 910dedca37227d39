//! `loadgen`: see `loadgen --help` and the README.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: a load generator allocates per request; it is measurably faster here.
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

fn main() -> ExitCode {
    let cli = match loadgen::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                slo::verdict::exit_code::USAGE
            } else {
                0
            });
        }
    };
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(slo::verdict::exit_code::USAGE);
        }
    };
    let code = runtime.block_on(async {
        let tracing = init_tracing();
        let code = loadgen::cli::execute(cli).await;
        tracing.shutdown().await;
        code
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::from(code)
}

/// Logs (`LOADGEN_LOG`, default `warn`) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `JAEGER_ENDPOINT`) is set, the embedded services' spans, each under its own
/// service name (`OTEL_TRACES_SAMPLER_ARG`: share of new traces sampled, default 1).
#[cfg(feature = "embedded")]
fn init_tracing() -> services::otlp::Tracing {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOADGEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let endpoint = ["OTEL_EXPORTER_OTLP_ENDPOINT", "JAEGER_ENDPOINT"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
    let ratio = std::env::var("OTEL_TRACES_SAMPLER_ARG")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|r| (0.0..=1.0).contains(r))
        .unwrap_or(1.0);
    services::otlp::init_embedded(filter, endpoint.as_deref(), ratio)
}

#[cfg(not(feature = "embedded"))]
fn init_tracing() -> NoTracing {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOADGEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
