//! The Athlete Ally reference services: the system under test of the load generator.
//!
//! Three services, each a library module and a binary, behaving like the real system
//! under load (real queue, real database, real metrics):
//! - [`gateway`]: gateway-bff, the public API (auth, CORS, rate limit; forwards
//!   onboarding steps; queues plan jobs).
//! - [`onboarding`]: profile-onboarding, the onboarding steps and profiles (SQLite).
//! - [`planning`]: planning-engine, asynchronous plan generation (LLM call, database
//!   writes) fed by NATS JetStream or an in-process [`queue`].
//!
//! What they share:
//! - [`config`]: settings and the environment variables that set them.
//! - [`server`]: binding, serving and graceful shutdown; one runtime per service when embedded;
//!   [`connections`]: a port's connections, with header-read and request timeouts and a cap.
//! - [`app`]: each service's API as one route table (routes, `/health`, metric
//!   initialisation wired once), and the layers every API
//!   shares; [`error`], [`auth`], [`cors`], [`rate_limit`], [`admin`]: those layers.
//!   The paths, onboarding steps and plan statuses come from the `api` crate, which
//!   the load generator's flows use too.
//! - [`metrics`], [`process`]: the documented Prometheus metrics and process metrics.
//! - [`faults`]: fault injection, so a scenario can make an SLO fail on purpose.
//! - [`db`], [`llm`], [`queue`]: the database, the (simulated) model, the job queue;
//!   [`job_store`]: the jobs a restart runs again, and their retention.
//! - [`telemetry`], [`otlp`]: trace context across HTTP and NATS, and the OTLP exporter.
//!
//! [`start_all`] runs the three in one process on given or ephemeral ports and hands
//! back their addresses; the load generator's embedded target and the tests use it.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod connections;
pub mod cors;
pub mod db;
pub mod error;
pub mod faults;
pub mod gateway;
pub mod job_store;
pub mod llm;
pub mod metrics;
pub mod onboarding;
pub mod otlp;
pub mod planning;
pub mod process;
pub mod queue;
pub mod rate_limit;
pub mod server;
pub mod telemetry;

pub use config::{GatewayConfig, Listen, OnboardingConfig, PlanningConfig};
pub use faults::Faults;
pub use server::{RuntimeMode, ServiceError, ServiceHandle};

/// Settings of all three services started together.
#[derive(Debug, Clone, Default)]
pub struct ServicesConfig {
    /// gateway-bff.
    pub gateway: GatewayConfig,
    /// profile-onboarding.
    pub onboarding: OnboardingConfig,
    /// planning-engine.
    pub planning: PlanningConfig,
}

impl ServicesConfig {
    /// All three on free loopback ports, wired to each other, in-process queue.
    pub fn ephemeral() -> Self {
        let mut c = ServicesConfig::default();
        c.gateway.listen = Listen::ephemeral();
        c.onboarding.listen = Listen::ephemeral();
        c.planning.listen = Listen::ephemeral();
        c
    }

    /// From the environment variables of `SEED.md` (ports, `NATS_URL`, ...).
    pub fn from_env() -> Result<Self, config::ConfigError> {
        let env = config::process_env();
        Ok(ServicesConfig {
            gateway: env.gateway()?,
            onboarding: env.onboarding()?,
            planning: env.planning()?,
        })
    }

    /// The same faults for every service (each takes its own table).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.gateway.common.faults = faults.clone();
        self.onboarding.common.faults = faults.clone();
        self.planning.common.faults = faults;
        self
    }

    /// The same JetStream server for the gateway and the engine.
    pub fn with_nats(mut self, url: Option<String>) -> Self {
        self.gateway.nats_url = url.clone();
        self.planning.nats_url = url;
        self
    }
}

/// The three services, running.
pub struct Services {
    /// gateway-bff.
    pub gateway: ServiceHandle,
    /// profile-onboarding.
    pub onboarding: ServiceHandle,
    /// planning-engine.
    pub planning: ServiceHandle,
}

