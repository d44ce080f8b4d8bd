//! Why a use case changed nothing.

use uuid::Uuid;

use crate::engine::{JobUnavailable, ReportError, RunNowRejected};
use crate::job::ValidationError;
use crate::store::StoreError;

/// Every way a use case can fail; each front end shows it in its own way (the HTTP API as a
/// status code and a JSON body).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks a rule; the error names the field.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("job '{0}' not found")]
    JobNotFound(String),
    #[error("a job with job_id '{0}' already exists")]
    JobExists(String),
    /// `max_parallel` runs are in flight and the run was not forced.
    #[error("{in_flight} run(s) in flight and max_parallel is {max_parallel}")]
    MaxParallelReached { in_flight: usize, max_parallel: i64 },
    #[error("run {0} is not a run of this job")]
    RunNotFound(Uuid),
    #[error("no run of this job is in flight; name the run with run_id")]
    NoRunInFlight,
    #[error("calendar '{0}' not found")]
    CalendarNotFound(String),
    #[error("{date} is not a listed date of calendar '{calendar}'")]
    DateNotListed { calendar: String, date: String },
    /// A job names the calendar: it cannot be deleted.
    #[error("calendar '{calendar}' is used by {} job(s): {}; move them to another calendar first", jobs.len(), jobs.join(", "))]
    CalendarInUse { calendar: String, jobs: Vec<String> },
    /// Other edits kept landing between the read and the write.
    #[error("{0}")]
    EditConflict(String),
    #[error("the scheduling engine did not answer: {0}")]
    EngineUnavailable(String),
    /// The database is unreachable or failed; nothing was changed.
    #[error("the database is unavailable, nothing was changed: {0}")]
    Database(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(job_id) => ServiceError::JobExists(job_id),
            other => ServiceError::Database(other),
        }
    }
}

impl From<actix::MailboxError> for ServiceError {
    fn from(error: actix::MailboxError) -> Self {
        ServiceError::EngineUnavailable(error.to_string())
    }
}

impl From<RunNowRejected> for ServiceError {
    fn from(rejected: RunNowRejected) -> Self {
        ServiceError::MaxParallelReached {
            in_flight: rejected.in_flight,
            max_parallel: rejected.max_parallel,
        }
    }
}

impl ServiceError {
    pub(crate) fn unavailable(job_id: &str, error: JobUnavailable) -> Self {
        match error {
            JobUnavailable::NotFound => ServiceError::JobNotFound(job_id.to_string()),
            JobUnavailable::Database(error) => ServiceError::Database(error),
            unavailable @ (JobUnavailable::Stopped | JobUnavailable::Elsewhere(_)) => {
                ServiceError::EngineUnavailable(unavailable.to_string())
            }
        }
    }
}

impl From<ReportError> for ServiceError {
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::JobNotFound(job_id) => ServiceError::JobNotFound(job_id),
            ReportError::RunNotFound(run_id) => ServiceError::RunNotFound(run_id),
            ReportError::NoRunInFlight => ServiceError::NoRunInFlight,
            ReportError::EngineUnavailable(why) => ServiceError::EngineUnavailable(why),
            ReportError::Database(error) => ServiceError::Database(error),
        }
    }
}
