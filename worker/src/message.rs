use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

/// What caused a run to be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerSource {
    /// The job's own schedule (cron or interval) came due.
    Scheduler,
    /// An operator called `run-now`.
    Manual,
    /// A queue-mode worker rescheduled the next run itself.
    AutoReschedule,
    /// A failed or timed-out run is tried again.
    Retry,
}

impl TriggerSource {
    /// The wire spelling, also used as a metric label and in the run history.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerSource::Scheduler => "scheduler",
            TriggerSource::Manual => "manual",
            TriggerSource::AutoReschedule => "auto-reschedule",
            TriggerSource::Retry => "retry",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [
            TriggerSource::Scheduler,
            TriggerSource::Manual,
            TriggerSource::AutoReschedule,
            TriggerSource::Retry,
        ]
        .into_iter()
        .find(|source| source.as_str() == text)
    }
}

/// One fire of one job: the JSON body published to the job's queue (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
    pub scope: String,
    /// Unique per run; also the AMQP `message_id`. A redelivered duplicate carries the same one.
    pub run_id: Uuid,
    pub trigger_source: TriggerSource,
    /// `default_params` of the job, overlaid by the params of a run-now call.
    pub params: serde_json::Map<String, serde_json::Value>,
    pub next_delay_sec: Option<i64>,
    /// True exactly when the job is in queue mode.
    pub auto_reschedule: bool,
    pub timeout_sec: i64,
    pub retry_limit: i64,
    pub telemetry_label: String,
    #[serde(serialize_with = "rfc3339_z")]
    pub queued_at: DateTime<Utc>,
    /// The scheduled instant this run is for.
    #[serde(serialize_with = "rfc3339_z")]
    pub due_at: DateTime<Utc>,
    /// 1 for the first try, then 2, 3, ... for retries.
    pub attempt: u32,
}

fn rfc3339_z<S: Serializer>(instant: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&instant.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Why a payload is not a job message.
#[derive(Debug)]
pub enum MessageError {
    /// The payload is not valid JSON or lacks a field of the contract.
    Invalid(serde_json::Error),
}

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MessageError::Invalid(cause) => write!(f, "not a job message: {cause}"),
        }
    }
}

impl std::error::Error for MessageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MessageError::Invalid(cause) => Some(cause),
        }
    }
}

/// Parses a delivery body into a [`JobMessage`]; never panics.
pub fn parse_job_message(payload: &[u8]) -> Result<JobMessage, MessageError> {
    serde_json::from_slice(payload).map_err(MessageError::Invalid)
}

/// The outcome a worker reports for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompletionStatus {
    Success,
    Failed,
}

/// The body of `POST /jobs/{id}/last-run` (the worker's `mark_job_run`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionReport {
    pub run_id: Option<Uuid>,
    pub status: Option<CompletionStatus>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}
