//! The cluster's control plane, over RabbitMQ: every instance consumes its own exclusive queue
//! `{scope}.control.{cluster}.{instance_id}`, bound to the fanout exchange
//! `{scope}.control.{cluster}`, where `{cluster}` is a digest of the database's name (two
//! clusters sharing a broker never hear each other).
//! - A run-now or a report for a job whose partition another instance holds is sent to that
//!   instance's queue as a [`Request`] and answered on RabbitMQ's direct reply-to (the owner
//!   handles it as if it had come in itself, but never forwards it again).
//! - A job created, changed or deleted through one instance is announced on the fanout
//!   exchange ([`Announce`]); every other instance re-reads that job's row at once, so the
//!   owner applies the change without waiting for its next read of the table.
//!
//! The control connection is its own (the publishing one carries fires only) and reconnects
//! with backoff; while it is down, forwarded requests fail (503, try again) and changes reach
//! the owner by the table reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, ExchangeKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;
use worker::RunReport;

use crate::engine::calendar_sync::RefreshCalendar;
use crate::engine::supervisor::{FromPeer, Refresh, Supervisor};
use crate::job::Scope;

/// How long a forwarded request waits for the owner's answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// A message for the owner of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    RunNow {
        job_id: String,
        params: Option<Map<String, Value>>,
        force: bool,
    },
    Settle {
        job_id: String,
        report: RunReport,
    },
}

/// The owner's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Reply {
    Started {
        run_id: Uuid,
    },
    Rejected {
        in_flight: usize,
        max_parallel: i64,
    },
    Settled {
        run_id: Option<Uuid>,
        status: String,
        counted: bool,
        reschedule: bool,
        duration_seconds: Option<f64>,
    },
    UnknownRun {
        run_id: Uuid,
    },
    NoRunInFlight,
    NotFound,
    /// The owner could not answer (its database, or it no longer holds the job).
    Unavailable {
        reason: String,
    },
}

/// A job changed through the instance `from`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announce {
    pub from: String,
    /// The job that changed (empty when a calendar did).
    #[serde(default)]
    pub job_id: String,
    /// The calendar that changed: every instance reads it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
}

enum Outgoing {
    Ask {
        instance: String,
        request: Box<Request>,
        answer: oneshot::Sender<Reply>,
    },
    Announce {
        job_id: String,
        calendar: Option<String>,
    },
}

/// Messages waiting for the control connection at most (asks fail and announcements are
/// dropped beyond: the table reads still carry every change).
const OUTGOING_BOUND: usize = 4096;

/// The handle the engine keeps: ask an owner, announce a change.
#[derive(Clone)]
pub struct Control {
    outgoing: mpsc::Sender<Outgoing>,
    stop: Arc<watch::Sender<bool>>,
    /// Whether this instance's control queue is consumed (peers can reach it).
    connected: Arc<std::sync::atomic::AtomicBool>,
}

