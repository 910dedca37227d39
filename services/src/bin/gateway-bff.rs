//! The gateway-bff service on its own: ports and settings from the environment
//! (see the README). Stops gracefully on SIGTERM or Ctrl-C.

use std::process::ExitCode;

/// mimalloc: the services allocate per request; it is measurably faster than the
/// system allocator under load (see scripts/bench-gateway.sh).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    services::run_binary(
        services::gateway::SERVICE,
        services::config::process_env().gateway(),
        |c| &c.common,
        services::gateway::start,
    )
    .await
}
