//! profile-onboarding: the onboarding steps and athlete profiles.
//!
//! Routes (called by the gateway, which authenticates the athlete and passes the id in
//! `X-Athlete-Id`):
//! - `POST /onboarding/{step}`: one step, in any order; `complete` needs the four
//!   others and counts the completion once (`onboarding_completions_total`).
//! - `GET /profiles/{athlete_id}`: the profile so far.
//! - `GET /health`; on the metrics port, `GET|PUT /admin/faults`.
//!
//! An in-memory database deletes a profile `PROFILE_RETENTION_SECONDS` (600)
//! after its last step, so it holds the recent athletes, not every athlete of a
//! long run; a file database keeps profiles unless told otherwise.
//!
//! Steps and their bodies: `purpose_selection {"purpose"}`, `proficiency
//! {"proficiency"}`, `equipment {"equipment": [..]}`, `availability {"days",
//! "minutesPerSession"?}`, `complete {}`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::{self, Route};
use crate::config::OnboardingConfig;
use crate::db::Database;
use crate::error::{ApiError, Json};
use crate::faults::FaultState;
use crate::metrics::{self, ApiMetrics, DbMetrics, OnboardingMetrics};
use crate::server::{self, Built, Context, RuntimeMode, ServiceError, ServiceHandle};
use api::OnboardingStep;

/// Service name, as Prometheus jobs and spans know it.
pub const SERVICE: &str = "profile-onboarding";
/// Header carrying the authenticated athlete id from the gateway.
pub const ATHLETE_HEADER: &str = "x-athlete-id";

/// Accepted purposes.
pub const PURPOSES: [&str; 5] = [
    "sport_performance",
    "general_fitness",
    "weight_loss",
    "rehabilitation",
    "endurance",
];
/// Accepted proficiency levels.
pub const PROFICIENCIES: [&str; 4] = ["beginner", "intermediate", "advanced", "elite"];
/// Most equipment items in a profile.
const MAX_EQUIPMENT: usize = 50;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS profiles (
    athlete_id TEXT PRIMARY KEY,
    purpose TEXT,
    proficiency TEXT,
    equipment TEXT,
    availability_days INTEGER,
    minutes_per_session INTEGER,
    completed_at_ms INTEGER,
    updated_at_ms INTEGER NOT NULL
);";

#[derive(Clone)]
struct Onboarding {
    db: Database,
    metrics: OnboardingMetrics,
}

/// A profile as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The athlete.
    pub athlete_id: String,
    /// What they train for.
    pub purpose: Option<String>,
    /// How experienced they are.
    pub proficiency: Option<String>,
    /// What they train with.
    pub equipment: Option<Vec<String>>,
    /// Days per week.
    pub availability_days: Option<u32>,
    /// Minutes per session.
    pub minutes_per_session: Option<u32>,
    /// Whether onboarding is complete.
    pub completed: bool,
}

impl Profile {
    fn missing_steps(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.purpose.is_none() {
            missing.push(OnboardingStep::PurposeSelection.as_str());
        }
        if self.proficiency.is_none() {
            missing.push(OnboardingStep::Proficiency.as_str());
        }
        if self.equipment.is_none() {
            missing.push(OnboardingStep::Equipment.as_str());
        }
        if self.availability_days.is_none() {
            missing.push(OnboardingStep::Availability.as_str());
        }
        missing
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurposeData {
    purpose: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProficiencyData {
    proficiency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EquipmentData {
    equipment: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AvailabilityData {
    days: u32,
    minutes_per_session: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteData {}

fn parse<T: serde::de::DeserializeOwned>(
    step: &str,
    data: serde_json::Value,
    example: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(data).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_step_data",
            format!("step {step}: {e}; expected a body like {example}"),
        )
    })
}

fn invalid(step: &str, message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_step_data",
        format!("step {step}: {message}"),
    )
}

fn athlete_id(headers: &HeaderMap) -> Result<String, ApiError> {
    let id = headers
        .get(ATHLETE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::bad_request("missing_athlete", "send the athlete id in X-Athlete-Id")
        })?;
    if !crate::auth::valid_athlete_id(id) {
        return Err(ApiError::bad_request(
            "invalid_athlete",
            "X-Athlete-Id must be 1-64 letters, digits, - _ .",
        ));
    }
    Ok(id.to_string())
}

async fn read_profile(db: &Database, athlete: &str) -> Result<Option<Profile>, ApiError> {
    let athlete = athlete.to_string();
    db.run_for(&athlete.clone(), "read", "profiles", move |c| {
        c.query_row(
            "SELECT athlete_id, purpose, proficiency, equipment, availability_days, minutes_per_session, completed_at_ms
             FROM profiles WHERE athlete_id = ?1",
            [&athlete],
            |r| {
                let equipment: Option<String> = r.get(3)?;
                Ok(Profile {
                    athlete_id: r.get(0)?,
                    purpose: r.get(1)?,
                    proficiency: r.get(2)?,
                    equipment: equipment.and_then(|e| serde_json::from_str(&e).ok()),
                    availability_days: r.get(4)?,
                    minutes_per_session: r.get(5)?,
                    completed: r.get::<_, Option<i64>>(6)?.is_some(),
                })
            },
        )
        .optional()
    })
    .await
    .map_err(db_unavailable)
}

fn db_unavailable(e: crate::db::DbError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        e.to_string(),
    )
    .with_retry_after(1)
}

