//! The persistence actor: the only writer of engine-owned state (`next_due_at`, `last_*`) and
//! of the run history. Writes are batched: whatever arrives while a batch is being committed
//! goes into the next one, in one transaction. On a database error the batch is kept (up to a
//! bound) and retried with backoff, so a short outage loses nothing. It knows no broker: a
//! job actor that needs a row before a publish asks with [`PersistRow`] and is told when the
//! batch holding it ended, landed or not, so a database outage never holds back a fire.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;

use std::collections::HashSet;
use std::sync::Arc;

use crate::engine::cluster::Leases;
use crate::job::Scope;
use crate::run::{Fence, StateWrite};
use crate::store::{Store, StoreError};

/// Writes kept while the database is down; past this the oldest are dropped (and logged).
const MAX_BUFFERED_WRITES: usize = 1_000_000;
const MIN_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(5);
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

/// Record a state change, made under the lease `fence` (cluster mode).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Persist(pub StateWrite, pub Fence);

/// Record a run's row and tell `reply` when the batch holding it ended. A staged row (status
/// `scheduled`, well ahead of its instant) rides the ordinary batches; an `urgent` one (a
/// publish waits for it) is written at once, and answered at once while the database fails.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PersistRow {
    pub write: StateWrite,
    pub fence: Fence,
    pub run_id: uuid::Uuid,
    pub urgent: bool,
    pub reply: Recipient<RowWritten>,
}

/// The batch holding a run's row ended: committed (`landed`), or failed (it is retried, and
/// nobody waits for it), or committed without the row (`refused`, cluster mode: its partition
/// has another owner or epoch, or its due instant has a row already): the run must not go out.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RowWritten {
    pub run_id: uuid::Uuid,
    pub landed: bool,
    pub refused: bool,
}

/// Cluster mode: whose writes these are, and the leases they are fenced by.
#[derive(Clone)]
pub struct Fencing {
    pub scope: Scope,
    pub instance_id: String,
    pub leases: Arc<Leases>,
}

/// What a batch did once committed.
struct Written {
    applied: Vec<StateWrite>,
    /// Cluster mode: which awaited rows exist (None: every write of the batch was applied).
    present: Option<HashSet<uuid::Uuid>>,
}

/// Writes one batch: fenced in cluster mode (writes of a lost partition change nothing, and
/// the partition stops counting as held here at once).
async fn write_batch(
    store: &Store,
    fencing: Option<&Fencing>,
    batch: &[(StateWrite, Fence)],
    awaited: &[uuid::Uuid],
) -> Result<Written, StoreError> {
    let Some(fencing) = fencing else {
        let writes: Vec<StateWrite> = batch.iter().map(|(write, _)| write.clone()).collect();
        store.apply_state_writes(&writes).await?;
        return Ok(Written {
            applied: writes,
            present: None,
        });
    };
    let outcome = store
        .apply_fenced_writes(fencing.scope, &fencing.instance_id, batch, awaited)
        .await?;
    for fence in outcome.lost {
        // Only the epoch the refused writes were made under: a newer one stays held.
        if fencing.leases.revoke_at(fence) {
            tracing::warn!(partition = fence.partition, epoch = fence.epoch,
                "a write found its partition held by another owner or epoch; dropping the partition");
            metrics::counter!(crate::metrics::CLUSTER_LEASE_CHANGES_TOTAL, "change" => "fenced")
                .increment(1);
        }
    }
    Ok(Written {
        applied: outcome.applied,
        present: Some(outcome.present),
    })
}

