//! `loadgen services`: the three reference services in this process until Ctrl-C,
//! configured from the environment (ports and the rest: see `--help`).

use crate::exit::Exit;

/// `loadgen services`.
#[cfg(feature = "embedded")]
pub async fn command() -> Exit {
    let config = match services::ServicesConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    let running =
        match services::start_all(config, services::RuntimeMode::Isolated { workers: 1 }).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Fail;
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
        Ok(()) => Exit::Pass,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Fail
        }
    }
}

/// `loadgen services`, without the reference services built in.
#[cfg(not(feature = "embedded"))]
pub async fn command() -> Exit {
    eprintln!(
        "error: this loadgen was built without the reference services (cargo feature `embedded`)"
    );
    Exit::Usage
}