/// Writes one column of a profile, creating the profile if needed.
async fn upsert(
    db: &Database,
    operation: &'static str,
    athlete: String,
    column: &'static str,
    value: rusqlite::types::Value,
) -> Result<(), ApiError> {
    let user = athlete.clone();
    db.run_for(&user, operation, "profiles", move |c| {
        c.execute(
            &format!(
                "INSERT INTO profiles (athlete_id, {column}, updated_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(athlete_id) DO UPDATE SET {column} = excluded.{column}, updated_at_ms = excluded.updated_at_ms"
            ),
            rusqlite::params![athlete, value, now_ms()],
        )
    })
    .await
    .map(|_| ())
    .map_err(db_unavailable)
}

async fn step(
    State(state): State<Onboarding>,
    Path(step): Path<String>,
    headers: HeaderMap,
    Json(data): Json<serde_json::Value>,
) -> Result<Response, ApiError> {
    let Some(step) = OnboardingStep::parse(&step) else {
        let names: Vec<&str> = OnboardingStep::ALL.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::not_found(
            "unknown_step",
            format!(
                "unknown onboarding step {step:?}: use one of {}",
                names.join(", ")
            ),
        ));
    };
    let start = Instant::now();
    let span = tracing::info_span!(
        "onboarding.step",
        otel.name = format!("onboarding {}", step.as_str()),
        onboarding.step = step.as_str(),
        user.id = tracing::field::Empty,
        onboarding.purpose = tracing::field::Empty,
        onboarding.proficiency = tracing::field::Empty,
    );
    let result = tracing::Instrument::instrument(
        handle_step(&state, step, &headers, data, &span),
        span.clone(),
    )
    .await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(e) if e.status.is_client_error() => "invalid",
        Err(_) => "error",
    };
    let _entered = span.enter();
    state
        .metrics
        .record_step(step.as_str(), outcome, start.elapsed().as_secs_f64());
    match &result {
        Ok(_) => crate::telemetry::mark_ok(&span),
        Err(e) => crate::telemetry::mark_error(&span, &e.message),
    }
    result
}

