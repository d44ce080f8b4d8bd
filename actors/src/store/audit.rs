//! The `audit_log` table: what operators did, newest first.

use chrono::{DateTime, Utc};
use sea_orm::{entity::prelude::*, ActiveValue::Set, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;

use super::{Store, StoreError};
use crate::instant::{from_utc_column, to_millis_column};
use crate::job::Scope;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub scope: String,
        pub at: DateTime,
        pub actor: String,
        pub action: String,
        pub job_id: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub before: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub after: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Audit};

/// One operator action: who did what to which job, when, and the job before and after: the
/// configuration (create, update, delete), `{enabled}` (pause, resume) or `{run_id, params,
/// force}` (run-now, after only); `null` where there is none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who: `token` (the API token), `ui:<name>` (a UI session) or `open` (no token set).
    pub actor: String,
    /// `create`, `update`, `pause`, `resume`, `delete` or `run_now`.
    pub action: String,
    pub job_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

fn json_column(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(Value::to_string)
}

impl Store {
    /// Appends an action to the audit log.
    pub async fn insert_audit(&self, scope: Scope, entry: &AuditEntry) -> Result<(), StoreError> {
        Audit::insert(ActiveModel {
            scope: Set(scope.as_str().to_string()),
            at: Set(to_millis_column(entry.at)),
            actor: Set(entry.actor.chars().take(200).collect()),
            action: Set(entry.action.clone()),
            job_id: Set(entry.job_id.clone()),
            before: Set(json_column(&entry.before)),
            after: Set(json_column(&entry.after)),
            ..Default::default()
        })
        .exec(self.connection())
        .await?;
        Ok(())
    }

    /// The newest `limit` actions of the scope, optionally of one job, newest first.
    pub async fn list_audit(
        &self,
        scope: Scope,
        job_id: Option<&str>,
        limit: u64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut query = Audit::find().filter(Column::Scope.eq(scope.as_str()));
        if let Some(job_id) = job_id {
            query = query.filter(Column::JobId.eq(job_id));
        }
        let rows = query
            .order_by_desc(Column::Id)
            .limit(limit)
            .all(self.connection())
            .await?;
        let parse = |text: Option<String>| text.and_then(|text| serde_json::from_str(&text).ok());
        Ok(rows
            .into_iter()
            .map(|row| AuditEntry {
                id: row.id,
                at: from_utc_column(row.at),
                actor: row.actor,
                action: row.action,
                job_id: row.job_id,
                before: parse(row.before),
                after: parse(row.after),
            })
            .collect())
    }
}
