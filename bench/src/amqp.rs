//! The consumer that stamps every delivery on arrival, the optional reporter that answers
//! each run like a worker would, and the raw lapin publisher baseline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use futures_util::stream::{FuturesUnordered, StreamExt};
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::{mpsc, Semaphore};
use uuid::Uuid;
use worker::{JobMessage, ReportStatus, RunReport, SchedulerClient, TriggerSource};

use crate::plan::job_index;
use crate::util::now_ms;

/// The confirm window of the service's broker actor; the raw publisher uses the same.
pub const CONFIRM_WINDOW: usize = 2048;

pub fn url() -> String {
    std::env::var("RABBITMQ_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub async fn connect() -> Result<Connection> {
    let url = url();
    Connection::connect(&url, ConnectionProperties::default())
        .await
        .with_context(|| {
            format!("RabbitMQ is not reachable at {url}; start it: rabbitmq-server -detached")
        })
}

/// Deletes `queue` if it exists and declares it anew, durable, as the service declares it.
pub async fn fresh_queue(channel: &Channel, queue: &str) -> Result<()> {
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// One delivery, stamped when the consumer got it.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub recv_ms: f64,
    pub due_ms: f64,
    /// When the publisher fired the run (the message's `queued_at`).
    pub queued_ms: f64,
    pub job: u32,
    /// The message's run_id.
    pub run_id: Uuid,
}

impl Received {
    pub fn lateness_ms(&self) -> f64 {
        self.recv_ms - self.due_ms
    }
}

/// Consumes a queue (auto-ack) and keeps every delivery; optionally reports each run back to
/// the scheduler as a worker would, so `max_parallel` and in-flight tracking see real traffic.
pub struct Collector {
    connection: Connection,
    channel: Channel,
    queue: String,
    records: Arc<Mutex<Vec<Received>>>,
    undecodable: Arc<AtomicU64>,
    pub report_failures: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Collector {
    pub async fn start(queue: &str, reports_to: Option<SchedulerClient>) -> Result<Collector> {
        Self::start_reporting(queue, reports_to, REPORTS_AT_ONCE).await
    }

    /// [`Self::start`], with up to `at_once` reports waiting for their answers together (a
    /// fleet of that many workers).
    pub async fn start_reporting(
        queue: &str,
        reports_to: Option<SchedulerClient>,
        at_once: usize,
    ) -> Result<Collector> {
        let connection = connect().await?;
        let channel = connection.create_channel().await?;
        fresh_queue(&channel, queue).await?;
        let mut consumer = channel
            .basic_consume(
                queue.into(),
                "jennie-bench".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let records = Arc::new(Mutex::new(Vec::with_capacity(1 << 20)));
        let undecodable = Arc::new(AtomicU64::new(0));
        let report_failures = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        let reporter = reports_to.map(|client| {
            let (sender, task) = spawn_reporter(client, report_failures.clone(), at_once);
            tasks.push(task);
            sender
        });
        let (sink, bad) = (records.clone(), undecodable.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let recv_ms = now_ms();
                let Ok(message) = worker::parse_job_message(&delivery.data) else {
                    bad.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let Some(job) = job_index(&message.job_id) else {
                    bad.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                sink.lock().unwrap().push(Received {
                    recv_ms,
                    due_ms: message.due_at.timestamp_micros() as f64 / 1000.0,
                    queued_ms: message.queued_at.timestamp_micros() as f64 / 1000.0,
                    job,
                    run_id: message.run_id,
                });
                if let Some(reporter) = &reporter {
                    let _ = reporter.send(message);
                }
            }
        }));
        Ok(Collector {
            connection,
            channel,
            queue: queue.to_string(),
            records,
            undecodable,
            report_failures,
            tasks,
        })
    }

    pub fn count(&self) -> usize {
        self.records.lock().unwrap().len()
    }

    /// Everything received so far.
    pub fn records(&self) -> Vec<Received> {
        self.records.lock().unwrap().clone()
    }

    /// Waits until `n` deliveries arrived or nothing arrived for `quiet_ms`.
    pub async fn wait_for(&self, n: usize, quiet_ms: f64) {
        let mut last_count = self.count();
        let mut last_change = now_ms();
        while self.count() < n {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let count = self.count();
            if count != last_count {
                last_count = count;
                last_change = now_ms();
            } else if now_ms() - last_change > quiet_ms {
                return;
            }
        }
    }

    /// Stops consuming and reporting (a backlog of reports is dropped), deletes the queue and
    /// closes the connection.
    pub async fn finish(self) {
        for task in &self.tasks {
            task.abort();
        }
        let undecodable = self.undecodable.load(Ordering::Relaxed);
        if undecodable > 0 {
            eprintln!(
                "warning: {undecodable} deliveries on {} were not bench job messages",
                self.queue
            );
        }
        let _ = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await;
        let _ = self.connection.close(200, "OK".into()).await;
    }
}

/// How many reports wait for their answers together by default.
const REPORTS_AT_ONCE: usize = 64;

/// Reports each received run as a success, at most `at_once` reports at a time.
fn spawn_reporter(
    client: SchedulerClient,
    failures: Arc<AtomicU64>,
    at_once: usize,
) -> (
    mpsc::UnboundedSender<JobMessage>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, mut messages) = mpsc::unbounded_channel::<JobMessage>();
    let client = Arc::new(client);
    let permits = Arc::new(Semaphore::new(at_once));
    let task = tokio::spawn(async move {
        while let Some(message) = messages.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (client, failures) = (client.clone(), failures.clone());
            tokio::spawn(async move {
                let report = RunReport::for_message(&message, ReportStatus::Success, None);
                if client.mark_job_run(&message.job_id, &report).await.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                drop(permit);
            });
        }
    });
    (sender, task)
}

