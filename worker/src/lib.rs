//! The wire contract between jennie-scheduler and the worker services it triggers.
//!
//! The scheduler publishes one [`JobMessage`] per fire into the job's queue; a worker parses it
//! with [`parse_job_message`] and reports back with a [`CompletionReport`]. Both sides use these
//! types, so the contract cannot drift between them.

mod message;
mod names;

pub use message::{
    parse_job_message, CompletionReport, CompletionStatus, JobMessage, MessageError, TriggerSource,
};
pub use names::{delay_queue_name, queue_prefix, JOBS_SEGMENT};
