//! A run: one fire of one job, from `pending` to its outcome.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use worker::TriggerSource;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Staged before its due instant: the next scheduled fire, written ahead so that the fire
    /// itself is only a publish. Replaced or removed when the schedule changes.
    Scheduled,
    /// Recorded, not yet confirmed by the broker (the outbox).
    Pending,
    /// The broker confirmed the message.
    Queued,
    Success,
    Failed,
    /// No completion report came within `timeout_sec`.
    Timeout,
    /// Not published: `max_parallel` runs were in flight (or the fire was coalesced).
    Skipped,
}

impl RunStatus {
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Scheduled,
        RunStatus::Pending,
        RunStatus::Queued,
        RunStatus::Success,
        RunStatus::Failed,
        RunStatus::Timeout,
        RunStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Scheduled => "scheduled",
            RunStatus::Pending => "pending",
            RunStatus::Queued => "queued",
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
            RunStatus::Timeout => "timeout",
            RunStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether the run is over (no longer occupies a slot).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunStatus::Scheduled | RunStatus::Pending | RunStatus::Queued
        )
    }
}

/// One row of the run history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub run_id: Uuid,
    pub job_id: String,
    pub scope: String,
    pub trigger_source: TriggerSource,
    pub attempt: u32,
    pub due_at: DateTime<Utc>,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub error: Option<String>,
    /// The params the message carried.
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl RunRecord {
    /// How long the run took: from its reported start (else its publication) to its end.
    pub fn duration_seconds(&self) -> Option<f64> {
        let end = self.finished_at?;
        let start = self.started_at.unwrap_or(self.queued_at);
        Some(((end - start).num_milliseconds().max(0)) as f64 / 1000.0)
    }
}

/// A change to engine-owned state, applied by the persistence actor in batches.
#[derive(Debug, Clone, PartialEq)]
pub enum StateWrite {
    /// A new run row.
    InsertRun(RunRecord),
    /// A run moved on.
    RunStatus {
        run_id: Uuid,
        status: RunStatus,
        started_at: Option<DateTime<Utc>>,
        finished_at: Option<DateTime<Utc>>,
        error: Option<String>,
    },
    /// A staged run that will not happen (the schedule changed, the job was paused or deleted).
    DeleteRun { run_id: Uuid },
    /// The job's next scheduled instant (None: not scheduled).
    NextDue {
        job_id: String,
        next_due_at: Option<DateTime<Utc>>,
    },
    /// Queue mode: the job's current chain and the highest position told to reschedule.
    Chain {
        job_id: String,
        chain_id: Uuid,
        chain_seq: u64,
    },
    /// The outcome of the job's latest finished run.
    LastRun {
        job_id: String,
        last_run_at: DateTime<Utc>,
        last_status: RunStatus,
        last_error: Option<String>,
    },
}

/// The lease a write is made under: the job's partition and the epoch at which its instance
/// holds it. In cluster mode a write whose partition has another owner or epoch by the time
/// it is committed changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fence {
    pub partition: u32,
    pub epoch: u64,
}
