//! Job definitions: read, create, edit, pause and resume, delete. Every change writes the row
//! first and then tells the engine, which answers the next due instant it armed.

use chrono::Utc;
use serde_json::Value;

use super::{Actor, JobService, ServiceError};
use crate::job::{Job, JobConfig, JobView};

impl JobService {
    /// Calls `read` with every job of the scope, ordered by job_id (from memory).
    pub fn with_jobs<R>(&self, read: impl FnOnce(Vec<JobView<'_>>) -> R) -> R {
        self.engine.read_model().with_jobs(read)
    }

    /// Calls `read` with one job (from memory).
    pub fn with_job<R>(
        &self,
        job_id: &str,
        read: impl FnOnce(JobView<'_>) -> R,
    ) -> Result<R, ServiceError> {
        self.engine
            .read_model()
            .with_job(job_id, read)
            .ok_or_else(|| ServiceError::JobNotFound(job_id.to_string()))
    }

    /// Creates a job from a create body (`job_id` and `queue` required) and arms it.
    pub async fn create(&self, actor: &Actor, body: &Value) -> Result<Job, ServiceError> {
        let config = JobConfig::from_create_body(body, self.scope)?;
        self.check_calendar(&config, None).await?;
        let mut job = self.store.insert_job(&config, Utc::now()).await?;
        job.state.next_due_at = self.engine.upsert(job.clone()).await?;
        tracing::info!(job_id = %job.config.job_id, scope = %self.scope, "job created");
        self.audit(
            actor,
            "create",
            &job.config.job_id,
            None,
            Some(config_json(&job)),
        )
        .await;
        Ok(job)
    }

    /// Changes the fields `body` names; the schedule reloads at once.
    pub async fn update(
        &self,
        actor: &Actor,
        job_id: &str,
        body: &Value,
    ) -> Result<Job, ServiceError> {
        let existing = self.stored_job(job_id).await?;
        let config = existing.config.with_update_body(body)?;
        self.check_calendar(&config, Some(&existing.config)).await?;
        let fields: Vec<&str> = body
            .as_object()
            .map(|fields| fields.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut job = self
            .store
            .update_job_config(&config, &fields, Utc::now())
            .await?
            .ok_or_else(|| ServiceError::JobNotFound(job_id.to_string()))?;
        let (before, after) = (config_json(&existing), config_json(&job));
        self.audit(actor, "update", job_id, Some(before), Some(after))
            .await;
        job.state.next_due_at = self.engine.upsert(job.clone()).await?;
        tracing::info!(job_id = %job.config.job_id, scope = %self.scope, "job updated");
        Ok(job)
    }

    /// Pauses (`false`) or resumes (`true`) a job. A paused job keeps taking run-now and
    /// reports; its staged run is removed.
    pub async fn set_enabled(
        &self,
        actor: &Actor,
        job_id: &str,
        enabled: bool,
    ) -> Result<Job, ServiceError> {
        let before = self.stored_job(job_id).await?;
        let mut job = self
            .store
            .set_enabled(self.scope, job_id, enabled, Utc::now())
            .await?
            .ok_or_else(|| ServiceError::JobNotFound(job_id.to_string()))?;
        job.state.next_due_at = self.engine.upsert(job.clone()).await?;
        let change = if enabled { "resumed" } else { "paused" };
        tracing::info!(job_id = %job.config.job_id, scope = %self.scope, enabled, "job {change}");
        let action = if enabled { "resume" } else { "pause" };
        let enabled_of = |job: &Job| serde_json::json!({"enabled": job.config.enabled});
        self.audit(
            actor,
            action,
            job_id,
            Some(enabled_of(&before)),
            Some(enabled_of(&job)),
        )
        .await;
        Ok(job)
    }

    /// Stops a job's schedule, then deletes it with its run history.
    pub async fn delete(&self, actor: &Actor, job_id: &str) -> Result<(), ServiceError> {
        let before = self.stored_job(job_id).await?;
        self.engine.remove(job_id).await?;
        if !self.store.delete_job(self.scope, job_id).await? {
            return Err(ServiceError::JobNotFound(job_id.to_string()));
        }
        tracing::info!(job_id = %job_id, scope = %self.scope, "job deleted");
        self.audit(actor, "delete", job_id, Some(config_json(&before)), None)
            .await;
        Ok(())
    }

    /// The job's row (404 when the table does not have it).
    pub(super) async fn stored_job(&self, job_id: &str) -> Result<Job, ServiceError> {
        self.store
            .get_job(self.scope, job_id)
            .await?
            .ok_or_else(|| ServiceError::JobNotFound(job_id.to_string()))
    }
}

/// A job's configuration as the audit log keeps it.
fn config_json(job: &Job) -> Value {
    serde_json::to_value(&job.config).unwrap_or(Value::Null)
}
