//! The worker loop: consume the job queue, run the handler, report, reschedule, acknowledge.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use tokio::sync::watch;
use uuid::Uuid;

use super::{reschedule_job, Publisher, SchedulerClient};
use crate::{parse_job_message, JobMessage, ReportStatus, RunReport};

/// Run ids remembered to drop duplicate deliveries.
const REMEMBERED_RUNS: usize = 4096;
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a graceful stop waits for the deliveries in progress.
const GRACEFUL_STOP: Duration = Duration::from_secs(30);

/// What a [`Worker`] needs.
pub struct WorkerConfig {
    pub amqp_url: String,
    /// The job queue to consume, e.g. `real.jobs.buy-scanner`.
    pub queue: String,
    /// Deliveries in progress at once (AMQP prefetch); at least 1.
    pub prefetch: u16,
    /// Where completion reports go.
    pub scheduler: SchedulerClient,
    /// Publishes the next run of queue-mode jobs (bound to the same queue).
    pub publisher: Publisher,
}

/// Consumes a job queue: for each message, runs the handler, reports the outcome to the
/// scheduler (`mark_job_run`), reschedules a queue-mode job when the scheduler says so, and
/// only then acknowledges the message. A message that is not a job message is rejected
/// (not requeued); a duplicate delivery of a run already handled is acknowledged and dropped.
/// A lost connection is re-opened with backoff.
pub struct Worker {
    config: Arc<WorkerConfig>,
    seen: Arc<Mutex<RecentRuns>>,
}

/// A running worker.
pub struct WorkerHandle {
    stop: watch::Sender<Stop>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Run,
    /// Finish the deliveries in progress, then close.
    Graceful,
    /// Close at once: deliveries in progress are not acknowledged and go back to the queue.
    Kill,
}

impl WorkerHandle {
    /// Stops taking messages, finishes those in progress, and closes the connection.
    pub async fn stop(self) {
        let _ = self.stop.send(Stop::Graceful);
        let _ = self.task.await;
    }

    /// Stops at once, like a crash: messages in progress are not acknowledged, so RabbitMQ
    /// delivers them again.
    pub async fn kill(self) {
        let _ = self.stop.send(Stop::Kill);
        let _ = self.task.await;
    }

    /// Waits until the worker stops (it runs until stopped).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

#[derive(Default)]
struct RecentRuns {
    order: VecDeque<Uuid>,
    set: HashSet<Uuid>,
}

impl RecentRuns {
    fn contains(&self, run_id: &Uuid) -> bool {
        self.set.contains(run_id)
    }

    fn insert(&mut self, run_id: Uuid) {
        if self.set.insert(run_id) {
            self.order.push_back(run_id);
            if self.order.len() > REMEMBERED_RUNS {
                if let Some(oldest) = self.order.pop_front() {
                    self.set.remove(&oldest);
                }
            }
        }
    }
}

impl Worker {
    pub fn new(config: WorkerConfig) -> Self {
        Worker {
            config: Arc::new(config),
            seen: Arc::new(Mutex::new(RecentRuns::default())),
        }
    }

    /// Starts consuming on the current tokio runtime; `handler` returns `Err(message)` for a
    /// failed run (the message becomes the run's `error`).
    pub fn spawn<H, F>(self, handler: H) -> WorkerHandle
    where
        H: Fn(JobMessage) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let (stop, stopping) = watch::channel(Stop::Run);
        let task = tokio::spawn(self.run(Arc::new(handler), stopping));
        WorkerHandle { stop, task }
    }

