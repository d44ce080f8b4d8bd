//! The broker actor: the only user of lapin. It holds one connection with one confirm-mode
//! channel, publishes with a window of unconfirmed messages (never one round trip per
//! message), declares each durable queue once per connection, and reconnects with backoff on
//! its own. Messages it cannot publish yet wait in its outbox, in order, and go out when the
//! connection is back; a publish lost with a connection is sent again (same run_id, so a
//! worker can drop a duplicate). It encodes each message itself: the job actor hands over
//! the contract's `JobMessage`, and the JSON is made where it is sent.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use actix::prelude::*;
use futures_util::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, Event};
use uuid::Uuid;
use worker::JobMessage;

/// Unconfirmed publishes allowed at once.
const CONFIRM_WINDOW: usize = 2048;
/// A message the broker nacks or returns is tried this many times before it is reported.
const MAX_REJECTIONS: u32 = 3;
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Publish one message to a durable queue, persistently, with `message_id` = run_id.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Publish {
    pub queue: String,
    pub run_id: Uuid,
    /// For log lines about this run: job, scope and trigger.
    pub about: RunLabel,
    pub message: JobMessage,
    /// Told the outcome once the broker confirmed or finally refused the message.
    pub reply_to: Option<Recipient<PublishOutcome>>,
    rejections: u32,
}

/// Who a published run belongs to, for the log lines the broker writes about it.
#[derive(Debug, Clone)]
pub struct RunLabel {
    pub job_id: String,
    pub scope: &'static str,
    pub trigger_source: &'static str,
}

impl Publish {
    pub fn new(
        queue: String,
        about: RunLabel,
        message: JobMessage,
        reply_to: Option<Recipient<PublishOutcome>>,
    ) -> Self {
        Publish {
            queue,
            run_id: message.run_id,
            about,
            message,
            reply_to,
            rejections: 0,
        }
    }
}

/// How a publish ended: confirmed, or refused for good.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct PublishOutcome {
    pub run_id: Uuid,
    pub result: Result<(), PublishFailure>,
}

/// Why the broker refused a message (a lost connection is not one: it is retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishFailure {
    #[error("the broker nacked the message")]
    Nacked,
    #[error("the broker returned the message as unroutable")]
    Unroutable,
    #[error("declaring queue failed: {0}")]
    Declare(String),
    #[error("the message could not be encoded: {0}")]
    Encode(String),
}

/// What `/ready` and the metrics need to know about the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerStatus {
    pub connected: bool,
    pub last_error: Option<String>,
    /// Messages waiting for a connection.
    pub outbox: usize,
    /// Messages sent and not yet confirmed.
    pub unconfirmed: usize,
}

/// Ask for the [`BrokerStatus`].
#[derive(Message)]
#[rtype(result = "BrokerStatus")]
pub struct GetBrokerStatus;

/// Close the connection and stop (service shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopBroker;

/// The connection with this generation reported an error.
#[derive(Message)]
#[rtype(result = "()")]
struct ConnectionLost {
    generation: u64,
    error: String,
}

enum Link {
    Down,
    Connecting,
    Up {
        channel: Channel,
        _connection: Box<Connection>,
    },
}

/// The result of one publish attempt, before it is mapped back into the actor.
enum Attempt {
    Confirmed,
    Rejected(PublishFailure),
    /// The channel or connection failed: send again after reconnecting.
    Lost(String),
}