impl Services {
    /// `(service name, metrics URL)` of each service, as Prometheus scrape targets.
    pub fn metrics_targets(&self) -> Vec<(&'static str, String)> {
        [&self.gateway, &self.onboarding, &self.planning]
            .iter()
            .map(|h| (h.name, h.metrics_url()))
            .collect()
    }

    /// CPU seconds the three services' own runtimes used (`None` when they run on
    /// the caller's runtime, where they cannot be told apart from it).
    pub fn cpu_seconds(&self) -> Option<f64> {
        [&self.gateway, &self.onboarding, &self.planning]
            .iter()
            .map(|h| h.cpu_seconds())
            .sum()
    }

    /// A reader of [`Services::cpu_seconds`] that outlives the borrow (0 when the
    /// services share the caller's runtime).
    pub fn cpu_reader(&self) -> impl Fn() -> f64 + Send + Sync + 'static {
        let scopes: Vec<process::CpuScope> = [&self.gateway, &self.onboarding, &self.planning]
            .iter()
            .map(|h| h.cpu_scope())
            .collect();
        move || scopes.iter().map(process::CpuScope::cpu_seconds).sum()
    }

    /// Stops the gateway first (no new work), then the engine (drains jobs in flight),
    /// then profile-onboarding.
    pub async fn shutdown(self) -> Result<(), ServiceError> {
        let gateway = self.gateway.shutdown().await;
        let planning = self.planning.shutdown().await;
        let onboarding = self.onboarding.shutdown().await;
        gateway.and(planning).and(onboarding)
    }
}

/// Starts profile-onboarding and planning-engine, then the gateway pointed at them.
///
/// With [`RuntimeMode::Isolated`], each service gets its own runtime (the gateway
/// twice the workers of the others), so its CPU metrics cover its own threads.
pub async fn start_all(
    mut config: ServicesConfig,
    mode: RuntimeMode,
) -> Result<Services, ServiceError> {
    let (edge, inner) = match mode {
        RuntimeMode::Current => (RuntimeMode::Current, RuntimeMode::Current),
        RuntimeMode::Isolated { workers } => (
            RuntimeMode::Isolated {
                workers: workers.max(1) * 2,
            },
            RuntimeMode::Isolated {
                workers: workers.max(1),
            },
        ),
    };
    let onboarding = onboarding::start(config.onboarding.clone(), inner).await?;
    let planning = planning::start(config.planning.clone(), inner).await?;
    config.gateway.profile_onboarding_url = onboarding.base_url();
    config.gateway.planning_engine_url = planning.base_url();
    let gateway = gateway::start(config.gateway.clone(), edge).await?;
    Ok(Services {
        gateway,
        onboarding,
        planning,
    })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The `main` of a service binary: its configuration from the environment (exit 2
/// when invalid), logging and span export, then serving until SIGTERM or Ctrl-C and
/// stopping gracefully (exit 1 when it cannot start or stops with an error).
pub async fn run_binary<C, F, Fut>(
    name: &'static str,
    config: Result<C, config::ConfigError>,
    common: fn(&C) -> &config::CommonConfig,
    start: F,
) -> std::process::ExitCode
where
    F: FnOnce(C, RuntimeMode) -> Fut,
    Fut: std::future::Future<Output = Result<ServiceHandle, ServiceError>>,
{
    use std::process::ExitCode;
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let c = common(&config);
    let tracing = otlp::init(name, c.otlp_endpoint.as_deref(), c.trace_sample_ratio);
    let handle = match start(config, RuntimeMode::Current).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "{name} listening on http://{} (metrics on http://{}/metrics)",
        handle.http_addr, handle.metrics_addr
    );
    shutdown_signal().await;
    eprintln!("{name}: shutting down (finishing requests in flight)");
    let stopped = handle.shutdown().await;
    tracing.shutdown().await;
    match stopped {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(1)
        }
    }
}
