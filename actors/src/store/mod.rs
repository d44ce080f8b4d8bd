//! The store: the only code that touches sea-orm. Jobs are read and written here as domain
//! types; the API writes configuration columns, the engine writes state columns, and neither
//! rewrites the other's.

mod connect;
mod jobs;
mod runs;

pub use connect::DatabaseTarget;

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

impl Store {
    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    /// Applies every pending migration.
    pub async fn migrate_up(&self) -> Result<(), StoreError> {
        use migration::MigratorTrait;
        Ok(migration::Migrator::up(&self.db, None).await?)
    }

    /// The underlying connection, for the migration command.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}
