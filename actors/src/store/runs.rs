//! The `job_runs` table and the batched writes of engine-owned state.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    entity::prelude::*, ActiveValue::Set, DatabaseTransaction, DbBackend, QueryOrder, QuerySelect,
    QueryTrait, Statement, TransactionTrait,
};
use uuid::Uuid;
use worker::TriggerSource;

use super::jobs::entity::{Column as JobColumn, Entity as Jobs};
use super::{Store, StoreError};
use crate::instant::{from_utc_column, to_millis_column, to_seconds_column};
use crate::job::Scope;
use crate::run::{Fence, RunRecord, RunStatus, StateWrite};

/// How long a fenced batch's transaction may sit idle before MariaDB ends it (a healthy batch
/// sends its statements back to back).
const IDLE_TRANSACTION_TIMEOUT_SECONDS: u32 = 2;

/// What a fenced batch did (see [`Store::apply_fenced_writes`]).
#[derive(Debug, Default)]
pub struct FencedOutcome {
    /// The writes applied (their partition's lease still held at their epoch).
    pub applied: Vec<StateWrite>,
    /// The fences of dropped writes: another owner or epoch holds their partitions now.
    pub lost: Vec<Fence>,
    /// Which awaited run rows exist after the commit.
    pub present: std::collections::HashSet<Uuid>,
}

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "job_runs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub run_id: String,
        pub job_id: String,
        pub scope: String,
        pub trigger_source: String,
        pub attempt: i32,
        pub due_at: DateTime,
        pub queued_at: DateTime,
        pub started_at: Option<DateTime>,
        pub finished_at: Option<DateTime>,
        pub status: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub error: Option<String>,
        /// The message's params (default_params overlaid by run-now params), as JSON.
        #[sea_orm(column_type = "Text", nullable)]
        pub params: Option<String>,
        /// 1 for a scheduled fire (one row per job, due instant and attempt), else NULL.
        pub scheduled_fire: Option<i16>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Runs, Model};

/// The longest error text kept (bytes); longer ones are cut.
const MAX_ERROR_BYTES: usize = 8_192;

fn bounded_error(error: Option<String>) -> Option<String> {
    error.map(|text| bounded_error_text(&text))
}

