//! planning-engine: generates training plans asynchronously.
//!
//! Jobs arrive from JetStream (`NATS_URL`) or from `POST /jobs` into the in-process
//! queue. At most `PLAN_CONCURRENCY` run at once. Each job is one plan generation: a
//! language model call, then database writes (the plan, the job's state). A transient
//! failure naks the delivery with a doubling delay; the last allowed delivery
//! (`PLAN_MAX_DELIVERIES`) that fails dead-letters the job and marks it failed. The
//! job's state is written before the ack, so nothing acked is lost.
//!
//! Routes: `GET /health`, `GET /queue/status`, `GET /concurrency/status`,
//! `POST /jobs`, `GET /jobs/{job_id}`; on the metrics port, `GET|PUT /admin/faults`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use rusqlite::OptionalExtension;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::{self, Route};
use crate::config::PlanningConfig;
use crate::db::Database;
use crate::error::{ApiError, Json};
use crate::faults::FaultState;
use crate::job_store;
use crate::llm::{Llm, LlmError};
use crate::metrics::{
    self, ApiMetrics, DbMetrics, FailureLabels, LlmMetrics, PlanMetrics, QueueMetrics,
};
use crate::queue::{self, Delivery, InProcessQueue, PlanJob, QueueError, Source};
use crate::server::{self, Built, Context, RuntimeMode, ServiceError, ServiceHandle};

/// Service name, as Prometheus jobs and spans know it.
pub const SERVICE: &str = "planning-engine";
/// Weeks in a generated plan.
const PLAN_WEEKS: u32 = 4;
/// Longest coach notes kept from the model's answer, in bytes.
const MAX_NOTES: usize = 2000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS plan_jobs (
    job_id TEXT PRIMARY KEY,
    athlete_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    plan_id TEXT,
    submitted_at_ms INTEGER NOT NULL,
    started_at_ms INTEGER,
    finished_at_ms INTEGER,
    job TEXT
);
CREATE TABLE IF NOT EXISTS plans (
    plan_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    athlete_id TEXT NOT NULL,
    model TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);";

/// Known database operations, created at 0 in the metrics.
const DB_OPERATIONS: [(&str, &str); 5] = [
    ("create", "plan_jobs"),
    ("update", "plan_jobs"),
    ("read", "plan_jobs"),
    ("delete", "plan_jobs"),
    ("create", "plans"),
];

/// Where jobs are queued.
#[derive(Clone)]
enum Backend {
    InProcess(InProcessQueue),
    Nats(jetstream::Context),
}

struct Engine {
    db: Database,
    llm: Llm,
    plans: PlanMetrics,
    queue: QueueMetrics,
    backend: Backend,
    faults: FaultState,
    concurrency: usize,
    in_flight: Arc<AtomicI64>,
    max_deliveries: u32,
    nak_backoff: Duration,
    /// Whether the consumer takes deliveries (false while JetStream is reopened).
    consuming: Arc<AtomicBool>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why a generation failed, and whether another delivery may succeed.
struct Failure {
    reason: &'static str,
    transient: bool,
    message: String,
}

impl Engine {
    /// Delay before delivery `attempt + 1`: the backoff doubled per failed attempt.
    fn backoff(&self, attempt: u32) -> Duration {
        self.nak_backoff * 2u32.saturating_pow(attempt.saturating_sub(1).min(10))
    }

