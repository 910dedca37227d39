//! Configuration of the three services, read from the environment variables the
//! Athlete Ally runbook names (see `SEED.md`), with a documented default for each.
//!
//! Every setting has a field here and an environment variable; the library API takes
//! these structs directly, so the load engine and the tests never touch the process
//! environment.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::connections::ConnectionLimits;
use crate::faults::Faults;
use crate::rate_limit::{Quota, RateLimits};

/// Default gateway-bff HTTP port (`GATEWAY_BFF_PORT`).
pub const GATEWAY_BFF_PORT: u16 = 4000;
/// Default gateway-bff metrics port (`GATEWAY_BFF_METRICS_PORT`).
pub const GATEWAY_BFF_METRICS_PORT: u16 = 9464;
/// Default profile-onboarding HTTP port (`PROFILE_ONBOARDING_PORT`).
pub const PROFILE_ONBOARDING_PORT: u16 = 4101;
/// Default profile-onboarding metrics port (`PROFILE_ONBOARDING_METRICS_PORT`).
pub const PROFILE_ONBOARDING_METRICS_PORT: u16 = 9465;
/// Default planning-engine HTTP port (`PLANNING_ENGINE_PORT`).
pub const PLANNING_ENGINE_PORT: u16 = 4102;
/// Default planning-engine metrics port (`PLANNING_ENGINE_METRICS_PORT`).
pub const PLANNING_ENGINE_METRICS_PORT: u16 = 9466;

/// Secret used to sign athlete tokens and job ids when `AUTH_SECRET` is unset.
/// Fine for a laptop or CI; set `AUTH_SECRET` anywhere else.
pub const DEV_AUTH_SECRET: &str = "athlete-ally-dev-secret";
/// Admin token for `/admin/faults` when `ADMIN_TOKEN` is unset.
pub const DEV_ADMIN_TOKEN: &str = "athlete-ally-admin";

/// The shortest `AUTH_SECRET` accepted: HS256 keys shorter than the hash (32 bytes)
/// are guessable offline from one token.
pub const MIN_AUTH_SECRET_LEN: usize = 32;
/// The shortest `ADMIN_TOKEN` accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;
/// The opt-in (`ALLOW_INSECURE_DEFAULTS=true`) that lets a throwaway test
/// deployment listen off loopback with the development secrets.
pub const ALLOW_INSECURE_DEFAULTS: &str = "ALLOW_INSECURE_DEFAULTS";

/// What was wrong with a configuration value: the variable, the value and the fix.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct ConfigError {
    /// The variable.
    pub name: String,
    /// Its value.
    pub value: String,
    /// What is wrong, and what is expected.
    pub reason: String,
}

/// Where a service listens. Port 0 asks the operating system for a free port; the
/// bound address is then reported by the running service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// The HTTP API.
    pub http: SocketAddr,
    /// `/metrics` (and `/health`) for Prometheus.
    pub metrics: SocketAddr,
    /// The bounds of both ports' connections.
    pub limits: ConnectionLimits,
}

impl Listen {
    /// Both ports on 127.0.0.1.
    pub fn loopback(http_port: u16, metrics_port: u16) -> Self {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Listen {
            http: SocketAddr::new(ip, http_port),
            metrics: SocketAddr::new(ip, metrics_port),
            limits: ConnectionLimits::default(),
        }
    }

    /// Free ports on 127.0.0.1, chosen when binding.
    pub fn ephemeral() -> Self {
        Self::loopback(0, 0)
    }
}

/// Shared by every service: identity of the signing secrets, tracing and faults.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// Signs athlete tokens (HS256) and job ids (`AUTH_SECRET`).
    pub auth_secret: String,
    /// Bearer token for `/admin/faults` (`ADMIN_TOKEN`).
    pub admin_token: String,
    /// Faults active from the start; changed later through `/admin/faults`.
    pub faults: Faults,
    /// OTLP gRPC endpoint for spans (`OTEL_EXPORTER_OTLP_ENDPOINT`, else `JAEGER_ENDPOINT`).
    pub otlp_endpoint: Option<String>,
    /// Fraction of new traces to sample, 0..=1 (`OTEL_TRACES_SAMPLER_ARG`, default 1.0).
    /// A request that arrives with a sampled `traceparent` is always recorded.
    pub trace_sample_ratio: f64,
}

