//! Run reports over AMQP: a worker may publish the report body plus `job_id` to the
//! durable queue `{scope}.jobs.reports` instead of calling `POST /jobs/{id}/last-run`. Each
//! message is settled by the same rule as the HTTP report (`engine/job/report.rs`), then
//! acknowledged; when it names a `reply_to` queue the answer is published there with the
//! message's `correlation_id`. A message that is not a valid report, or that the rule refuses
//! (unknown job or run, nothing in flight), is logged, counted and dead-lettered to
//! `{scope}.jobs.reports.dead`; while the engine cannot answer it is requeued. This task has its
//! own connection (it reconnects with backoff) and never touches the publishing one.

use std::time::Duration;

use actix::Addr;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use tokio::sync::watch;

use super::reports::{self, ReportError};
use super::supervisor::Supervisor;
use crate::job::Scope;

/// Report messages handled at once (the consumer's prefetch).
const PREFETCH: u16 = 256;
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the consumer needs.
#[derive(Clone)]
pub(crate) struct ReportConsumer {
    pub url: String,
    /// The reports queue; refused messages go to `{queue}.dead`.
    pub queue: String,
    /// The instance's scope: a report naming another is refused.
    pub scope: Scope,
    pub supervisor: Addr<Supervisor>,
}

/// The consumer's thread: stopping it (or dropping it) ends the consumer.
pub(crate) struct ReportThread {
    stop: watch::Sender<bool>,
    thread: actix::Arbiter,
}

impl ReportThread {
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for ReportThread {
    fn drop(&mut self) {
        self.stop();
        self.thread.stop();
    }
}

impl ReportConsumer {
    /// Consumes on a thread of its own, so parsing and checking reports stays off the thread
    /// the job actors run on (as HTTP reports are parsed on the HTTP workers).
    pub(crate) fn spawn(self) -> ReportThread {
        let (stop, stopped) = watch::channel(false);
        let thread = actix::Arbiter::new();
        thread.spawn(async move {
            let mut backoff = MIN_BACKOFF;
            let mut stopped = stopped;
            loop {
                if *stopped.borrow() {
                    return;
                }
                match self.consume(&mut stopped, &mut backoff).await {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64,
                            "report queue unavailable");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stopped.changed() => return,
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        });
        ReportThread { stop, thread }
    }

    /// Consumes until stopped (`Ok`) or the connection fails (`Err`).
    async fn consume(
        &self,
        stopped: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> Result<(), String> {
        self.consume_once(stopped, backoff)
            .await
            .map_err(|error| error.to_string())?
    }

    /// One connection's worth of consuming: `Ok(Ok(()))` when stopped, `Ok(Err(_))` when the
    /// broker ended the consumer.
    async fn consume_once(
        &self,
        stopped: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> Result<Result<(), String>, lapin::Error> {
        let connection = super::amqp_targets::AmqpTargets::parse(&self.url)
            .connect("jennie-scheduler reports")
            .await?;
        let channel = connection.create_channel().await?;
        let queue = self.queue.clone();
        let dead = format!("{queue}.dead");
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .queue_declare(dead.as_str().into(), durable, FieldTable::default())
            .await?;
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString("".into()),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(dead.as_str().into()),
        );
        channel
            .queue_declare(queue.as_str().into(), durable, arguments)
            .await?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await?;
        let mut deliveries = channel
            .basic_consume(
                queue.as_str().into(),
                "jennie-scheduler-reports".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(%queue, "consuming completion reports");
        *backoff = MIN_BACKOFF;
        loop {
            tokio::select! {
                _ = stopped.changed() => {
                    let _ = connection.close(200, "stopping".into()).await;
                    return Ok(Ok(()));
                }
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        let (consumer, channel) = (self.clone(), channel.clone());
                        actix::spawn(async move { consumer.handle(&channel, delivery).await });
                    }
                    Some(Err(error)) => return Err(error),
                    None => return Ok(Err("the broker cancelled the report consumer".into())),
                },
            }
        }
    }

    async fn handle(&self, channel: &Channel, delivery: Delivery) {
        let settled = match reports::report_of_message(&delivery.data, self.scope) {
            Err(invalid) => Err((invalid.error, invalid.to_string())),
            Ok((job_id, report)) => {
                match reports::settle(&self.supervisor, &job_id, report).await {
                    Ok(settlement) => Ok(settlement.receipt(&job_id)),
                    Err(ReportError::EngineUnavailable(_) | ReportError::Database(_)) => {
                        // Nothing was decided: try the message again shortly.
                        metrics::counter!(crate::metrics::REPORT_MESSAGES_TOTAL, "outcome" => "requeued")
                            .increment(1);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        let _ = delivery
                            .nack(BasicNackOptions {
                                requeue: true,
                                ..Default::default()
                            })
                            .await;
                        return;
                    }
                    Err(refused) => {
                        let code = match &refused {
                            ReportError::JobNotFound(_) => "not_found",
                            ReportError::RunNotFound(_) => "run_not_found",
                            _ => "no_run_in_flight",
                        };
                        Err((code, format!("job {job_id}: {refused}")))
                    }
                }
            }
        };
        let answer = match &settled {
            Ok(answer) => serde_json::to_vec(answer).unwrap_or_default(),
            Err((code, reason)) => {
                serde_json::to_vec(&serde_json::json!({"error": code, "message": reason}))
                    .unwrap_or_default()
            }
        };
        reply(channel, &delivery, &answer).await;
        match settled {
            Ok(_) => {
                metrics::counter!(crate::metrics::REPORT_MESSAGES_TOTAL, "outcome" => "settled")
                    .increment(1);
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
            Err((_, reason)) => {
                metrics::counter!(crate::metrics::REPORT_MESSAGES_TOTAL, "outcome" => "dead_lettered")
                    .increment(1);
                tracing::warn!(%reason, bytes = delivery.data.len(),
                    "report message refused; dead-lettering it");
                let _ = delivery
                    .nack(BasicNackOptions {
                        requeue: false,
                        ..Default::default()
                    })
                    .await;
            }
        }
    }
}

/// Publishes `body` to the message's `reply_to` queue (if any) with its `correlation_id`.
async fn reply(channel: &Channel, delivery: &Delivery, body: &[u8]) {
    let Some(reply_to) = delivery.properties.reply_to() else {
        return;
    };
    let mut properties = BasicProperties::default().with_content_type("application/json".into());
    if let Some(correlation) = delivery.properties.correlation_id() {
        properties = properties.with_correlation_id(correlation.clone());
    }
    if let Err(error) = channel
        .basic_publish(
            "".into(),
            reply_to.as_str().into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
    {
        tracing::warn!(%error, reply_to = %reply_to, "could not answer a report message");
    }
}