    async fn set_status(
        &self,
        job: &PlanJob,
        status: &'static str,
        attempts: u32,
        error: Option<String>,
    ) -> Result<(), Failure> {
        let athlete = job.athlete_id.clone();
        let json = job_store::encode(job);
        let job = job.clone();
        let now = now_ms() as i64;
        self.db
            .run_for(&athlete, "update", "plan_jobs", move |c| {
                c.execute(
                    "INSERT INTO plan_jobs (job_id, athlete_id, status, attempts, error, submitted_at_ms, started_at_ms, job)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(job_id) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
                       error = excluded.error, started_at_ms = COALESCE(plan_jobs.started_at_ms, excluded.started_at_ms),
                       finished_at_ms = CASE WHEN excluded.status = 'failed' THEN ?7 ELSE plan_jobs.finished_at_ms END,
                       job = COALESCE(plan_jobs.job, excluded.job)",
                    rusqlite::params![job.job_id, job.athlete_id, status, attempts, error, job.submitted_at_ms as i64, now, json],
                )
            })
            .await
            .map(|_| ())
            .map_err(|e| Failure {
                reason: "database_error",
                transient: true,
                message: e.to_string(),
            })
    }

    /// Refuses, for good, a job that breaks the bounds (from any producer: a
    /// NATS publisher is not the gateway) or that was delivered past the limit
    /// (a job that crashed the engine comes back after each restart): it is
    /// dead-lettered without running.
    fn admit(&self, job: &PlanJob, attempt: u32) -> Result<(), Failure> {
        if let Some(why) = job.invalid() {
            return Err(Failure {
                reason: "invalid_job",
                transient: false,
                message: format!("invalid job: {why}"),
            });
        }
        if attempt > self.max_deliveries {
            return Err(Failure {
                reason: "max_deliveries",
                transient: false,
                message: format!(
                    "delivered {attempt} times, more than PLAN_MAX_DELIVERIES={}",
                    self.max_deliveries
                ),
            });
        }
        Ok(())
    }

