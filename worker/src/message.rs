use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

/// What caused a run to be published.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// One fire of one job: the JSON body published to the job's queue.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: String,
    pub scope: String,
    /// Unique per run; also the AMQP `message_id`. A redelivered duplicate carries the same one.
    pub run_id: Uuid,
    pub trigger_source: TriggerSource,
    /// `default_params` of the job, overlaid by the params of a run-now call.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: serde_json::Map<String, serde_json::Value>,
    pub next_delay_sec: Option<i64>,
    /// True exactly when the job is in queue mode.
    pub auto_reschedule: bool,
    pub timeout_sec: i64,
    pub retry_limit: i64,
    pub telemetry_label: String,
    #[serde(serialize_with = "rfc3339_millis_z")]
    pub queued_at: DateTime<Utc>,
    /// The scheduled instant this run is for.
    #[serde(serialize_with = "rfc3339_millis_z")]
    pub due_at: DateTime<Utc>,
    /// 1 for the first try, then 2, 3, ... for retries.
    pub attempt: u32,
    /// Queue mode only: the self-rescheduling chain this message belongs to. A pause, a
    /// resume or a watchdog restart starts a new chain; the old one stops at its next report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<Uuid>,
    /// Queue mode only: the position of this message in its chain (1 for the bootstrap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_seq: Option<u64>,
}

fn rfc3339_millis_z<S: Serializer>(
    instant: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    Success,
    Failed,
}

/// The body of `POST /jobs/{id}/last-run` (the worker's `mark_job_run`). Every field is
/// optional; an empty report is the success of the oldest run in flight.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunReport {
    /// The job, when repeated in the body (the original worker client sends it): must be the
    /// job the report is sent for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The scope, when repeated in the body: must be the scheduler instance's scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub run_id: Option<Uuid>,
    pub status: Option<ReportStatus>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Queue mode: the run's chain, so the scheduler can tell a current chain from an old one
    /// and record runs that workers published themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_source: Option<TriggerSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<DateTime<Utc>>,
}

impl RunReport {
    /// A report of `status` for the run of `message`, carrying what the scheduler needs to
    /// record it even if it did not publish it itself.
    pub fn for_message(message: &JobMessage, status: ReportStatus, error: Option<String>) -> Self {
        RunReport {
            job_id: None,
            scope: None,
            run_id: Some(message.run_id),
            status: Some(status),
            error,
            started_at: None,
            finished_at: Some(Utc::now()),
            chain_id: message.chain_id,
            chain_seq: message.chain_seq,
            trigger_source: Some(message.trigger_source),
            attempt: Some(message.attempt),
            due_at: Some(message.due_at),
            queued_at: Some(message.queued_at),
        }
    }
}

/// The scheduler's answer to a [`RunReport`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportReceipt {
    pub job_id: String,
    pub run_id: Option<Uuid>,
    /// The run's final status as recorded.
    pub status: String,
    /// False when this run had been reported already: a duplicate counts once.
    pub counted: bool,
    /// Whether a queue-mode worker should publish the job's next run.
    pub reschedule: bool,
    pub duration_seconds: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_payloads_are_errors_not_panics() {
        for payload in [
            &b""[..],
            b"{",
            b"[]",
            b"null",
            b"{\"job_id\": 1}",
            &[0xff, 0xfe],
        ] {
            assert!(parse_job_message(payload).is_err(), "{payload:?}");
        }
    }

    #[test]
    fn a_message_round_trips_with_z_instants() {
        let message = JobMessage {
            job_id: "buy-scanner".into(),
            scope: "real".into(),
            run_id: Uuid::new_v4(),
            trigger_source: TriggerSource::AutoReschedule,
            params: serde_json::Map::new(),
            next_delay_sec: Some(300),
            auto_reschedule: true,
            timeout_sec: 120,
            retry_limit: 3,
            telemetry_label: "buy_scanner_job".into(),
            queued_at: Utc::now(),
            due_at: Utc::now(),
            attempt: 1,
            chain_id: None,
            chain_seq: None,
        };
        let text = serde_json::to_string(&message).unwrap();
        assert!(text.contains("\"trigger_source\":\"auto-reschedule\""));
        assert!(
            !text.contains("chain_id"),
            "queue-mode fields only when set"
        );
        let parsed = parse_job_message(text.as_bytes()).unwrap();
        assert_eq!(parsed.run_id, message.run_id);
        assert!(parsed
            .queued_at
            .to_rfc3339_opts(SecondsFormat::Millis, true)
            .ends_with('Z'));
    }
}