/// `purpose_selection {"purpose"}`.
async fn purpose(
    db: &Database,
    athlete: &str,
    data: serde_json::Value,
    span: &tracing::Span,
) -> Result<(), ApiError> {
    let step = OnboardingStep::PurposeSelection.as_str();
    let d: PurposeData = parse(step, data, r#"{"purpose": "sport_performance"}"#)?;
    if !PURPOSES.contains(&d.purpose.as_str()) {
        return Err(invalid(
            step,
            format!(
                "purpose {:?} is not one of {}",
                d.purpose,
                PURPOSES.join(", ")
            ),
        ));
    }
    span.record("onboarding.purpose", d.purpose.as_str());
    upsert(
        db,
        "create",
        athlete.to_string(),
        "purpose",
        d.purpose.into(),
    )
    .await
}

/// `proficiency {"proficiency"}`.
async fn proficiency(
    db: &Database,
    athlete: &str,
    data: serde_json::Value,
    span: &tracing::Span,
) -> Result<(), ApiError> {
    let step = OnboardingStep::Proficiency.as_str();
    let d: ProficiencyData = parse(step, data, r#"{"proficiency": "intermediate"}"#)?;
    if !PROFICIENCIES.contains(&d.proficiency.as_str()) {
        return Err(invalid(
            step,
            format!(
                "proficiency {:?} is not one of {}",
                d.proficiency,
                PROFICIENCIES.join(", ")
            ),
        ));
    }
    span.record("onboarding.proficiency", d.proficiency.as_str());
    upsert(
        db,
        "update",
        athlete.to_string(),
        "proficiency",
        d.proficiency.into(),
    )
    .await
}

/// `equipment {"equipment": [...]}`.
async fn equipment(db: &Database, athlete: &str, data: serde_json::Value) -> Result<(), ApiError> {
    let step = OnboardingStep::Equipment.as_str();
    let d: EquipmentData = parse(step, data, r#"{"equipment": ["dumbbells", "bench"]}"#)?;
    if d.equipment.len() > MAX_EQUIPMENT || d.equipment.iter().any(|e| e.is_empty() || e.len() > 64)
    {
        return Err(invalid(
            step,
            format!("use at most {MAX_EQUIPMENT} items of 1 to 64 characters"),
        ));
    }
    let json = serde_json::Value::from(d.equipment).to_string();
    upsert(db, "update", athlete.to_string(), "equipment", json.into()).await
}

/// `availability {"days", "minutesPerSession"}`.
async fn availability(
    db: &Database,
    athlete: &str,
    data: serde_json::Value,
) -> Result<(), ApiError> {
    let step = OnboardingStep::Availability.as_str();
    let d: AvailabilityData = parse(step, data, r#"{"days": 3, "minutesPerSession": 45}"#)?;
    if !(1..=7).contains(&d.days) {
        return Err(invalid(
            step,
            format!("days = {} must be between 1 and 7", d.days),
        ));
    }
    if let Some(m) = d.minutes_per_session
        && !(10..=240).contains(&m)
    {
        return Err(invalid(
            step,
            format!("minutesPerSession = {m} must be between 10 and 240"),
        ));
    }
    let athlete2 = athlete.to_string();
    db.run_for(athlete, "update", "profiles", move |c| {
        c.execute(
            "INSERT INTO profiles (athlete_id, availability_days, minutes_per_session, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(athlete_id) DO UPDATE SET availability_days = excluded.availability_days,
               minutes_per_session = excluded.minutes_per_session, updated_at_ms = excluded.updated_at_ms",
            rusqlite::params![athlete2, d.days, d.minutes_per_session, now_ms()],
        )
    })
    .await
    .map(|_| ())
    .map_err(db_unavailable)
}

/// `complete {}`: needs the four other steps; counts once per athlete.
async fn complete(
    state: &Onboarding,
    athlete: &str,
    data: serde_json::Value,
) -> Result<Response, ApiError> {
    let step = OnboardingStep::Complete.as_str();
    let _: CompleteData = parse(step, data, "{}")?;
    let db = &state.db;
    let profile = read_profile(db, athlete).await?.unwrap_or_else(|| Profile {
        athlete_id: athlete.to_string(),
        ..Default::default()
    });
    let missing = profile.missing_steps();
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "onboarding_incomplete",
            format!("complete the steps {} first", missing.join(", ")),
        ));
    }
    if !profile.completed {
        let athlete2 = athlete.to_string();
        let changed = db
            .run_for(athlete, "update", "profiles", move |c| {
                c.execute(
                    "UPDATE profiles SET completed_at_ms = ?2, updated_at_ms = ?2 WHERE athlete_id = ?1 AND completed_at_ms IS NULL",
                    rusqlite::params![athlete2, now_ms()],
                )
            })
            .await
            .map_err(db_unavailable)?;
        if changed == 1 {
            state.metrics.completions.inc();
        }
    }
    Ok(axum::Json(json!({
        "athleteId": athlete,
        "step": step,
        "completed": true,
        "profile": Profile { completed: true, ..profile },
    }))
    .into_response())
}

async fn handle_step(
    state: &Onboarding,
    step: OnboardingStep,
    headers: &HeaderMap,
    data: serde_json::Value,
    span: &tracing::Span,
) -> Result<Response, ApiError> {
    let athlete = athlete_id(headers)?;
    span.record("user.id", athlete.as_str());
    let db = &state.db;
    match step {
        OnboardingStep::PurposeSelection => purpose(db, &athlete, data, span).await?,
        OnboardingStep::Proficiency => proficiency(db, &athlete, data, span).await?,
        OnboardingStep::Equipment => equipment(db, &athlete, data).await?,
        OnboardingStep::Availability => availability(db, &athlete, data).await?,
        OnboardingStep::Complete => return complete(state, &athlete, data).await,
    }
    Ok(
        axum::Json(json!({ "athleteId": athlete, "step": step.as_str(), "completed": false }))
            .into_response(),
    )
}

async fn get_profile(
    State(state): State<Onboarding>,
    Path(athlete): Path<String>,
) -> Result<Response, ApiError> {
    if !crate::auth::valid_athlete_id(&athlete) {
        return Err(ApiError::bad_request(
            "invalid_athlete",
            "athlete ids are 1-64 letters, digits, - _ .",
        ));
    }
    match read_profile(&state.db, &athlete).await? {
        Some(profile) => Ok(axum::Json(profile).into_response()),
        None => Err(ApiError::not_found(
            "profile_not_found",
            format!("no profile for athlete {athlete}"),
        )),
    }
}

/// Known database operations, created at 0 in the metrics.
const DB_OPERATIONS: [(&str, &str); 4] = [
    ("create", "profiles"),
    ("read", "profiles"),
    ("update", "profiles"),
    ("delete", "profiles"),
];

/// How often profiles past their retention are deleted.
const EXPIRE_EVERY: Duration = Duration::from_secs(30);

/// Deletes the profiles whose last step was before `now_ms - retention`;
/// returns how many went.
pub async fn expire_profiles(
    db: &Database,
    now_ms: i64,
    retention: Duration,
) -> Result<usize, crate::db::DbError> {
    let before = now_ms.saturating_sub(retention.as_millis() as i64);
    db.run("delete", "profiles", move |c| {
        c.execute("DELETE FROM profiles WHERE updated_at_ms < ?1", [before])
    })
    .await
}

/// Deletes profiles past `retention` every [`EXPIRE_EVERY`]: an in-memory
/// database then holds the athletes of the last `retention`, not of the whole run.
async fn expire_loop(db: Database, retention: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EXPIRE_EVERY.min(retention));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        match expire_profiles(&db, now_ms(), retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!("{n} profiles past their retention deleted"),
            Err(e) => tracing::warn!("expiring profiles: {e}"),
        }
    }
}

