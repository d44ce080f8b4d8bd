//! The `jobs` table: entity and queries.

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    entity::prelude::*, ActiveValue::Set, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
};

use super::{Store, StoreError};
use crate::calendar::CalendarMode;
use crate::instant::{from_utc_column, to_seconds_column};
use crate::job::{Job, JobConfig, JobState, MisfirePolicy, RescheduleMode, Scope};

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "jobs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub job_id: String,
        pub scope: String,
        pub reschedule_mode: String,
        pub interval_seconds: Option<i32>,
        pub cron_expr: String,
        pub queue: String,
        pub enabled: Option<bool>,
        pub max_parallel: Option<i32>,
        #[sea_orm(column_type = "Text", nullable)]
        pub default_params: Option<String>,
        pub timeout_sec: Option<i32>,
        pub retry_limit: Option<i32>,
        #[sea_orm(column_type = "Text", nullable)]
        pub description: Option<String>,
        pub telemetry_label: Option<String>,
        pub notify: Option<bool>,
        pub timezone: Option<String>,
        pub jitter_seconds: Option<i32>,
        pub misfire_policy: Option<String>,
        pub misfire_grace_seconds: Option<i32>,
        pub calendar: Option<String>,
        pub calendar_mode: Option<String>,
        pub next_due_at: Option<DateTime>,
        pub last_run_at: Option<DateTime>,
        pub last_status: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub last_error: Option<String>,
        pub created_at: Option<DateTime>,
        pub updated_at: Option<DateTime>,
        pub chain_id: Option<String>,
        pub chain_seq: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Jobs, Model};

/// A job's instants are stored with whole seconds on every backend.
fn from_column(stored: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    stored.map(from_utc_column)
}

/// The configuration columns of `config`, as an active model.
fn config_columns(config: &JobConfig) -> ActiveModel {
    ActiveModel {
        job_id: Set(config.job_id.clone()),
        scope: Set(config.scope.as_str().to_string()),
        reschedule_mode: Set(config.reschedule_mode.as_str().to_string()),
        interval_seconds: Set(config.interval_seconds.map(|s| s as i32)),
        cron_expr: Set(config.cron_expr.clone()),
        queue: Set(config.queue.clone()),
        enabled: Set(Some(config.enabled)),
        max_parallel: Set(Some(config.max_parallel as i32)),
        default_params: Set(Some(
            serde_json::Value::Object(config.default_params.clone()).to_string(),
        )),
        timeout_sec: Set(Some(config.timeout_sec as i32)),
        retry_limit: Set(Some(config.retry_limit as i32)),
        description: Set(config.description.clone()),
        telemetry_label: Set(Some(config.telemetry_label.clone())),
        notify: Set(Some(config.notify)),
        timezone: Set(config.timezone.clone()),
        jitter_seconds: Set(Some(config.jitter_seconds as i32)),
        misfire_policy: Set(Some(config.misfire_policy.as_str().to_string())),
        misfire_grace_seconds: Set(config.misfire_grace_seconds.map(|s| s as i32)),
        calendar: Set(config.calendar.clone()),
        calendar_mode: Set(Some(config.calendar_mode.as_str().to_string())),
        ..Default::default()
    }
}

impl TryFrom<Model> for Job {
    type Error = StoreError;