/// Answers once every write buffered now is committed (at most [`DRAIN_WAIT`]); a retry
/// waiting for its backoff is tried at once. A partition taken over reads its rows after
/// this, so it starts from this instance's own last writes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// The longest [`Drain`] waits.
pub const DRAIN_WAIT: Duration = Duration::from_secs(3);

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
    /// Cluster mode: writes are fenced by the partition leases.
    fencing: Option<Fencing>,
    buffer: Vec<(StateWrite, Fence)>,
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
    /// Rows in the buffer whose actor waits to hear that their batch ended.
    awaited: Vec<(uuid::Uuid, Recipient<RowWritten>)>,
    /// Told every committed write, so reads show what the table holds.
    read_model: std::sync::Arc<super::ReadModel>,
    /// Waiting for the writes received before them to be committed ([`Drain`]): the count
    /// of writes received then, and whom to tell.
    drains: Vec<(u64, tokio::sync::oneshot::Sender<()>)>,
    /// Writes received so far, and how many of the first ones are committed.
    received: u64,
    committed: u64,
    /// Told when the write in progress ends (a shutdown waits for it: stopping the actor
    /// in the middle of a transaction would leave its locks to the database's timeout).
    idle: Vec<tokio::sync::oneshot::Sender<()>>,
    /// Shutting down: no new batch starts; the last one is written by `FlushAndStop`.
    stopping: bool,
}

