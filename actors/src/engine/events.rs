//! What the engine tells whoever listens (the alerts): rare events, never one per fire. A
//! listener that falls behind loses the oldest events and is told how many.

use uuid::Uuid;

use crate::run::RunStatus;

/// Events a listener may miss when it falls this far behind.
pub const EVENTS_BUFFER: usize = 1024;

/// Something operators may need to hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// A run ended `failed` or `timeout` and will not be tried again (its retries are spent,
    /// or its job is in queue mode, which the engine does not retry).
    RunFailed {
        job_id: String,
        run_id: Uuid,
        status: RunStatus,
        attempt: u32,
        error: Option<String>,
    },
    /// The job's last `count` fires in a row were skipped (not published).
    SkippedInARow {
        job_id: String,
        count: u64,
        reason: String,
    },
}