/// The message the service would publish for job `index` due at `due_ms`, for the baselines.
pub fn message_for(index: u32, due_ms: f64) -> Vec<u8> {
    let due = chrono::DateTime::from_timestamp_millis(due_ms as i64).expect("a valid instant");
    let message = JobMessage {
        job_id: crate::plan::job_id(index),
        scope: "mock".into(),
        run_id: Uuid::new_v4(),
        trigger_source: TriggerSource::Scheduler,
        params: serde_json::Map::new(),
        next_delay_sec: Some(1),
        auto_reschedule: false,
        timeout_sec: 120,
        retry_limit: 3,
        telemetry_label: crate::plan::job_id(index),
        queued_at: chrono::Utc::now(),
        due_at: due,
        attempt: 1,
        chain_id: None,
        chain_seq: None,
    };
    serde_json::to_vec(&message).expect("a message serializes")
}

/// The raw lapin baseline: one connection, one confirm channel, persistent messages, at most
/// [`CONFIRM_WINDOW`] unconfirmed.
pub struct RawPublisher {
    connection: Connection,
    channel: Channel,
}

impl RawPublisher {
    pub async fn open() -> Result<RawPublisher> {
        let connection = connect().await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(RawPublisher {
            connection,
            channel,
        })
    }

    /// Publishes every payload; returns how many were acked and when the last ack came.
    pub async fn publish_all(
        &self,
        queue: &str,
        payloads: impl IntoIterator<Item = Vec<u8>>,
    ) -> Result<(u64, f64)> {
        let mut pending = FuturesUnordered::new();
        let mut acked = 0;
        let mut last_ack = f64::NAN;
        let mut settle = |outcome: Result<Confirmation, lapin::Error>| {
            if let Ok(Confirmation::Ack(None)) = outcome {
                acked += 1;
                last_ack = now_ms();
            }
        };
        for payload in payloads {
            if pending.len() >= CONFIRM_WINDOW {
                if let Some(outcome) = pending.next().await {
                    settle(outcome);
                }
            }
            let confirm = self
                .channel
                .basic_publish(
                    "".into(),
                    queue.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &payload,
                    properties(),
                )
                .await?;
            pending.push(confirm);
        }
        while let Some(outcome) = pending.next().await {
            settle(outcome);
        }
        Ok((acked, last_ack))
    }

    /// Publishes as fast as the window allows until `until_ms`; returns the acks.
    pub async fn publish_until(&self, queue: &str, until_ms: f64) -> Result<u64> {
        let mut index = 0u32;
        let payloads = std::iter::from_fn(|| {
            let now = now_ms();
            if now >= until_ms {
                return None;
            }
            index = (index + 1) % 1_000_000;
            Some(message_for(index, now))
        });
        Ok(self.publish_all(queue, payloads).await?.0)
    }

    pub async fn close(self) {
        let _ = self.connection.close(200, "OK".into()).await;
    }
}

fn properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(Uuid::new_v4().to_string().into())
        .with_app_id("jennie-bench".into())
}
