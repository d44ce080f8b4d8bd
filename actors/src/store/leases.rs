//! Cluster mode (MariaDB only): the partition leases of a scope and its instances. Every
//! instant compared here is the database's clock (`NOW(3)`), never this host's: an instance
//! trusts its own clock only to stop firing a partition before the database could hand it on.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::{Store, StoreError};
use crate::job::Scope;

/// One partition's lease as the table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub partition: u32,
    pub owner: Option<String>,
    pub epoch: u64,
    /// Whether it ends after the database's now.
    pub live: bool,
}

/// An instance of the scope whose heartbeat has not run out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Peer {
    pub instance_id: String,
    /// Partitions it said it held at its last heartbeat.
    pub partitions: u32,
    /// Milliseconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_ms: i64,
}

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::MySql, sql, values)
}

fn interval_micros(ttl: std::time::Duration) -> Value {
    Value::from(ttl.as_micros() as i64)
}

impl Store {
    /// Whether this store is MariaDB (cluster mode) rather than SQLite (one instance).
    pub fn is_mariadb(&self) -> bool {
        self.db.get_database_backend() == DbBackend::MySql
    }

    /// Makes sure the scope has a lease row for each of `count` partitions.
    pub async fn ensure_partitions(&self, scope: Scope, count: u32) -> Result<(), StoreError> {
        let rows: Vec<String> = (0..count).map(|_| "(?, ?, 0)".to_string()).collect();
        let mut values = Vec::new();
        for partition in 0..count {
            values.push(Value::from(scope.as_str()));
            values.push(Value::from(partition as i32));
        }
        let sql = format!(
            "INSERT IGNORE INTO scheduler_leases (scope, partition_no, epoch) VALUES {}",
            rows.join(", ")
        );
        self.db.execute_raw(statement(&sql, values)).await?;
        Ok(())
    }

    /// The name of the database (the cluster's control plane is named after it, so clusters
    /// on different databases sharing one broker never hear each other).
    pub async fn database_name(&self) -> Result<String, StoreError> {
        let row = (self.db)
            .query_one_raw(statement("SELECT DATABASE() AS name", Vec::new()))
            .await?;
        Ok(match row {
            Some(row) => row
                .try_get::<Option<String>>("", "name")?
                .unwrap_or_default(),
            None => String::new(),
        })
    }

