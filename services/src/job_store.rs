//! The planning engine's durable record of jobs, beyond the `plan_jobs` rows the
//! status API reads:
//!
//! - each row keeps the job itself (`job`, its JSON), so a job answered 202 can be
//!   run again after a crash or a restart: at start, the in-process queue takes back
//!   every job a file database holds as unfinished ([`unfinished`]); JetStream
//!   redelivers its own, so a NATS engine does not;
//! - finished jobs and their plans are deleted a retention after they finish
//!   ([`expire`]), so an in-memory database does not grow for as long as it runs.

use std::time::Duration;

use rusqlite::Connection;

use crate::db::{Database, DbError};
use crate::queue::PlanJob;

/// Default time a finished job and its plan are kept (`PLAN_RETENTION_SECONDS`).
pub const RETENTION: Duration = Duration::from_secs(600);
/// How often expired jobs and plans are deleted.
pub const EXPIRE_EVERY: Duration = Duration::from_secs(30);

/// Adds the `job` column to a `plan_jobs` table made before it existed (a file
/// database from an older engine); a no-op otherwise.
pub fn migrate(db: &Connection) -> rusqlite::Result<()> {
    let has_job = db
        .prepare("SELECT 1 FROM pragma_table_info('plan_jobs') WHERE name = 'job'")?
        .exists([])?;
    if !has_job {
        db.execute_batch("ALTER TABLE plan_jobs ADD COLUMN job TEXT")?;
    }
    Ok(())
}

/// The job as stored in its row.
pub fn encode(job: &PlanJob) -> String {
    serde_json::to_string(job).unwrap_or_default()
}

/// Every job accepted but not finished (queued, running or retrying), oldest
/// first, with the deliveries it already had.
pub async fn unfinished(db: &Database) -> Result<Vec<(PlanJob, u32)>, DbError> {
    db.run("read", "plan_jobs", |c| {
        let mut statement = c.prepare(
            "SELECT job, attempts FROM plan_jobs
             WHERE status IN ('queued', 'running', 'retrying') AND job IS NOT NULL
             ORDER BY submitted_at_ms",
        )?;
        let rows =
            statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
        let mut jobs = Vec::new();
        for row in rows {
            let (json, attempts) = row?;
            match serde_json::from_str::<PlanJob>(&json) {
                Ok(job) => jobs.push((job, attempts)),
                Err(e) => tracing::warn!("an unfinished job's row is unreadable, skipped: {e}"),
            }
        }
        Ok(jobs)
    })
    .await
}

/// Deletes jobs that finished before `now_ms - retention`, and their plans.
/// Returns how many jobs went.
pub async fn expire(db: &Database, now_ms: u64, retention: Duration) -> Result<usize, DbError> {
    let before = now_ms.saturating_sub(retention.as_millis() as u64) as i64;
    db.run("delete", "plan_jobs", move |c| {
        c.execute(
            "DELETE FROM plans WHERE job_id IN (SELECT job_id FROM plan_jobs
               WHERE status IN ('completed', 'failed') AND finished_at_ms < ?1)",
            [before],
        )?;
        c.execute(
            "DELETE FROM plan_jobs WHERE status IN ('completed', 'failed') AND finished_at_ms < ?1",
            [before],
        )
    })
    .await
}