    /// One plan generation: model call, then the plan and the job's state.
    async fn generate(&self, job: &PlanJob, attempt: u32) -> Result<(), Failure> {
        if attempt <= self.faults.with(|f| f.fail_attempts) {
            return Err(Failure {
                reason: "llm_error",
                transient: true,
                message: format!("injected transient failure on delivery {attempt}"),
            });
        }
        let prompt = format!(
            "Write a {PLAN_WEEKS}-week {} training plan for athlete {} with {} training days a week and {} pieces of equipment.",
            job.complexity, job.athlete_id, job.availability_days, job.equipment_count
        );
        let completion = self
            .llm
            .complete(&prompt, &job.athlete_id)
            .await
            .map_err(|e| Failure {
                reason: "llm_error",
                transient: matches!(e, LlmError::Transient(_)),
                message: e.to_string(),
            })?;

        let plan_id = uuid::Uuid::new_v4().to_string();
        let content = {
            let span = tracing::info_span!(
                "business.operation",
                otel.name = "assemble plan",
                "operation.type" = "plan.assemble",
                user.id = %job.athlete_id,
                data.size = tracing::field::Empty,
            );
            let _entered = span.enter();
            let content = assemble_plan(job, &plan_id, self.llm.model(), &completion.text);
            span.record("data.size", content.len());
            crate::telemetry::mark_ok(&span);
            content
        };
        let db_error = |e: crate::db::DbError| Failure {
            reason: "database_error",
            transient: true,
            message: e.to_string(),
        };
        let (job_id, athlete, model, pid) = (
            job.job_id.clone(),
            job.athlete_id.clone(),
            self.llm.model().to_string(),
            plan_id.clone(),
        );
        self.db
            .run_for(&job.athlete_id, "create", "plans", move |c| {
                c.execute(
                    "INSERT INTO plans (plan_id, job_id, athlete_id, model, content, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![pid, job_id, athlete, model, content, now_ms() as i64],
                )
            })
            .await
            .map_err(db_error)?;
        let job_id = job.job_id.clone();
        self.db
            .run_for(&job.athlete_id, "update", "plan_jobs", move |c| {
                c.execute(
                    "UPDATE plan_jobs SET status = 'completed', attempts = ?2, error = NULL, plan_id = ?3, finished_at_ms = ?4 WHERE job_id = ?1",
                    rusqlite::params![job_id, attempt, plan_id, now_ms() as i64],
                )
            })
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Handles one delivery to its end: ack, nak or dead letter.
    async fn process(&self, delivery: Delivery) {
        let job = delivery.job.clone();
        let attempt = delivery.attempt;
        let span = tracing::info_span!(
            "plan.generate",
            otel.name = "plan generation",
            otel.kind = "consumer",
            user.id = %job.athlete_id,
            plan.job_id = %job.job_id,
            plan.complexity = %job.complexity,
            plan.equipment_count = job.equipment_count,
            plan.availability_days = job.availability_days,
            messaging.system = "nats",
            messaging.operation = "process",
            messaging.delivery_attempt = attempt,
        );
        if let Some(headers) = &delivery.nats_headers {
            crate::telemetry::set_parent_from_nats(&span, headers);
        } else if let Some(tp) = &job.traceparent {
            crate::telemetry::set_parent_from_traceparent(&span, tp);
        }
        tracing::Instrument::instrument(
            self.process_in_span(delivery, job, attempt, &span),
            span.clone(),
        )
        .await;
    }

    async fn process_in_span(
        &self,
        delivery: Delivery,
        job: PlanJob,
        attempt: u32,
        span: &tracing::Span,
    ) {
        if attempt == 1 {
            self.plans.requests.inc();
        } else {
            self.queue.redeliveries.inc();
        }
        let result = async {
            self.admit(&job, attempt)?;
            self.set_status(&job, "running", attempt, None).await?;
            // Keep JetStream from redelivering a job that is still running.
            let progress = async {
                let mut tick = tokio::time::interval(queue::ACK_WAIT / 3);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    delivery.in_progress().await;
                }
            };
            tokio::select! {
                r = self.generate(&job, attempt) => r,
                _ = progress => unreachable!("the progress loop never ends"),
            }
        }
        .await;
        match result {
            Ok(()) => {
                if let Err(e) = delivery.ack(&self.queue).await {
                    tracing::error!(job = %job.job_id, "plan saved but ack failed (it may run again): {e}");
                }
                self.plans.success.inc();
                let seconds = now_ms().saturating_sub(job.submitted_at_ms) as f64 / 1000.0;
                metrics::observe(&self.plans.duration, seconds);
                crate::telemetry::mark_ok(span);
            }
            Err(failure) if failure.transient && attempt < self.max_deliveries => {
                tracing::info!(job = %job.job_id, attempt, "transient failure, redelivering: {}", failure.message);
                let _ = self
                    .set_status(&job, "retrying", attempt, Some(failure.message.clone()))
                    .await;
                if let Err(e) = delivery.nak(self.backoff(attempt), &self.queue).await {
                    tracing::error!(job = %job.job_id, "nak failed: {e}");
                }
                crate::telemetry::mark_error(span, &failure.message);
            }
            Err(failure) => {
                tracing::warn!(job = %job.job_id, attempt, "plan generation failed for good: {}", failure.message);
                let message = format!("{} (after {attempt} deliveries)", failure.message);
                let _ = self
                    .set_status(&job, "failed", attempt, Some(message.clone()))
                    .await;
                if let Err(e) = delivery.dead_letter(&message, &self.queue).await {
                    tracing::error!(job = %job.job_id, "dead-lettering failed: {e}");
                }
                self.plans
                    .failures
                    .get_or_create(&FailureLabels {
                        reason: failure.reason,
                    })
                    .inc();
                crate::telemetry::mark_error(span, &message);
            }
        }
    }
}

/// The plan document stored and returned: weeks of sessions plus the model's notes.
fn assemble_plan(job: &PlanJob, plan_id: &str, model: &str, notes: &str) -> String {
    const FOCUS: [&str; 6] = [
        "strength",
        "conditioning",
        "mobility",
        "power",
        "endurance",
        "recovery",
    ];
    let weeks: Vec<serde_json::Value> = (1..=PLAN_WEEKS)
        .map(|week| {
            let sessions: Vec<serde_json::Value> = (0..job.availability_days)
                .map(|day| {
                    json!({
                        "day": day + 1,
                        "focus": FOCUS[((week + day) as usize) % FOCUS.len()],
                        "minutes": 30 + 5 * ((week + day) % 6),
                        "usesEquipment": job.equipment_count > 0 && day % 2 == 0,
                    })
                })
                .collect();
            json!({ "week": week, "sessions": sessions })
        })
        .collect();
    let mut cut = notes.len().min(MAX_NOTES);
    while !notes.is_char_boundary(cut) {
        cut -= 1;
    }
    json!({
        "planId": plan_id,
        "model": model,
        "complexity": job.complexity,
        "weeks": weeks,
        "notes": &notes[..cut],
    })
    .to_string()
}

/// A job as `GET /jobs/{id}` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobView {
    job_id: String,
    athlete_id: String,
    status: String,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    submitted_at_ms: i64,
    started_at_ms: Option<i64>,
    finished_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<serde_json::Value>,
}

