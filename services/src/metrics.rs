//! The documented Prometheus metrics, with `prometheus-client`.
//!
//! Each service registers the families that belong to it and serves them on its
//! metrics port; together the three ports export all fifteen names of `SEED.md`:
//!
//! | family | service |
//! |---|---|
//! | `api_requests_total`, `api_response_time_seconds`, `api_errors_total` | every service (the API SLOs select `job="gateway-bff"`) |
//! | `onboarding_requests_total`, `onboarding_completions_total`, `onboarding_step_duration_seconds` | profile-onboarding |
//! | `plan_generation_requests_total`, `plan_generation_duration_seconds`, `plan_generation_success_total`, `plan_generation_failures_total` | planning-engine |
//! | `llm_requests_total`, `llm_response_time_seconds`, `llm_tokens_used_total` | planning-engine |
//! | `database_queries_total`, `database_query_duration_seconds` | profile-onboarding, planning-engine |
//!
//! Durations are histograms whose buckets include 1, 2, 10 and 30 seconds, the SLO
//! thresholds, so a latency verdict is read from the bucket at the threshold, exactly.
//! Counters are created at 0 for every known label value, so a series that first
//! moves mid-window does not lose its first increment. Latency histograms carry the
//! trace id of a sampled request as an exemplar.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{Method, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::faults::FaultState;
use crate::process::{CpuScope, ProcessCollector};

/// Bucket bounds of every duration histogram, in seconds. 1, 2, 10 and 30 are SLO
/// thresholds and must stay.
pub const DURATION_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
];

/// Exemplar labels: the trace a slow request belongs to.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceExemplar {
    /// The sampled request's trace id.
    pub trace_id: String,
}

/// A duration histogram with trace exemplars.
pub type DurationHistogram = HistogramWithExemplars<TraceExemplar>;

fn duration_histogram() -> DurationHistogram {
    HistogramWithExemplars::new(DURATION_BUCKETS.into_iter())
}

type HistogramFamily<L> = Family<L, DurationHistogram, fn() -> DurationHistogram>;

fn histogram_family<L: Clone + std::hash::Hash + Eq>() -> HistogramFamily<L> {
    Family::new_with_constructor(duration_histogram)
}

/// Observes `seconds`, attaching the current trace as an exemplar when sampled.
pub fn observe(histogram: &DurationHistogram, seconds: f64) {
    let exemplar =
        crate::telemetry::current_sampled_trace_id().map(|trace_id| TraceExemplar { trace_id });
    histogram.observe(seconds, exemplar, None);
}

