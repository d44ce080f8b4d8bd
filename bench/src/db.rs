//! Fills the service's database with the planned jobs before it starts, as an operator's
//! migration would: rows in the `jobs` table with `next_due_at` set to each job's first fire.

use std::path::PathBuf;

use anyhow::{Context, Result};
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};

use crate::plan::PlannedJob;

/// Where the service under test keeps its jobs.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(PathBuf),
    /// A database of the local MariaDB, dropped and created anew.
    Mariadb(String),
}

pub const MARIADB_SERVER: &str = "mysql://root@127.0.0.1:3306";

impl Db {
    pub fn url(&self) -> String {
        match self {
            Db::Sqlite(path) => format!("sqlite://{}?mode=rwc", path.display()),
            Db::Mariadb(name) => format!("{MARIADB_SERVER}/{name}"),
        }
    }

    /// The environment that points the service at this database.
    pub fn service_env(&self) -> Vec<(String, String)> {
        match self {
            Db::Sqlite(path) => vec![
                ("DB_TYPE".into(), "SQLITE".into()),
                ("SCHEDULER_DB_PATH".into(), path.display().to_string()),
            ],
            Db::Mariadb(_) => vec![
                ("DB_TYPE".into(), "MARIADB".into()),
                ("DATABASE_URL".into(), self.url()),
            ],
        }
    }

    async fn connect(&self) -> Result<DatabaseConnection> {
        Database::connect(self.url())
            .await
            .with_context(|| match self {
                Db::Sqlite(path) => format!("cannot open SQLite file {}", path.display()),
                Db::Mariadb(_) => format!(
                    "MariaDB is not reachable at {MARIADB_SERVER}; start it: \
                 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
                ),
            })
    }

    /// Creates an empty, migrated database.
    pub async fn create(&self) -> Result<()> {
        match self {
            Db::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Db::Mariadb(name) => {
                let server = Database::connect(format!("{MARIADB_SERVER}/test"))
                    .await
                    .context("MariaDB is not reachable at 127.0.0.1:3306; start it: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd")?;
                server
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await?;
                server
                    .execute_unprepared(&format!("CREATE DATABASE `{name}`"))
                    .await?;
                server.close().await?;
            }
        }
        let db = self.connect().await?;
        migration::Migrator::up(&db, None).await?;
        db.close().await?;
        Ok(())
    }

    /// Creates the database with one row per planned job, in scope `mock`, publishing to `queue`.
    pub async fn fill(&self, jobs: &[PlannedJob], queue: &str) -> Result<()> {
        self.create().await?;
        let db = self.connect().await?;
        let txn = db.begin().await?;
        for chunk in jobs.chunks(1000) {
            let values: Vec<String> = chunk
                .iter()
                .map(|job| {
                    format!(
                        "('{}', 'mock', 'scheduler', {}, '', '{queue}', 1, 1, '{{}}', 120, 3, {})",
                        job.id(),
                        job.interval_ms / 1000,
                        datetime_literal(job.first_due_ms)
                    )
                })
                .collect();
            txn.execute_unprepared(&format!(
                "INSERT INTO jobs (job_id, scope, reschedule_mode, interval_seconds, cron_expr, queue, \
                 enabled, max_parallel, default_params, timeout_sec, retry_limit, next_due_at) VALUES {}",
                values.join(", ")
            ))
            .await?;
        }
        txn.commit().await?;
        db.close().await?;
        Ok(())
    }

    /// Lets every job have `max_parallel` runs in flight.
    pub async fn set_max_parallel(&self, max_parallel: u32) -> Result<()> {
        let db = self.connect().await?;
        db.execute_unprepared(&format!("UPDATE jobs SET max_parallel = {max_parallel}"))
            .await?;
        db.close().await?;
        Ok(())
    }

    /// The lease table: partition, owner and epoch (a failover's trace).
    pub async fn leases(&self) -> Result<Vec<(u32, Option<String>, u64)>> {
        let db = self.connect().await?;
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT partition_no, owner, epoch FROM scheduler_leases ORDER BY partition_no",
            ))
            .await?;
        db.close().await?;
        (rows.iter())
            .map(|row| {
                Ok((
                    row.try_get::<i32>("", "partition_no")? as u32,
                    row.try_get::<Option<String>>("", "owner")?,
                    row.try_get::<i64>("", "epoch")? as u64,
                ))
            })
            .collect()
    }

    /// Makes every job due at `at_ms` and forgets earlier runs (a burst repeated on one table).
    pub async fn all_due_at(&self, at_ms: i64) -> Result<()> {
        let db = self.connect().await?;
        db.execute_unprepared("DELETE FROM job_runs").await?;
        db.execute_unprepared(&format!(
            "UPDATE jobs SET next_due_at = {}, last_run_at = NULL, last_status = NULL",
            datetime_literal(at_ms)
        ))
        .await?;
        db.close().await?;
        Ok(())
    }
}

/// A UTC `DATETIME` literal with milliseconds (MariaDB's `DATETIME` keeps whole seconds).
fn datetime_literal(epoch_ms: i64) -> String {
    let instant = chrono::DateTime::from_timestamp_millis(epoch_ms).expect("a valid instant");
    format!("'{}'", instant.naive_utc().format("%Y-%m-%d %H:%M:%S%.3f"))
}
