//! The API's types as the OpenAPI document describes them. The routes send the engine's own
//! types (`Job` from the read model, without a copy); the schema-only structs here describe
//! them, and tests keep each in step with what the service really sends and reads. Only this
//! crate knows HTTP and OpenAPI.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use worker::TriggerSource;

/// The body of `POST /jobs` and `PUT /jobs/{id}`, for the OpenAPI document. The engine's
/// parser (`JobConfig::from_create_body`) reads the same fields (a test keeps the two in step). On POST `job_id` and `queue` are
/// required; on PUT every field is optional and only the given ones change.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JobInput {
    /// 1–100 of `[A-Za-z0-9._-]`; immutable.
    job_id: Option<String>,
    /// `real` or `mock`; must be the instance's scope (default).
    scope: Option<String>,
    /// `scheduler` (default) or `queue`.
    reschedule_mode: Option<String>,
    /// 5-field Unix cron, read in `timezone`; empty or null for interval-only jobs.
    cron_expr: Option<String>,
    /// ≥ 1; the interval (scheduler mode without cron), `next_delay_sec`, or the queue-mode delay.
    interval_seconds: Option<i64>,
    /// Must start with `{scope}.jobs.`.
    queue: Option<String>,
    enabled: Option<bool>,
    /// ≥ 1 (default 1).
    max_parallel: Option<i64>,
    /// A JSON object (default `{}`).
    #[schema(value_type = Option<Object>)]
    default_params: Option<serde_json::Value>,
    /// ≥ 1 (default 120).
    timeout_sec: Option<i64>,
    /// ≥ 0 (default 3).
    retry_limit: Option<i64>,
    description: Option<String>,
    /// Default: job_id with `-` → `_` plus `_job`.
    telemetry_label: Option<String>,
    /// Whether the job's alerts go to the Telegram chats (default true; always logged).
    notify: Option<bool>,
    /// IANA zone the cron expression is read in, e.g. `America/New_York`; null (default):
    /// SCHEDULER_TIMEZONE.
    timezone: Option<String>,
    /// 0 (default; null too) to 86 400: every instant is moved later by a stable offset below
    /// this many seconds, from a hash of the job_id (the same after every restart); `due_at`
    /// carries it.
    #[schema(minimum = 0, maximum = 86400)]
    jitter_seconds: Option<i64>,
    /// What a restart or takeover does with instants missed while no process ran the job,
    /// within the grace: `catch_up_once` (default; null too: one run, due at the oldest),
    /// `skip`, or `catch_up_all` (one run for each).
    misfire_policy: Option<MisfirePolicy>,
    /// ≥ 0: how late a missed instant may still be caught up; null (default):
    /// SCHEDULER_MISFIRE_GRACE_SECONDS.
    #[schema(minimum = 0, maximum = 2147483647)]
    misfire_grace_seconds: Option<i64>,
    /// The exchange calendar (`GET /calendars`) whose closed days the job does not fire on;
    /// it must exist. Null (default): every day. Not for queue-mode jobs.
    calendar: Option<String>,
    /// On a closed day: `skip` (default; null too: the run is recorded `skipped` with
    /// `holiday: …`) or `next_open_day` (the same local time on the next open day).
    calendar_mode: Option<CalendarMode>,
    /// Managed by the service: accepted and ignored.
    next_due_at: Option<String>,
    /// Managed by the service: accepted and ignored.
    last_run_at: Option<String>,
    /// Managed by the service: accepted and ignored.
    last_status: Option<String>,
    /// Managed by the service: accepted and ignored.
    last_error: Option<String>,
    /// Managed by the service: accepted and ignored.
    created_at: Option<String>,
    /// Managed by the service: accepted and ignored.
    updated_at: Option<String>,
}

/// A job as the API shows it: its configuration and the state the engine keeps.
#[derive(utoipa::ToSchema)]
#[schema(as = Job)]
#[allow(dead_code)]
pub struct JobBody {
    job_id: String,
    scope: Scope,
    reschedule_mode: RescheduleMode,
    /// Empty when the job runs on `interval_seconds` alone.
    cron_expr: String,
    interval_seconds: Option<i64>,
    queue: String,
    enabled: bool,
    max_parallel: i64,
    #[schema(value_type = Object)]
    default_params: serde_json::Value,
    timeout_sec: i64,
    retry_limit: i64,
    description: Option<String>,
    telemetry_label: String,
    /// Whether the job's alerts go to the Telegram chats.
    notify: bool,
    /// IANA zone of its cron expression; null: SCHEDULER_TIMEZONE.
    timezone: Option<String>,
    jitter_seconds: i64,
    misfire_policy: MisfirePolicy,
    /// null: SCHEDULER_MISFIRE_GRACE_SECONDS.
    misfire_grace_seconds: Option<i64>,
    /// Its exchange calendar; null: every day.
    calendar: Option<String>,
    calendar_mode: CalendarMode,
    /// The next instant the engine has armed (whole seconds); null when not scheduled.
    next_due_at: Option<DateTime<Utc>>,
    last_run_at: Option<DateTime<Utc>>,
    /// `success`, `failed`, `timeout` or `skipped`.
    last_status: Option<String>,
    last_error: Option<String>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

/// Which trading stack a job belongs to.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum Scope {
    Real,
    Mock,
}

