//! The core of jennie-scheduler, with no HTTP in it: the job domain (fields, validation,
//! schedules), the store (the only module that touches sea-orm), the engine (the actors), and
//! the application service every front end calls.

pub mod calendar;
pub mod engine;
pub mod instant;
pub mod job;
pub mod metrics;
pub mod run;
pub mod schedule;
pub mod service;
pub mod store;

pub use job::{Job, JobConfig, JobState, JobView, RescheduleMode, Scope, ValidationError};
pub use run::{RunRecord, RunStatus, StateWrite};
pub use schedule::{CronError, CronSchedule};
pub use service::{JobService, ServiceError};
pub use store::{DatabaseTarget, Store, StoreError};