    fn try_from(row: Model) -> Result<Job, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptRow {
            job_id: row.job_id.clone(),
            reason,
        };
        let scope =
            Scope::parse(&row.scope).ok_or_else(|| corrupt(format!("scope '{}'", row.scope)))?;
        let reschedule_mode = RescheduleMode::parse(&row.reschedule_mode)
            .ok_or_else(|| corrupt(format!("reschedule_mode '{}'", row.reschedule_mode)))?;
        let default_params = match row.default_params.as_deref() {
            None | Some("") => serde_json::Map::new(),
            Some(text) => match serde_json::from_str(text) {
                Ok(serde_json::Value::Object(params)) => params,
                _ => return Err(corrupt("default_params is not a JSON object".into())),
            },
        };
        let misfire_policy = match row.misfire_policy.as_deref() {
            None | Some("") => MisfirePolicy::CatchUpOnce,
            Some(text) => MisfirePolicy::parse(text)
                .ok_or_else(|| corrupt(format!("misfire_policy '{text}'")))?,
        };
        let calendar_mode = match row.calendar_mode.as_deref() {
            None | Some("") => CalendarMode::Skip,
            Some(text) => CalendarMode::parse(text)
                .ok_or_else(|| corrupt(format!("calendar_mode '{text}'")))?,
        };
        let telemetry_label = row
            .telemetry_label
            .clone()
            .filter(|label| !label.is_empty())
            .unwrap_or_else(|| crate::job::default_telemetry_label(&row.job_id));
        Ok(Job {
            config: JobConfig {
                scope,
                reschedule_mode,
                cron_expr: row.cron_expr.trim().to_string(),
                interval_seconds: row.interval_seconds.map(i64::from),
                queue: row.queue.clone(),
                enabled: row.enabled.unwrap_or(true),
                max_parallel: row.max_parallel.map_or(1, i64::from),
                default_params,
                timeout_sec: row.timeout_sec.map_or(120, i64::from),
                retry_limit: row.retry_limit.map_or(3, i64::from),
                description: row.description.clone(),
                telemetry_label,
                notify: row.notify.unwrap_or(true),
                timezone: row.timezone.clone().filter(|zone| !zone.is_empty()),
                jitter_seconds: row.jitter_seconds.map_or(0, i64::from),
                misfire_policy,
                misfire_grace_seconds: row.misfire_grace_seconds.map(i64::from),
                calendar: row.calendar.clone().filter(|name| !name.is_empty()),
                calendar_mode,
                job_id: row.job_id.clone(),
            },
            state: JobState {
                next_due_at: from_column(row.next_due_at),
                last_run_at: from_column(row.last_run_at),
                last_status: row.last_status,
                last_error: row.last_error,
                created_at: from_column(row.created_at),
                updated_at: from_column(row.updated_at),
                chain: row
                    .chain_id
                    .as_deref()
                    .and_then(|id| uuid::Uuid::parse_str(id).ok())
                    .map(|id| (id, row.chain_seq.unwrap_or(0).max(0) as u64)),
            },
        })
    }
}