/// The API of profile-onboarding.
fn routes() -> Vec<Route<Onboarding>> {
    vec![
        Route::post("/onboarding/{step}", step),
        Route::get("/profiles/{athlete_id}", get_profile),
    ]
}

async fn build(config: OnboardingConfig, ctx: Context) -> Result<Built, ServiceError> {
    let start_error = |message: String| ServiceError::Start {
        service: SERVICE,
        message,
    };
    let mut registry = metrics::new_registry(ctx.cpu_scope.clone());
    let api_metrics = ApiMetrics::register(&mut registry);
    let onboarding_metrics = OnboardingMetrics::register(&mut registry);
    let db_metrics = DbMetrics::register(&mut registry, &DB_OPERATIONS);
    let faults = FaultState::new(config.common.faults.profile_onboarding.clone());
    let db = Database::open(&config.database_url, SCHEMA, db_metrics, faults.clone())
        .map_err(|e| start_error(e.to_string()))?;
    if let Some(retention) = config.profile_retention {
        tokio::spawn(expire_loop(db.clone(), retention, ctx.shutdown.clone()));
    }
    let state = Onboarding {
        db,
        metrics: onboarding_metrics,
    };

    let api = app::routes(routes(), &api_metrics).with_state(state);
    let service = app::Service {
        name: SERVICE,
        faults: faults.clone(),
        api: api_metrics,
        cors: None,
        health: None,
    };
    let app = app::finish(service, api);
    Ok(Built {
        app,
        metrics: metrics::router(SERVICE, registry, faults, config.common.admin_token.clone()),
        drain: None,
    })
}

/// Starts profile-onboarding.
pub async fn start(
    config: OnboardingConfig,
    mode: RuntimeMode,
) -> Result<ServiceHandle, ServiceError> {
    let listen = config.listen;
    server::launch(
        SERVICE,
        listen,
        ("PROFILE_ONBOARDING_PORT", "PROFILE_ONBOARDING_METRICS_PORT"),
        mode,
        move |ctx| build(config, ctx),
    )
    .await
}
