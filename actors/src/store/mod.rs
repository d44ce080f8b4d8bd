//! The store: the only code that touches sea-orm. Jobs are read and written here as domain
//! types; the API writes configuration columns, the engine writes state columns, and neither
//! rewrites the other's.

mod audit;
mod calendars;
mod connect;
mod jobs;
mod leases;
mod runs;

pub use audit::AuditEntry;
pub use calendars::CalendarWrite;
pub use connect::DatabaseTarget;
pub use leases::{LeaseRow, Peer};
pub(crate) use runs::bounded_error_text;
pub use runs::FencedOutcome;

use sea_orm::{DatabaseConnection, DbErr};

/// A handle on the job database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
}

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with this primary key exists already.
    #[error("a job with job_id '{0}' already exists")]
    Duplicate(String),
    /// A stored row cannot be read back as a job (edited by hand, say).
    #[error("stored job '{job_id}' is invalid: {reason}")]
    CorruptRow { job_id: String, reason: String },
    /// The database could not be reached or refused the statement.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

impl StoreError {
    /// Whether trying again later may succeed: the database is unreachable, busy or locked,
    /// rather than refusing the statement itself.
    pub fn is_transient(&self) -> bool {
        use sea_orm::{sqlx, RuntimeErr};
        let runtime = match self {
            StoreError::Database(DbErr::ConnectionAcquire(_)) => return true,
            StoreError::Database(
                DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime),
            ) => runtime,
            _ => return false,
        };
        let RuntimeErr::SqlxError(error) = runtime else {
            return false;
        };
        match error.as_ref() {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_) => true,
            sqlx::Error::Database(database) => {
                if let Some(mysql) = database.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                {
                    // Lock wait timeout, deadlock, server shutdown, too many connections.
                    return matches!(mysql.number(), 1205 | 1213 | 1053 | 1040);
                }
                // SQLite: BUSY, LOCKED and their extended codes.
                matches!(
                    database.code().as_deref(),
                    Some("5" | "6" | "261" | "262" | "517")
                )
            }
            _ => false,
        }
    }
}

impl Store {
    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    /// Applies every pending migration. On MariaDB, under a named lock: instances of a cluster
    /// starting together migrate one after the other (the later ones find nothing to do).
    pub async fn migrate_up(&self) -> Result<(), StoreError> {
        use migration::MigratorTrait;
        use sea_orm::sqlx::{self, Executor};
        if !self.is_mariadb() {
            return Ok(migration::Migrator::up(&self.db, None).await?);
        }
        let error = |error: sqlx::Error| {
            StoreError::Database(DbErr::Conn(sea_orm::RuntimeErr::SqlxError(
                std::sync::Arc::new(error),
            )))
        };
        // The lock belongs to one session: hold one pooled connection while migrating.
        let mut holder = (self.db.get_mysql_connection_pool().acquire())
            .await
            .map_err(error)?;
        (holder.execute("SELECT GET_LOCK('jennie_scheduler_migrations', 120)"))
            .await
            .map_err(error)?;
        let migrated = migration::Migrator::up(&self.db, None).await;
        let _ = (holder.execute("SELECT RELEASE_LOCK('jennie_scheduler_migrations')")).await;
        Ok(migrated?)
    }

    /// The underlying connection, for the migration command.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}
