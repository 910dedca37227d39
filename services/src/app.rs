//! The layers every service's HTTP API shares, in two middlewares so a request pays
//! for as little as possible:
//! - **edge**, outside the router, sees every request (a refused origin, an unknown
//!   path, a preflight): the gateway's CORS check, and the `api_*` metrics.
//! - **inner**, on the routes: a server span per request (child of the caller's
//!   `traceparent`), the injected faults (not on `/health` and `/admin/*`), and the
//!   matched route handed back to the edge in the response's extensions.
//!
//! Plus JSON 404 and 405 answers and the body size limit.
//!
//! Each service declares its API once, as a table of [`Route`]s: [`routes`] mounts
//! them and creates their metrics at 0, and [`finish`] adds what every service
//! serves (`GET /health`, `/admin/faults`) and the layers above.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use http::{Method, StatusCode};

use crate::cors::Cors;
use crate::error::{self, MAX_BODY_BYTES};
use crate::faults::FaultState;
use crate::metrics::{ApiMetrics, UNMATCHED_ROUTE};
use crate::telemetry;

#[derive(Clone)]
struct Edge {
    api: ApiMetrics,
    cors: Option<Cors>,
}

async fn edge(State(edge): State<Edge>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let response = match &edge.cors {
        Some(cors) => match cors.check(&request) {
            crate::cors::Decision::Pass => next.run(request).await,
            crate::cors::Decision::Allowed(grant) => {
                let mut response = next.run(request).await;
                crate::cors::decorate(&mut response, &grant);
                response
            }
            crate::cors::Decision::Answer(response) => response,
        },
        None => next.run(request).await,
    };
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str())
        .unwrap_or(UNMATCHED_ROUTE);
    edge.api.record(
        route,
        &method,
        response.status(),
        start.elapsed().as_secs_f64(),
    );
    response
}

#[derive(Clone)]
struct Inner {
    service: &'static str,
    faults: FaultState,
}

/// Routes that faults never touch, so a service's health stays readable.
fn exempt_from_faults(route: &str) -> bool {
    route == api::paths::HEALTH || route.starts_with("/admin/")
}

async fn inner(State(inner): State<Inner>, request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched
        .as_ref()
        .map(|m| m.as_str())
        .unwrap_or(UNMATCHED_ROUTE);
    let faulted = inner.faults.affects_requests() && !exempt_from_faults(route);
    if !telemetry::exporting() {
        let mut response = if faulted {
            crate::faults::apply(&inner.faults, route, request, next).await
        } else {
            next.run(request).await
        };
        if let Some(matched) = matched {
            response.extensions_mut().insert(matched);
        }
        return response;
    }
    let method = request.method();
    let span = tracing::info_span!(
        "http.server",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        url.path = request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        service = inner.service,
    );
    let mut response = if span.is_disabled() {
        if faulted {
            crate::faults::apply(&inner.faults, route, request, next).await
        } else {
            next.run(request).await
        }
    } else {
        telemetry::set_parent_from_http(&span, request.headers());
        let run = async {
            if faulted {
                crate::faults::apply(&inner.faults, route, request, next).await
            } else {
                next.run(request).await
            }
        };
        let response = tracing::Instrument::instrument(run, span.clone()).await;
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            telemetry::mark_error(&span, &format!("HTTP {}", status.as_u16()));
        }
        response
    };
    if let Some(matched) = matched {
        response.extensions_mut().insert(matched);
    }
    response
}

/// One route of a service's API: its path template, method and handler.
pub struct Route<S> {
    /// The path template (`/jobs/{job_id}`), as metrics label it.
    pub path: &'static str,
    /// The method it answers.
    pub method: Method,
    router: MethodRouter<S>,
}

impl<S: Clone + Send + Sync + 'static> Route<S> {
    /// `GET path`.
    pub fn get<H: Handler<T, S>, T: 'static>(path: &'static str, handler: H) -> Self {
        Route {
            path,
            method: Method::GET,
            router: axum::routing::get(handler),
        }
    }

    /// `POST path`.
    pub fn post<H: Handler<T, S>, T: 'static>(path: &'static str, handler: H) -> Self {
        Route {
            path,
            method: Method::POST,
            router: axum::routing::post(handler),
        }
    }
}

/// A service's API from its route table: every route mounted once, its metrics
/// created at 0.
pub fn routes<S: Clone + Send + Sync + 'static>(
    table: Vec<Route<S>>,
    api: &ApiMetrics,
) -> Router<S> {
    let mut router = Router::new();
    for route in table {
        api.init_route(route.path, route.method.clone());
        router = router.route(route.path, route.router);
    }
    router
}

/// What every service is beside its own routes.
pub struct Service {
    /// Its name (the Prometheus job, the spans' `service.name`).
    pub name: &'static str,
    /// Its faults.
    pub faults: FaultState,
    /// Its `api_*` metrics.
    pub api: ApiMetrics,
    /// The CORS allowlist (the gateway's).
    pub cors: Option<Cors>,
    /// What `/health` checks beyond answering: `Err(why)` answers 503.
    pub health: Option<HealthCheck>,
}

/// A service's own health check: `Err` says what is wrong.
pub type HealthCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// `GET /health` of a service: 200 `ok`, or 503 `degraded` with the reason its
/// check gives, so an orchestrator restarts a service that answers but does not work.
fn health(service: &'static str, check: Option<HealthCheck>) -> MethodRouter {
    axum::routing::get(move || async move {
        match check.as_ref().map_or(Ok(()), |c| c()) {
            Ok(()) => axum::Json(serde_json::json!({ "status": "ok", "service": service }))
                .into_response(),
            Err(reason) => (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({
                    "status": "degraded", "service": service, "reason": reason
                })),
            )
                .into_response(),
        }
    })
}

/// Adds `GET /health` to a service's routes and wraps them with the shared
/// layers. (`/admin/faults` is on the metrics port: [`crate::metrics::router`].)
pub fn finish(service: Service, router: Router) -> Router {
    service.api.init_route(api::paths::HEALTH, Method::GET);
    let router = router.route(
        api::paths::HEALTH,
        health(service.name, service.health.clone()),
    );
    let Service {
        name,
        faults,
        api,
        cors,
        ..
    } = service;
    let routed = router
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(from_fn_with_state(
            Inner {
                service: name,
                faults,
            },
            inner,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .fallback_service(routed)
        .layer(from_fn_with_state(Edge { api, cors }, edge))
}
