//! Run reports over AMQP: the report body plus `job_id`, published to the scheduler's
//! reports queue with RabbitMQ's direct reply-to, answered on the same channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::oneshot;

use super::ClientError;
use crate::{ReportReceipt, RunReport};

/// RabbitMQ's pseudo-queue for direct replies.
const REPLY_TO: &str = "amq.rabbitmq.reply-to";
/// How long a report waits for the scheduler's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

struct Link {
    channel: Channel,
    _connection: Connection,
}

/// A connection to the broker that publishes reports and routes their answers back.
#[derive(Clone)]
pub(crate) struct AmqpReports {
    url: String,
    queue: String,
    link: Arc<tokio::sync::Mutex<Option<Link>>>,
    pending: Pending,
}

impl std::fmt::Debug for AmqpReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpReports")
            .field("queue", &self.queue)
            .finish()
    }
}

fn broker_error(error: lapin::Error) -> ClientError {
    ClientError::Broker(error.to_string())
}

impl AmqpReports {
    pub(crate) fn new(url: &str, queue: &str) -> Self {
        AmqpReports {
            url: url.to_string(),
            queue: queue.to_string(),
            link: Default::default(),
            pending: Default::default(),
        }
    }

    /// The channel, connecting (and starting the reply consumer) when there is none.
    async fn channel(&self) -> Result<Channel, ClientError> {
        let mut link = self.link.lock().await;
        if let Some(link) = link
            .as_ref()
            .filter(|link| link.channel.status().connected())
        {
            return Ok(link.channel.clone());
        }
        let properties =
            ConnectionProperties::default().with_connection_name("jennie-worker reports".into());
        let connection = Connection::connect(&self.url, properties)
            .await
            .map_err(broker_error)?;
        let channel = connection.create_channel().await.map_err(broker_error)?;
        let mut answers = channel
            .basic_consume(
                REPLY_TO.into(),
                "jennie-worker-answers".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(broker_error)?;
        let pending = self.pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(answer)) = answers.next().await {
                let Some(id) = answer.properties.correlation_id() else {
                    continue;
                };
                let waiting = pending.lock().ok().and_then(|mut p| p.remove(id.as_str()));
                if let Some(waiting) = waiting {
                    let _ = waiting.send(answer.data);
                }
            }
        });
        *link = Some(Link {
            channel: channel.clone(),
            _connection: connection,
        });
        Ok(channel)
    }

    pub(crate) async fn mark_job_run(
        &self,
        job_id: &str,
        report: &RunReport,
    ) -> Result<ReportReceipt, ClientError> {
        let mut body =
            serde_json::to_value(report).map_err(|e| ClientError::Broker(e.to_string()))?;
        body["job_id"] = serde_json::Value::String(job_id.to_string());
        let payload = serde_json::to_vec(&body).map_err(|e| ClientError::Broker(e.to_string()))?;
        let correlation = uuid::Uuid::new_v4().to_string();
        let (answered, answer) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(correlation.clone(), answered);
        }
        let sent = async {
            let channel = self.channel().await?;
            channel
                .basic_publish(
                    "".into(),
                    self.queue.as_str().into(),
                    BasicPublishOptions::default(),
                    &payload,
                    BasicProperties::default()
                        .with_content_type("application/json".into())
                        .with_delivery_mode(2)
                        .with_reply_to(REPLY_TO.into())
                        .with_correlation_id(correlation.as_str().into()),
                )
                .await
                .map_err(broker_error)?;
            Ok::<_, ClientError>(())
        }
        .await;
        let outcome = match sent {
            Ok(()) => match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
                Ok(Ok(bytes)) => read_answer(&bytes),
                _ => Err(ClientError::Broker(format!(
                    "no answer from the scheduler within {} s",
                    ANSWER_TIMEOUT.as_secs()
                ))),
            },
            Err(error) => {
                // The link is broken: connect afresh next time.
                *self.link.lock().await = None;
                Err(error)
            }
        };
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&correlation);
        }
        outcome
    }
}

/// The scheduler's answer: a [`ReportReceipt`], or `{"error", "message"}` when it refused
/// the report (mapped to the HTTP status the same refusal has on the REST API).
fn read_answer(bytes: &[u8]) -> Result<ReportReceipt, ClientError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ClientError::Broker(format!("unreadable answer: {error}")))?;
    if let Some(code) = value.get("error").and_then(|code| code.as_str()) {
        let status = match code {
            "not_found" | "run_not_found" => 404,
            "no_run_in_flight" => 409,
            _ => 400,
        };
        return Err(ClientError::Refused {
            status,
            body: value.to_string(),
        });
    }
    serde_json::from_value(value)
        .map_err(|error| ClientError::Broker(format!("unreadable answer: {error}")))
}
