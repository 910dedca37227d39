//! Fault injection: the knobs a scenario turns to make a chosen SLO fail on purpose.
//!
//! Each service holds a [`FaultState`]: the faults set at start (from the scenario or
//! `FAULTS_FILE`) and replaced at run time through `PUT /admin/faults` (bearer
//! `ADMIN_TOKEN`). Time windows (stalls, metrics outages) count from the moment the
//! faults were applied, so a run-time change can say "stall now for one second".
//!
//! The format, in TOML (one table per service in a scenario or `FAULTS_FILE`):
//!
//! ```toml
//! [gateway_bff]
//! routes = [{ route = "/api/v1/plans/status", error_rate = 0.05, error_status = 503 }]
//! stalls = [{ after_ms = 10000, duration_ms = 1000 }]
//!
//! [planning_engine]
//! llm = { extra_latency_ms = 9000, failure_rate = 0.0 }
//! database = { latency_ms = 1200, tables = ["plans"] }
//! fail_attempts = 1
//! ```

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use parking_lot::{Mutex, RwLock};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Faults for all three services, as written in a scenario or `FAULTS_FILE`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// gateway-bff's faults.
    pub gateway_bff: ServiceFaults,
    /// profile-onboarding's faults.
    pub profile_onboarding: ServiceFaults,
    /// planning-engine's faults.
    pub planning_engine: ServiceFaults,
}

impl Faults {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Faults, FaultError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| FaultError(format!("cannot read {}: {e}", path.display())))?;
        let faults: Faults =
            toml::from_str(&text).map_err(|e| FaultError(format!("{}: {e}", path.display())))?;
        faults.validate()?;
        Ok(faults)
    }

    /// Checks every service's faults.
    pub fn validate(&self) -> Result<(), FaultError> {
        self.gateway_bff.validate("gateway_bff")?;
        self.profile_onboarding.validate("profile_onboarding")?;
        self.planning_engine.validate("planning_engine")
    }
}

/// The largest memory ballast, in MiB: enough to breach the 1 GB memory SLO,
/// not enough for one request to take the machine down.
pub const MAX_BALLAST_MB: u64 = 2048;
/// The most CPU one request may burn, in milliseconds.
pub const MAX_CPU_BURN_MS: u64 = 1_000;
/// The longest added latency (route, database or model), in milliseconds.
pub const MAX_LATENCY_MS: u64 = 120_000;
/// The longest stall or metrics outage and the latest start of one, in milliseconds.
pub const MAX_WINDOW_MS: u64 = 24 * 3_600_000;
/// The most route faults, stalls or outages a service holds.
pub const MAX_ENTRIES: usize = 64;

/// Refuses a value above its bound, naming the field and the bound.
fn check_at_most(field: &str, value: u64, max: u64, unit: &str) -> Result<(), FaultError> {
    if value <= max {
        return Ok(());
    }
    Err(FaultError(format!(
        "{field} = {value} is more than {max} {unit}: use a smaller value"
    )))
}

/// An invalid fault setting, naming the field and the allowed values.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct FaultError(pub String);

/// The faults of one service. Every field defaults to "no fault".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceFaults {
    /// Added latency, errors and CPU work on matching routes.
    pub routes: Vec<RouteFault>,
    /// Windows in which every API request waits until the window ends (a server stall).
    pub stalls: Vec<Window>,
    /// Windows in which `/metrics` answers 503, so Prometheus marks the target down.
    pub metrics_outages: Vec<Window>,
    /// Slower or failing database operations.
    pub database: DatabaseFault,
    /// Slower or failing language model calls (planning-engine).
    pub llm: LlmFault,
    /// Fail each plan job's first N deliveries with a transient error, so it is
    /// redelivered (planning-engine). With N >= the delivery limit, jobs are dead-lettered.
    pub fail_attempts: u32,
    /// Memory held and touched while the fault is set, in MiB (a leak, made visible).
    pub memory_ballast_mb: u64,
}

/// Faults on the requests whose route matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteFault {
    /// A route template (`/api/v1/plans/status`, `/onboarding/{step}`), a concrete path
    /// (`/onboarding/complete`) or `*` for every API route.
    pub route: String,
    /// Fixed latency added before the handler runs, in milliseconds.
    pub latency_ms: u64,
    /// Up to this much more latency, uniformly drawn, in milliseconds.
    pub jitter_ms: u64,
    /// Share of requests answered with `error_status` instead of being handled, 0..=1.
    pub error_rate: f64,
    /// Status of an injected error, 400..=599 (default 503), or a redirect
    /// (300..=399: a misconfigured proxy sending users to a sign-in page).
    pub error_status: u16,
    /// CPU time burnt on the worker thread per request, in milliseconds.
    pub cpu_burn_ms: u64,
}