pub struct BrokerActor {
    targets: std::sync::Arc<super::amqp_targets::AmqpTargets>,
    /// The type job queues are declared with.
    queue_type: worker::QueueType,
    link: Link,
    generation: u64,
    outbox: VecDeque<Publish>,
    unconfirmed: usize,
    declared: HashSet<String>,
    /// Queues whose first publish (with the declaration) is out, with the publishes waiting
    /// for it, in order.
    declaring: HashMap<String, Vec<Publish>>,
    backoff: Duration,
    last_error: Option<String>,
    /// Whether the connection is up, for the job actors to read without a message.
    connected: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl BrokerActor {
    /// `connected` is kept true while the connection is up.
    pub fn new(
        url: String,
        queue_type: worker::QueueType,
        connected: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        BrokerActor {
            connected,
            targets: std::sync::Arc::new(super::amqp_targets::AmqpTargets::parse(&url)),
            queue_type,
            link: Link::Down,
            generation: 0,
            outbox: VecDeque::new(),
            unconfirmed: 0,
            declared: HashSet::new(),
            declaring: HashMap::new(),
            backoff: MIN_BACKOFF,
            last_error: None,
        }
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if !matches!(self.link, Link::Down) {
            return;
        }
        self.link = Link::Connecting;
        let targets = self.targets.clone();
        let opening = async move {
            let connection = targets.connect("jennie-scheduler").await?;
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, lapin::Error>((connection, channel))
        };
        ctx.spawn(
            opening
                .into_actor(self)
                .map(|result, actor, ctx| match result {
                    Ok((connection, channel)) => {
                        actor.generation += 1;
                        let generation = actor.generation;
                        let me = ctx.address();
                        let mut events = connection.events_listener();
                        actix::spawn(async move {
                            while let Some(event) = events.next().await {
                                if let Event::Error(error) = event {
                                    me.do_send(ConnectionLost {
                                        generation,
                                        error: error.to_string(),
                                    });
                                    return;
                                }
                            }
                        });
                        tracing::info!(outbox = actor.outbox.len(), "connected to RabbitMQ");
                        actor.link = Link::Up {
                            channel,
                            _connection: Box::new(connection),
                        };
                        actor.declared.clear();
                        actor.backoff = MIN_BACKOFF;
                        actor.last_error = None;
                        metrics::gauge!(crate::metrics::BROKER_CONNECTED).set(1.0);
                        actor
                            .connected
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                        actor.drain(ctx);
                    }
                    Err(error) => {
                        actor.link = Link::Down;
                        actor.retry_later(ctx, error.to_string());
                    }
                }),
        );
    }

    fn retry_later(&mut self, ctx: &mut Context<Self>, error: String) {
        tracing::warn!(%error, retry_in_ms = self.backoff.as_millis() as u64, outbox = self.outbox.len(), "RabbitMQ unavailable");
        self.last_error = Some(error);
        ctx.run_later(self.backoff, |actor, ctx| actor.connect(ctx));
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn lose_connection(&mut self, ctx: &mut Context<Self>, generation: u64, error: String) {
        if generation != self.generation || !matches!(self.link, Link::Up { .. }) {
            return;
        }
        self.link = Link::Down;
        self.declared.clear();
        metrics::gauge!(crate::metrics::BROKER_CONNECTED).set(0.0);
        self.connected
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.retry_later(ctx, error);
    }

    /// Sends what the window allows from the outbox.
    fn drain(&mut self, ctx: &mut Context<Self>) {
        let Link::Up { channel, .. } = &self.link else {
            metrics::gauge!(crate::metrics::BROKER_OUTBOX).set(self.outbox.len() as f64);
            return;
        };
        let channel = channel.clone();
        while self.unconfirmed < CONFIRM_WINDOW {
            let Some(publish) = self.outbox.pop_front() else {
                break;
            };
            // While a queue's first publish (with its declaration) is out, later publishes
            // to it wait, so they can neither overtake it nor meet an undeclared queue.
            if let Some(parked) = self.declaring.get_mut(&publish.queue) {
                parked.push(publish);
                continue;
            }
            let declare = !self.declared.contains(&publish.queue);
            if declare {
                self.declaring.insert(publish.queue.clone(), Vec::new());
            }
            self.unconfirmed += 1;
            let generation = self.generation;
            let arguments = declare.then(|| queue_arguments(self.queue_type));
            let attempt = publish_once(channel.clone(), publish.clone(), arguments);
            // Each publish is its own task on this arbiter, reporting back by message: an
            // actor future would be polled on every wake-up of this actor, i.e. the whole
            // window (2 048 futures) for each confirm, which made bursts quadratic.
            let broker = ctx.address();
            actix::spawn(async move {
                let attempt = attempt.await;
                broker.do_send(Settled {
                    publish,
                    attempt,
                    declare,
                    generation,
                });
            });
        }
        metrics::gauge!(crate::metrics::BROKER_OUTBOX).set(self.outbox.len() as f64);
    }

    fn settle(
        &mut self,
        ctx: &mut Context<Self>,
        mut publish: Publish,
        attempt: Attempt,
        generation: u64,
    ) {
        let result = match &attempt {
            Attempt::Confirmed => "ack",
            Attempt::Lost(_) => "connection_lost",
            Attempt::Rejected(PublishFailure::Nacked) => "nack",
            Attempt::Rejected(PublishFailure::Unroutable) => "unroutable",
            Attempt::Rejected(PublishFailure::Declare(_)) => "declare_error",
            Attempt::Rejected(PublishFailure::Encode(_)) => "encode_error",
        };
        metrics::counter!(crate::metrics::PUBLISH_TOTAL, "result" => result).increment(1);
        let outcome = match attempt {
            Attempt::Confirmed => Ok(()),
            Attempt::Lost(error) => {
                self.outbox.push_front(publish);
                self.lose_connection(ctx, generation, error);
                return;
            }
            Attempt::Rejected(failure) => {
                if matches!(failure, PublishFailure::Declare(_)) {
                    // A failed declaration closes the channel: reopen it.
                    self.declared.remove(&publish.queue);
                    self.lose_connection(ctx, generation, failure.to_string());
                } else if !matches!(failure, PublishFailure::Encode(_))
                    && publish.rejections + 1 < MAX_REJECTIONS
                {
                    publish.rejections += 1;
                    self.declared.remove(&publish.queue);
                    self.outbox.push_back(publish);
                    return;
                }
                let about = &publish.about;
                tracing::error!(job_id = %about.job_id, scope = about.scope, trigger_source = about.trigger_source,
                    run_id = %publish.run_id, queue = %publish.queue, %failure, "publish refused");
                Err(failure)
            }
        };
        if let Some(reply_to) = publish.reply_to {
            reply_to.do_send(PublishOutcome {
                run_id: publish.run_id,
                result: outcome,
            });
        }
    }
}

/// The declare arguments of a job queue of `queue_type` (none for a classic queue: as
/// workers declare it).
fn queue_arguments(queue_type: worker::QueueType) -> FieldTable {
    let mut arguments = FieldTable::default();
    if let Some(kind) = queue_type.declare_argument() {
        arguments.insert(
            "x-queue-type".into(),
            lapin::types::AMQPValue::LongString(kind.into()),
        );
    }
    arguments
}

/// Publishes one message; `declare` carries the queue's declare arguments when the queue is
/// to be declared first (once per connection).
async fn publish_once(channel: Channel, publish: Publish, declare: Option<FieldTable>) -> Attempt {
    if let Some(arguments) = declare {
        if let Err(error) = channel
            .queue_declare(
                publish.queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await
        {
            return if channel.status().connected() {
                Attempt::Rejected(PublishFailure::Declare(error.to_string()))
            } else {
                Attempt::Lost(error.to_string())
            };
        }
    }
    let payload = match serde_json::to_vec(&publish.message) {
        Ok(payload) => payload,
        Err(error) => return Attempt::Rejected(PublishFailure::Encode(error.to_string())),
    };
    let properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_message_id(publish.run_id.to_string().into())
        .with_app_id("jennie-scheduler".into());
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirm = match channel
        .basic_publish(
            "".into(),
            publish.queue.as_str().into(),
            options,
            &payload,
            properties,
        )
        .await
    {
        Ok(confirm) => confirm,
        Err(error) => return Attempt::Lost(error.to_string()),
    };
    match confirm.await {
        Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => Attempt::Confirmed,
        Ok(Confirmation::Ack(Some(_))) => Attempt::Rejected(PublishFailure::Unroutable),
        Ok(Confirmation::Nack(_)) => Attempt::Rejected(PublishFailure::Nacked),
        Err(error) => Attempt::Lost(error.to_string()),
    }
}

impl Actor for BrokerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        metrics::gauge!(crate::metrics::BROKER_CONNECTED).set(0.0);
        self.connected
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.connect(ctx);
    }
}

/// A publish attempt ended.
#[derive(Message)]
#[rtype(result = "()")]
struct Settled {
    publish: Publish,
    attempt: Attempt,
    declare: bool,
    generation: u64,
}

impl Handler<Settled> for BrokerActor {
    type Result = ();

