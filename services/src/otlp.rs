//! Logging and span export for the service binaries.
//!
//! Logs go to standard error (`RUST_LOG`, default `info`).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the process-wide subscriber: log events to stderr.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_event()
        }));
    let _ = tracing_subscriber::registry().with(fmt).try_init();
}
