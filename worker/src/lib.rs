//! The wire contract between jennie-scheduler and the worker services it triggers, and the SDK
//! a Rust worker needs (feature `sdk`, on by default).
//!
//! The scheduler publishes one [`JobMessage`] per fire into the job's queue; a worker parses it
//! with [`parse_job_message`], does the work, reports back with a [`RunReport`], and, in
//! queue mode, publishes its own next run through a delay queue with [`reschedule_job`].
//!
//! ```no_run
//! use worker::{ReportStatus, JobMessage, Publisher, SchedulerClient, Worker, WorkerConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let amqp = "amqp://guest:guest@127.0.0.1:5672/%2f";
//! let queue = "real.jobs.buy-scanner";
//! let config = WorkerConfig {
//!     amqp_url: amqp.into(),
//!     queue: queue.into(),
//!     prefetch: 4,
//!     scheduler: SchedulerClient::new("http://127.0.0.1:8095", None)?,
//!     publisher: Publisher::new(amqp, queue),
//! };
//! // The handler does the work; the worker reports the outcome, reschedules in queue mode,
//! // and acknowledges the message only after both.
//! let handle = Worker::new(config).spawn(|job: JobMessage| async move {
//!     println!("scanning with {:?}", job.params);
//!     Ok::<(), String>(())
//! });
//! handle.stopped().await;
//! # Ok(()) }
//! ```
//!
//! Both sides use these types, so the contract cannot drift between them.

mod message;
mod names;
#[cfg(feature = "sdk")]
mod sdk;

pub use message::{
    parse_job_message, JobMessage, MessageError, ReportReceipt, ReportStatus, RunReport,
    TriggerSource,
};
/// The names before the report vocabulary was settled (report, settle, receipt); kept so that
/// existing workers build, with a warning.
#[deprecated(note = "renamed `RunReport`")]
pub type CompletionReport = RunReport;
#[deprecated(note = "renamed `ReportReceipt`")]
pub type CompletionAnswer = ReportReceipt;
#[deprecated(note = "renamed `ReportStatus`")]
pub type CompletionStatus = ReportStatus;

pub use names::{
    dead_reports_queue_name, delay_queue_name, queue_prefix, reports_queue_name, QueueType,
    JOBS_SEGMENT, QUEUE_TYPE_VARIABLE,
};
#[cfg(feature = "sdk")]
pub use sdk::{
    reschedule_job, ClientError, PublishError, Publisher, SchedulerClient, Worker, WorkerConfig,
    WorkerHandle,
};