impl Default for RouteFault {
    fn default() -> Self {
        RouteFault {
            route: "*".to_string(),
            latency_ms: 0,
            jitter_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            cpu_burn_ms: 0,
        }
    }
}

/// A time window counted from when the faults were applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Window {
    /// Start of the window.
    pub after_ms: u64,
    /// Its length.
    pub duration_ms: u64,
}

impl Window {
    fn contains(&self, elapsed: Duration) -> bool {
        let ms = elapsed.as_millis() as u64;
        ms >= self.after_ms && ms < self.after_ms + self.duration_ms
    }

    fn end(&self) -> Duration {
        Duration::from_millis(self.after_ms + self.duration_ms)
    }
}

/// Database faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseFault {
    /// Latency added to each operation, in milliseconds.
    pub latency_ms: u64,
    /// Share of operations that fail, 0..=1.
    pub error_rate: f64,
    /// Tables the fault applies to; empty means every table.
    pub tables: Vec<String>,
}

impl DatabaseFault {
    /// Whether the fault applies to `table` (every table when none are named).
    pub fn applies_to(&self, table: &str) -> bool {
        self.tables.is_empty() || self.tables.iter().any(|t| t == table)
    }
}

/// Language model faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmFault {
    /// Latency added to each call, in milliseconds.
    pub extra_latency_ms: u64,
    /// Share of calls that fail with a transient error, on top of the model's own rate.
    pub failure_rate: f64,
}

fn check_fraction(field: &str, v: f64) -> Result<(), FaultError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(FaultError(format!(
            "{field} = {v} is out of range: use a share between 0 and 1 (0.05 is 5%)"
        )))
    }
}

impl ServiceFaults {
    /// Checks the faults of `service`; the error names the field.
    pub fn validate(&self, service: &str) -> Result<(), FaultError> {
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("{service}.routes[{i}]");
            check_fraction(&format!("{at}.error_rate"), r.error_rate)?;
            if !(300..=599).contains(&r.error_status) {
                return Err(FaultError(format!(
                    "{at}.error_status = {} is not an error or redirect status: use 300..=599 (503 by default)",
                    r.error_status
                )));
            }
            if r.route.is_empty() || !(r.route == "*" || r.route.starts_with('/')) {
                return Err(FaultError(format!(
                    "{at}.route = {:?}: use a path starting with / (such as /api/v1/plans/status) or *",
                    r.route
                )));
            }
        }
        check_fraction(
            &format!("{service}.database.error_rate"),
            self.database.error_rate,
        )?;
        check_fraction(
            &format!("{service}.llm.failure_rate"),
            self.llm.failure_rate,
        )?;
        self.validate_bounds(service)
    }

    /// The bounds that keep one `PUT /admin/faults` from taking the service down.
    fn validate_bounds(&self, service: &str) -> Result<(), FaultError> {
        for (list, len) in [
            ("routes", self.routes.len()),
            ("stalls", self.stalls.len()),
            ("metrics_outages", self.metrics_outages.len()),
        ] {
            check_at_most(
                &format!("{service}.{list} (entries)"),
                len as u64,
                MAX_ENTRIES as u64,
                "entries",
            )?;
        }
        for (i, r) in self.routes.iter().enumerate() {
            let at = format!("{service}.routes[{i}]");
            check_at_most(
                &format!("{at}.cpu_burn_ms"),
                r.cpu_burn_ms,
                MAX_CPU_BURN_MS,
                "ms",
            )?;
            check_at_most(
                &format!("{at}.latency_ms + jitter_ms"),
                r.latency_ms.saturating_add(r.jitter_ms),
                MAX_LATENCY_MS,
                "ms",
            )?;
        }
        for (list, windows) in [
            ("stalls", &self.stalls),
            ("metrics_outages", &self.metrics_outages),
        ] {
            for (i, w) in windows.iter().enumerate() {
                let at = format!("{service}.{list}[{i}]");
                check_at_most(&format!("{at}.after_ms"), w.after_ms, MAX_WINDOW_MS, "ms")?;
                check_at_most(
                    &format!("{at}.duration_ms"),
                    w.duration_ms,
                    MAX_WINDOW_MS,
                    "ms",
                )?;
            }
        }
        check_at_most(
            &format!("{service}.database.latency_ms"),
            self.database.latency_ms,
            MAX_LATENCY_MS,
            "ms",
        )?;
        check_at_most(
            &format!("{service}.llm.extra_latency_ms"),
            self.llm.extra_latency_ms,
            MAX_LATENCY_MS,
            "ms",
        )?;
        check_at_most(
            &format!("{service}.memory_ballast_mb"),
            self.memory_ballast_mb,
            MAX_BALLAST_MB,
            "MiB",
        )
    }

    fn route_fault(&self, route: &str, path: &str) -> Option<&RouteFault> {
        self.routes
            .iter()
            .find(|r| r.route == "*" || r.route == route || r.route == path)
    }
}

