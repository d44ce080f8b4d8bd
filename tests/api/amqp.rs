//! A test consumer on a uniquely named queue of the local RabbitMQ.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::Value;
use tokio::sync::mpsc;

pub fn rabbitmq_url() -> String {
    std::env::var("RABBITMQ_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

/// One delivery as the test saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    pub properties: BasicProperties,
    pub received_at: DateTime<Utc>,
}

impl Received {
    /// An RFC 3339 field of the body as an instant.
    pub fn instant(&self, field: &str) -> DateTime<Utc> {
        let text = self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing: {}", self.body));
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|error| panic!("{field} '{text}': {error}"))
            .with_timezone(&Utc)
    }

    /// Receive time minus `due_at`, in milliseconds.
    pub fn lateness_ms(&self) -> i64 {
        (self.received_at - self.instant("due_at")).num_milliseconds()
    }
}

/// A durable queue named `{scope}.jobs.test-{uuid}`, consumed into a channel.
pub struct TestQueue {
    pub name: String,
    channel: Channel,
    _connection: Connection,
    deliveries: mpsc::UnboundedReceiver<Received>,
}

impl TestQueue {
    pub async fn new(scope: &str) -> TestQueue {
        let name = format!("{scope}.jobs.test-{}", uuid::Uuid::new_v4().simple());
        Self::consume(name).await
    }

    /// Consumes an existing (or new) durable queue.
    pub async fn consume(name: String) -> TestQueue {
        let url = rabbitmq_url();
        let connection = Connection::connect(&url, ConnectionProperties::default())
            .await
            .unwrap_or_else(|error| {
                panic!("RabbitMQ is not reachable at {url} ({error}). Start it: rabbitmq-server -detached")
            });
        let channel = connection.create_channel().await.expect("a channel");
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare the test queue");
        let mut consumer = channel
            .basic_consume(
                name.as_str().into(),
                "jennie-test".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("consume the test queue");
        let (sender, deliveries) = mpsc::unbounded_channel();
        actix_web::rt::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let received = Received {
                    received_at: Utc::now(),
                    body: serde_json::from_slice(&delivery.data).unwrap_or(Value::Null),
                    properties: delivery.properties.clone(),
                };
                if sender.send(received).is_err() {
                    return;
                }
            }
        });
        TestQueue {
            name,
            channel,
            _connection: connection,
            deliveries,
        }
    }

    /// The next delivery, or None after `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Received> {
        tokio::time::timeout(within, self.deliveries.recv())
            .await
            .ok()
            .flatten()
    }

    /// Everything delivered during `duration`.
    pub async fn collect_for(&mut self, duration: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + duration;
        let mut received = Vec::new();
        while let Ok(Some(delivery)) =
            tokio::time::timeout_at(deadline, self.deliveries.recv()).await
        {
            received.push(delivery);
        }
        received
    }

    /// Stops consuming and closes the connection; the queue and its messages stay.
    pub async fn close(self) -> String {
        let _ = self._connection.close(200, "OK".into()).await;
        self.name
    }

    /// Deletes the queue.
    pub async fn delete(self) {
        let _ = self
            .channel
            .queue_delete(self.name.as_str().into(), QueueDeleteOptions::default())
            .await;
        let _ = self._connection.close(200, "OK".into()).await;
    }
}
