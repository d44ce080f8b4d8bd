//! The persistence actor: the only writer of engine-owned state (`next_due_at`, `last_*`) and
//! of the run history. Writes are batched: whatever arrives while a batch is being committed
//! goes into the next one, in one transaction. On a database error the batch is kept (up to a
//! bound) and retried with backoff, so a short outage loses nothing; publishes that wait for
//! their `pending` row are released either way, so a database outage never holds back a fire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::broker::{BrokerActor, Publish};
use crate::run::StateWrite;
use crate::store::{Store, StoreError};

/// Writes kept while the database is down; past this the oldest are dropped (and logged).
const MAX_BUFFERED_WRITES: usize = 1_000_000;
const MIN_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(5);
/// The longest a publish waits for its `pending` row: past this the fire goes out anyway.
const MAX_PUBLISH_HOLD: Duration = Duration::from_millis(500);
/// State writes that no publish waits for are grouped: such a write is committed at most this
/// long after it arrives, together with whatever else came meanwhile (one transaction instead
/// of one per write; on SQLite every statement is a round trip to sqlx's worker thread).
const GROUP_COMMIT: Duration = Duration::from_millis(10);
/// A group this large is committed at once.
const GROUP_MAX: usize = 1024;
/// How often the SQLite write-ahead log is checkpointed (off the write path).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// How often the run history is trimmed.
const PRUNE_EVERY: Duration = Duration::from_secs(2);

/// Record a state change.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Persist(pub StateWrite);

/// Record a new `pending` run, then publish it (the row is written before the publish).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PersistThenPublish(pub StateWrite, pub Publish);

/// Record a staged run (status `scheduled`) in the ordinary batches and tell `written` once
/// its row is committed, so the job actor knows its fire needs no database.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stage {
    pub write: StateWrite,
    pub run_id: uuid::Uuid,
    pub written: Recipient<Staged>,
}

/// The staged run's row is in the table.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Staged(pub uuid::Uuid);

/// Write what is buffered now (one attempt), then stop (service shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushAndStop;

/// Ask whether the last write reached the database.
#[derive(Message)]
#[rtype(result = "PersistenceStatus")]
pub struct GetPersistenceStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceStatus {
    pub healthy: bool,
    pub last_error: Option<String>,
    pub buffered: usize,
}

pub struct PersistenceActor {
    store: Store,
    broker: Addr<BrokerActor>,
    buffer: Vec<StateWrite>,
    /// Publishes whose rows are not yet in a batch, with when they arrived.
    held: Vec<(Instant, Publish)>,
    /// Publishes whose rows are being written; sent when the write ends.
    releasing: Vec<(Instant, Publish)>,
    /// Whether the timer that releases publishes held too long is armed.
    hold_timer: bool,
    flushing: bool,
    retry: Duration,
    retry_scheduled: bool,
    last_error: Option<String>,
    history_limit: u64,
    /// Runs inserted per job since its history was last trimmed.
    inserted_since_prune: HashMap<String, u64>,
    /// Whether a group commit is scheduled.
    group_timer: bool,
    /// Whether a WAL checkpoint is running.
    checkpointing: bool,
    /// Staged runs in the buffer, told when the batch that holds them commits.
    staging: Vec<(uuid::Uuid, Recipient<Staged>)>,
    /// Told every committed write, so reads show what the table holds.
    read_model: std::sync::Arc<super::ReadModel>,
}