impl Default for CommonConfig {
    fn default() -> Self {
        CommonConfig {
            auth_secret: DEV_AUTH_SECRET.to_string(),
            admin_token: DEV_ADMIN_TOKEN.to_string(),
            faults: Faults::default(),
            otlp_endpoint: None,
            trace_sample_ratio: 1.0,
        }
    }
}

/// gateway-bff: public API, auth, CORS, rate limit.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Its ports.
    pub listen: Listen,
    /// What every service shares.
    pub common: CommonConfig,
    /// Base URL of profile-onboarding (`PROFILE_ONBOARDING_URL`).
    pub profile_onboarding_url: String,
    /// Base URL of planning-engine (`PLANNING_ENGINE_URL`).
    pub planning_engine_url: String,
    /// JetStream for plan jobs (`NATS_URL`); without it jobs go to the planning
    /// engine's in-process queue over HTTP.
    pub nats_url: Option<String>,
    /// Origins allowed by CORS (`CORS_ALLOWED_ORIGINS`, comma separated; `*` allows any).
    pub cors_allowed_origins: Vec<String>,
    /// The limits per athlete, per client IP and on tokens per client IP
    /// (`RATE_LIMIT_*`, `TOKEN_RATE_LIMIT_*`; see [`RateLimits`]).
    pub rate_limits: RateLimits,
    /// Whether `POST /api/v1/auth/token` issues tokens for test athletes
    /// (`AUTH_TEST_TOKENS`, default true). Turn off in front of a real identity provider.
    pub test_tokens: bool,
    /// Lifetime of an issued token (`AUTH_TOKEN_TTL_SECONDS`, default 3600).
    pub token_ttl: Duration,
    /// Timeout of calls to the other services (`UPSTREAM_TIMEOUT_MS`, default 10000).
    pub upstream_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: Listen::loopback(GATEWAY_BFF_PORT, GATEWAY_BFF_METRICS_PORT),
            common: CommonConfig::default(),
            profile_onboarding_url: format!("http://127.0.0.1:{PROFILE_ONBOARDING_PORT}"),
            planning_engine_url: format!("http://127.0.0.1:{PLANNING_ENGINE_PORT}"),
            nats_url: None,
            cors_allowed_origins: vec![
                "http://localhost:3000".to_string(),
                "http://127.0.0.1:3000".to_string(),
            ],
            rate_limits: RateLimits::default(),
            test_tokens: true,
            token_ttl: Duration::from_secs(3600),
            upstream_timeout: Duration::from_secs(10),
        }
    }
}

/// profile-onboarding: onboarding steps and athlete profiles.
#[derive(Debug, Clone)]
pub struct OnboardingConfig {
    /// Its ports.
    pub listen: Listen,
    /// What every service shares.
    pub common: CommonConfig,
    /// `sqlite::memory:` (default) or a file path, `sqlite://path` (`DATABASE_URL`).
    pub database_url: String,
    /// How long a profile is kept after its last step (`PROFILE_RETENTION_SECONDS`):
    /// by default [`PROFILE_RETENTION`] in an in-memory database, which would
    /// otherwise grow with every athlete for as long as it runs, and forever in a
    /// file database; `None` keeps profiles.
    pub profile_retention: Option<Duration>,
}

/// Default time an in-memory database keeps a profile after its last step.
pub const PROFILE_RETENTION: Duration = Duration::from_secs(600);

impl OnboardingConfig {
    /// Whether the database lives in memory only.
    pub fn in_memory(&self) -> bool {
        self.database_url.contains(":memory:")
    }
}

impl Default for OnboardingConfig {
    fn default() -> Self {
        OnboardingConfig {
            listen: Listen::loopback(PROFILE_ONBOARDING_PORT, PROFILE_ONBOARDING_METRICS_PORT),
            common: CommonConfig::default(),
            database_url: "sqlite::memory:".to_string(),
            profile_retention: Some(PROFILE_RETENTION),
        }
    }
}