/// The live faults of one service.
#[derive(Clone)]
pub struct FaultState {
    inner: Arc<RwLock<Applied>>,
    ballast: Arc<Mutex<Vec<u8>>>,
    /// Whether any route fault or stall is set: the request path checks only this.
    requests_affected: Arc<AtomicBool>,
}

struct Applied {
    faults: ServiceFaults,
    at: Instant,
}

impl FaultState {
    /// The faults set at start.
    pub fn new(faults: ServiceFaults) -> FaultState {
        let state = FaultState {
            inner: Arc::new(RwLock::new(Applied {
                faults: ServiceFaults::default(),
                at: Instant::now(),
            })),
            ballast: Arc::new(Mutex::new(Vec::new())),
            requests_affected: Arc::new(AtomicBool::new(false)),
        };
        state.set(faults);
        state
    }

    /// Replaces the faults; windows count from now.
    pub fn set(&self, faults: ServiceFaults) {
        let bytes = (faults.memory_ballast_mb as usize) * 1024 * 1024;
        {
            let mut ballast = self.ballast.lock();
            if ballast.len() != bytes {
                // Touch every page so the memory is resident, not just reserved.
                *ballast = vec![1u8; bytes];
            }
        }
        let affected = !faults.routes.is_empty() || !faults.stalls.is_empty();
        *self.inner.write() = Applied {
            faults,
            at: Instant::now(),
        };
        self.requests_affected.store(affected, Ordering::Release);
    }

    /// The faults in force.
    pub fn get(&self) -> ServiceFaults {
        self.inner.read().faults.clone()
    }

    /// Reads the faults without cloning them.
    pub fn with<T>(&self, f: impl FnOnce(&ServiceFaults) -> T) -> T {
        f(&self.inner.read().faults)
    }

    /// Whether `/metrics` should answer now.
    pub fn metrics_available(&self) -> bool {
        let applied = self.inner.read();
        let elapsed = applied.at.elapsed();
        !applied
            .faults
            .metrics_outages
            .iter()
            .any(|w| w.contains(elapsed))
    }

    /// How long a request arriving now waits because of a stall.
    fn stall_remaining(&self) -> Option<Duration> {
        let applied = self.inner.read();
        let elapsed = applied.at.elapsed();
        applied
            .faults
            .stalls
            .iter()
            .filter(|w| w.contains(elapsed))
            .map(|w| w.end() - elapsed)
            .max()
    }
}

/// What to do with one request, decided under the read lock.
struct Decision {
    delay: Duration,
    cpu_burn: Duration,
    error: Option<StatusCode>,
}