impl PersistenceActor {
    pub fn new(
        store: Store,
        broker: Addr<BrokerActor>,
        history_limit: u64,
        read_model: std::sync::Arc<super::ReadModel>,
    ) -> Self {
        PersistenceActor {
            store,
            broker,
            buffer: Vec::new(),
            held: Vec::new(),
            releasing: Vec::new(),
            hold_timer: false,
            flushing: false,
            retry: MIN_RETRY,
            retry_scheduled: false,
            last_error: None,
            history_limit,
            inserted_since_prune: HashMap::new(),
            group_timer: false,
            checkpointing: false,
            staging: Vec::new(),
            read_model,
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.retry_scheduled || (self.buffer.is_empty() && self.held.is_empty())
        {
            return;
        }
        self.flushing = true;
        let batch = std::mem::take(&mut self.buffer);
        let staged = std::mem::take(&mut self.staging);
        if !self.held.is_empty() {
            self.releasing.append(&mut self.held);
            ctx.run_later(MAX_PUBLISH_HOLD, |actor, _| {
                if !actor.releasing.is_empty() {
                    tracing::warn!(
                        publishes = actor.releasing.len(),
                        "the database is slow; publishing before the pending rows are written"
                    );
                    actor.release_publishes();
                }
            });
        }
        let store = self.store.clone();
        let writing = async move {
            let result = if batch.is_empty() {
                Ok(())
            } else {
                store.apply_state_writes(&batch).await
            };
            (batch, result)
        };
        ctx.spawn(
            writing
                .into_actor(self)
                .map(move |(batch, result), actor, ctx| {
                    actor.flushing = false;
                    actor.release_publishes();
                    match result {
                        Ok(()) => {
                            actor.read_model.apply(&batch);
                            for (run_id, written) in staged {
                                written.do_send(Staged(run_id));
                            }
                            if actor.last_error.take().is_some() {
                                tracing::info!("database writes recovered");
                            }
                            actor.retry = MIN_RETRY;
                            metrics::gauge!(crate::metrics::STATE_WRITES_BUFFERED)
                                .set(actor.buffer.len() as f64);
                            actor.count_inserts(&batch);
                            actor.flush(ctx);
                        }
                        Err(error) => {
                            metrics::counter!(crate::metrics::STATE_WRITE_FAILURES_TOTAL)
                                .increment(1);
                            actor.keep_for_retry(ctx, batch, error)
                        }
                    }
                }),
        );
    }

    /// A batch failed. If the database answers, the batch itself is at fault: apply its
    /// writes one by one and drop (and log) only those the database refuses, so one bad write
    /// never blocks the others. If it does not answer, keep the batch and retry with backoff.
    fn keep_for_retry(
        &mut self,
        ctx: &mut Context<Self>,
        batch: Vec<StateWrite>,
        error: StoreError,
    ) {
        self.flushing = true;
        let store = self.store.clone();
        let transient = error.is_transient();
        let error = error.to_string();
        let checking = async move {
            if transient || store.ping().await.is_err() {
                return Err((batch, Vec::new()));
            }
            let (mut kept, mut applied) = (Vec::new(), Vec::new());
            for write in batch {
                match store.apply_state_writes(std::slice::from_ref(&write)).await {
                    Ok(()) => applied.push(write),
                    Err(failure) if failure.is_transient() => kept.push(write),
                    Err(refused) => {
                        tracing::error!(error = %refused, ?write, "the database refuses this state write; dropping it")
                    }
                }
            }
            if kept.is_empty() {
                Ok(applied)
            } else {
                Err((kept, applied))
            }
        };
        ctx.spawn(checking.into_actor(self).map(move |result, actor, ctx| {
            actor.flushing = false;
            match result {
                Ok(applied) => {
                    actor.read_model.apply(&applied);
                    actor.flush(ctx)
                }
                Err((batch, applied)) => {
                    actor.read_model.apply(&applied);
                    tracing::warn!(%error, writes = batch.len(), retry_in_ms = actor.retry.as_millis() as u64,
                        "database unavailable; keeping the state writes to retry");
                    actor.last_error = Some(error);
                    let mut kept = batch;
                    kept.append(&mut actor.buffer);
                    if kept.len() > MAX_BUFFERED_WRITES {
                        let dropped = kept.len() - MAX_BUFFERED_WRITES;
                        tracing::error!(dropped, "write buffer full; dropping the oldest state writes");
                        kept.drain(..dropped);
                    }
                    actor.buffer = kept;
                    metrics::gauge!(crate::metrics::STATE_WRITES_BUFFERED).set(actor.buffer.len() as f64);
                    actor.retry_scheduled = true;
                    ctx.run_later(actor.retry, |actor, ctx| {
                        actor.retry_scheduled = false;
                        actor.flush(ctx);
                    });
                    actor.retry = (actor.retry * 2).min(MAX_RETRY);
                }
            }
        }));
    }

    fn release_publishes(&mut self) {
        for (_, publish) in self.releasing.drain(..) {
            self.broker.do_send(publish);
        }
    }

    /// Sends every publish held longer than [`MAX_PUBLISH_HOLD`]: a slow database delays a
    /// fire by that much at most.
    fn arm_hold_timer(&mut self, ctx: &mut Context<Self>) {
        if self.hold_timer {
            return;
        }
        self.hold_timer = true;
        ctx.run_later(MAX_PUBLISH_HOLD / 5, |actor, ctx| {
            actor.hold_timer = false;
            let now = Instant::now();
            let mut late = 0;
            // Oldest first (`releasing` holds older publishes than `held`), so order is kept.
            for list in [&mut actor.releasing, &mut actor.held] {
                let (expired, kept): (Vec<_>, Vec<_>) = list
                    .drain(..)
                    .partition(|(since, _)| now - *since >= MAX_PUBLISH_HOLD);
                *list = kept;
                late += expired.len();
                for (_, publish) in expired {
                    actor.broker.do_send(publish);
                }
            }
            if late > 0 {
                tracing::warn!(
                    publishes = late,
                    "the database is slow; publishing before the pending rows are written"
                );
            }
            if !actor.held.is_empty() || !actor.releasing.is_empty() {
                actor.arm_hold_timer(ctx);
            }
        });
    }

    fn count_inserts(&mut self, batch: &[StateWrite]) {
        for write in batch {
            if let StateWrite::InsertRun(run) = write {
                *self
                    .inserted_since_prune
                    .entry(run.job_id.clone())
                    .or_default() += 1;
            }
        }
    }

    /// Trims the history of jobs that got a tenth of the limit's worth of new runs (amortised:
    /// a job's history never exceeds the limit by more than that).
    fn prune(&mut self, ctx: &mut Context<Self>) {
        let slack = (self.history_limit / 10).max(1);
        let due: Vec<String> = self
            .inserted_since_prune
            .iter()
            .filter(|(_, count)| **count >= slack)
            .map(|(job_id, _)| job_id.clone())
            .collect();
        if due.is_empty() {
            return;
        }
        for job_id in &due {
            self.inserted_since_prune.remove(job_id);
        }
        let store = self.store.clone();
        let keep = self.history_limit;
        ctx.spawn(
            async move {
                for job_id in due {
                    if let Err(error) = store.prune_runs(&job_id, keep).await {
                        tracing::warn!(%job_id, %error, "trimming run history failed");
                    }
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for PersistenceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(PRUNE_EVERY, |actor, ctx| actor.prune(ctx));
        ctx.run_interval(CHECKPOINT_EVERY, |actor, ctx| {
            if actor.checkpointing {
                return;
            }
            actor.checkpointing = true;
            let store = actor.store.clone();
            ctx.spawn(
                async move {
                    if let Err(error) = store.checkpoint().await {
                        tracing::debug!(%error, "WAL checkpoint failed; the next one retries");
                    }
                }
                .into_actor(actor)
                .map(|(), actor, _| actor.checkpointing = false),
            );
        });
    }
}

impl Handler<Persist> for PersistenceActor {
    type Result = ();

    fn handle(&mut self, Persist(write): Persist, ctx: &mut Context<Self>) {
        self.buffer.push(write);
        if self.buffer.len() >= GROUP_MAX {
            self.flush(ctx);
        } else if !self.group_timer {
            self.group_timer = true;
            ctx.run_later(GROUP_COMMIT, |actor, ctx| {
                actor.group_timer = false;
                actor.flush(ctx);
            });
        }
    }
}

impl Handler<Stage> for PersistenceActor {
    type Result = ();

    /// A staged run that fails to commit is never reported written: its fire then takes the
    /// write-then-publish road, behind the retried insert.
    fn handle(&mut self, stage: Stage, ctx: &mut Context<Self>) {
        self.staging.push((stage.run_id, stage.written));
        self.handle(Persist(stage.write), ctx);
    }
}

impl Handler<PersistThenPublish> for PersistenceActor {
    type Result = ();

    fn handle(
        &mut self,
        PersistThenPublish(write, publish): PersistThenPublish,
        ctx: &mut Context<Self>,
    ) {
        if self.last_error.is_some() {
            // The database is failing: do not hold the fire back for it.
            self.broker.do_send(publish);
        } else {
            self.held.push((Instant::now(), publish));
            self.arm_hold_timer(ctx);
        }
        self.buffer.push(write);
        self.flush(ctx);
    }
}

impl Handler<GetPersistenceStatus> for PersistenceActor {
    type Result = MessageResult<GetPersistenceStatus>;

    fn handle(&mut self, _: GetPersistenceStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(PersistenceStatus {
            healthy: self.last_error.is_none(),
            last_error: self.last_error.clone(),
            buffered: self.buffer.len(),
        })
    }
}

impl Handler<FlushAndStop> for PersistenceActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: FlushAndStop, _: &mut Context<Self>) -> Self::Result {
        let batch = std::mem::take(&mut self.buffer);
        self.releasing.append(&mut self.held);
        self.release_publishes();
        let store = self.store.clone();
        let read_model = self.read_model.clone();
        Box::pin(
            async move {
                if !batch.is_empty() {
                    match store.apply_state_writes(&batch).await {
                        Ok(()) => read_model.apply(&batch),
                        Err(error) => {
                            tracing::error!(%error, writes = batch.len(), "state writes lost at shutdown")
                        }
                    }
                }
            }
            .into_actor(self)
            .map(|_, _, ctx| ctx.stop()),
        )
    }
}