/// The simulated (or real) language model the planning engine calls.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Model name reported in metrics and spans (`LLM_MODEL`, default `gpt-4`).
    pub model: String,
    /// Median latency of the simulated model (`LLM_LATENCY_P50_MS`, default 800).
    pub latency_p50: Duration,
    /// 95th percentile latency of the simulated model (`LLM_LATENCY_P95_MS`, default 2500).
    /// Latency is log-normal through these two points.
    pub latency_p95: Duration,
    /// Share of calls that fail with a transient error (`LLM_FAILURE_RATE`, default 0.005).
    pub failure_rate: f64,
    /// Mean completion tokens per call (`LLM_COMPLETION_TOKENS`, default 600).
    pub completion_tokens: u32,
    /// An OpenAI-compatible endpoint to call instead of the simulation (`LLM_BASE_URL`).
    pub base_url: Option<String>,
    /// Bearer key for `LLM_BASE_URL` (`LLM_API_KEY`).
    pub api_key: Option<String>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            model: "gpt-4".to_string(),
            latency_p50: Duration::from_millis(800),
            latency_p95: Duration::from_millis(2500),
            failure_rate: 0.005,
            completion_tokens: 600,
            base_url: None,
            api_key: None,
        }
    }
}

/// planning-engine: asynchronous plan generation.
#[derive(Debug, Clone)]
pub struct PlanningConfig {
    /// Its ports.
    pub listen: Listen,
    /// What every service shares.
    pub common: CommonConfig,
    /// `sqlite::memory:` (default) or a file path (`DATABASE_URL`).
    pub database_url: String,
    /// JetStream for plan jobs (`NATS_URL`); without it, an in-process queue.
    pub nats_url: Option<String>,
    /// Plans generated at once (`PLAN_CONCURRENCY`, default 16).
    pub concurrency: usize,
    /// Deliveries of a job before it is dead-lettered (`PLAN_MAX_DELIVERIES`, default 3).
    pub max_deliveries: u32,
    /// Jobs the in-process queue holds waiting before it answers 503
    /// (`PLAN_QUEUE_CAPACITY`, default 10000).
    pub queue_capacity: usize,
    /// First redelivery delay after a transient failure, doubled each time
    /// (`PLAN_NAK_BACKOFF_MS`, default 500).
    pub nak_backoff: Duration,
    /// How long a finished job and its plan are kept (`PLAN_RETENTION_SECONDS`,
    /// default 600; 0 keeps them forever).
    pub retention: Option<Duration>,
    /// The language model it calls.
    pub llm: LlmConfig,
}

impl Default for PlanningConfig {
    fn default() -> Self {
        PlanningConfig {
            listen: Listen::loopback(PLANNING_ENGINE_PORT, PLANNING_ENGINE_METRICS_PORT),
            common: CommonConfig::default(),
            database_url: "sqlite::memory:".to_string(),
            nats_url: None,
            concurrency: 16,
            max_deliveries: 3,
            queue_capacity: 10_000,
            nak_backoff: Duration::from_millis(500),
            retention: Some(crate::job_store::RETENTION),
            llm: LlmConfig::default(),
        }
    }
}

/// An environment variable the services read, with what it sets.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// What it sets, and its default.
    pub meaning: &'static str,
}

