//! `GET /admin/faults` and `PUT /admin/faults` on every service's metrics port
//! (the operator's, never the API port users reach), behind
//! `Authorization: Bearer $ADMIN_TOKEN`: read or replace the service's faults at run
//! time (the body is the service's table of the fault format, as JSON).

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode};

use crate::error::{ApiError, Json};
use crate::faults::{FaultState, ServiceFaults};

#[derive(Clone)]
struct AdminState {
    service: &'static str,
    token: String,
    faults: FaultState,
}

fn authorize(state: &AdminState, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if crate::auth::secrets_match(token, &state.token) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "wrong admin token (ADMIN_TOKEN)",
        )),
        None => Err(ApiError::unauthorized(
            "send Authorization: Bearer $ADMIN_TOKEN",
        )),
    }
}

async fn get_faults(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    Ok(axum::Json(state.faults.get()).into_response())
}

async fn put_faults(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Json(faults): Json<ServiceFaults>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    faults
        .validate(state.service)
        .map_err(|e| ApiError::bad_request("invalid_faults", e.to_string()))?;
    tracing::warn!(
        service = state.service,
        "faults replaced through /admin/faults: {faults:?}"
    );
    // Off the runtime's workers: a ballast is allocated and touched page by page.
    let applied = state.faults.clone();
    tokio::task::spawn_blocking(move || applied.set(faults))
        .await
        .map_err(|e| ApiError::internal(format!("applying the faults failed: {e}")))?;
    Ok(axum::Json(state.faults.get()).into_response())
}

/// The admin routes of `service`.
pub fn router(service: &'static str, token: String, faults: FaultState) -> Router {
    Router::new()
        .route(api::paths::ADMIN_FAULTS, get(get_faults).put(put_faults))
        .with_state(AdminState {
            service,
            token,
            faults,
        })
}