async fn get_job(
    State(engine): State<Arc<Engine>>,
    Path(job_id): Path<String>,
) -> Result<Response, ApiError> {
    if job_id.len() > 128 {
        return Err(ApiError::bad_request(
            "invalid_job_id",
            "job ids are at most 128 characters",
        ));
    }
    let id = job_id.clone();
    let view = engine
        .db
        .run("read", "plan_jobs", move |c| {
            c.query_row(
                "SELECT j.job_id, j.athlete_id, j.status, j.attempts, j.error, j.submitted_at_ms, j.started_at_ms,
                        j.finished_at_ms, p.content
                 FROM plan_jobs j LEFT JOIN plans p ON p.plan_id = j.plan_id WHERE j.job_id = ?1",
                [&id],
                |r| {
                    let content: Option<String> = r.get(8)?;
                    Ok(JobView {
                        job_id: r.get(0)?,
                        athlete_id: r.get(1)?,
                        status: r.get(2)?,
                        attempts: r.get(3)?,
                        error: r.get(4)?,
                        submitted_at_ms: r.get(5)?,
                        started_at_ms: r.get(6)?,
                        finished_at_ms: r.get(7)?,
                        plan: content.and_then(|c| serde_json::from_str(&c).ok()),
                    })
                },
            )
            .optional()
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", e.to_string()))?;
    match view {
        Some(view) => Ok(axum::Json(view).into_response()),
        None => Err(ApiError::not_found(
            "job_not_found",
            format!("no plan job {job_id:?}"),
        )),
    }
}

/// Seconds a client is asked to wait when the in-process queue is full.
const QUEUE_FULL_RETRY_AFTER_SECONDS: u64 = 5;

/// A job the in-process queue refused: 503, with `Retry-After` when it is full.
fn queue_refused(e: QueueError) -> ApiError {
    let full = matches!(e, QueueError::Full { .. });
    let error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        if full {
            "queue_full"
        } else {
            "queue_unavailable"
        },
        e.to_string(),
    );
    if full {
        error.with_retry_after(QUEUE_FULL_RETRY_AFTER_SECONDS)
    } else {
        error
    }
}

async fn submit_job(
    State(engine): State<Arc<Engine>>,
    Json(mut job): Json<PlanJob>,
) -> Result<Response, ApiError> {
    if let Some(why) = job.invalid() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_job",
            why,
        ));
    }
    if job.traceparent.is_none() {
        job.traceparent = crate::telemetry::current_traceparent();
    }
    // Refused before the job is recorded, so a full queue leaves no orphan row.
    if let Backend::InProcess(queue) = &engine.backend
        && queue.is_full()
    {
        return Err(queue_refused(QueueError::Full {
            capacity: queue.capacity(),
        }));
    }
    let record = job.clone();
    let json = job_store::encode(&job);
    let inserted = engine
        .db
        .run_for(&job.athlete_id, "create", "plan_jobs", move |c| {
            c.execute(
                "INSERT OR IGNORE INTO plan_jobs (job_id, athlete_id, status, submitted_at_ms, job) VALUES (?1, ?2, 'queued', ?3, ?4)",
                rusqlite::params![record.job_id, record.athlete_id, record.submitted_at_ms as i64, json],
            )
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", e.to_string()))?;
    if inserted == 0 {
        return Ok((
            StatusCode::OK,
            axum::Json(json!({ "jobId": job.job_id, "duplicate": true })),
        )
            .into_response());
    }
    match &engine.backend {
        Backend::InProcess(queue) => queue.enqueue(job.clone()).map_err(queue_refused)?,
        Backend::Nats(js) => queue::publish_job(js, &job).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_unavailable",
                e.to_string(),
            )
        })?,
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "jobId": job.job_id, "status": "queued" })),
    )
        .into_response())
}

