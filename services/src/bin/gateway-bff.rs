//! The gateway-bff service on its own: ports and settings from the environment
//! (see the README). Stops gracefully on SIGTERM or Ctrl-C.

use std::process::ExitCode;

/// mimalloc: the services allocate per request; it is measurably faster than the
/// system allocator under load (see scripts/bench-gateway.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match services::config::process_env().gateway() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gateway-bff: {e}");
            return ExitCode::from(2);
        }
    };
    let tracing = services::otlp::init(
        services::gateway::SERVICE,
        config.common.otlp_endpoint.as_deref(),
        config.common.trace_sample_ratio,
    );
    let handle = match services::gateway::start(config, services::RuntimeMode::Current).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("gateway-bff: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "gateway-bff listening on http://{} (metrics on http://{}/metrics)",
        handle.http_addr, handle.metrics_addr
    );
    services::shutdown_signal().await;
    eprintln!("gateway-bff: shutting down (finishing requests in flight)");
    let stopped = handle.shutdown().await;
    tracing.shutdown().await;
    match stopped {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway-bff: {e}");
            ExitCode::from(1)
        }
    }
}
