//! gateway-bff: the public API. Authenticates athletes, applies CORS and the rate
//! limiter, forwards onboarding steps to profile-onboarding and queues plan jobs for
//! the planning engine (JetStream when `NATS_URL` is set, else over HTTP to the
//! engine's in-process queue).
//!
//! Routes:
//! - `GET /health`, `GET /api/health`
//! - `POST /api/v1/auth/token` `{"athleteId"?}`: a token for a test athlete
//!   (`AUTH_TEST_TOKENS`, on by default)
//! - `POST /api/v1/onboarding` `{"step", "data"}` and `GET /api/v1/onboarding` (bearer)
//! - `POST /api/v1/plans/generate` (bearer): 202 `{"jobId", "status": "queued"}`
//! - `GET /api/v1/plans/status?jobId=` (bearer): queued, running, retrying,
//!   completed (with the plan) or failed (with the reason)
//! - on the metrics port: `GET|PUT /admin/faults` (bearer `ADMIN_TOKEN`)

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use api::paths;
use async_nats::jetstream;
use axum::extract::{FromRequestParts, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use serde::Deserialize;
use serde_json::json;

use crate::app::{self, Route};
use crate::auth::{Auth, valid_athlete_id};
use crate::config::GatewayConfig;
use crate::cors::Cors;
use crate::error::{ApiError, Json, Query};
use crate::faults::FaultState;
use crate::metrics::{self, ApiMetrics};
use crate::queue::{self, PlanJob};
use crate::rate_limit::{RateLimiter, VerifiedAthlete};
use crate::server::{self, Built, Context, RuntimeMode, ServiceError, ServiceHandle};

/// Service name, as Prometheus jobs and spans know it.
pub const SERVICE: &str = "gateway-bff";

/// How plan jobs reach the planning engine.
#[derive(Clone)]
enum Dispatch {
    Nats(Box<jetstream::Context>),
    Http,
}

#[derive(Clone)]
struct Gateway {
    auth: Auth,
    http: reqwest::Client,
    profile_url: Arc<str>,
    planning_url: Arc<str>,
    dispatch: Dispatch,
    test_tokens: bool,
    started: Instant,
}

/// The authenticated athlete of a request.
struct Athlete(String);

impl FromRequestParts<Arc<Gateway>> for Athlete {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(VerifiedAthlete(id)) = parts.extensions.get::<VerifiedAthlete>() {
            return Ok(Athlete(id.clone()));
        }
        state.auth.athlete_from_headers(&parts.headers).map(Athlete)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Maps a failed upstream call to 502 or 504.
fn upstream_error(service: &str, e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            format!("{service} did not answer in time"),
        )
    } else {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            format!("{service} unreachable: {e}"),
        )
    }
}