fn decide(state: &FaultState, route: &str, path: &str) -> Option<Decision> {
    state.with(|faults| {
        let fault = faults.route_fault(route, path)?;
        let mut rng = rand::rng();
        let jitter = if fault.jitter_ms > 0 {
            rng.random_range(0..=fault.jitter_ms)
        } else {
            0
        };
        let error = (fault.error_rate > 0.0 && rng.random_bool(fault.error_rate)).then(|| {
            StatusCode::from_u16(fault.error_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
        });
        Some(Decision {
            delay: Duration::from_millis(fault.latency_ms + jitter),
            cpu_burn: Duration::from_millis(fault.cpu_burn_ms),
            error,
        })
    })
}

/// CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Burns `duration` of CPU time on the current thread, as a slow handler would.
/// CPU time, not wall time: on a busy machine a thread burning for a wall-clock
/// span is descheduled part of it, and the fault would use less CPU than it says.
pub fn burn_cpu(duration: Duration) {
    let end = thread_cpu_time() + duration;
    let mut x: u64 = 0;
    while thread_cpu_time() < end {
        for i in 0..1000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        std::hint::black_box(x);
    }
}

impl FaultState {
    /// Whether any route fault or stall is set (one atomic load).
    pub fn affects_requests(&self) -> bool {
        self.requests_affected.load(Ordering::Acquire)
    }
}

/// Applies stalls and the route's faults to one request, then runs it unless an
/// error was injected.
pub async fn apply(state: &FaultState, route: &str, request: Request, next: Next) -> Response {
    if let Some(wait) = state.stall_remaining() {
        tokio::time::sleep(wait).await;
    }
    if let Some(decision) = decide(state, route, request.uri().path()) {
        if !decision.cpu_burn.is_zero() {
            // On a blocking thread: the CPU is spent all the same, but the
            // runtime's workers keep serving every other request.
            let burn = decision.cpu_burn;
            let _ = tokio::task::spawn_blocking(move || burn_cpu(burn)).await;
        }
        if !decision.delay.is_zero() {
            tokio::time::sleep(decision.delay).await;
        }
        if let Some(status) = decision.error {
            return ApiError::new(
                status,
                "injected_fault",
                format!("fault injected on {route} (see /admin/faults)"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_validation() {
        let text = r#"
            [gateway_bff]
            routes = [{ route = "/api/v1/plans/status", error_rate = 0.05 }]
            stalls = [{ after_ms = 100, duration_ms = 1000 }]
            [planning_engine]
            llm = { extra_latency_ms = 9000 }
            database = { latency_ms = 1200, tables = ["plans"] }
            fail_attempts = 1
        "#;
        let faults: Faults = toml::from_str(text).unwrap();
        faults.validate().unwrap();
        for (fault, field) in [
            ("memory_ballast_mb = 16384", "gateway_bff.memory_ballast_mb"),
            (
                "routes = [{ cpu_burn_ms = 100000000 }]",
                "gateway_bff.routes[0].cpu_burn_ms",
            ),
            (
                "routes = [{ latency_ms = 18446744073709551615, jitter_ms = 5 }]",
                "latency_ms + jitter_ms",
            ),
            (
                "stalls = [{ duration_ms = 18446744073709551615 }]",
                "gateway_bff.stalls[0].duration_ms",
            ),
            (
                "llm = { extra_latency_ms = 999999999 }",
                "gateway_bff.llm.extra_latency_ms",
            ),
        ] {
            let hostile: Faults = toml::from_str(&format!("[gateway_bff]\n{fault}")).unwrap();
            let err = hostile.validate().unwrap_err().to_string();
            assert!(
                err.contains(field) && err.contains("use a smaller value"),
                "{fault}: {err}"
            );
        }
        assert_eq!(faults.gateway_bff.routes[0].error_status, 503);
        assert!(faults.planning_engine.database.applies_to("plans"));
        assert!(!faults.planning_engine.database.applies_to("plan_jobs"));

        let bad: Faults =
            toml::from_str("[gateway_bff]\nroutes = [{ route = \"/x\", error_rate = 5.0 }]")
                .unwrap();
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("gateway_bff.routes[0].error_rate"), "{err}");
        assert!(
            toml::from_str::<Faults>("[gateway_bff]\nlatency = 3").is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn windows_count_from_when_faults_are_applied() {
        let state = FaultState::new(ServiceFaults {
            stalls: vec![Window {
                after_ms: 0,
                duration_ms: 60_000,
            }],
            metrics_outages: vec![Window {
                after_ms: 60_000,
                duration_ms: 1,
            }],
            ..Default::default()
        });
        let remaining = state.stall_remaining().expect("inside the stall");
        assert!(remaining > Duration::from_secs(59));
        assert!(state.metrics_available());
        state.set(ServiceFaults::default());
        assert!(state.stall_remaining().is_none());
    }

    #[test]
    fn route_matching_by_template_path_or_wildcard() {
        let faults = ServiceFaults {
            routes: vec![RouteFault {
                route: "/onboarding/complete".into(),
                error_rate: 1.0,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(
            faults
                .route_fault("/onboarding/{step}", "/onboarding/complete")
                .is_some()
        );
        assert!(
            faults
                .route_fault("/onboarding/{step}", "/onboarding/proficiency")
                .is_none()
        );
        let all = ServiceFaults {
            routes: vec![RouteFault::default()],
            ..Default::default()
        };
        assert!(all.route_fault("/anything", "/anything").is_some());
    }
}
