//! The scheduling engine of jennie-scheduler: the job domain (fields, validation, schedules)
//! and the store. Only the store module touches sea-orm.

pub mod engine;
pub mod job;
pub mod metrics;
pub mod run;
pub mod schedule;
pub mod store;

pub use job::{
    Job, JobConfig, JobInput, JobState, JobView, RescheduleMode, Scope, ValidationError,
};
pub use run::{RunRecord, RunStatus, StateWrite};
pub use schedule::{CronError, CronSchedule};
pub use store::{DatabaseTarget, Store, StoreError};