impl Store {
    /// Every job of `scope`, ordered by job_id. Rows that cannot be read as jobs are logged
    /// and left out rather than failing the whole list.
    pub async fn list_jobs(&self, scope: Scope) -> Result<Vec<Job>, StoreError> {
        // In pages by job_id: 100k rows read at once cost ~3 KB each on top of the jobs, which
        // the allocator keeps long after (bench/FINDINGS.md, memory).
        const PAGE: u64 = 2_000;
        let mut jobs = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut page = Jobs::find().filter(Column::Scope.eq(scope.as_str()));
            if let Some(last) = after.take() {
                page = page.filter(Column::JobId.gt(last));
            }
            let rows = page
                .order_by_asc(Column::JobId)
                .limit(PAGE)
                .all(&self.db)
                .await?;
            let last_page = (rows.len() as u64) < PAGE;
            after = rows.last().map(|row| row.job_id.clone());
            jobs.extend(rows.into_iter().filter_map(|row| match Job::try_from(row) {
                Ok(job) => Some(job),
                Err(error) => {
                    tracing::warn!(%error, "skipping unreadable job row");
                    None
                }
            }));
            if last_page {
                return Ok(jobs);
            }
        }
    }

    /// One job of `scope`; `None` when it does not exist or belongs to another scope.
    pub async fn get_job(&self, scope: Scope, job_id: &str) -> Result<Option<Job>, StoreError> {
        Jobs::find_by_id(job_id.to_string())
            .filter(Column::Scope.eq(scope.as_str()))
            .one(&self.db)
            .await?
            .map(Job::try_from)
            .transpose()
    }

    /// Inserts a new job; [`StoreError::Duplicate`] when its job_id is taken.
    pub async fn insert_job(
        &self,
        config: &JobConfig,
        now: DateTime<Utc>,
    ) -> Result<Job, StoreError> {
        let mut row = config_columns(config);
        row.created_at = Set(Some(to_seconds_column(now)));
        row.updated_at = Set(Some(to_seconds_column(now)));
        match Jobs::insert(row).exec_without_returning(&self.db).await {
            Ok(_) => {}
            Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(StoreError::Duplicate(config.job_id.clone()))
            }
            Err(error) => return Err(error.into()),
        }
        self.get_job(config.scope, &config.job_id)
            .await?
            .ok_or_else(|| StoreError::CorruptRow {
                job_id: config.job_id.clone(),
                reason: "not found right after insert".into(),
            })
    }

    /// Writes the named configuration columns of an existing job from `config` (never its
    /// state columns, nor configuration columns not named, so a concurrent pause is not
    /// undone); `None` when it does not exist.
    pub async fn update_job_config(
        &self,
        config: &JobConfig,
        fields: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        use sea_orm::ActiveValue::NotSet;
        let mut row = config_columns(config);
        row.job_id = NotSet;
        let keep = |name: &str| fields.contains(&name);
        if !keep("scope") {
            row.scope = NotSet;
        }
        if !keep("reschedule_mode") {
            row.reschedule_mode = NotSet;
        }
        if !keep("interval_seconds") {
            row.interval_seconds = NotSet;
        }
        if !keep("cron_expr") {
            row.cron_expr = NotSet;
        }
        if !keep("queue") {
            row.queue = NotSet;
        }
        if !keep("enabled") {
            row.enabled = NotSet;
        }
        if !keep("max_parallel") {
            row.max_parallel = NotSet;
        }
        if !keep("default_params") {
            row.default_params = NotSet;
        }
        if !keep("timeout_sec") {
            row.timeout_sec = NotSet;
        }
        if !keep("retry_limit") {
            row.retry_limit = NotSet;
        }
        if !keep("description") {
            row.description = NotSet;
        }
        if !keep("telemetry_label") {
            row.telemetry_label = NotSet;
        }
        if !keep("notify") {
            row.notify = NotSet;
        }
        if !keep("timezone") {
            row.timezone = NotSet;
        }
        if !keep("jitter_seconds") {
            row.jitter_seconds = NotSet;
        }
        if !keep("misfire_policy") {
            row.misfire_policy = NotSet;
        }
        if !keep("misfire_grace_seconds") {
            row.misfire_grace_seconds = NotSet;
        }
        if !keep("calendar") {
            row.calendar = NotSet;
        }
        if !keep("calendar_mode") {
            row.calendar_mode = NotSet;
        }
        row.updated_at = Set(Some(to_seconds_column(now)));
        let result = Jobs::update_many()
            .set(row)
            .filter(Column::JobId.eq(config.job_id.as_str()))
            .filter(Column::Scope.eq(config.scope.as_str()))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.get_job(config.scope, &config.job_id).await
    }

    /// Deletes a job of `scope` and its run history; whether it existed.
    pub async fn delete_job(&self, scope: Scope, job_id: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin().await?;
        let result = Jobs::delete_many()
            .filter(Column::JobId.eq(job_id))
            .filter(Column::Scope.eq(scope.as_str()))
            .exec(&txn)
            .await?;
        if result.rows_affected > 0 {
            self.delete_runs_of(&txn, job_id).await?;
        }
        txn.commit().await?;
        Ok(result.rows_affected > 0)
    }

    /// `(job_id, updated_at)` of every job of `scope`: the cheap first step of a reconcile.
    /// How many jobs `scope` has.
    pub async fn count_jobs(&self, scope: Scope) -> Result<u64, StoreError> {
        Ok(Jobs::find()
            .filter(Column::Scope.eq(scope.as_str()))
            .count(&self.db)
            .await?)
    }

    /// The jobs of `scope` updated at or after `since` (or never stamped).
    pub async fn jobs_updated_since(
        &self,
        scope: Scope,
        since: DateTime<Utc>,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = Jobs::find()
            .filter(Column::Scope.eq(scope.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(Column::UpdatedAt.gte(to_seconds_column(since)))
                    .add(Column::UpdatedAt.is_null()),
            )
            .order_by_asc(Column::JobId)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| match Job::try_from(row) {
                Ok(job) => Some(job),
                Err(error) => {
                    tracing::warn!(%error, "skipping unreadable job row");
                    None
                }
            })
            .collect())
    }

    /// Sets `enabled` alone (pause and resume).
    pub async fn set_enabled(
        &self,
        scope: Scope,
        job_id: &str,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>, StoreError> {
        let result = Jobs::update_many()
            .col_expr(Column::Enabled, Expr::value(enabled))
            .col_expr(Column::UpdatedAt, Expr::value(to_seconds_column(now)))
            .filter(Column::JobId.eq(job_id))
            .filter(Column::Scope.eq(scope.as_str()))
            .exec(&self.db)
            .await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.get_job(scope, job_id).await
    }
}