    /// How many partitions the scope's lease table has (0 before its first instance).
    pub async fn partition_count(&self, scope: Scope) -> Result<u32, StoreError> {
        let sql = "SELECT COUNT(*) AS partitions FROM scheduler_leases WHERE scope = ?";
        let row = (self.db)
            .query_one_raw(statement(sql, vec![scope.as_str().into()]))
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<i64>("", "partitions")?.max(0) as u32,
            None => 0,
        })
    }

    /// The instance whose lease on `partition` is live now, if any.
    pub async fn lease_owner(
        &self,
        scope: Scope,
        partition: u32,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT owner FROM scheduler_leases WHERE scope = ? AND partition_no = ? \
            AND owner IS NOT NULL AND expires_at > NOW(3)";
        let values = vec![scope.as_str().into(), (partition as i32).into()];
        let row = self.db.query_one_raw(statement(sql, values)).await?;
        Ok(match row {
            Some(row) => row.try_get("", "owner")?,
            None => None,
        })
    }

    /// Says this instance is alive until now + `ttl` (by the database's clock).
    pub async fn heartbeat(
        &self,
        scope: Scope,
        instance: &str,
        ttl: std::time::Duration,
        partitions: u32,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO scheduler_instances \
            (scope, instance_id, started_at, heartbeat_at, expires_at, partitions) \
            VALUES (?, ?, NOW(3), NOW(3), NOW(3) + INTERVAL ? MICROSECOND, ?) \
            ON DUPLICATE KEY UPDATE heartbeat_at = NOW(3), \
            expires_at = NOW(3) + INTERVAL ? MICROSECOND, partitions = ?";
        let values = vec![
            scope.as_str().into(),
            instance.into(),
            interval_micros(ttl),
            (partitions as i32).into(),
            interval_micros(ttl),
            (partitions as i32).into(),
        ];
        self.db.execute_raw(statement(sql, values)).await?;
        Ok(())
    }

    /// The instances of `scope` whose heartbeat has not run out, by id.
    pub async fn live_instances(&self, scope: Scope) -> Result<Vec<Peer>, StoreError> {
        let sql = "SELECT instance_id, partitions, \
            CAST(TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(3)) / 1000 AS SIGNED) AS age_ms \
            FROM scheduler_instances WHERE scope = ? AND expires_at > NOW(3) ORDER BY instance_id";
        let rows = (self.db)
            .query_all_raw(statement(sql, vec![scope.as_str().into()]))
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Peer {
                    instance_id: row.try_get("", "instance_id")?,
                    partitions: row.try_get::<i32>("", "partitions")?.max(0) as u32,
                    heartbeat_age_ms: row.try_get("", "age_ms")?,
                })
            })
            .collect()
    }

    /// Removes this instance from the scope's list (clean shutdown).
    pub async fn leave(&self, scope: Scope, instance: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM scheduler_instances WHERE scope = ? AND instance_id = ?";
        let values = vec![scope.as_str().into(), instance.into()];
        self.db.execute_raw(statement(sql, values)).await?;
        Ok(())
    }

    /// Every lease of `scope`.
    pub async fn leases(&self, scope: Scope) -> Result<Vec<LeaseRow>, StoreError> {
        let sql = "SELECT partition_no, owner, epoch, \
            (expires_at IS NOT NULL AND expires_at > NOW(3)) AS live \
            FROM scheduler_leases WHERE scope = ? ORDER BY partition_no";
        let rows = (self.db)
            .query_all_raw(statement(sql, vec![scope.as_str().into()]))
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(LeaseRow {
                    partition: row.try_get::<i32>("", "partition_no")?.max(0) as u32,
                    owner: row.try_get("", "owner")?,
                    epoch: row.try_get::<i64>("", "epoch")?.max(0) as u64,
                    live: row.try_get::<i64>("", "live")? != 0,
                })
            })
            .collect()
    }

    /// Extends the leases `instance` holds at the given epochs to now + `ttl`. A lease another
    /// instance took meanwhile (another owner or epoch) is not touched.
    pub async fn renew_leases(
        &self,
        scope: Scope,
        instance: &str,
        held: &[(u32, u64)],
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        if held.is_empty() {
            return Ok(());
        }
        let each: Vec<&str> = held
            .iter()
            .map(|_| "(partition_no = ? AND epoch = ?)")
            .collect();
        let sql = format!(
            "UPDATE scheduler_leases SET expires_at = NOW(3) + INTERVAL ? MICROSECOND \
             WHERE scope = ? AND owner = ? AND ({})",
            each.join(" OR ")
        );
        let mut values = vec![interval_micros(ttl), scope.as_str().into(), instance.into()];
        for (partition, epoch) in held {
            values.push((*partition as i32).into());
            values.push((*epoch as i64).into());
        }
        self.db.execute_raw(statement(&sql, values)).await?;
        Ok(())
    }

    /// Takes `partition` for `instance` when it is free, its lease ran out, or `instance`
    /// holds it already (a restart under the same id). Its epoch goes up by one, unless this
    /// process held it last at `last_epoch` and nobody took it since (then its writes made
    /// under that epoch and not yet committed stay valid). Answers the epoch, or None when
    /// another instance holds it.
    pub async fn claim_lease(
        &self,
        scope: Scope,
        instance: &str,
        partition: u32,
        ttl: std::time::Duration,
        last_epoch: u64,
    ) -> Result<Option<u64>, StoreError> {
        // MariaDB applies SET assignments left to right: the epoch is decided before the
        // owner is overwritten.
        let sql = "UPDATE scheduler_leases \
            SET epoch = IF(owner <=> ? AND epoch = ?, epoch, epoch + 1), owner = ?, \
            expires_at = NOW(3) + INTERVAL ? MICROSECOND \
            WHERE scope = ? AND partition_no = ? \
            AND (owner IS NULL OR owner = ? OR expires_at IS NULL OR expires_at <= NOW(3))";
        let values = vec![
            instance.into(),
            (last_epoch as i64).into(),
            instance.into(),
            interval_micros(ttl),
            scope.as_str().into(),
            (partition as i32).into(),
            instance.into(),
        ];
        let done = self.db.execute_raw(statement(sql, values)).await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let sql = "SELECT epoch FROM scheduler_leases \
            WHERE scope = ? AND partition_no = ? AND owner = ?";
        let values = vec![
            scope.as_str().into(),
            (partition as i32).into(),
            instance.into(),
        ];
        let row = self.db.query_one_raw(statement(sql, values)).await?;
        Ok(match row {
            Some(row) => Some(row.try_get::<i64>("", "epoch")?.max(0) as u64),
            None => None,
        })
    }

    /// Gives up `partitions` at once (rebalance, clean shutdown): they are free to claim.
    pub async fn release_leases(
        &self,
        scope: Scope,
        instance: &str,
        partitions: &[u32],
    ) -> Result<(), StoreError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let marks: Vec<&str> = partitions.iter().map(|_| "?").collect();
        let sql = format!(
            "UPDATE scheduler_leases SET owner = NULL, expires_at = NULL \
             WHERE scope = ? AND owner = ? AND partition_no IN ({})",
            marks.join(", ")
        );
        let mut values = vec![scope.as_str().into(), instance.into()];
        values.extend(
            partitions
                .iter()
                .map(|partition| Value::from(*partition as i32)),
        );
        self.db.execute_raw(statement(&sql, values)).await?;
        Ok(())
    }
}