/// Relays an upstream answer (status and JSON body) to the client.
async fn relay(service: &str, response: reqwest::Response) -> Result<Response, ApiError> {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let retry_after = response.headers().get(http::header::RETRY_AFTER).cloned();
    let body = response
        .bytes()
        .await
        .map_err(|e| upstream_error(service, e))?;
    let mut answer = (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    if let Some(v) = retry_after {
        answer.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    Ok(answer)
}

fn traced(builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let mut headers = http::HeaderMap::new();
    crate::telemetry::inject_http(&mut headers);
    builder.headers(headers)
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiHealth {
    status: &'static str,
    service: &'static str,
    version: &'static str,
    queue: &'static str,
    uptime_seconds: u64,
}

async fn api_health(State(state): State<Arc<Gateway>>) -> Response {
    let queue = match state.dispatch {
        Dispatch::Nats(_) => "nats",
        Dispatch::Http => "in-process",
    };
    axum::Json(ApiHealth {
        status: "ok",
        service: SERVICE,
        version: env!("CARGO_PKG_VERSION"),
        queue,
        uptime_seconds: state.started.elapsed().as_secs(),
    })
    .into_response()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenRequest {
    athlete_id: Option<String>,
}

async fn issue_token(
    State(state): State<Arc<Gateway>>,
    Json(body): Json<TokenRequest>,
) -> Result<Response, ApiError> {
    if !state.test_tokens {
        return Err(ApiError::not_found(
            "test_tokens_disabled",
            "test tokens are disabled (AUTH_TEST_TOKENS=false): use a token from your identity provider",
        ));
    }
    let athlete = body.athlete_id.unwrap_or_else(|| {
        format!(
            "athlete-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    });
    if !valid_athlete_id(&athlete) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_athlete",
            "athleteId must be 1-64 letters, digits, - _ .",
        ));
    }
    let token = state.auth.issue(&athlete)?;
    Ok(
        axum::Json(json!({ "token": token, "athleteId": athlete, "tokenType": "Bearer" }))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnboardingRequest {
    step: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

async fn onboarding_step(
    State(state): State<Arc<Gateway>>,
    Athlete(athlete): Athlete,
    Json(body): Json<OnboardingRequest>,
) -> Result<Response, ApiError> {
    if api::OnboardingStep::parse(&body.step).is_none() {
        let names: Vec<&str> = api::OnboardingStep::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_step",
            format!(
                "unknown onboarding step {:?}: use one of {}",
                body.step,
                names.join(", ")
            ),
        ));
    }
    let url = format!("{}/onboarding/{}", state.profile_url, body.step);
    let response = traced(state.http.post(&url))
        .header(crate::onboarding::ATHLETE_HEADER, &athlete)
        .json(&body.data.unwrap_or_else(|| json!({})))
        .send()
        .await
        .map_err(|e| upstream_error(crate::onboarding::SERVICE, e))?;
    relay(crate::onboarding::SERVICE, response).await
}

async fn onboarding_state(
    State(state): State<Arc<Gateway>>,
    Athlete(athlete): Athlete,
) -> Result<Response, ApiError> {
    let url = format!("{}/profiles/{athlete}", state.profile_url);
    let response = traced(state.http.get(&url))
        .send()
        .await
        .map_err(|e| upstream_error(crate::onboarding::SERVICE, e))?;
    relay(crate::onboarding::SERVICE, response).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PlanRequest {
    #[serde(default)]
    complexity: Option<String>,
    #[serde(default)]
    equipment_count: Option<u32>,
    #[serde(default)]
    availability_days: Option<u32>,
}

async fn generate_plan(
    State(state): State<Arc<Gateway>>,
    Athlete(athlete): Athlete,
    Json(body): Json<PlanRequest>,
) -> Result<Response, ApiError> {
    let job = PlanJob {
        job_id: state.auth.new_job_id(&athlete),
        athlete_id: athlete,
        complexity: body.complexity.unwrap_or_else(|| "standard".to_string()),
        equipment_count: body.equipment_count.unwrap_or(0),
        availability_days: body.availability_days.unwrap_or(3),
        submitted_at_ms: now_ms(),
        traceparent: None,
    };
    if let Some(why) = job.invalid() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_plan_request",
            why,
        ));
    }
    let span = tracing::info_span!(
        "plan.enqueue",
        otel.name = format!("{} publish", queue::PLAN_SUBJECT),
        otel.kind = "producer",
        messaging.system = "nats",
        messaging.destination.name = queue::PLAN_SUBJECT,
        plan.job_id = %job.job_id,
        user.id = %job.athlete_id,
    );
    let result = tracing::Instrument::instrument(dispatch(&state, &job), span.clone()).await;
    if let Err(e) = &result {
        crate::telemetry::mark_error(&span, &e.message);
    }
    result?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({
            "jobId": job.job_id,
            "status": "queued",
            "statusUrl": format!("{}?jobId={}", paths::PLANS_STATUS, job.job_id),
        })),
    )
        .into_response())
}

async fn dispatch(state: &Arc<Gateway>, job: &PlanJob) -> Result<(), ApiError> {
    match &state.dispatch {
        Dispatch::Nats(js) => queue::publish_job(js, job).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_unavailable",
                e.to_string(),
            )
            .with_retry_after(1)
        }),
        Dispatch::Http => {
            let url = format!("{}/jobs", state.planning_url);
            let response = traced(state.http.post(&url))
                .json(job)
                .send()
                .await
                .map_err(|e| upstream_error(crate::planning::SERVICE, e))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(refused(response).await)
            }
        }
    }
}

/// The planning engine's refusal of a job, as the gateway answers it. A full
/// queue is backpressure the client should see: 503 with the engine's
/// `Retry-After`, so a well-behaved client waits instead of retrying at once.
/// Anything else is the upstream's fault: 502.
async fn refused(response: reqwest::Response) -> ApiError {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let text = response.text().await.unwrap_or_default();
    let message = format!("planning-engine refused the job ({status}): {text}");
    match retry_after {
        Some(seconds) if status == StatusCode::SERVICE_UNAVAILABLE => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "queue_full", message)
                .with_retry_after(seconds)
        }
        _ => ApiError::new(StatusCode::BAD_GATEWAY, "queue_unavailable", message),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusQuery {
    job_id: String,
}

