//! The worker SDK: [`SchedulerClient`] (the completion report over HTTP), [`Publisher`] and
//! [`reschedule_job`] (queue mode through delay queues), and [`Worker`] (the consumer loop).

mod amqp_reports;
mod client;
mod consumer;
mod publisher;

pub use client::{ClientError, SchedulerClient};
pub use consumer::{Worker, WorkerConfig, WorkerHandle};
pub use publisher::{reschedule_job, PublishError, Publisher};