/// An error text cut to what the column keeps (at a character boundary).
pub(crate) fn bounded_error_text(text: &str) -> String {
    let mut end = text.len().min(MAX_ERROR_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl TryFrom<Model> for RunRecord {
    type Error = StoreError;

    fn try_from(row: Model) -> Result<RunRecord, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptRow {
            job_id: row.job_id.clone(),
            reason,
        };
        Ok(RunRecord {
            run_id: Uuid::parse_str(&row.run_id)
                .map_err(|_| corrupt(format!("run_id '{}'", row.run_id)))?,
            trigger_source: TriggerSource::parse(&row.trigger_source)
                .ok_or_else(|| corrupt(format!("trigger_source '{}'", row.trigger_source)))?,
            status: RunStatus::parse(&row.status)
                .ok_or_else(|| corrupt(format!("run status '{}'", row.status)))?,
            attempt: u32::try_from(row.attempt).unwrap_or(1),
            due_at: from_utc_column(row.due_at),
            queued_at: from_utc_column(row.queued_at),
            started_at: row.started_at.map(from_utc_column),
            finished_at: row.finished_at.map(from_utc_column),
            error: row.error.clone(),
            params: match row.params.as_deref().map(serde_json::from_str) {
                Some(Ok(serde_json::Value::Object(params))) => params,
                _ => serde_json::Map::new(),
            },
            scope: row.scope.clone(),
            job_id: row.job_id.clone(),
        })
    }
}

fn run_row(run: &RunRecord) -> ActiveModel {
    ActiveModel {
        run_id: Set(run.run_id.to_string()),
        job_id: Set(run.job_id.clone()),
        scope: Set(run.scope.clone()),
        trigger_source: Set(run.trigger_source.as_str().to_string()),
        attempt: Set(run.attempt as i32),
        due_at: Set(to_millis_column(run.due_at)),
        queued_at: Set(to_millis_column(run.queued_at)),
        started_at: Set(run.started_at.map(to_millis_column)),
        finished_at: Set(run.finished_at.map(to_millis_column)),
        status: Set(run.status.as_str().to_string()),
        error: Set(bounded_error(run.error.clone())),
        params: Set(Some(
            serde_json::Value::Object(run.params.clone()).to_string(),
        )),
        scheduled_fire: Set((run.trigger_source == TriggerSource::Scheduler).then_some(1)),
        ..Default::default()
    }
}

/// Folds a batch so each run is inserted once with its latest status and each job's state
/// columns are written once.
fn collapse(batch: &[StateWrite]) -> Vec<StateWrite> {
    let mut inserts: Vec<RunRecord> = Vec::new();
    let mut insert_index: HashMap<Uuid, usize> = HashMap::new();
    let mut others: Vec<StateWrite> = Vec::new();
    let mut next_due: HashMap<&str, usize> = HashMap::new();
    let mut deleted: std::collections::HashSet<Uuid> = Default::default();
    let mut status_index: HashMap<Uuid, usize> = HashMap::new();
    for write in batch {
        match write {
            StateWrite::InsertRun(run) => {
                insert_index.insert(run.run_id, inserts.len());
                inserts.push(run.clone());
            }
            StateWrite::RunStatus {
                run_id,
                status,
                started_at,
                finished_at,
                error,
            } if insert_index.contains_key(run_id) => {
                let run = &mut inserts[insert_index[run_id]];
                run.status = *status;
                run.started_at = started_at.or(run.started_at);
                run.finished_at = finished_at.or(run.finished_at);
                run.error = error.clone().or(run.error.take());
            }
            StateWrite::NextDue { job_id, .. } => match next_due.get(job_id.as_str()) {
                Some(&index) => others[index] = write.clone(),
                None => {
                    next_due.insert(job_id, others.len());
                    others.push(write.clone());
                }
            },
            StateWrite::RunStatus {
                run_id,
                status,
                started_at,
                finished_at,
                error,
            } if status_index.contains_key(run_id) => {
                // A later move of a run already moved in this batch: one update.
                if let StateWrite::RunStatus {
                    status: earlier_status,
                    started_at: earlier_started,
                    finished_at: earlier_finished,
                    error: earlier_error,
                    ..
                } = &mut others[status_index[run_id]]
                {
                    *earlier_status = *status;
                    *earlier_started = started_at.or(*earlier_started);
                    *earlier_finished = finished_at.or(*earlier_finished);
                    *earlier_error = error.clone().or(earlier_error.take());
                }
            }
            StateWrite::RunStatus { run_id, .. } => {
                status_index.insert(*run_id, others.len());
                others.push(write.clone());
            }
            StateWrite::DeleteRun { run_id } if insert_index.contains_key(run_id) => {
                // Staged and replaced within one batch: never written at all.
                deleted.insert(*run_id);
            }
            other => others.push(other.clone()),
        }
    }
    inserts
        .into_iter()
        .filter(|run| !deleted.contains(&run.run_id))
        .map(StateWrite::InsertRun)
        .chain(others)
        .collect()
}

/// A row that meets an existing one on any unique key (its own `run_id` from a retried
/// batch, or the scheduled fire of the same due instant) leaves the existing row as it is:
/// `ON DUPLICATE KEY UPDATE run_id = run_id` on MariaDB (never `VALUES(run_id)`, which would
/// rename the other row), `ON CONFLICT DO NOTHING` on SQLite. Cluster mode then sees the row
/// it waited for absent, and does not publish its run.
fn keep_existing_row(backend: DbBackend) -> OnConflict {
    match backend {
        DbBackend::Sqlite => OnConflict::new().do_nothing().to_owned(),
        _ => OnConflict::column(Column::RunId)
            .value(Column::RunId, Expr::col(Column::RunId))
            .to_owned(),
    }
}

/// The statement of one state write (inserts are built in bulk by the caller).
fn statement_of(write: StateWrite, backend: DbBackend) -> Option<Statement> {
    let statement = match write {
        StateWrite::InsertRun(_) => return None,
        StateWrite::RunStatus {
            run_id,
            status,
            started_at,
            finished_at,
            error,
        } => {
            let mut update = Runs::update_many()
                .col_expr(Column::Status, Expr::value(status.as_str()))
                .filter(Column::RunId.eq(run_id.to_string()));
            if let Some(started_at) = started_at {
                update =
                    update.col_expr(Column::StartedAt, Expr::value(to_millis_column(started_at)));
            }
            if let Some(finished_at) = finished_at {
                update = update.col_expr(
                    Column::FinishedAt,
                    Expr::value(to_millis_column(finished_at)),
                );
            }
            if let Some(error) = bounded_error(error) {
                update = update.col_expr(Column::Error, Expr::value(error));
            }
            update.build(backend)
        }
        StateWrite::NextDue {
            job_id,
            next_due_at,
        } => Jobs::update_many()
            .col_expr(
                JobColumn::NextDueAt,
                Expr::value(next_due_at.map(to_seconds_column)),
            )
            .filter(JobColumn::JobId.eq(job_id))
            .build(backend),
        StateWrite::DeleteRun { run_id } => Runs::delete_many()
            .filter(Column::RunId.eq(run_id.to_string()))
            .build(backend),
        StateWrite::Chain {
            job_id,
            chain_id,
            chain_seq,
        } => Jobs::update_many()
            .col_expr(JobColumn::ChainId, Expr::value(chain_id.to_string()))
            .col_expr(JobColumn::ChainSeq, Expr::value(chain_seq as i64))
            .filter(JobColumn::JobId.eq(job_id))
            .build(backend),
        StateWrite::LastRun {
            job_id,
            last_run_at,
            last_status,
            last_error,
        } => Jobs::update_many()
            .col_expr(
                JobColumn::LastRunAt,
                Expr::value(to_seconds_column(last_run_at)),
            )
            .col_expr(JobColumn::LastStatus, Expr::value(last_status.as_str()))
            .col_expr(JobColumn::LastError, Expr::value(bounded_error(last_error)))
            .filter(JobColumn::JobId.eq(job_id))
            .build(backend),
    };
    Some(statement)
}

/// Bounds of one SQLite script (see `Store::run_sqlite_script`).
const MAX_SCRIPT_STATEMENTS: usize = 512;
const MAX_SCRIPT_BYTES: usize = 64 * 1024;

impl Store {
    /// The statements of a batch: deletes of staged runs first (a run staged again for the
    /// same instant must not meet the unique key of the row it replaces), then the inserts
    /// (in bulk), then the rest.
    fn statements_of(&self, batch: &[StateWrite]) -> Vec<Statement> {
        let writes = collapse(batch);
        let backend = self.db.get_database_backend();
        let (deletes, writes): (Vec<_>, Vec<_>) = writes
            .into_iter()
            .partition(|write| matches!(write, StateWrite::DeleteRun { .. }));
        let (inserts, others): (Vec<_>, Vec<_>) = writes
            .into_iter()
            .partition(|write| matches!(write, StateWrite::InsertRun(_)));
        let rows: Vec<ActiveModel> = inserts
            .iter()
            .filter_map(|write| match write {
                StateWrite::InsertRun(run) => Some(run_row(run)),
                _ => None,
            })
            .collect();
        let mut statements: Vec<Statement> = deletes
            .into_iter()
            .filter_map(|write| statement_of(write, backend))
            .collect();
        statements.extend(rows.chunks(500).map(|chunk| {
            Runs::insert_many(chunk.to_vec())
                .on_conflict(keep_existing_row(backend))
                .build(backend)
        }));
        statements.extend(
            others
                .into_iter()
                .filter_map(|write| statement_of(write, backend)),
        );
        statements
    }

    /// Applies a batch of engine state writes in one transaction: all or nothing.
    pub async fn apply_state_writes(&self, batch: &[StateWrite]) -> Result<(), StoreError> {
        let statements = self.statements_of(batch);
        if statements.is_empty() {
            return Ok(());
        }
        if self.db.get_database_backend() == DbBackend::Sqlite {
            return self.run_sqlite_script(&statements).await;
        }
        let txn = self.db.begin().await?;
        for statement in statements {
            txn.execute_raw(statement).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Cluster mode: applies the writes of a batch whose partition `instance` still holds at
    /// the write's epoch, in one transaction that holds the partitions' lease rows in share
    /// mode (an instance taking one of them over waits for the commit). Writes of a partition
    /// held by another owner or at another epoch change nothing. Answers which writes were
    /// applied, the partitions lost, and which of `awaited` run rows exist after the commit (a
    /// row refused by the unique key of scheduled fires is absent).
    pub async fn apply_fenced_writes(
        &self,
        scope: Scope,
        instance: &str,
        batch: &[(StateWrite, Fence)],
        awaited: &[Uuid],
    ) -> Result<FencedOutcome, StoreError> {
        let mut partitions: Vec<u32> = batch.iter().map(|(_, fence)| fence.partition).collect();
        partitions.sort_unstable();
        partitions.dedup();
        let txn = self.db.begin().await?;
        let inside = self.fenced_in(&txn, scope, instance, batch, awaited, &partitions);
        match inside.await {
            Ok(outcome) => {
                txn.commit().await?;
                Ok(outcome)
            }
            Err(error) => {
                // At once, not at the connection's next use: an idle pooled connection
                // would hold the lease rows' locks meanwhile.
                let _ = txn.rollback().await;
                Err(error)
            }
        }
    }

    /// The body of [`Self::apply_fenced_writes`], inside its transaction.
    async fn fenced_in(
        &self,
        txn: &DatabaseTransaction,
        scope: Scope,
        instance: &str,
        batch: &[(StateWrite, Fence)],
        awaited: &[Uuid],
        partitions: &[u32],
    ) -> Result<FencedOutcome, StoreError> {
        use sea_orm::Value;
        // A process frozen (or cut off) inside this transaction would keep the lease rows
        // locked, and the instance taking its partitions over waiting, until the server's
        // lock timeout (50 s): the server ends a transaction left idle this long instead.
        txn.execute_unprepared(&format!(
            "SET SESSION idle_transaction_timeout = {IDLE_TRANSACTION_TIMEOUT_SECONDS}"
        ))
        .await?;
        let mut current: HashMap<u32, u64> = HashMap::new();
        if !partitions.is_empty() {
            let marks: Vec<&str> = partitions.iter().map(|_| "?").collect();
            let sql = format!(
                "SELECT partition_no, epoch FROM scheduler_leases WHERE scope = ? AND owner = ? \
                 AND partition_no IN ({}) LOCK IN SHARE MODE",
                marks.join(", ")
            );
            let mut values: Vec<Value> = vec![scope.as_str().into(), instance.into()];
            values.extend(
                partitions
                    .iter()
                    .map(|partition| Value::from(*partition as i32)),
            );
            let rows = txn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::MySql,
                    sql,
                    values,
                ))
                .await?;
            for row in rows {
                let partition = row.try_get::<i32>("", "partition_no")?.max(0) as u32;
                current.insert(partition, row.try_get::<i64>("", "epoch")?.max(0) as u64);
            }
        }
        let mut lost: Vec<Fence> = Vec::new();
        let mut applied: Vec<StateWrite> = Vec::new();
        for (write, fence) in batch {
            if current.get(&fence.partition) == Some(&fence.epoch) {
                applied.push(write.clone());
            } else if !lost.contains(fence) {
                lost.push(*fence);
            }
        }
        for statement in self.statements_of(&applied) {
            txn.execute_raw(statement).await?;
        }
        let mut present = std::collections::HashSet::new();
        for chunk in awaited.chunks(500) {
            let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
            let rows: Vec<String> = Runs::find()
                .select_only()
                .column(Column::RunId)
                .filter(Column::RunId.is_in(ids))
                .into_tuple()
                .all(txn)
                .await?;
            present.extend(rows.iter().filter_map(|id| Uuid::parse_str(id).ok()));
        }
        Ok(FencedOutcome {
            applied,
            lost,
            present,
        })
    }

    /// Runs `statements` in one SQLite transaction on one pooled connection, as scripts of at
    /// most 512 statements or 64 KiB, with `BEGIN IMMEDIATE` in the first and `COMMIT` in the
    /// last.
    /// sqlx runs SQLite on a worker thread per connection: every statement sent is a round
    /// trip to it, which costs more than the statement (a batch used to be BEGIN + one per
    /// write + COMMIT; now it is one for a fire's batch). sqlx copies the rest of a script at
    /// each statement, hence the chunks. Values are inlined and escaped by sea-query's SQLite
    /// writer. On failure the transaction is rolled back on the same connection.
    async fn run_sqlite_script(&self, statements: &[Statement]) -> Result<(), StoreError> {
        use sea_orm::sqlx::{self, Executor};
        use std::fmt::Write;
        let error = |error: sqlx::Error| {
            StoreError::Database(DbErr::Exec(sea_orm::RuntimeErr::SqlxError(
                std::sync::Arc::new(error),
            )))
        };
        let mut connection = self
            .db
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .map_err(error)?;
        let mut scripts = vec![String::from("BEGIN IMMEDIATE;\n")];
        let mut in_script = 0;
        for statement in statements {
            let script = scripts.last_mut().expect("one script at least");
            if in_script == MAX_SCRIPT_STATEMENTS || script.len() >= MAX_SCRIPT_BYTES {
                scripts.push(String::new());
                in_script = 0;
            }
            let script = scripts.last_mut().expect("one script at least");
            let _ = writeln!(script, "{statement};");
            in_script += 1;
        }
        scripts
            .last_mut()
            .expect("one script at least")
            .push_str("COMMIT;\n");
        for script in scripts {
            if let Err(failure) = connection.execute(sqlx::AssertSqlSafe(script)).await {
                // Not in a transaction when BEGIN itself failed: the error is then ignored.
                let _ = connection
                    .execute(sqlx::AssertSqlSafe("ROLLBACK".to_string()))
                    .await;
                return Err(error(failure));
            }
        }
        Ok(())
    }

    /// The newest `limit` runs of a job (of one status, if given), newest first; a staged
    /// (`scheduled`) run comes first.
    pub async fn list_runs(
        &self,
        scope: Scope,
        job_id: &str,
        status: Option<RunStatus>,
        limit: u64,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let mut query = Runs::find()
            .filter(Column::JobId.eq(job_id))
            .filter(Column::Scope.eq(scope.as_str()));
        if let Some(status) = status {
            query = query.filter(Column::Status.eq(status.as_str()));
        }
        query
            .order_by(
                Column::Status.eq(RunStatus::Scheduled.as_str()),
                sea_orm::Order::Desc,
            )
            .order_by_desc(Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(RunRecord::try_from)
            .collect()
    }

    /// One run by its id.
    pub async fn get_run(&self, run_id: Uuid) -> Result<Option<RunRecord>, StoreError> {
        Runs::find()
            .filter(Column::RunId.eq(run_id.to_string()))
            .one(&self.db)
            .await?
            .map(RunRecord::try_from)
            .transpose()
    }

    /// Every run of `scope` still `scheduled`, `pending` or `queued`, oldest first (restored
    /// at start-up).
    pub async fn open_runs(&self, scope: Scope) -> Result<Vec<RunRecord>, StoreError> {
        Runs::find()
            .filter(Column::Scope.eq(scope.as_str()))
            .filter(Column::Status.is_in([
                RunStatus::Scheduled.as_str(),
                RunStatus::Pending.as_str(),
                RunStatus::Queued.as_str(),
            ]))
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(RunRecord::try_from)
            .collect()
    }

    /// How many runs of each job of `scope` are in flight (`pending` or `queued`); jobs with
    /// none are absent.
    pub async fn in_flight_counts(&self, scope: Scope) -> Result<HashMap<String, u64>, StoreError> {
        let rows: Vec<(String, i64)> = Runs::find()
            .select_only()
            .column(Column::JobId)
            .column_as(Column::Id.count(), "in_flight")
            .filter(Column::Scope.eq(scope.as_str()))
            .filter(Column::Status.is_in([RunStatus::Pending.as_str(), RunStatus::Queued.as_str()]))
            .group_by(Column::JobId)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(job_id, count)| (job_id, count.max(0) as u64))
            .collect())
    }

    /// Deletes all but the newest `keep` runs of a job.
    pub async fn prune_runs(&self, job_id: &str, keep: u64) -> Result<u64, StoreError> {
        let cutoff: Option<i64> = Runs::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::JobId.eq(job_id))
            .order_by_desc(Column::Id)
            .offset(keep)
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        let Some(cutoff) = cutoff else {
            return Ok(0);
        };
        let result = Runs::delete_many()
            .filter(Column::JobId.eq(job_id))
            .filter(Column::Id.lte(cutoff))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    /// Deletes every run of a job (when the job is deleted).
    pub(crate) async fn delete_runs_of(
        &self,
        txn: &DatabaseTransaction,
        job_id: &str,
    ) -> Result<(), DbErr> {
        Runs::delete_many()
            .filter(Column::JobId.eq(job_id))
            .exec(txn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert_sql(backend: DbBackend) -> String {
        let run = RunRecord {
            run_id: Uuid::nil(),
            job_id: "j".into(),
            scope: "real".into(),
            trigger_source: TriggerSource::Scheduler,
            attempt: 1,
            due_at: chrono::Utc::now(),
            queued_at: chrono::Utc::now(),
            started_at: None,
            finished_at: None,
            status: RunStatus::Scheduled,
            error: None,
            params: Default::default(),
        };
        Runs::insert_many(vec![run_row(&run)])
            .on_conflict(keep_existing_row(backend))
            .build(backend)
            .to_string()
    }

    #[test]
    fn a_conflicting_row_leaves_the_existing_one_as_it_is() {
        let mysql = insert_sql(DbBackend::MySql);
        assert!(
            mysql.ends_with("ON DUPLICATE KEY UPDATE `run_id` = `run_id`"),
            "{mysql}"
        );
        let sqlite = insert_sql(DbBackend::Sqlite);
        let words: Vec<&str> = sqlite.split_whitespace().collect();
        assert!(
            words.ends_with(&["ON", "CONFLICT", "DO", "NOTHING"]),
            "{sqlite}"
        );
    }
}
