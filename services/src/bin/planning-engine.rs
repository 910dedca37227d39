//! The planning-engine service on its own: ports and settings from the environment
//! (see the README). Stops gracefully on SIGTERM or Ctrl-C.

use std::process::ExitCode;

/// mimalloc, with the `mimalloc` feature only: the system allocator by default
/// (as fast here, smaller and flat over a soak; see services/Cargo.toml).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    services::run_binary(
        services::planning::SERVICE,
        services::config::process_env().planning(),
        |c| &c.common,
        services::planning::start,
    )
    .await
}
