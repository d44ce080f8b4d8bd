//! The audit log: every operator action, written after it took effect, with who did it and
//! the job before and after.

use chrono::Utc;
use serde_json::Value;

use super::{JobService, ServiceError};
use crate::job::ValidationError;
use crate::store::AuditEntry;

/// Entries one read answers when no limit is asked.
pub const DEFAULT_AUDIT_LIMIT: u64 = 100;
/// The most entries one read answers.
pub const MAX_AUDIT_LIMIT: u64 = 1_000;

/// Who asked for a change, as the audit log names them: `token` (the API token), `ui:<name>`
/// (a UI session) or `open` (no token is configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn new(name: impl Into<String>) -> Actor {
        Actor(name.into())
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl JobService {
    /// Records an action that took effect. A failed write is logged and counted, never undone:
    /// the action happened.
    pub(super) async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        job_id: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        let entry = AuditEntry {
            id: 0,
            at: Utc::now(),
            actor: actor.0.clone(),
            action: action.to_string(),
            job_id: job_id.to_string(),
            before,
            after,
        };
        tracing::info!(actor = %actor, action, job_id, scope = %self.scope, "audit");
        if let Err(error) = self.store.insert_audit(self.scope, &entry).await {
            metrics::counter!(crate::metrics::AUDIT_WRITE_FAILURES).increment(1);
            tracing::error!(%error, actor = %actor, action, job_id, "the audit entry was not written");
        }
    }

    /// The newest actions first, of one job if given.
    pub async fn audit_log(
        &self,
        job_id: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Vec<AuditEntry>, ServiceError> {
        let limit = limit.unwrap_or(DEFAULT_AUDIT_LIMIT);
        if !(1..=MAX_AUDIT_LIMIT).contains(&limit) {
            return Err(ValidationError::new(
                "invalid_query",
                format!("limit must be 1 to {MAX_AUDIT_LIMIT}"),
                Some("limit"),
            )
            .into());
        }
        Ok(self.store.list_audit(self.scope, job_id, limit).await?)
    }
}
