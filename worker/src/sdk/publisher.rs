//! Publishing job messages: straight into a queue, or through a delay queue (queue mode).

use std::time::Duration;

use chrono::Utc;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::{delay_queue_name, JobMessage, QueueType, TriggerSource};

/// Why a publish failed.
#[derive(Debug)]
pub enum PublishError {
    /// RabbitMQ could not be reached or the channel failed.
    Broker(lapin::Error),
    /// RabbitMQ refused the message (nack or unroutable).
    Refused(&'static str),
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::Broker(error) => write!(f, "RabbitMQ error: {error}"),
            PublishError::Refused(why) => write!(f, "RabbitMQ refused the message: {why}"),
        }
    }
}

impl std::error::Error for PublishError {}

impl From<lapin::Error> for PublishError {
    fn from(error: lapin::Error) -> Self {
        PublishError::Broker(error)
    }
}

/// Publishes job messages for one job queue, with publisher confirms; reconnects on demand.
pub struct Publisher {
    amqp_url: String,
    queue: String,
    queue_type: QueueType,
    link: Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    /// A publisher for `queue` (the job's queue, e.g. `real.jobs.buy-scanner`); connects on
    /// first use.
    pub fn new(amqp_url: &str, queue: &str) -> Self {
        Publisher {
            amqp_url: amqp_url.to_string(),
            queue: queue.to_string(),
            queue_type: QueueType::from_env(),
            link: Mutex::new(None),
        }
    }

    /// The job queue this publisher serves.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Declares the job and delay queues as `queue_type` (default: `SCHEDULER_QUEUE_TYPE`,
    /// else classic); it must be the type the scheduler declares them with.
    pub fn with_queue_type(mut self, queue_type: QueueType) -> Self {
        self.queue_type = queue_type;
        self
    }

    /// The type the job and delay queues are declared with.
    pub fn queue_type(&self) -> QueueType {
        self.queue_type
    }

    /// Publishes `message` into the job queue now.
    pub async fn publish(&self, message: &JobMessage) -> Result<(), PublishError> {
        self.send(
            &self.queue.clone(),
            queue_arguments(self.queue_type),
            message,
        )
        .await
    }

    /// Publishes `message` so that it reaches the job queue after `delay`: through the delay
    /// queue `{queue}.delay.{ms}` (TTL, then dead-lettered back to the job queue; one per
    /// distinct delay, so a long delay never holds back a short one; it expires when unused).
    pub async fn publish_delayed(
        &self,
        message: &JobMessage,
        delay: Duration,
    ) -> Result<(), PublishError> {
        let delay_ms = delay.as_millis().max(1) as u64;
        let mut arguments = queue_arguments(self.queue_type);
        arguments.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(delay_ms as i64),
        );
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from("")),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(self.queue.as_str())),
        );
        // Unused for a minute past its TTL: gone. Every publish re-declares it.
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(delay_ms as i64 + 60_000),
        );
        self.send(&delay_queue_name(&self.queue, delay_ms), arguments, message)
            .await
    }

    async fn send(
        &self,
        queue: &str,
        arguments: FieldTable,
        message: &JobMessage,
    ) -> Result<(), PublishError> {
        let payload = serde_json::to_vec(message).expect("a job message serializes");
        let mut link = self.link.lock().await;
        // One retry on a fresh connection when the old one has gone.
        for attempt in 0..2 {
            if link.is_none() {
                let connection =
                    Connection::connect(&self.amqp_url, ConnectionProperties::default()).await?;
                let channel = connection.create_channel().await?;
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await?;
                *link = Some((connection, channel));
            }
            let (_, channel) = link.as_ref().expect("connected");
            match publish_on(channel, queue, arguments.clone(), &payload, message.run_id).await {
                Err(PublishError::Broker(error)) if attempt == 0 => {
                    tracing::warn!(%error, "publish failed; reconnecting once");
                    *link = None;
                }
                result => return result,
            }
        }
        unreachable!("the loop returns on its second attempt")
    }
}

/// The declare arguments of a queue of `queue_type` (none for a classic queue).
pub(crate) fn queue_arguments(queue_type: QueueType) -> FieldTable {
    let mut arguments = FieldTable::default();
    if let Some(kind) = queue_type.declare_argument() {
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from(kind)),
        );
    }
    arguments
}

async fn publish_on(
    channel: &Channel,
    queue: &str,
    arguments: FieldTable,
    payload: &[u8],
    run_id: Uuid,
) -> Result<(), PublishError> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            arguments,
        )
        .await?;
    let properties = BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_delivery_mode(2)
        .with_message_id(ShortString::from(run_id.to_string()));
    let confirm = channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            payload,
            properties,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_)) => Err(PublishError::Refused("unroutable")),
        Confirmation::Nack(_) => Err(PublishError::Refused("nacked")),
    }
}

/// Queue mode: publishes the job's next run, `next_delay_sec` from now, through the
/// delay queue: a new run_id, `trigger_source: auto-reschedule`, a fresh `queued_at`, the same
/// chain with the next sequence number. Returns the new run_id, or None when the message does
/// not ask to be rescheduled.
pub async fn reschedule_job(
    publisher: &Publisher,
    job: &JobMessage,
) -> Result<Option<Uuid>, PublishError> {
    let Some(delay) = job
        .next_delay_sec
        .filter(|delay| *delay > 0 && job.auto_reschedule)
    else {
        return Ok(None);
    };
    let now = Utc::now();
    let next = JobMessage {
        run_id: Uuid::new_v4(),
        trigger_source: TriggerSource::AutoReschedule,
        queued_at: now,
        due_at: now + chrono::Duration::seconds(delay),
        attempt: 1,
        chain_seq: job.chain_seq.map(|seq| seq + 1),
        ..job.clone()
    };
    publisher
        .publish_delayed(&next, Duration::from_secs(delay as u64))
        .await?;
    Ok(Some(next.run_id))
}
