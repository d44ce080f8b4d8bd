use std::path::PathBuf;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};

use super::{Store, StoreError};

/// Which database holds the jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A SQLite file (created, with its directory, if missing), in WAL mode.
    Sqlite { path: PathBuf },
    /// A MariaDB (or MySQL) server: `mysql://user:password@host:port/database`.
    MariaDb { url: String },
}

impl std::fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseTarget::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            DatabaseTarget::MariaDb { url } => {
                // Never print the password.
                let shown = match (url.find("://"), url.rfind('@')) {
                    (Some(scheme), Some(at)) if at > scheme => {
                        format!("{}://…@{}", &url[..scheme], &url[at + 1..])
                    }
                    _ => url.clone(),
                };
                write!(f, "mariadb:{shown}")
            }
        }
    }
}

impl Store {
    /// SQLite: copies the write-ahead log into the database file without blocking writers
    /// (`wal_checkpoint(PASSIVE)`), so the log stays small. A no-op on MariaDB.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.db.get_database_backend() == sea_orm::DbBackend::Sqlite {
            self.db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await?;
        }
        Ok(())
    }

    /// Connects to the target; does not migrate.
    pub async fn connect(target: &DatabaseTarget) -> Result<Store, StoreError> {
        let mut options = match target {
            DatabaseTarget::Sqlite { path } => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| {
                        StoreError::Database(sea_orm::DbErr::Custom(format!(
                            "cannot create directory {}: {error}",
                            parent.display()
                        )))
                    })?;
                }
                let mut options =
                    ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
                options.map_sqlx_sqlite_opts(|sqlite| {
                    sqlite
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        // No connection checkpoints when its commit crosses the WAL limit (a
                        // checkpoint syncs the database file: tens of ms inside a fire's
                        // write); the persistence actor checkpoints beside the writes instead.
                        .pragma("wal_autocheckpoint", "0")
                        .busy_timeout(Duration::from_secs(5))
                        .create_if_missing(true)
                });
                options.max_connections(4);
                options
            }
            DatabaseTarget::MariaDb { url } => {
                let mut options = ConnectOptions::new(url.clone());
                options.max_connections(8);
                options
            }
        };
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5));
        let db = Database::connect(options).await?;
        if matches!(target, DatabaseTarget::Sqlite { .. }) {
            db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        }
        Ok(Store { db })
    }
}