async fn queue_status(State(engine): State<Arc<Engine>>) -> Result<Response, ApiError> {
    let in_flight = engine.in_flight.load(Ordering::Relaxed).max(0);
    let mut body = json!({
        "inFlight": in_flight,
        "acked": engine.queue.acks.get(),
        "nacked": engine.queue.naks.get(),
        "redelivered": engine.queue.redeliveries.get(),
        "deadLettered": engine.queue.dead_letters.get(),
        "maxDeliveries": engine.max_deliveries,
    });
    match &engine.backend {
        Backend::InProcess(queue) => {
            body["backend"] = json!("in-process");
            body["pending"] = json!(queue.pending());
        }
        Backend::Nats(js) => {
            let backlog = queue::nats_backlog(js).await.map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "queue_unavailable",
                    e.to_string(),
                )
            })?;
            body["backend"] = json!("nats");
            body["pending"] = json!(
                backlog.num_pending + (backlog.num_ack_pending.saturating_sub(in_flight as u64))
            );
            body["nats"] = serde_json::to_value(backlog).unwrap_or_default();
        }
    }
    Ok(axum::Json(body).into_response())
}

async fn concurrency_status(State(engine): State<Arc<Engine>>) -> Response {
    let in_flight = engine.in_flight.load(Ordering::Relaxed).max(0) as usize;
    axum::Json(json!({
        "inFlight": in_flight,
        "limit": engine.concurrency,
        "available": engine.concurrency.saturating_sub(in_flight),
    }))
    .into_response()
}