/// Every environment variable the services read (a test keeps it complete): the
/// list `loadgen services --help` and the README show.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "BIND_ADDRESS",
        meaning: "address every port binds (127.0.0.1)",
    },
    Variable {
        name: "HEADER_READ_TIMEOUT_MS",
        meaning: "longest wait for a request's headers before the connection is dropped (10000)",
    },
    Variable {
        name: "REQUEST_TIMEOUT_MS",
        meaning: "longest time to answer a request before a 503 (300000)",
    },
    Variable {
        name: "MAX_CONNECTIONS",
        meaning: "open connections per port; more wait in the accept backlog (10000)",
    },
    Variable {
        name: "GATEWAY_BFF_PORT",
        meaning: "gateway-bff HTTP port (4000)",
    },
    Variable {
        name: "GATEWAY_BFF_METRICS_PORT",
        meaning: "gateway-bff metrics port (9464)",
    },
    Variable {
        name: "PROFILE_ONBOARDING_PORT",
        meaning: "profile-onboarding HTTP port (4101)",
    },
    Variable {
        name: "PROFILE_ONBOARDING_METRICS_PORT",
        meaning: "profile-onboarding metrics port (9465)",
    },
    Variable {
        name: "PLANNING_ENGINE_PORT",
        meaning: "planning-engine HTTP port (4102)",
    },
    Variable {
        name: "PLANNING_ENGINE_METRICS_PORT",
        meaning: "planning-engine metrics port (9466)",
    },
    Variable {
        name: "PROFILE_ONBOARDING_URL",
        meaning: "where the gateway finds profile-onboarding",
    },
    Variable {
        name: "PLANNING_ENGINE_URL",
        meaning: "where the gateway finds planning-engine",
    },
    Variable {
        name: "NATS_URL",
        meaning: "JetStream for plan jobs (unset: the in-process queue)",
    },
    Variable {
        name: "CORS_ALLOWED_ORIGINS",
        meaning: "comma-separated CORS allowlist; * allows any",
    },
    Variable {
        name: "RATE_LIMIT_PER_SECOND",
        meaning: "per-athlete requests per second at the gateway (20; 0 turns every limit off)",
    },
    Variable {
        name: "RATE_LIMIT_BURST",
        meaning: "requests above the rate an athlete may send at once (40)",
    },
    Variable {
        name: "RATE_LIMIT_PER_IP_PER_SECOND",
        meaning: "per-client-IP requests per second, whatever the token (1000; 0: off)",
    },
    Variable {
        name: "RATE_LIMIT_PER_IP_BURST",
        meaning: "requests above the rate one IP may send at once (2000)",
    },
    Variable {
        name: "TOKEN_RATE_LIMIT_PER_SECOND",
        meaning: "tokens issued per client IP per second (50; 0: off)",
    },
    Variable {
        name: "TOKEN_RATE_LIMIT_BURST",
        meaning: "tokens one IP may have at once above the rate (200)",
    },
    Variable {
        name: "RATE_LIMIT_MAX_CLIENTS",
        meaning: "clients each limiter remembers; past it new ones share one bucket (100000)",
    },
    Variable {
        name: "AUTH_SECRET",
        meaning: "signs athlete tokens and job ids (a development secret on loopback; at least 32 characters)",
    },
    Variable {
        name: "AUTH_TEST_TOKENS",
        meaning: "POST /api/v1/auth/token issues test tokens (true on loopback, false off it)",
    },
    Variable {
        name: "AUTH_TOKEN_TTL_SECONDS",
        meaning: "token lifetime (3600)",
    },
    Variable {
        name: "ADMIN_TOKEN",
        meaning: "bearer token of /admin/faults (athlete-ally-admin on loopback; at least 16 characters)",
    },
    Variable {
        name: "ALLOW_INSECURE_DEFAULTS",
        meaning: "true lets a throwaway test deployment bind off loopback with the development secrets (false)",
    },
    Variable {
        name: "UPSTREAM_TIMEOUT_MS",
        meaning: "gateway's timeout on the other services (10000)",
    },
    Variable {
        name: "DATABASE_URL",
        meaning: "SQLite database (sqlite::memory:)",
    },
    Variable {
        name: "PROFILE_RETENTION_SECONDS",
        meaning: "seconds profile-onboarding keeps a profile after its last step (600 with sqlite::memory:, 0 = forever with a file database)",
    },
    Variable {
        name: "PLAN_CONCURRENCY",
        meaning: "plans generated at once (16)",
    },
    Variable {
        name: "PLAN_MAX_DELIVERIES",
        meaning: "deliveries before a job is dead-lettered (3)",
    },
    Variable {
        name: "PLAN_QUEUE_CAPACITY",
        meaning: "jobs the in-process queue holds waiting before it answers 503 with Retry-After (10000)",
    },
    Variable {
        name: "PLAN_RETENTION_SECONDS",
        meaning: "seconds a finished job and its plan are kept (600; 0: forever)",
    },
    Variable {
        name: "PLAN_NAK_BACKOFF_MS",
        meaning: "first redelivery delay, doubled per failure (500)",
    },
    Variable {
        name: "LLM_MODEL",
        meaning: "model name in metrics and spans (gpt-4)",
    },
    Variable {
        name: "LLM_LATENCY_P50_MS",
        meaning: "simulated model latency, median (800)",
    },
    Variable {
        name: "LLM_LATENCY_P95_MS",
        meaning: "simulated model latency, 95th percentile (2500)",
    },
    Variable {
        name: "LLM_FAILURE_RATE",
        meaning: "share of simulated calls failing (0.005)",
    },
    Variable {
        name: "LLM_COMPLETION_TOKENS",
        meaning: "mean completion tokens (600)",
    },
    Variable {
        name: "LLM_BASE_URL",
        meaning: "a real OpenAI-compatible endpoint instead of the simulation",
    },
    Variable {
        name: "LLM_API_KEY",
        meaning: "bearer key of LLM_BASE_URL",
    },
    Variable {
        name: "FAULTS_FILE",
        meaning: "TOML file of faults active from the start",
    },
    Variable {
        name: "OTEL_EXPORTER_OTLP_ENDPOINT",
        meaning: "OTLP gRPC endpoint for spans",
    },
    Variable {
        name: "JAEGER_ENDPOINT",
        meaning: "OTLP endpoint used when OTEL_EXPORTER_OTLP_ENDPOINT is unset",
    },
    Variable {
        name: "OTEL_TRACES_SAMPLER_ARG",
        meaning: "share of new traces sampled (1.0)",
    },
    Variable {
        name: "RUST_LOG",
        meaning: "log filter of the service binaries (info)",
    },
];

