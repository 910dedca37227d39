//! The embedded SQL database (SQLite) of profile-onboarding and planning-engine.
//!
//! One connection behind a mutex, used from blocking threads: SQLite serialises
//! writes anyway, and an operation here takes tens of microseconds. Every operation
//! is timed into `database_query_duration_seconds` and counted in
//! `database_queries_total` by operation and table, with injected latency and
//! errors applied first (see `faults`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;
use rusqlite::Connection;

use crate::faults::FaultState;
use crate::metrics::{DbMetrics, QueryLabels, QueryStatusLabels, observe};

/// Where the database lives, parsed from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// `sqlite::memory:`.
    Memory,
    /// A file.
    File(PathBuf),
}

impl DatabaseLocation {
    /// Accepts `sqlite::memory:`, `:memory:`, `sqlite://PATH`, `sqlite:PATH` or a plain path.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(DbError::Config(
                "DATABASE_URL is empty: use sqlite::memory: or a file path".into(),
            ));
        }
        if matches!(
            url,
            "sqlite::memory:" | ":memory:" | "sqlite://:memory:" | "memory"
        ) {
            return Ok(DatabaseLocation::Memory);
        }
        if url.contains("://") && !url.starts_with("sqlite://") {
            return Err(DbError::Config(format!(
                "DATABASE_URL={url:?} is not SQLite: use sqlite::memory:, sqlite://PATH or a file path"
            )));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        Ok(DatabaseLocation::File(PathBuf::from(path)))
    }
}

#[derive(Debug, thiserror::Error)]
/// A database operation that failed.
pub enum DbError {
    #[error("database configuration: {0}")]
    /// `DATABASE_URL` cannot be used.
    Config(String),
    #[error("database operation {operation} on {table} failed: {source}")]
    /// SQLite refused the operation.
    Sqlite {
        /// The operation (`create`, `read`, `update`).
        operation: &'static str,
        /// The table.
        table: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    #[error("database operation {operation} on {table} failed (injected fault)")]
    /// A fault made it fail.
    Injected {
        /// The operation.
        operation: &'static str,
        /// The table.
        table: &'static str,
    },
    #[error("database worker stopped: {0}")]
    /// The database's worker thread is gone.
    Worker(String),
}

/// A database handle; cheap to clone.
#[derive(Clone)]
pub struct Database {
    conn: Arc<Mutex<Connection>>,
    metrics: DbMetrics,
    faults: FaultState,
}

impl Database {
    /// Opens the database and applies `schema` (idempotent SQL).
    pub fn open(
        url: &str,
        schema: &str,
        metrics: DbMetrics,
        faults: FaultState,
    ) -> Result<Database, DbError> {
        let location = DatabaseLocation::parse(url)?;
        let conn = match &location {
            DatabaseLocation::Memory => Connection::open_in_memory(),
            DatabaseLocation::File(path) => Connection::open(path),
        }
        .map_err(|e| DbError::Config(format!("cannot open DATABASE_URL={url:?}: {e}")))?;
        if let DatabaseLocation::File(_) = location {
            conn.pragma_update(None, "journal_mode", "WAL")
                .and_then(|_| conn.pragma_update(None, "synchronous", "NORMAL"))
                .map_err(|e| DbError::Config(format!("cannot configure {url:?}: {e}")))?;
        }
        conn.busy_timeout(Duration::from_secs(5))
            .and_then(|_| conn.execute_batch(schema))
            .map_err(|e| DbError::Config(format!("cannot create the schema in {url:?}: {e}")))?;
        Ok(Database {
            conn: Arc::new(Mutex::new(conn)),
            metrics,
            faults,
        })
    }

    /// Runs one operation, timed and counted as `operation` on `table`
    /// (`create`, `read`, `update`, `delete`).
    pub async fn run<T, F>(
        &self,
        operation: &'static str,
        table: &'static str,
        f: F,
    ) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.run_for("", operation, table, f).await
    }

    /// [`Database::run`] on behalf of an athlete (the span's `user.id`).
    pub async fn run_for<T, F>(
        &self,
        user: &str,
        operation: &'static str,
        table: &'static str,
        f: F,
    ) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let span = tracing::info_span!(
            "db.operation",
            otel.name = format!("db {operation} {table}"),
            db.system = "sqlite",
            db.operation = operation,
            db.sql.table = table,
            user.id = tracing::field::Empty,
        );
        if !user.is_empty() {
            span.record("user.id", user);
        }
        let start = Instant::now();
        let (delay, fail) = self.faults.with(|f| {
            let fault = &f.database;
            if !fault.applies_to(table) {
                return (Duration::ZERO, false);
            }
            let fail = fault.error_rate > 0.0 && rand::rng().random_bool(fault.error_rate);
            (Duration::from_millis(fault.latency_ms), fail)
        });
        let result = async {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if fail {
                return Err(DbError::Injected { operation, table });
            }
            let conn = self.conn.clone();
            tokio::task::spawn_blocking(move || {
                let conn = conn.lock();
                f(&conn).map_err(|source| DbError::Sqlite {
                    operation,
                    table,
                    source,
                })
            })
            .await
            .map_err(|e| DbError::Worker(e.to_string()))?
        };
        let result = tracing::Instrument::instrument(result, span.clone()).await;
        let status = if result.is_ok() { "success" } else { "error" };
        self.metrics
            .queries
            .get_or_create(&QueryStatusLabels {
                operation,
                table,
                status,
            })
            .inc();
        let _entered = span.enter();
        observe(
            &self
                .metrics
                .duration
                .get_or_create(&QueryLabels { operation, table }),
            start.elapsed().as_secs_f64(),
        );
        if let Err(e) = &result {
            crate::telemetry::mark_error(&span, &e.to_string());
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{DatabaseFault, ServiceFaults};
    use prometheus_client::registry::Registry;

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            DatabaseLocation::parse("sqlite::memory:").unwrap(),
            DatabaseLocation::Memory
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:///tmp/a.db").unwrap(),
            DatabaseLocation::File("/tmp/a.db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("data/a.db").unwrap(),
            DatabaseLocation::File("data/a.db".into())
        );
        assert!(DatabaseLocation::parse("postgres://x").is_err());
    }

    #[tokio::test]
    async fn operations_run_and_injected_faults_apply_per_table() {
        let mut registry = Registry::default();
        let metrics = DbMetrics::register(&mut registry, &[("create", "t")]);
        let faults = FaultState::new(ServiceFaults::default());
        let db = Database::open(
            "sqlite::memory:",
            "CREATE TABLE IF NOT EXISTS t (v INTEGER);",
            metrics,
            faults.clone(),
        )
        .unwrap();
        db.run("create", "t", |c| c.execute("INSERT INTO t VALUES (1)", []))
            .await
            .unwrap();
        let n: i64 = db
            .run("read", "t", |c| {
                c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            })
            .await
            .unwrap();
        assert_eq!(n, 1);

        faults.set(ServiceFaults {
            database: DatabaseFault {
                error_rate: 1.0,
                tables: vec!["other".into()],
                ..Default::default()
            },
            ..Default::default()
        });
        db.run("create", "t", |c| c.execute("INSERT INTO t VALUES (2)", []))
            .await
            .unwrap();
        faults.set(ServiceFaults {
            database: DatabaseFault {
                error_rate: 1.0,
                latency_ms: 20,
                ..Default::default()
            },
            ..Default::default()
        });
        let start = Instant::now();
        let err = db
            .run("create", "t", |c| c.execute("INSERT INTO t VALUES (3)", []))
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::Injected { .. }), "{err}");
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