impl PersistenceActor {
    pub fn new(
        store: Store,
        history_limit: u64,
        read_model: std::sync::Arc<super::ReadModel>,
        fencing: Option<Fencing>,
    ) -> Self {
        PersistenceActor {
            store,
            fencing,
            buffer: Vec::new(),
            flushing: false,
            retry: MIN_RETRY,
            retry_scheduled: false,
            last_error: None,
            history_limit,
            inserted_since_prune: HashMap::new(),
            group_timer: false,
            checkpointing: false,
            awaited: Vec::new(),
            read_model,
            drains: Vec::new(),
            received: 0,
            committed: 0,
            idle: Vec::new(),
            stopping: false,
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        // (Cluster mode: rows may be awaited with nothing left to write, after a failure.)
        if self.flushing
            || self.stopping
            || self.retry_scheduled
            || (self.buffer.is_empty() && self.awaited.is_empty())
        {
            return;
        }
        self.flushing = true;
        let batch = std::mem::take(&mut self.buffer);
        let awaited = std::mem::take(&mut self.awaited);
        // Every write received so far is in this batch (or committed before it).
        let upto = self.received;
        let store = self.store.clone();
        let fencing = self.fencing.clone();
        let awaited_ids: Vec<uuid::Uuid> = awaited.iter().map(|(run_id, _)| *run_id).collect();
        let writing = async move {
            let result = write_batch(&store, fencing.as_ref(), &batch, &awaited_ids).await;
            (batch, result)
        };
        ctx.spawn(
            writing
                .into_actor(self)
                .map(move |(batch, result), actor, ctx| {
                    actor.flush_ended();
                    if result.is_err() && actor.fencing.is_some() {
                        // Cluster mode publishes a run only after its row: the rows stay
                        // awaited until a retry commits (or refuses) them.
                        actor.awaited.extend(awaited);
                        metrics::counter!(crate::metrics::STATE_WRITE_FAILURES_TOTAL).increment(1);
                        if let Err(error) = result {
                            actor.keep_for_retry(ctx, batch, error);
                        }
                        return;
                    }
                    for (run_id, reply) in awaited {
                        let (landed, refused) = match &result {
                            Ok(Written {
                                present: Some(present),
                                ..
                            }) => {
                                let landed = present.contains(&run_id);
                                (landed, !landed)
                            }
                            Ok(_) => (true, false),
                            Err(_) => (false, false),
                        };
                        reply.do_send(RowWritten {
                            run_id,
                            landed,
                            refused,
                        });
                    }
                    match result {
                        Ok(written) => {
                            actor.read_model.apply(&written.applied);
                            let batch = written.applied;
                            if actor.last_error.take().is_some() {
                                tracing::info!("database writes recovered");
                            }
                            actor.retry = MIN_RETRY;
                            metrics::gauge!(crate::metrics::STATE_WRITES_BUFFERED)
                                .set(actor.buffer.len() as f64);
                            actor.count_inserts(&batch);
                            actor.committed = actor.committed.max(upto);
                            actor.flush(ctx);
                            actor.notify_drained();
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
        batch: Vec<(StateWrite, Fence)>,
        error: StoreError,
    ) {
        if self.stopping {
            // The shutdown's last write takes it (one attempt).
            let mut kept = batch;
            kept.append(&mut self.buffer);
            self.buffer = kept;
            return;
        }
        self.flushing = true;
        let store = self.store.clone();
        let fencing = self.fencing.clone();
        let transient = error.is_transient();
        let error = error.to_string();
        let checking = async move {
            if transient || store.ping().await.is_err() {
                return Err((batch, Vec::new()));
            }
            let (mut kept, mut applied) = (Vec::new(), Vec::new());
            for write in batch {
                match write_batch(&store, fencing.as_ref(), std::slice::from_ref(&write), &[]).await
                {
                    Ok(written) => applied.extend(written.applied),
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
            actor.flush_ended();
            match result {
                Ok(applied) => {
                    actor.read_model.apply(&applied);
                    actor.flush(ctx);
                    actor.notify_drained();
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

    /// The write in progress ended (committed or not).
    fn flush_ended(&mut self) {
        self.flushing = false;
        for waiter in self.idle.drain(..) {
            let _ = waiter.send(());
        }
    }

    /// Tells the [`Drain`] waiters whose writes are all committed.
    fn notify_drained(&mut self) {
        if self.buffer.is_empty() && !self.flushing {
            self.committed = self.received;
        }
        let committed = self.committed;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.drains)
            .into_iter()
            .filter(|(_, waiter)| !waiter.is_closed())
            .partition(|(target, _)| *target <= committed);
        self.drains = waiting;
        for (_, waiter) in done {
            let _ = waiter.send(());
        }
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

    fn handle(&mut self, Persist(write, fence): Persist, ctx: &mut Context<Self>) {
        self.received += 1;
        self.buffer.push((write, fence));
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

impl Handler<PersistRow> for PersistenceActor {
    type Result = ();

    fn handle(&mut self, row: PersistRow, ctx: &mut Context<Self>) {
        if row.urgent && self.last_error.is_some() && self.fencing.is_none() {
            // The database is failing: do not hold the fire back for it.
            row.reply.do_send(RowWritten {
                run_id: row.run_id,
                landed: false,
                refused: false,
            });
        } else {
            self.awaited.push((row.run_id, row.reply));
        }
        self.handle(Persist(row.write, row.fence), ctx);
        if row.urgent {
            self.flush(ctx);
        }
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
        if self.stopping {
            // Asked twice (the server's end and a shutdown): the first one finishes the job;
            // stopping now would drop its transaction half-way.
            return Box::pin(actix::fut::ready(()));
        }
        self.stopping = true;
        // The write in progress first (at most a few seconds).
        let in_progress = self.flushing.then(|| {
            let (waiter, ended) = tokio::sync::oneshot::channel();
            self.idle.push(waiter);
            ended
        });
        let waiting = async move {
            if let Some(ended) = in_progress {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), ended).await;
            }
        };
        Box::pin(
            waiting
                .into_actor(self)
                .then(|_, actor, _| actor.final_write().into_actor(actor))
                .map(|_, _, ctx| ctx.stop()),
        )
    }
}

impl PersistenceActor {
    /// What is buffered, in one attempt (service shutdown).
    fn final_write(&mut self) -> impl std::future::Future<Output = ()> + 'static {
        let batch = std::mem::take(&mut self.buffer);
        let store = self.store.clone();
        let fencing = self.fencing.clone();
        let read_model = self.read_model.clone();
        {
            async move {
                if !batch.is_empty() {
                    match write_batch(&store, fencing.as_ref(), &batch, &[]).await {
                        Ok(written) => read_model.apply(&written.applied),
                        Err(error) => {
                            tracing::error!(%error, writes = batch.len(), "state writes lost at shutdown")
                        }
                    }
                }
            }
        }
    }
}

impl Handler<Drain> for PersistenceActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) -> Self::Result {
        if self.committed >= self.received || (self.buffer.is_empty() && !self.flushing) {
            return Box::pin(async {});
        }
        let (waiter, drained) = tokio::sync::oneshot::channel();
        self.drains.push((self.received, waiter));
        if self.retry_scheduled {
            // Try now rather than at the end of the backoff.
            self.retry_scheduled = false;
            self.retry = MIN_RETRY;
        }
        self.flush(ctx);
        Box::pin(async move {
            let _ = tokio::time::timeout(DRAIN_WAIT, drained).await;
        })
    }
}
