//! What a job actor is told and what it answers.

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;
use worker::RunReport;

use crate::job::JobConfig;
use crate::run::RunStatus;

/// The job's configuration changed (edit, pause, resume, or a change seen in the table).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload(pub Arc<JobConfig>);

/// Publish a run now (`POST /jobs/{id}/run-now`).
#[derive(Message)]
#[rtype(result = "Result<Uuid, RunNowRejected>")]
pub struct RunNow {
    pub params: Option<Map<String, Value>>,
    /// Publish even when `max_parallel` runs are in flight.
    pub force: bool,
}

/// Why a run-now was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{in_flight} run(s) in flight, max_parallel is {max_parallel}")]
pub struct RunNowRejected {
    pub in_flight: usize,
    pub max_parallel: i64,
}

/// Settle a worker's report (`POST /jobs/{id}/last-run` or the reports queue).
#[derive(Message)]
#[rtype(result = "Result<Settlement, ReportRefused>")]
pub struct SettleReport(pub RunReport);

/// What a report did: the settlement.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// The run it closed; None when the report named no run and none was in flight.
    pub run_id: Option<Uuid>,
    pub status: RunStatus,
    /// False when the run had been reported already (a duplicate counts once).
    pub counted: bool,
    /// Whether a queue-mode worker should publish the next run.
    pub reschedule: bool,
    pub duration_seconds: Option<f64>,
}

/// Why a worker's report changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReportRefused {
    /// The report named a run this job does not have in flight or recently finished, and it
    /// is not the next position of a queue-mode chain the engine started.
    #[error("run {0} is not in flight for this job")]
    UnknownRun(Uuid),
    /// The report named no run, and none is in flight.
    #[error("no run of this job is in flight")]
    NoRunInFlight,
    /// The run is not one this actor knows and the table could not be read.
    #[error(transparent)]
    Database(#[from] crate::store::StoreError),
}

/// The next due instant (whole seconds, as the API shows it).
#[derive(Message)]
#[rtype(result = "Option<DateTime<Utc>>")]
pub struct GetNextDue;

/// Stop the job's schedule and the actor: the job was deleted (its staged run goes too), or
/// the service stops (the staged run stays for the next process to adopt).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown {
    pub deleted: bool,
}

/// What one of the job's timers went off for. Every timer of a job actor is one of these,
/// sent to itself with `notify_later`.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub(super) enum Wake {
    /// Stage the next run: its instant has come within the staging horizon.
    Stage,
    /// Fire the next run (from the precise timer; a wake of an older arming is ignored).
    Fire { armed: u64 },
    /// A run's row took too long to write: publish it anyway (one instance; a cluster waits
    /// for the row).
    Hold(Uuid),
    /// Cluster mode: a run held back while the partition's lease was not held here; publish
    /// it if the lease is back (the actor is stopped otherwise).
    Republish(Uuid),
    /// A run got no report within its `timeout_sec`.
    Timeout(Uuid),
    /// A failed run's retry is due.
    Retry(Uuid),
    /// Queue mode: no report came for interval + timeout; the chain is broken.
    Watchdog,
}