    fn handle(&mut self, settled: Settled, ctx: &mut Context<Self>) {
        let Settled {
            publish,
            attempt,
            declare,
            generation,
        } = settled;
        self.unconfirmed -= 1;
        if declare {
            let parked = self.declaring.remove(&publish.queue).unwrap_or_default();
            let declared = matches!(
                attempt,
                Attempt::Confirmed
                    | Attempt::Rejected(PublishFailure::Nacked | PublishFailure::Unroutable)
            );
            if declared {
                self.declared.insert(publish.queue.clone());
            }
            for waiting in parked.into_iter().rev() {
                self.outbox.push_front(waiting);
            }
        }
        self.settle(ctx, publish, attempt, generation);
        self.drain(ctx);
    }
}

impl Handler<Publish> for BrokerActor {
    type Result = ();

    fn handle(&mut self, publish: Publish, ctx: &mut Context<Self>) {
        self.outbox.push_back(publish);
        self.drain(ctx);
    }
}

impl Handler<ConnectionLost> for BrokerActor {
    type Result = ();

    fn handle(&mut self, lost: ConnectionLost, ctx: &mut Context<Self>) {
        self.lose_connection(ctx, lost.generation, lost.error);
    }
}

impl Handler<GetBrokerStatus> for BrokerActor {
    type Result = MessageResult<GetBrokerStatus>;

    fn handle(&mut self, _: GetBrokerStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(BrokerStatus {
            connected: matches!(self.link, Link::Up { .. }),
            last_error: self.last_error.clone(),
            outbox: self.outbox.len(),
            unconfirmed: self.unconfirmed,
        })
    }
}

impl Handler<StopBroker> for BrokerActor {
    type Result = ();

    fn handle(&mut self, _: StopBroker, ctx: &mut Context<Self>) {
        if !self.outbox.is_empty() {
            tracing::warn!(outbox = self.outbox.len(), "stopping with unpublished runs; they stay pending and are published at the next start");
        }
        self.link = Link::Down;
        ctx.stop();
    }
}