/// `status_class` label value of a status code.
pub fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `api_requests_total` and `api_errors_total`.
pub struct RequestLabels {
    /// The matched route template.
    pub route: String,
    /// The method.
    pub method: &'static str,
    /// `2xx`, `4xx`, `5xx`.
    pub status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `api_response_time_seconds`.
pub struct RouteLabels {
    /// The matched route template.
    pub route: String,
    /// The method.
    pub method: &'static str,
}

/// `api_requests_total`, `api_response_time_seconds`, `api_errors_total`.
#[derive(Clone)]
pub struct ApiMetrics {
    requests: Family<RequestLabels, Counter>,
    errors: Family<RequestLabels, Counter>,
    response_time: HistogramFamily<RouteLabels>,
    /// Series of the known routes, resolved once so a request allocates nothing.
    known: Arc<RwLock<KnownRoutes>>,
}

/// Route -> (method, series) of the routes created at start.
type KnownRoutes = HashMap<String, Vec<(&'static str, RouteSeries)>>;

/// The series of one (route, method).
#[derive(Clone)]
struct RouteSeries {
    ok: Counter,
    client_error: Counter,
    server_error: Counter,
    errors: Counter,
    response_time: DurationHistogram,
}

/// Route label of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

impl ApiMetrics {
    /// Registers the `api_*` families.
    pub fn register(registry: &mut Registry) -> Self {
        let m = ApiMetrics {
            requests: Family::default(),
            errors: Family::default(),
            response_time: histogram_family(),
            known: Arc::default(),
        };
        registry.register(
            "api_requests",
            "HTTP API requests by route, method and status class",
            m.requests.clone(),
        );
        registry.register(
            "api_response_time_seconds",
            "HTTP API response time in seconds, until the response headers",
            m.response_time.clone(),
        );
        registry.register(
            "api_errors",
            "HTTP API responses with a 5xx status (server errors)",
            m.errors.clone(),
        );
        m
    }

    /// Creates the series of a route at 0.
    pub fn init_route(&self, route: &str, method: Method) {
        let method = method_label(&method);
        let labels = |status_class| RequestLabels {
            route: route.to_string(),
            method,
            status_class,
        };
        let series = RouteSeries {
            ok: self.requests.get_or_create_owned(&labels("2xx")),
            client_error: self.requests.get_or_create_owned(&labels("4xx")),
            server_error: self.requests.get_or_create_owned(&labels("5xx")),
            errors: self.errors.get_or_create_owned(&labels("5xx")),
            response_time: self.response_time.get_or_create_owned(&RouteLabels {
                route: route.to_string(),
                method,
            }),
        };
        self.known
            .write()
            .entry(route.to_string())
            .or_default()
            .push((method, series));
    }

    /// Records one answered request.
    pub fn record(&self, route: &str, method: &Method, status: StatusCode, seconds: f64) {
        let method = method_label(method);
        let class = status_class(status);
        if let Some(series) = self
            .known
            .read()
            .get(route)
            .and_then(|methods| methods.iter().find(|(m, _)| *m == method))
            .map(|(_, series)| series)
        {
            match class {
                "2xx" => series.ok.inc(),
                "4xx" => series.client_error.inc(),
                "5xx" => {
                    series.server_error.inc();
                    series.errors.inc()
                }
                _ => self
                    .requests
                    .get_or_create(&RequestLabels {
                        route: route.to_string(),
                        method,
                        status_class: class,
                    })
                    .inc(),
            };
            observe(&series.response_time, seconds);
            return;
        }
        let labels = RequestLabels {
            route: route.to_string(),
            method,
            status_class: class,
        };
        self.requests.get_or_create(&labels).inc();
        if class == "5xx" {
            self.errors.get_or_create(&labels).inc();
        }
        observe(
            &self.response_time.get_or_create(&RouteLabels {
                route: labels.route,
                method,
            }),
            seconds,
        );
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `onboarding_requests_total`.
pub struct StepOutcomeLabels {
    /// The step.
    pub step: &'static str,
    /// `success`, `invalid` (4xx: bad data or steps missing) or `error` (5xx).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `onboarding_step_duration_seconds`.
pub struct StepLabels {
    /// The step.
    pub step: &'static str,
}

/// `onboarding_requests_total`, `onboarding_completions_total`, `onboarding_step_duration_seconds`.
#[derive(Clone)]
pub struct OnboardingMetrics {
    /// Step requests by step and outcome.
    pub requests: Family<StepOutcomeLabels, Counter>,
    /// Onboardings completed.
    pub completions: Counter,
    /// Step durations.
    pub step_duration: HistogramFamily<StepLabels>,
}

impl OnboardingMetrics {
    /// Registers the `onboarding_*` families, every step at 0.
    pub fn register(registry: &mut Registry) -> Self {
        let m = OnboardingMetrics {
            requests: Family::default(),
            completions: Counter::default(),
            step_duration: histogram_family(),
        };
        for step in api::OnboardingStep::ALL.map(|s| s.as_str()) {
            for outcome in ["success", "invalid", "error"] {
                let _ = m
                    .requests
                    .get_or_create(&StepOutcomeLabels { step, outcome });
            }
            let _ = m.step_duration.get_or_create(&StepLabels { step });
        }
        registry.register(
            "onboarding_requests",
            "Onboarding step requests by step and outcome",
            m.requests.clone(),
        );
        registry.register(
            "onboarding_completions",
            "Athletes who completed onboarding",
            m.completions.clone(),
        );
        registry.register(
            "onboarding_step_duration_seconds",
            "Time to handle one onboarding step, in seconds",
            m.step_duration.clone(),
        );
        m
    }

    /// Records one step.
    pub fn record_step(&self, step: &'static str, outcome: &'static str, seconds: f64) {
        self.requests
            .get_or_create(&StepOutcomeLabels { step, outcome })
            .inc();
        observe(
            &self.step_duration.get_or_create(&StepLabels { step }),
            seconds,
        );
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `plan_generation_failures_total`.
pub struct FailureLabels {
    /// Why the job failed.
    pub reason: &'static str,
}

/// Reasons a plan generation fails for good.
pub const PLAN_FAILURE_REASONS: [&str; 3] = ["llm_error", "database_error", "invalid_job"];

/// `plan_generation_*`.
#[derive(Clone)]
pub struct PlanMetrics {
    /// Jobs taken up (first delivery only).
    pub requests: Counter,
    /// Submission to completion of successful jobs, queueing included.
    pub duration: DurationHistogram,
    /// Jobs that succeeded.
    pub success: Counter,
    /// Jobs that failed for good (dead-lettered), by reason.
    pub failures: Family<FailureLabels, Counter>,
}

impl PlanMetrics {
    /// Registers the `plan_generation_*` families.
    pub fn register(registry: &mut Registry) -> Self {
        let m = PlanMetrics {
            requests: Counter::default(),
            duration: duration_histogram(),
            success: Counter::default(),
            failures: Family::default(),
        };
        for reason in PLAN_FAILURE_REASONS {
            let _ = m.failures.get_or_create(&FailureLabels { reason });
        }
        registry.register(
            "plan_generation_requests",
            "Plan generation jobs taken up",
            m.requests.clone(),
        );
        registry.register(
            "plan_generation_duration_seconds",
            "Time from plan request to generated plan, in seconds (queueing included)",
            m.duration.clone(),
        );
        registry.register(
            "plan_generation_success",
            "Plans generated",
            m.success.clone(),
        );
        registry.register(
            "plan_generation_failures",
            "Plan generations that failed for good, by reason",
            m.failures.clone(),
        );
        m
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `llm_requests_total`.
pub struct ModelStatusLabels {
    /// The model.
    pub model: String,
    /// `success` or `error`.
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `llm_response_time_seconds`.
pub struct ModelLabels {
    /// The model.
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `llm_tokens_used_total`.
pub struct TokenLabels {
    /// The model.
    pub model: String,
    /// `prompt` or `completion`.
    pub kind: &'static str,
}

/// `llm_requests_total`, `llm_response_time_seconds`, `llm_tokens_used_total`.
#[derive(Clone)]
pub struct LlmMetrics {
    /// Calls by model and status.
    pub requests: Family<ModelStatusLabels, Counter>,
    /// Call durations.
    pub response_time: HistogramFamily<ModelLabels>,
    /// Tokens used.
    pub tokens: Family<TokenLabels, Counter>,
}

impl LlmMetrics {
    /// Registers the `llm_*` families for `model`.
    pub fn register(registry: &mut Registry, model: &str) -> Self {
        let m = LlmMetrics {
            requests: Family::default(),
            response_time: histogram_family(),
            tokens: Family::default(),
        };
        for status in ["success", "error"] {
            let _ = m.requests.get_or_create(&ModelStatusLabels {
                model: model.to_string(),
                status,
            });
        }
        for kind in ["prompt", "completion"] {
            let _ = m.tokens.get_or_create(&TokenLabels {
                model: model.to_string(),
                kind,
            });
        }
        let _ = m.response_time.get_or_create(&ModelLabels {
            model: model.to_string(),
        });
        registry.register(
            "llm_requests",
            "Language model calls by model and status",
            m.requests.clone(),
        );
        registry.register(
            "llm_response_time_seconds",
            "Language model call time in seconds",
            m.response_time.clone(),
        );
        registry.register(
            "llm_tokens_used",
            "Language model tokens used, by kind",
            m.tokens.clone(),
        );
        m
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `database_queries_total`.
pub struct QueryStatusLabels {
    /// The operation.
    pub operation: &'static str,
    /// The table.
    pub table: &'static str,
    /// `success` or `error`.
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
/// Labels of `database_query_duration_seconds`.
pub struct QueryLabels {
    /// The operation.
    pub operation: &'static str,
    /// The table.
    pub table: &'static str,
}

/// `database_queries_total`, `database_query_duration_seconds`.
#[derive(Clone)]
pub struct DbMetrics {
    /// Queries by operation, table and status.
    pub queries: Family<QueryStatusLabels, Counter>,
    /// Query durations.
    pub duration: HistogramFamily<QueryLabels>,
}

impl DbMetrics {
    /// Registers the families with a series at 0 for each (operation, table) pair.
    pub fn register(registry: &mut Registry, known: &[(&'static str, &'static str)]) -> Self {
        let m = DbMetrics {
            queries: Family::default(),
            duration: histogram_family(),
        };
        for &(operation, table) in known {
            for status in ["success", "error"] {
                let _ = m.queries.get_or_create(&QueryStatusLabels {
                    operation,
                    table,
                    status,
                });
            }
            let _ = m.duration.get_or_create(&QueryLabels { operation, table });
        }
        registry.register(
            "database_queries",
            "Database operations by operation, table and status",
            m.queries.clone(),
        );
        registry.register(
            "database_query_duration_seconds",
            "Database operation time in seconds",
            m.duration.clone(),
        );
        m
    }
}

/// The planning engine's queue and concurrency, for the queue dashboard.
#[derive(Clone, Default)]
pub struct QueueMetrics {
    /// Jobs waiting.
    pub pending: Gauge,
    /// Jobs being generated.
    pub in_flight: Gauge,
    /// Jobs generated at once at most.
    pub concurrency_limit: Gauge,
    /// Deliveries acknowledged.
    pub acks: Counter,
    /// Deliveries refused for redelivery.
    pub naks: Counter,
    /// Deliveries after the first.
    pub redeliveries: Counter,
    /// Jobs dead-lettered.
    pub dead_letters: Counter,
}

impl QueueMetrics {
    /// Registers the `plan_queue_*` families.
    pub fn register(registry: &mut Registry) -> Self {
        let m = QueueMetrics::default();
        registry.register(
            "plan_queue_pending",
            "Plan jobs waiting in the queue",
            m.pending.clone(),
        );
        registry.register(
            "plan_queue_in_flight",
            "Plan jobs being generated",
            m.in_flight.clone(),
        );
        registry.register(
            "plan_concurrency_limit",
            "Plan jobs the engine generates at once",
            m.concurrency_limit.clone(),
        );
        registry.register(
            "plan_queue_acks",
            "Plan job deliveries acknowledged",
            m.acks.clone(),
        );
        registry.register(
            "plan_queue_naks",
            "Plan job deliveries refused for redelivery (transient failures)",
            m.naks.clone(),
        );
        registry.register(
            "plan_queue_redeliveries",
            "Plan job deliveries after the first",
            m.redeliveries.clone(),
        );
        registry.register(
            "plan_queue_dead_letters",
            "Plan jobs sent to the dead-letter queue",
            m.dead_letters.clone(),
        );
        m
    }
}

/// A service's registry, with the process metrics already in it.
pub fn new_registry(scope: CpuScope) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ProcessCollector::new(scope)));
    registry
}

#[derive(Clone)]
struct MetricsState {
    registry: Arc<Registry>,
    faults: FaultState,
    service: &'static str,
}

/// Content type of the OpenMetrics text format (it carries exemplars).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn serve_metrics(State(state): State<MetricsState>) -> Response {
    if !state.faults.metrics_available() {
        return crate::error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "metrics endpoint disabled by an injected fault",
        )
        .into_response();
    }
    let mut body = String::with_capacity(32 * 1024);
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        return crate::error::ApiError::internal(format!("encoding metrics failed: {e}"))
            .into_response();
    }
    (
        [(http::header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        body,
    )
        .into_response()
}

async fn metrics_health(State(state): State<MetricsState>) -> Response {
    axum::Json(serde_json::json!({ "status": "ok", "service": state.service })).into_response()
}

/// The router of a metrics port: `GET /metrics`, `GET /health` and
/// `GET|PUT /admin/faults`. The admin routes live here, on the operator's port
/// that Prometheus scrapes, not on the API port users reach.
pub fn router(
    service: &'static str,
    registry: Registry,
    faults: FaultState,
    admin_token: String,
) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route(api::paths::HEALTH, get(metrics_health))
        .with_state(MetricsState {
            registry: Arc::new(registry),
            faults: faults.clone(),
            service,
        })
        .merge(crate::admin::router(service, admin_token, faults))
        .fallback(crate::error::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::error::MAX_BODY_BYTES,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(registry: &Registry) -> String {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, registry).unwrap();
        s
    }

    #[test]
    fn buckets_hold_every_slo_threshold() {
        for threshold in [1.0, 2.0, 10.0, 30.0] {
            assert!(DURATION_BUCKETS.contains(&threshold), "{threshold}");
        }
        assert!(DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn families_export_the_documented_names_at_zero() {
        let mut registry = new_registry(CpuScope::Process);
        let api = ApiMetrics::register(&mut registry);
        api.init_route("/api/health", Method::GET);
        OnboardingMetrics::register(&mut registry);
        PlanMetrics::register(&mut registry);
        LlmMetrics::register(&mut registry, "gpt-4");
        DbMetrics::register(&mut registry, &[("create", "plans")]);
        let text = encode(&registry);
        for name in [
            "api_requests_total{",
            "api_response_time_seconds_bucket{",
            "api_errors_total{",
            "onboarding_requests_total{",
            "onboarding_completions_total ",
            "onboarding_step_duration_seconds_bucket{",
            "plan_generation_requests_total ",
            "plan_generation_duration_seconds_bucket{",
            "plan_generation_success_total ",
            "plan_generation_failures_total{",
            "llm_requests_total{",
            "llm_response_time_seconds_bucket{",
            "llm_tokens_used_total{",
            "database_queries_total{",
            "database_query_duration_seconds_bucket{",
            "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
        assert!(text.contains(
            r#"api_errors_total{route="/api/health",method="GET",status_class="5xx"} 0"#
        ));
        assert!(
            text.contains(r#"le="2.0""#) || text.contains(r#"le="2""#),
            "{text}"
        );
    }

    #[test]
    fn a_value_at_a_threshold_lands_in_that_bucket() {
        let mut registry = Registry::default();
        let plans = PlanMetrics::register(&mut registry);
        plans.duration.observe(30.0, None, None);
        let text = encode(&registry);
        let line = text
            .lines()
            .find(|l| l.starts_with("plan_generation_duration_seconds_bucket{le=\"30.0\"}"))
            .expect("bucket at 30 s");
        assert!(line.ends_with(" 1"), "{line}");
        let below = text
            .lines()
            .find(|l| l.starts_with("plan_generation_duration_seconds_bucket{le=\"20.0\"}"))
            .unwrap();
        assert!(below.ends_with(" 0"), "{below}");
    }

    #[test]
    fn api_errors_count_only_server_errors() {
        let mut registry = Registry::default();
        let api = ApiMetrics::register(&mut registry);
        api.record("/x", &Method::GET, StatusCode::TOO_MANY_REQUESTS, 0.01);
        api.record("/x", &Method::GET, StatusCode::SERVICE_UNAVAILABLE, 0.01);
        let text = encode(&registry);
        assert!(
            text.contains(r#"api_errors_total{route="/x",method="GET",status_class="5xx"} 1"#),
            "{text}"
        );
        assert!(!text.contains(r#"api_errors_total{route="/x",method="GET",status_class="4xx"}"#));
        assert!(
            text.contains(r#"api_requests_total{route="/x",method="GET",status_class="4xx"} 1"#)
        );
    }
}