async fn plan_status(
    State(state): State<Arc<Gateway>>,
    Athlete(athlete): Athlete,
    Query(query): Query<StatusQuery>,
) -> Result<Response, ApiError> {
    let job_id = query.job_id;
    let unknown = || {
        ApiError::not_found(
            "job_not_found",
            format!("no plan job {job_id:?} for this athlete"),
        )
    };
    if !state.auth.job_belongs_to(&job_id, &athlete) {
        return Err(unknown());
    }
    let url = format!("{}/jobs/{job_id}", state.planning_url);
    let response = traced(state.http.get(&url))
        .send()
        .await
        .map_err(|e| upstream_error(crate::planning::SERVICE, e))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        // Issued by a gateway for this athlete but not yet taken from JetStream.
        return match state.dispatch {
            Dispatch::Nats(_) => {
                Ok(axum::Json(json!({ "jobId": job_id, "status": "queued" })).into_response())
            }
            Dispatch::Http => Err(unknown()),
        };
    }
    relay(crate::planning::SERVICE, response).await
}

/// The gateway's routes behind the rate limiter.
fn limited_routes() -> Vec<Route<Arc<Gateway>>> {
    vec![
        Route::post(paths::ONBOARDING, onboarding_step),
        Route::get(paths::ONBOARDING, onboarding_state),
        Route::post(paths::PLANS_GENERATE, generate_plan),
        Route::get(paths::PLANS_STATUS, plan_status),
    ]
}

/// The token endpoint, behind the per-IP limits.
fn token_routes() -> Vec<Route<Arc<Gateway>>> {
    vec![Route::post(paths::AUTH_TOKEN, issue_token)]
}

/// The gateway's unlimited route: health checks must not be refused.
fn open_routes() -> Vec<Route<Arc<Gateway>>> {
    vec![Route::get(paths::API_HEALTH, api_health)]
}

async fn build(config: GatewayConfig, ctx: Context) -> Result<Built, ServiceError> {
    let start_error = |message: String| ServiceError::Start {
        service: SERVICE,
        message,
    };
    let mut registry = metrics::new_registry(ctx.cpu_scope.clone());
    let api_metrics = ApiMetrics::register(&mut registry);
    let faults = FaultState::new(config.common.faults.gateway_bff.clone());
    let auth = Auth::new(&config.common.auth_secret, config.token_ttl);
    let dispatch = match &config.nats_url {
        Some(url) => Dispatch::Nats(Box::new(
            queue::connect_jetstream(url)
                .await
                .map_err(|e| start_error(e.to_string()))?,
        )),
        None => Dispatch::Http,
    };
    let http = reqwest::Client::builder()
        .timeout(config.upstream_timeout)
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| start_error(format!("cannot build the HTTP client: {e}")))?;
    let state = Arc::new(Gateway {
        auth: auth.clone(),
        http,
        profile_url: config.profile_onboarding_url.trim_end_matches('/').into(),
        planning_url: config.planning_engine_url.trim_end_matches('/').into(),
        dispatch,
        test_tokens: config.test_tokens,
        started: Instant::now(),
    });
    let limiter = RateLimiter::new(config.rate_limits, auth);
    limiter.spawn_cleanup(ctx.shutdown.clone());

    let limited = app::routes(limited_routes(), &api_metrics).route_layer(from_fn_with_state(
        limiter.clone(),
        crate::rate_limit::middleware,
    ));
    let tokens = app::routes(token_routes(), &api_metrics).route_layer(from_fn_with_state(
        limiter,
        crate::rate_limit::token_middleware,
    ));
    let api = limited
        .merge(tokens)
        .merge(app::routes(open_routes(), &api_metrics))
        .with_state(state);
    let service = app::Service {
        name: SERVICE,
        faults: faults.clone(),
        api: api_metrics,
        cors: Some(Cors::new(&config.cors_allowed_origins)),
        health: None,
    };
    let app = app::finish(service, api);
    Ok(Built {
        app,
        metrics: metrics::router(SERVICE, registry, faults, config.common.admin_token.clone()),
        drain: None,
    })
}

/// Starts gateway-bff.
pub async fn start(
    config: GatewayConfig,
    mode: RuntimeMode,
) -> Result<ServiceHandle, ServiceError> {
    let listen = config.listen;
    server::launch(
        SERVICE,
        listen,
        ("GATEWAY_BFF_PORT", "GATEWAY_BFF_METRICS_PORT"),
        mode,
        move |ctx| build(config, ctx),
    )
    .await
}