/// Reads configuration from a source of variables: the process environment in the
/// binaries, a map in tests.
pub struct Env<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

/// The process environment.
pub fn process_env() -> Env<impl Fn(&str) -> Option<String>> {
    Env {
        lookup: |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()),
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Variables from `lookup` (a map in tests).
    pub fn new(lookup: F) -> Self {
        Env { lookup }
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn parse<T: std::str::FromStr>(
        &self,
        name: &str,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value.trim().parse().map_err(|_| ConfigError {
                name: name.to_string(),
                reason: format!("expected {what}"),
                value,
            }),
        }
    }

    fn millis(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        let ms = self.parse(
            name,
            default.as_millis() as u64,
            "a whole number of milliseconds",
        )?;
        Ok(Duration::from_millis(ms))
    }

    fn fraction(&self, name: &str, default: f64) -> Result<f64, ConfigError> {
        let v: f64 = self.parse(name, default, "a number between 0 and 1")?;
        if !(0.0..=1.0).contains(&v) {
            return Err(ConfigError {
                name: name.to_string(),
                value: v.to_string(),
                reason: "expected a number between 0 and 1".to_string(),
            });
        }
        Ok(v)
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError {
                name: name.to_string(),
                value: v,
                reason: "expected true or false".to_string(),
            }),
        }
    }

    fn listen(
        &self,
        port_var: &str,
        metrics_var: &str,
        port: u16,
        metrics_port: u16,
    ) -> Result<Listen, ConfigError> {
        let ip: IpAddr = self.parse(
            "BIND_ADDRESS",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "an IP address such as 127.0.0.1",
        )?;
        let d = ConnectionLimits::default();
        let max_connections: usize = self.parse(
            "MAX_CONNECTIONS",
            d.max_connections,
            "a whole number of connections",
        )?;
        Ok(Listen {
            http: SocketAddr::new(ip, self.parse(port_var, port, "a port number")?),
            metrics: SocketAddr::new(ip, self.parse(metrics_var, metrics_port, "a port number")?),
            limits: ConnectionLimits {
                header_read_timeout: self
                    .millis("HEADER_READ_TIMEOUT_MS", d.header_read_timeout)?,
                request_timeout: self.millis("REQUEST_TIMEOUT_MS", d.request_timeout)?,
                max_connections: max_connections.max(1),
            },
        })
    }

    /// Refuses the development secrets off loopback, where anyone reaching a port
    /// could forge tokens or set faults, and short secrets anywhere; unless
    /// `ALLOW_INSECURE_DEFAULTS=true` says this is a throwaway test deployment.
    fn exposure(&self, listen: &Listen, common: &CommonConfig) -> Result<(), ConfigError> {
        if self.bool(ALLOW_INSECURE_DEFAULTS, false)? {
            return Ok(());
        }
        let exposed = !listen.http.ip().is_loopback() || !listen.metrics.ip().is_loopback();
        let secrets = [
            (
                "AUTH_SECRET",
                &common.auth_secret,
                DEV_AUTH_SECRET,
                MIN_AUTH_SECRET_LEN,
            ),
            (
                "ADMIN_TOKEN",
                &common.admin_token,
                DEV_ADMIN_TOKEN,
                MIN_ADMIN_TOKEN_LEN,
            ),
        ];
        for (name, value, development, min) in secrets {
            let refused = |value: &str, reason: String| ConfigError {
                name: name.to_string(),
                value: value.to_string(),
                reason,
            };
            if value == development && exposed {
                return Err(refused(
                    "(unset: the public development default)",
                    format!(
                        "BIND_ADDRESS={} is not loopback: set {name} to a random value of at least {min} characters (openssl rand -hex 32), or {ALLOW_INSECURE_DEFAULTS}=true for a throwaway test deployment",
                        listen.http.ip()
                    ),
                ));
            }
            if value != development && value.chars().count() < min {
                return Err(refused(
                    "(hidden)",
                    format!(
                        "{} characters is too short to resist guessing: use at least {min} (openssl rand -hex 32)",
                        value.chars().count()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Settings every service shares, including faults from `FAULTS_FILE` (TOML).
    pub fn common(&self) -> Result<CommonConfig, ConfigError> {
        let defaults = CommonConfig::default();
        let faults = match self.get("FAULTS_FILE") {
            None => Faults::default(),
            Some(path) => {
                Faults::from_file(std::path::Path::new(&path)).map_err(|e| ConfigError {
                    name: "FAULTS_FILE".to_string(),
                    value: path.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        Ok(CommonConfig {
            auth_secret: self.get("AUTH_SECRET").unwrap_or(defaults.auth_secret),
            admin_token: self.get("ADMIN_TOKEN").unwrap_or(defaults.admin_token),
            faults,
            otlp_endpoint: self
                .get("OTEL_EXPORTER_OTLP_ENDPOINT")
                .or_else(|| self.get("JAEGER_ENDPOINT")),
            trace_sample_ratio: self
                .fraction("OTEL_TRACES_SAMPLER_ARG", defaults.trace_sample_ratio)?,
        })
    }

    /// A rate and burst from `{prefix}_PER_SECOND` and `{prefix}_BURST`.
    fn quota(&self, rate: &str, burst: &str, d: Quota) -> Result<Quota, ConfigError> {
        let per_second = self.parse(rate, d.per_second, "a whole number of requests per second")?;
        let burst = self.parse(burst, d.burst, "a whole number of requests")?;
        Ok(Quota {
            per_second,
            burst: burst.max(per_second),
        })
    }

    /// The gateway's rate limits.
    fn rate_limits(&self, d: RateLimits) -> Result<RateLimits, ConfigError> {
        Ok(RateLimits {
            per_athlete: self.quota("RATE_LIMIT_PER_SECOND", "RATE_LIMIT_BURST", d.per_athlete)?,
            per_ip: self.quota(
                "RATE_LIMIT_PER_IP_PER_SECOND",
                "RATE_LIMIT_PER_IP_BURST",
                d.per_ip,
            )?,
            tokens_per_ip: self.quota(
                "TOKEN_RATE_LIMIT_PER_SECOND",
                "TOKEN_RATE_LIMIT_BURST",
                d.tokens_per_ip,
            )?,
            max_clients: self
                .parse(
                    "RATE_LIMIT_MAX_CLIENTS",
                    d.max_clients,
                    "a whole number of clients",
                )?
                .max(1),
        })
    }

    /// gateway-bff's settings.
    pub fn gateway(&self) -> Result<GatewayConfig, ConfigError> {
        let d = GatewayConfig::default();
        let listen = self.listen(
            "GATEWAY_BFF_PORT",
            "GATEWAY_BFF_METRICS_PORT",
            GATEWAY_BFF_PORT,
            GATEWAY_BFF_METRICS_PORT,
        )?;
        let common = self.common()?;
        self.exposure(&listen, &common)?;
        Ok(GatewayConfig {
            listen,
            common,
            profile_onboarding_url: self
                .get("PROFILE_ONBOARDING_URL")
                .unwrap_or(d.profile_onboarding_url),
            planning_engine_url: self
                .get("PLANNING_ENGINE_URL")
                .unwrap_or(d.planning_engine_url),
            nats_url: self.get("NATS_URL"),
            cors_allowed_origins: match self.get("CORS_ALLOWED_ORIGINS") {
                None => d.cors_allowed_origins,
                Some(list) => list
                    .split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect(),
            },
            rate_limits: self.rate_limits(d.rate_limits)?,
            // Test tokens let anyone sign in as anyone: off by default off loopback.
            test_tokens: self.bool("AUTH_TEST_TOKENS", listen.http.ip().is_loopback())?,
            token_ttl: Duration::from_secs(self.parse(
                "AUTH_TOKEN_TTL_SECONDS",
                d.token_ttl.as_secs(),
                "a whole number of seconds",
            )?),
            upstream_timeout: self.millis("UPSTREAM_TIMEOUT_MS", d.upstream_timeout)?,
        })
    }

    /// profile-onboarding's settings.
    pub fn onboarding(&self) -> Result<OnboardingConfig, ConfigError> {
        let d = OnboardingConfig::default();
        let listen = self.listen(
            "PROFILE_ONBOARDING_PORT",
            "PROFILE_ONBOARDING_METRICS_PORT",
            PROFILE_ONBOARDING_PORT,
            PROFILE_ONBOARDING_METRICS_PORT,
        )?;
        let common = self.common()?;
        self.exposure(&listen, &common)?;
        let database_url = self.get("DATABASE_URL").unwrap_or(d.database_url);
        let default_retention = if database_url.contains(":memory:") {
            PROFILE_RETENTION.as_secs()
        } else {
            0
        };
        let profile_retention = match self.parse(
            "PROFILE_RETENTION_SECONDS",
            default_retention,
            "a whole number of seconds",
        )? {
            0 => None,
            s => Some(Duration::from_secs(s)),
        };
        Ok(OnboardingConfig {
            listen,
            common,
            database_url,
            profile_retention,
        })
    }

    /// planning-engine's settings.
    pub fn planning(&self) -> Result<PlanningConfig, ConfigError> {
        let d = PlanningConfig::default();
        let concurrency: usize = self.parse(
            "PLAN_CONCURRENCY",
            d.concurrency,
            "a whole number of at least 1",
        )?;
        let max_deliveries: u32 = self.parse(
            "PLAN_MAX_DELIVERIES",
            d.max_deliveries,
            "a whole number of at least 1",
        )?;
        for (name, v) in [
            ("PLAN_CONCURRENCY", concurrency as u64),
            ("PLAN_MAX_DELIVERIES", max_deliveries as u64),
        ] {
            if v == 0 {
                return Err(ConfigError {
                    name: name.to_string(),
                    value: "0".to_string(),
                    reason: "expected a whole number of at least 1".to_string(),
                });
            }
        }
        let llm = LlmConfig {
            model: self.get("LLM_MODEL").unwrap_or(d.llm.model),
            latency_p50: self.millis("LLM_LATENCY_P50_MS", d.llm.latency_p50)?,
            latency_p95: self.millis("LLM_LATENCY_P95_MS", d.llm.latency_p95)?,
            failure_rate: self.fraction("LLM_FAILURE_RATE", d.llm.failure_rate)?,
            completion_tokens: self.parse(
                "LLM_COMPLETION_TOKENS",
                d.llm.completion_tokens,
                "a whole number of tokens",
            )?,
            base_url: self.get("LLM_BASE_URL"),
            api_key: self.get("LLM_API_KEY"),
        };
        let listen = self.listen(
            "PLANNING_ENGINE_PORT",
            "PLANNING_ENGINE_METRICS_PORT",
            PLANNING_ENGINE_PORT,
            PLANNING_ENGINE_METRICS_PORT,
        )?;
        let common = self.common()?;
        self.exposure(&listen, &common)?;
        Ok(PlanningConfig {
            listen,
            common,
            database_url: self.get("DATABASE_URL").unwrap_or(d.database_url),
            nats_url: self.get("NATS_URL"),
            concurrency,
            max_deliveries,
            queue_capacity: self
                .parse(
                    "PLAN_QUEUE_CAPACITY",
                    d.queue_capacity,
                    "a whole number of jobs",
                )?
                .max(1),
            nak_backoff: self.millis("PLAN_NAK_BACKOFF_MS", d.nak_backoff)?,
            retention: match self.parse(
                "PLAN_RETENTION_SECONDS",
                d.retention.map_or(0, |r| r.as_secs()),
                "a whole number of seconds",
            )? {
                0 => None,
                s => Some(Duration::from_secs(s)),
            },
            llm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String> + use<>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::new(move |k| map.get(k).cloned())
    }

    #[test]
    fn every_variable_read_is_listed() {
        let read = std::sync::Mutex::new(std::collections::BTreeSet::new());
        let env = Env::new(|k: &str| {
            read.lock().unwrap().insert(k.to_string());
            None
        });
        env.gateway().unwrap();
        env.onboarding().unwrap();
        env.planning().unwrap();
        let read = read.into_inner().unwrap();
        assert!(read.len() > 25, "{read:?}");
        for name in &read {
            assert!(
                VARIABLES.iter().any(|v| v.name == name),
                "{name} is read but not in VARIABLES"
            );
        }
    }

    #[test]
    fn defaults_are_the_runbook_ports() {
        let g = env(&[]).gateway().unwrap();
        assert_eq!(g.listen.http.port(), 4000);
        assert_eq!(g.listen.metrics.port(), 9464);
        assert!(g.listen.http.ip().is_loopback());
        let p = env(&[]).planning().unwrap();
        assert_eq!(
            (p.listen.http.port(), p.listen.metrics.port()),
            (4102, 9466)
        );
        let o = env(&[]).onboarding().unwrap();
        assert_eq!(
            (o.listen.http.port(), o.listen.metrics.port()),
            (4101, 9465)
        );
    }

    #[test]
    fn profiles_expire_from_memory_and_stay_on_disk_unless_told() {
        let memory = env(&[]).onboarding().unwrap();
        assert!(memory.in_memory());
        assert_eq!(memory.profile_retention, Some(PROFILE_RETENTION));
        let file = env(&[("DATABASE_URL", "sqlite:///var/lib/onboarding.db")])
            .onboarding()
            .unwrap();
        assert_eq!(
            file.profile_retention, None,
            "a file database keeps profiles"
        );
        let told = env(&[
            ("DATABASE_URL", "sqlite:///var/lib/onboarding.db"),
            ("PROFILE_RETENTION_SECONDS", "86400"),
        ])
        .onboarding()
        .unwrap();
        assert_eq!(told.profile_retention, Some(Duration::from_secs(86400)));
        let forever = env(&[("PROFILE_RETENTION_SECONDS", "0")])
            .onboarding()
            .unwrap();
        assert_eq!(forever.profile_retention, None);
    }

    #[test]
    fn variables_override_defaults() {
        let g = env(&[
            ("GATEWAY_BFF_PORT", "5000"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example, https://b.example/",
            ),
            ("NATS_URL", "nats://127.0.0.1:4222"),
        ])
        .gateway()
        .unwrap();
        assert_eq!(g.listen.http.port(), 5000);
        assert_eq!(
            g.cors_allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(g.nats_url.as_deref(), Some("nats://127.0.0.1:4222"));
    }

    #[test]
    fn development_secrets_off_loopback_are_refused_with_the_fix() {
        let off = [("BIND_ADDRESS", "0.0.0.0")];
        for err in [
            env(&off).gateway().unwrap_err(),
            env(&off).onboarding().unwrap_err(),
            env(&off).planning().unwrap_err(),
        ] {
            assert_eq!(err.name, "AUTH_SECRET");
            assert!(err.reason.contains("openssl rand -hex 32"), "{err}");
            assert!(err.reason.contains(ALLOW_INSECURE_DEFAULTS), "{err}");
        }
        let secret = "0123456789abcdef0123456789abcdef";
        let err = env(&[off[0], ("AUTH_SECRET", secret)])
            .gateway()
            .unwrap_err();
        assert_eq!(err.name, "ADMIN_TOKEN", "the admin token is a secret too");
        let g = env(&[off[0], ("AUTH_SECRET", secret), ("ADMIN_TOKEN", secret)])
            .gateway()
            .unwrap();
        assert!(
            !g.test_tokens,
            "test tokens are off by default off loopback"
        );
        let opted_in = env(&[off[0], (ALLOW_INSECURE_DEFAULTS, "true")]);
        assert!(
            !opted_in.gateway().unwrap().test_tokens,
            "the opt-in covers secrets; test tokens take AUTH_TEST_TOKENS=true"
        );
        assert!(opted_in.planning().is_ok());
        // On loopback the defaults stay, and test tokens are on.
        assert!(env(&[]).gateway().unwrap().test_tokens);
    }

    #[test]
    fn a_short_secret_is_refused_anywhere_and_not_printed() {
        let err = env(&[("AUTH_SECRET", "hunter2")]).gateway().unwrap_err();
        assert_eq!(err.name, "AUTH_SECRET");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.reason.contains("at least 32"), "{err}");
        let err = env(&[("ADMIN_TOKEN", "short")]).planning().unwrap_err();
        assert_eq!(err.name, "ADMIN_TOKEN");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = env(&[("PLANNING_ENGINE_PORT", "forty")])
            .planning()
            .unwrap_err();
        assert_eq!(err.name, "PLANNING_ENGINE_PORT");
        assert!(err.to_string().contains("port number"), "{err}");
        let err = env(&[("LLM_FAILURE_RATE", "1.5")]).planning().unwrap_err();
        assert_eq!(err.name, "LLM_FAILURE_RATE");
        let err = env(&[("PLAN_CONCURRENCY", "0")]).planning().unwrap_err();
        assert_eq!(err.name, "PLAN_CONCURRENCY");
    }
}