/// Takes deliveries while permits are free; at shutdown, stops taking and waits for
/// the jobs in flight.
async fn consume(engine: Arc<Engine>, mut source: Source, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(engine.concurrency));
    let mut running = JoinSet::new();
    let mut errors = 0;
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            d = source.next() => d,
        };
        match delivery {
            None if source.reopens() => {
                drop(permit);
                if !reopen(&engine, &mut source, &shutdown).await {
                    break;
                }
            }
            None => break,
            Some(Err(e)) => {
                tracing::warn!("plan queue: {e}");
                drop(permit);
                errors += 1;
                if errors >= ERRORS_BEFORE_REOPEN && source.reopens() {
                    if !reopen(&engine, &mut source, &shutdown).await {
                        break;
                    }
                    errors = 0;
                } else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Some(Ok(delivery)) => {
                errors = 0;
                let engine = engine.clone();
                engine.in_flight.fetch_add(1, Ordering::Relaxed);
                engine.queue.in_flight.inc();
                running.spawn(async move {
                    engine.process(delivery).await;
                    engine.in_flight.fetch_sub(1, Ordering::Relaxed);
                    engine.queue.in_flight.dec();
                    drop(permit);
                });
            }
        }
        // Reap finished tasks so the set stays small.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// `/health`'s check: the consumer takes deliveries and, with JetStream, the
/// connection to NATS is up (a pull stream just waits while it is down).
fn consumer_health(consuming: Arc<AtomicBool>, backend: &Backend) -> app::HealthCheck {
    let nats = match backend {
        Backend::Nats(js) => Some(js.client()),
        Backend::InProcess(_) => None,
    };
    Arc::new(move || {
        if !consuming.load(Ordering::Relaxed) {
            return Err(
                "the plan queue consumer is not consuming: JetStream cannot be reopened".into(),
            );
        }
        match &nats {
            Some(c) if c.connection_state() != async_nats::connection::State::Connected => {
                Err("the plan queue consumer is not consuming: disconnected from NATS".into())
            }
            _ => Ok(()),
        }
    })
}

/// Receive errors in a row after which the JetStream source is opened again.
const ERRORS_BEFORE_REOPEN: u32 = 3;
/// Longest pause between two tries to open the JetStream source again.
const MAX_REOPEN_BACKOFF: Duration = Duration::from_secs(5);

/// Opens the source again until it works, `/health` saying the engine is not
/// consuming meanwhile (a silent stop would leave jobs queued behind a healthy
/// engine); `false` when shut down first.
async fn reopen(engine: &Engine, source: &mut Source, shutdown: &CancellationToken) -> bool {
    engine.consuming.store(false, Ordering::Relaxed);
    let mut backoff = Duration::from_millis(100);
    loop {
        match source.reopen().await {
            Ok(()) => {
                tracing::info!("plan queue: consuming again");
                engine.consuming.store(true, Ordering::Relaxed);
                return true;
            }
            Err(e) => tracing::warn!("plan queue: not consuming, retrying in {backoff:?}: {e}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_REOPEN_BACKOFF);
    }
}

/// Refreshes the pending gauge for dashboards.
async fn watch_backlog(engine: Arc<Engine>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let pending = match &engine.backend {
            Backend::InProcess(queue) => queue.pending(),
            Backend::Nats(js) => match queue::nats_backlog(js).await {
                Ok(b) => {
                    (b.num_pending
                        + b.num_ack_pending
                            .saturating_sub(engine.in_flight.load(Ordering::Relaxed).max(0) as u64))
                        as i64
                }
                Err(_) => continue,
            },
        };
        engine.queue.pending.set(pending);
    }
}

/// The API of planning-engine.
fn routes() -> Vec<Route<Arc<Engine>>> {
    vec![
        Route::post("/jobs", submit_job),
        Route::get("/jobs/{job_id}", get_job),
        Route::get("/queue/status", queue_status),
        Route::get("/concurrency/status", concurrency_status),
    ]
}

async fn build(config: PlanningConfig, ctx: Context) -> Result<Built, ServiceError> {
    let start_error = |message: String| ServiceError::Start {
        service: SERVICE,
        message,
    };
    let mut registry = metrics::new_registry(ctx.cpu_scope.clone());
    let api_metrics = ApiMetrics::register(&mut registry);
    let plans = PlanMetrics::register(&mut registry);
    let llm_metrics = LlmMetrics::register(&mut registry, &config.llm.model);
    let db_metrics = DbMetrics::register(&mut registry, &DB_OPERATIONS);
    let queue_metrics = QueueMetrics::register(&mut registry);
    queue_metrics
        .concurrency_limit
        .set(config.concurrency as i64);
    let faults = FaultState::new(config.common.faults.planning_engine.clone());
    let db = Database::open(&config.database_url, SCHEMA, db_metrics, faults.clone())
        .map_err(|e| start_error(e.to_string()))?;
    db.run("update", "plan_jobs", job_store::migrate)
        .await
        .map_err(|e| start_error(format!("cannot migrate plan_jobs: {e}")))?;
    let (backend, source) = backend(&config, &db).await.map_err(start_error)?;
    let consuming = Arc::new(AtomicBool::new(true));
    let engine = Arc::new(Engine {
        db,
        llm: Llm::new(config.llm.clone(), llm_metrics, faults.clone()),
        plans,
        queue: queue_metrics,
        backend,
        faults: faults.clone(),
        concurrency: config.concurrency,
        in_flight: Arc::new(AtomicI64::new(0)),
        max_deliveries: config.max_deliveries,
        nak_backoff: config.nak_backoff,
        consuming: consuming.clone(),
    });

    let api = app::routes(routes(), &api_metrics).with_state(engine.clone());
    let service = app::Service {
        name: SERVICE,
        faults: faults.clone(),
        api: api_metrics,
        cors: None,
        health: Some(consumer_health(consuming, &engine.backend)),
    };
    let app = app::finish(service, api);

    let consumer = tokio::spawn(consume(engine.clone(), source, ctx.shutdown.clone()));
    if let Some(retention) = config.retention {
        tokio::spawn(expire_finished(
            engine.clone(),
            retention,
            ctx.shutdown.clone(),
        ));
    }
    let watcher = tokio::spawn(watch_backlog(engine, ctx.shutdown.clone()));
    Ok(Built {
        app,
        metrics: metrics::router(SERVICE, registry, faults, config.common.admin_token.clone()),
        drain: Some(Box::pin(async move {
            let _ = consumer.await;
            let _ = watcher.await;
        })),
    })
}

/// The queue jobs go through: JetStream with `NATS_URL` (it redelivers what a
/// crashed engine held), else the in-process queue, which takes back the jobs
/// the database holds as unfinished (none in a fresh `:memory:` database).
async fn backend(config: &PlanningConfig, db: &Database) -> Result<(Backend, Source), String> {
    if let Some(url) = &config.nats_url {
        let js = queue::connect_jetstream(url)
            .await
            .map_err(|e| e.to_string())?;
        let source = Source::nats(js.clone(), config.concurrency)
            .await
            .map_err(|e| e.to_string())?;
        return Ok((Backend::Nats(js), source));
    }
    let (queue, rx) = InProcessQueue::new(config.queue_capacity);
    let unfinished = job_store::unfinished(db)
        .await
        .map_err(|e| format!("cannot read the unfinished jobs: {e}"))?;
    if !unfinished.is_empty() {
        tracing::info!(
            "{} unfinished jobs from the database queued again",
            unfinished.len()
        );
    }
    for (job, attempts) in unfinished {
        // The delivery a crash interrupted counts: a job that kills the engine
        // each time is dead-lettered at the limit instead of looping.
        queue
            .requeue(job, attempts + 1)
            .map_err(|e| e.to_string())?;
    }
    Ok((
        Backend::InProcess(queue.clone()),
        Source::InProcess { queue, rx },
    ))
}

/// Deletes finished jobs and their plans past `retention`, every
/// [`job_store::EXPIRE_EVERY`], so the database does not grow while it runs.
async fn expire_finished(engine: Arc<Engine>, retention: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(job_store::EXPIRE_EVERY.min(retention));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        match job_store::expire(&engine.db, now_ms(), retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!("{n} finished jobs past their retention deleted"),
            Err(e) => tracing::warn!("expiring finished jobs: {e}"),
        }
    }
}

/// Starts planning-engine.
pub async fn start(
    config: PlanningConfig,
    mode: RuntimeMode,
) -> Result<ServiceHandle, ServiceError> {
    let listen = config.listen;
    server::launch(
        SERVICE,
        listen,
        ("PLANNING_ENGINE_PORT", "PLANNING_ENGINE_METRICS_PORT"),
        mode,
        move |ctx| build(config, ctx),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_have_a_session_per_available_day() {
        let job = PlanJob {
            job_id: "j".into(),
            athlete_id: "a".into(),
            complexity: "standard".into(),
            equipment_count: 5,
            availability_days: 3,
            submitted_at_ms: 0,
            traceparent: None,
        };
        let plan: serde_json::Value = serde_json::from_str(&assemble_plan(
            &job,
            "p",
            "gpt-4",
            "é".repeat(3000).as_str(),
        ))
        .unwrap();
        assert_eq!(plan["weeks"].as_array().unwrap().len(), PLAN_WEEKS as usize);
        assert_eq!(plan["weeks"][0]["sessions"].as_array().unwrap().len(), 3);
        assert!(plan["notes"].as_str().unwrap().len() <= MAX_NOTES);
    }
}
