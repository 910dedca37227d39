//! The layers every service's HTTP API shares, in two middlewares so a request pays
//! for as little as possible:
//! - **edge**, outside the router, sees every request (a refused origin, an unknown
//!   path, a preflight): the gateway's CORS check, and the `api_*` metrics.
//! - **inner**, on the routes: a server span per request (child of the caller's
//!   `traceparent`), the injected faults (not on `/health` and `/admin/*`), and the
//!   matched route handed back to the edge in the response's extensions.
//!
//! Plus JSON 404 and 405 answers and the body size limit.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;

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
            crate::cors::Decision::Allowed(origin) => {
                let mut response = next.run(request).await;
                crate::cors::decorate(&mut response, origin);
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
    route == "/health" || route.starts_with("/admin/")
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

/// Wraps a service's routes with the shared layers.
pub fn finish(
    service: &'static str,
    router: Router,
    api: ApiMetrics,
    cors: Option<Cors>,
    faults: FaultState,
) -> Router {
    let routed = router
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(from_fn_with_state(Inner { service, faults }, inner))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .fallback_service(routed)
        .layer(from_fn_with_state(Edge { api, cors }, edge))
}