/// What a job does with an instant on a closed day of its calendar.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CalendarMode {
    Skip,
    NextOpenDay,
}

/// What a restart or takeover does with the instants a job missed within its grace.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum MisfirePolicy {
    CatchUpOnce,
    Skip,
    CatchUpAll,
}

/// Who schedules the next run: the engine (`scheduler`) or the worker (`queue`).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum RescheduleMode {
    Scheduler,
    Queue,
}

/// Where a run is in its life.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum RunStatus {
    /// The next scheduled fire, written ahead of its due instant.
    Scheduled,
    /// Recorded, not yet confirmed by the broker.
    Pending,
    /// The broker confirmed the message.
    Queued,
    Success,
    Failed,
    /// No report came within `timeout_sec`.
    Timeout,
    /// Not published (`max_parallel` reached, a fire coalesced, or missed beyond the grace).
    Skipped,
}

/// A run as the history endpoint shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunView {
    run_id: Uuid,
    job_id: String,
    scope: String,
    trigger_source: TriggerSource,
    attempt: u32,
    due_at: DateTime<Utc>,
    queued_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    #[schema(value_type = RunStatus)]
    status: actors::RunStatus,
    error: Option<String>,
    /// The params the message carried.
    #[schema(value_type = Object)]
    params: serde_json::Map<String, serde_json::Value>,
    duration_seconds: Option<f64>,
}

impl From<actors::RunRecord> for RunView {
    fn from(run: actors::RunRecord) -> Self {
        RunView {
            duration_seconds: run.duration_seconds(),
            run_id: run.run_id,
            job_id: run.job_id,
            scope: run.scope,
            trigger_source: run.trigger_source,
            attempt: run.attempt,
            due_at: run.due_at,
            queued_at: run.queued_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            status: run.status,
            error: run.error,
            params: run.params,
        }
    }
}

/// The optional body of `run-now`.
#[derive(utoipa::ToSchema)]
#[schema(as = RunNowRequest)]
#[allow(dead_code)]
pub struct RunNowBody {
    /// Overlaid on the job's default_params (at most 60 000 bytes of JSON).
    #[schema(value_type = Option<Object>)]
    params: Option<serde_json::Value>,
}

/// The answer of `run-now`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunNowAccepted {
    job_id: String,
    run_id: Uuid,
    /// Always `manual`.
    trigger_source: &'static str,
    /// Always `pending`: the run is recorded and on its way to the broker.
    status: &'static str,
}

impl RunNowAccepted {
    pub fn pending(job_id: String, run_id: Uuid) -> Self {
        RunNowAccepted {
            job_id,
            run_id,
            trigger_source: TriggerSource::Manual.as_str(),
            status: "pending",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::OpenApi;

    use crate::openapi::ApiDoc;

    fn properties(schema: &str) -> BTreeSet<String> {
        let document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        document["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {schema} has properties"))
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn the_job_schema_has_exactly_the_fields_a_job_is_sent_with() {
        let config = actors::JobConfig::from_create_body(
            &serde_json::json!({"job_id": "a", "queue": "real.jobs.a", "cron_expr": "* * * * *"}),
            actors::Scope::Real,
        )
        .expect("a valid job");
        let job = actors::Job {
            config,
            state: actors::JobState {
                next_due_at: None,
                last_run_at: None,
                last_status: None,
                last_error: None,
                created_at: None,
                updated_at: None,
                chain: None,
            },
        };
        let sent: BTreeSet<String> = serde_json::to_value(&job)
            .expect("a job serializes")
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(properties("Job"), sent);
    }

    #[test]
    fn every_status_and_mode_of_the_engine_is_in_the_document() {
        let document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        let listed = |schema: &str| -> BTreeSet<String> {
            document["components"]["schemas"][schema]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("schema {schema} is an enum"))
                .iter()
                .map(|value| value.as_str().expect("a string").to_string())
                .collect()
        };
        let statuses = actors::RunStatus::ALL.map(|status| status.as_str().to_string());
        assert_eq!(listed("RunStatus"), statuses.into_iter().collect());
        assert_eq!(listed("Scope"), ["mock", "real"].map(String::from).into());
        assert_eq!(
            listed("RescheduleMode"),
            ["queue", "scheduler"].map(String::from).into()
        );
    }
}