impl Control {
    /// Asks `instance` to handle `request`; answers its reply, or why none came.
    pub async fn ask(&self, instance: &str, request: Request) -> Result<Reply, String> {
        let (answer, reply) = oneshot::channel();
        (self.outgoing)
            .try_send(Outgoing::Ask {
                instance: instance.to_string(),
                request: Box::new(request),
                answer,
            })
            .map_err(|_| "the cluster control connection is not available".to_string())?;
        match tokio::time::timeout(ASK_TIMEOUT, reply).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(format!("instance {instance} could not be reached")),
            Err(_) => Err(format!(
                "instance {instance} did not answer within {} s",
                ASK_TIMEOUT.as_secs()
            )),
        }
    }

    /// Tells the other instances that `job_id` changed.
    pub fn announce(&self, job_id: &str) {
        let announce = Outgoing::Announce {
            job_id: job_id.to_string(),
            calendar: None,
        };
        if self.outgoing.try_send(announce).is_err() {
            tracing::warn!(%job_id, "control connection backed up; the change reaches the other instances by their table reads");
        }
    }

    /// Tells the other instances that the calendar `name` changed (or was deleted).
    pub fn announce_calendar(&self, name: &str) {
        let announce = Outgoing::Announce {
            job_id: String::new(),
            calendar: Some(name.to_string()),
        };
        if self.outgoing.try_send(announce).is_err() {
            tracing::warn!(calendar = %name, "control connection backed up; the other instances read the calendar again within a minute");
        }
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Whether peers can reach this instance now.
    pub fn connected(&self) -> bool {
        self.connected.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Where the control plane runs.
pub struct ControlPlane {
    pub url: String,
    pub scope: Scope,
    /// The database the cluster shares (its name names the control plane).
    pub database: String,
    pub instance_id: String,
    pub supervisor: Addr<Supervisor>,
}

impl ControlPlane {
    fn exchange(&self) -> String {
        let digest = super::partition_of(&self.database, u32::MAX);
        format!("{}.control.{digest:08x}", self.scope)
    }

    fn queue(&self, instance_id: &str) -> String {
        format!("{}.{instance_id}", self.exchange())
    }

    /// Starts the control plane (on the current actix system).
    pub fn spawn(self) -> Control {
        let (outgoing, mut requests) = mpsc::channel(OUTGOING_BOUND);
        let (stop, mut stopped) = watch::channel(false);
        let connected = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let up = connected.clone();
        actix::spawn(async move {
            let mut backoff = MIN_BACKOFF;
            loop {
                if *stopped.borrow() {
                    return;
                }
                let ran = self
                    .run(&mut requests, &mut stopped, &mut backoff, &up)
                    .await;
                up.store(false, std::sync::atomic::Ordering::Relaxed);
                match ran {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64,
                            "cluster control connection unavailable");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stopped.changed() => return,
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        });
        Control {
            outgoing,
            stop: Arc::new(stop),
            connected,
        }
    }

    /// One connection's life: `Ok` when stopped.
    async fn run(
        &self,
        requests: &mut mpsc::Receiver<Outgoing>,
        stopped: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
        up: &std::sync::atomic::AtomicBool,
    ) -> Result<(), lapin::Error> {
        let connection = crate::engine::amqp_targets::AmqpTargets::parse(&self.url)
            .connect("jennie-scheduler control")
            .await?;
        let channel = connection.create_channel().await?;
        // Confirms carry back an ask sent to a queue that is gone (its instance died), so the
        // asker hears at once instead of when its wait runs out.
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let queue = self.queue(&self.instance_id);
        let exchange = self.exchange();
        channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        (channel.queue_declare(queue.as_str().into(), exclusive, FieldTable::default())).await?;
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        };
        let mut incoming = channel
            .basic_consume(
                queue.as_str().into(),
                "jennie-control".into(),
                no_ack,
                FieldTable::default(),
            )
            .await?;
        let mut replies = channel
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                "jennie-control-replies".into(),
                no_ack,
                FieldTable::default(),
            )
            .await?;
        tracing::info!(%queue, "cluster control plane connected");
        up.store(true, std::sync::atomic::Ordering::Relaxed);
        *backoff = MIN_BACKOFF;
        let waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Reply>>>> = Arc::default();
        loop {
            tokio::select! {
                _ = stopped.changed() => {
                    let _ = connection.close(200, "stopping".into()).await;
                    return Ok(());
                }
                outgoing = requests.recv() => match outgoing {
                    None => return Ok(()),
                    Some(Outgoing::Announce { job_id, calendar }) => {
                        let body = serde_json::to_vec(&Announce { from: self.instance_id.clone(), job_id, calendar })
                            .unwrap_or_default();
                        let confirm = channel
                            .basic_publish(exchange.as_str().into(), "".into(), BasicPublishOptions::default(),
                                &body, BasicProperties::default().with_type("announce".into()))
                            .await?;
                        actix::spawn(async move {
                            let _ = confirm.await;
                        });
                    }
                    Some(Outgoing::Ask { answer, .. }) if answer.is_closed() => {
                        // The asker gave up (timed out while this connection was down): a
                        // late run-now would run twice once the client retries.
                    }
                    Some(Outgoing::Ask { instance, request, answer }) => {
                        let correlation = Uuid::new_v4().to_string();
                        let body = serde_json::to_vec(&request).unwrap_or_default();
                        let properties = BasicProperties::default()
                            .with_type("request".into())
                            .with_correlation_id(correlation.as_str().into())
                            .with_reply_to(DIRECT_REPLY_TO.into());
                        lock(&waiting).insert(correlation.clone(), answer);
                        let target = self.queue(&instance);
                        let published = channel
                            .basic_publish("".into(), target.as_str().into(), BasicPublishOptions {
                                mandatory: true, ..Default::default() }, &body, properties)
                            .await;
                        let confirm = match published {
                            Ok(confirm) => confirm,
                            Err(error) => {
                                lock(&waiting).remove(&correlation);
                                return Err(error);
                            }
                        };
                        let waiting = waiting.clone();
                        actix::spawn(async move {
                            let returned = match confirm.await {
                                Ok(confirmation) => !confirmation.is_ack() || confirmation.take_message().is_some(),
                                Err(_) => true,
                            };
                            if returned {
                                // No such queue: the instance is gone. The asker hears now.
                                if let Some(answer) = lock(&waiting).remove(&correlation) {
                                    let _ = answer.send(Reply::Unavailable {
                                        reason: format!("instance {instance} is gone (its control queue no longer exists)"),
                                    });
                                }
                                return;
                            }
                            // Forget answers that never come (the owner died since).
                            tokio::time::sleep(ASK_TIMEOUT).await;
                            lock(&waiting).remove(&correlation);
                        });
                    }
                },
                reply = replies.next() => match reply {
                    Some(Ok(delivery)) => {
                        let correlation = delivery.properties.correlation_id().as_ref().map(|id| id.to_string());
                        let answer = correlation.and_then(|id| lock(&waiting).remove(&id));
                        if let (Some(answer), Ok(reply)) = (answer, serde_json::from_slice::<Reply>(&delivery.data)) {
                            let _ = answer.send(reply);
                        }
                    }
                    Some(Err(error)) => return Err(error),
                    None => return Err(lapin::ErrorKind::InvalidChannelState(lapin::ChannelState::Closed, "the control consumer ended").into()),
                },
                message = incoming.next() => match message {
                    Some(Ok(delivery)) => self.handle(&channel, delivery),
                    Some(Err(error)) => return Err(error),
                    None => return Err(lapin::ErrorKind::InvalidChannelState(lapin::ChannelState::Closed, "the control consumer ended").into()),
                },
            }
        }
    }

    /// A request from a peer (answered on its reply-to) or a peer's announcement.
    fn handle(&self, channel: &Channel, delivery: lapin::message::Delivery) {
        let kind = delivery
            .properties
            .kind()
            .as_ref()
            .map(|kind| kind.to_string());
        let supervisor = self.supervisor.clone();
        if kind.as_deref() == Some("announce") {
            if let Ok(announce) = serde_json::from_slice::<Announce>(&delivery.data) {
                if announce.from != self.instance_id {
                    match announce.calendar {
                        Some(name) => supervisor.do_send(RefreshCalendar(Some(name))),
                        None => supervisor.do_send(Refresh(announce.job_id)),
                    }
                }
            }
            return;
        }
        let Ok(request) = serde_json::from_slice::<Request>(&delivery.data) else {
            tracing::warn!(
                bytes = delivery.data.len(),
                "ignoring an unreadable control message"
            );
            return;
        };
        let (Some(reply_to), Some(correlation)) = (
            delivery.properties.reply_to().clone(),
            delivery.properties.correlation_id().clone(),
        ) else {
            return;
        };
        let channel = channel.clone();
        actix::spawn(async move {
            let reply = (supervisor.send(FromPeer(request)).await).unwrap_or_else(|error| {
                Reply::Unavailable {
                    reason: error.to_string(),
                }
            });
            let body = serde_json::to_vec(&reply).unwrap_or_default();
            let properties = BasicProperties::default().with_correlation_id(correlation);
            match channel
                .basic_publish(
                    "".into(),
                    reply_to.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await
            {
                Ok(confirm) => {
                    let _ = confirm.await;
                }
                Err(error) => tracing::warn!(%error, "could not answer a peer's request"),
            }
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