    async fn run<H, F>(self, handler: Arc<H>, mut stopping: watch::Receiver<Stop>)
    where
        H: Fn(JobMessage) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.consume(handler.clone(), &mut stopping).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(queue = %self.config.queue, %error, retry_in_ms = backoff.as_millis() as u64,
                        "worker lost RabbitMQ; reconnecting");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopping.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection's life: Ok when told to stop, Err when the connection failed.
    async fn consume<H, F>(
        &self,
        handler: Arc<H>,
        stopping: &mut watch::Receiver<Stop>,
    ) -> Result<(), lapin::Error>
    where
        H: Fn(JobMessage) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let config = &self.config;
        let connection =
            Connection::connect(&config.amqp_url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(config.prefetch.max(1), BasicQosOptions::default())
            .await?;
        channel
            .queue_declare(
                config.queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                super::publisher::queue_arguments(config.publisher.queue_type()),
            )
            .await?;
        let consumer = channel
            .basic_consume(
                config.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let consumer_tag = consumer.tag().to_string();
        tracing::info!(queue = %config.queue, "worker consuming");
        let (failed_sender, mut failed) = tokio::sync::mpsc::unbounded_channel::<lapin::Error>();
        let processing =
            consumer.for_each_concurrent(usize::from(config.prefetch.max(1)), |delivery| {
                let handler = handler.clone();
                let failed_sender = failed_sender.clone();
                async move {
                    match delivery {
                        Ok(delivery) => self.handle(delivery, handler.as_ref()).await,
                        Err(error) => {
                            let _ = failed_sender.send(error);
                        }
                    }
                }
            });
        tokio::pin!(processing);
        let stop = tokio::select! {
            _ = &mut processing => None,
            Some(error) = failed.recv() => {
                let _ = connection.close(200, "worker reconnecting".into()).await;
                return Err(error);
            }
            _ = wait_for_stop(stopping) => Some(*stopping.borrow()),
        };
        let Some(stop) = stop else {
            // The consumer ended without a stop: the channel or connection closed.
            let _ = connection.close(200, "worker reconnecting".into()).await;
            return Err(failed.try_recv().unwrap_or_else(|_| {
                lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed).into()
            }));
        };
        if stop == Stop::Graceful {
            // Take no new deliveries; let those in progress finish (bounded).
            let _ = channel
                .basic_cancel(
                    consumer_tag.as_str().into(),
                    lapin::options::BasicCancelOptions::default(),
                )
                .await;
            let _ = tokio::time::timeout(GRACEFUL_STOP, &mut processing).await;
        }
        let _ = connection.close(200, "worker stopping".into()).await;
        Ok(())
    }

    async fn handle<H, F>(&self, delivery: Delivery, handler: &H)
    where
        H: Fn(JobMessage) -> F,
        F: Future<Output = Result<(), String>>,
    {
        let job = match parse_job_message(&delivery.data) {
            Ok(job) => job,
            Err(error) => {
                tracing::error!(queue = %self.config.queue, %error, "rejecting a message that is not a job message");
                let _ = delivery
                    .nack(BasicNackOptions {
                        requeue: false,
                        ..Default::default()
                    })
                    .await;
                return;
            }
        };
        let duplicate = self
            .seen
            .lock()
            .map(|seen| seen.contains(&job.run_id))
            .unwrap_or(false);
        if duplicate {
            tracing::info!(job_id = %job.job_id, run_id = %job.run_id, "dropping a duplicate delivery");
            let _ = delivery.ack(BasicAckOptions::default()).await;
            return;
        }
        let started_at = Utc::now();
        let outcome = handler(job.clone()).await;
        let (status, error) = match outcome {
            Ok(()) => (ReportStatus::Success, None),
            Err(message) => (ReportStatus::Failed, Some(message)),
        };
        let mut report = RunReport::for_message(&job, status, error);
        report.started_at = Some(started_at);
        let reschedule = match self
            .config
            .scheduler
            .mark_job_run(&job.job_id, &report)
            .await
        {
            Ok(answer) => answer.reschedule,
            Err(error @ super::ClientError::Refused { .. }) => {
                // The scheduler answered and does not know the job or run (deleted, say).
                tracing::error!(job_id = %job.job_id, run_id = %job.run_id, %error, "completion report refused; not rescheduling");
                false
            }
            Err(error) => {
                // The scheduler cannot tell us to stop: keep a queue-mode chain alive.
                tracing::error!(job_id = %job.job_id, run_id = %job.run_id, %error, "completion report failed");
                job.auto_reschedule
            }
        };
        if reschedule && job.auto_reschedule {
            if let Err(error) = reschedule_job(&self.config.publisher, &job).await {
                tracing::error!(job_id = %job.job_id, run_id = %job.run_id, %error, "reschedule failed");
            }
        }
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(job.run_id);
        }
        let _ = delivery.ack(BasicAckOptions::default()).await;
    }
}

async fn wait_for_stop(stopping: &mut watch::Receiver<Stop>) {
    while *stopping.borrow() == Stop::Run {
        if stopping.changed().await.is_err() {
            return;
        }
    }
}
