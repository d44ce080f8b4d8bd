//! The dispatcher: every run a job actor starts (scheduled, manual, retry, restored,
//! bootstrap) goes out the same way. Its row exists first (staged ahead, or written now while
//! the publish waits), then the broker gets the message, then the outcome is recorded: the
//! row goes `queued` and the timeout starts on the confirm, or the run fails if the broker
//! refuses it for good. A row that takes longer than [`MAX_ROW_WAIT`] to write does not hold
//! the fire back: it is published anyway (the write is retried behind it).

use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

use actix::prelude::*;
use chrono::Utc;
use uuid::Uuid;

use super::messages::Wake;
use super::run_book::{message_of, Fire, Retry, Row, Started};
use super::JobActor;
use crate::engine::broker::{Publish, PublishOutcome, RunLabel};
use crate::engine::persistence::{Persist, PersistRow};
use crate::engine::{EngineContext, EngineEvent};
use crate::run::{Fence, RunStatus, StateWrite};

/// The longest a publish waits for its row: past this the fire goes out anyway (one
/// instance; in cluster mode a run is published only once its row is committed).
pub const MAX_ROW_WAIT: StdDuration = StdDuration::from_millis(500);
/// Cluster mode: how often a fire or publish held back while the partition's lease is not
/// held here looks again (the lease may come back at the same epoch after a slow round).
pub const LEASE_RECHECK: StdDuration = StdDuration::from_millis(250);

/// Where a job actor's writes and publishes go: a view of the engine's addresses (held once
/// by the engine, not copied into every job actor).
pub(super) struct Dispatcher<'a> {
    engine: &'a EngineContext,
    /// The lease the job's actor runs under: every write carries it.
    fence: Fence,
}

impl<'a> Dispatcher<'a> {
    pub fn of(engine: &'a EngineContext, fence: Fence) -> Self {
        Dispatcher { engine, fence }
    }

    /// A state change, written in the persistence actor's next batch.
    pub fn write(&self, write: StateWrite) {
        self.engine.persistence.do_send(Persist(write, self.fence));
    }

    /// Whether this instance still holds the job's partition at its actor's epoch (always on
    /// one instance): nothing is published once it does not.
    pub fn leased(&self) -> bool {
        self.engine.leases.holds(self.fence)
    }

    /// A row that `actor` waits to hear about (staged ahead, or `urgent`: a publish waits).
    pub fn write_row(
        &self,
        write: StateWrite,
        run_id: Uuid,
        urgent: bool,
        actor: &Context<JobActor>,
    ) {
        self.engine.persistence.do_send(PersistRow {
            write,
            fence: self.fence,
            run_id,
            urgent,
            reply: actor.address().recipient(),
        });
    }

    /// Hands a message to the broker actor.
    fn publish(&self, publish: Publish) {
        self.engine.broker.do_send(publish);
    }

    /// Whether the broker connection is up (kept by the broker actor).
    fn broker_up(&self) -> bool {
        self.engine.broker_up.load(Ordering::Relaxed)
    }
}

impl JobActor {
    /// Starts `fire`: published (after its row, if the row is not written yet), or recorded
    /// `skipped` at `max_parallel`. Answers the run's id when it runs.
    pub(super) fn start_run(&mut self, ctx: &mut Context<Self>, fire: Fire) -> Option<Uuid> {
        let trigger = fire.trigger;
        match self.book.start(fire, &self.config, Utc::now()) {
            Started::Skipped {
                run_id,
                error,
                write,
            } => {
                tracing::warn!(trigger_source = trigger.as_str(), %run_id, %error, "fire skipped");
                self.telemetry.run(RunStatus::Skipped, trigger);
                self.persist(write);
                self.skipped_in_a_row += 1;
                let threshold = self.engine.settings.alert_skipped_in_a_row;
                if threshold > 0 && self.skipped_in_a_row == threshold {
                    let _ = self.engine.events.send(EngineEvent::SkippedInARow {
                        job_id: self.config.job_id.clone(),
                        count: threshold,
                        reason: error,
                    });
                }
                None
            }
            Started::Run { run_id, row } => {
                self.skipped_in_a_row = 0;
                if let Some(run) = self.book.get(run_id) {
                    tracing::info!(trigger_source = trigger.as_str(), %run_id, attempt = run.attempt,
                        due_at = %run.due_at, "firing");
                }
                self.telemetry.in_flight(1.0);
                match row {
                    Row::Written => self.publish(ctx, run_id),
                    Row::Write(write) => {
                        self.dispatcher().write_row(write, run_id, true, ctx);
                        let hold = ctx.notify_later(Wake::Hold(run_id), MAX_ROW_WAIT);
                        self.run_timers.insert(run_id, hold);
                    }
                }
                Some(run_id)
            }
        }
    }

    /// The database refused the row of a run that waits for it (cluster mode: the partition
    /// went to another instance, or the due instant has a row already): the run is dropped
    /// unpublished (another instance fires it, or fired it).
    pub(super) fn row_refused(&mut self, ctx: &mut Context<Self>, run_id: Uuid) {
        if self.staged.is_some_and(|staged| staged.run_id == run_id) {
            self.staged = None;
        }
        if self.book.drop_unwritten(run_id) {
            tracing::warn!(%run_id, "the run's row was refused (its partition or due instant belongs to another instance); not publishing it");
            self.telemetry.in_flight(-1.0);
            if let Some(hold) = self.run_timers.remove(&run_id) {
                ctx.cancel_future(hold);
            }
        }
    }

    /// The row of a run waiting for it was written (or `landed` false: its batch failed, or
    /// the wait ran out): the run goes to the broker.
    pub(super) fn row_ready(&mut self, ctx: &mut Context<Self>, run_id: Uuid, landed: bool) {
        if !landed && self.engine.leases.is_cluster() {
            // Cluster mode: never before the row (another owner may hold the instant's row);
            // the persistence actor answers once the row is committed or refused.
            return;
        }
        if self.book.take_for_publish(run_id).is_none() {
            return;
        }
        if let Some(hold) = self.run_timers.remove(&run_id) {
            ctx.cancel_future(hold);
        }
        if !landed {
            tracing::warn!(%run_id, "the database is slow or failing; publishing before the run's row is written");
        }
        self.publish(ctx, run_id);
    }

    /// Hands a run in flight whose row exists to the broker. While the broker is down the
    /// message waits in its outbox, and the row says `pending` meanwhile (off the fire's path).
    pub(super) fn publish(&mut self, ctx: &mut Context<Self>, run_id: Uuid) {
        let Some(run) = self.book.get(run_id) else {
            return;
        };
        if !self.dispatcher().leased() {
            // The partition's lease is not held here now: its new owner publishes the run
            // from its row (same run_id) and this actor is stopped, or the lease comes back
            // and the run goes out then.
            tracing::warn!(%run_id, "partition not held here now; holding the publish back");
            let recheck = ctx.notify_later(Wake::Republish(run_id), LEASE_RECHECK);
            if let Some(earlier) = self.run_timers.insert(run_id, recheck) {
                ctx.cancel_future(earlier);
            }
            return;
        }
        let about = RunLabel {
            job_id: self.config.job_id.clone(),
            scope: self.config.scope.as_str(),
            trigger_source: run.trigger.as_str(),
        };
        let message = message_of(&self.config, run);
        let publish = Publish::new(
            self.config.queue.clone(),
            about,
            message,
            Some(ctx.address().recipient()),
        );
        self.dispatcher().publish(publish);
        if !self.dispatcher().broker_up() {
            self.persist(StateWrite::RunStatus {
                run_id,
                status: RunStatus::Pending,
                started_at: None,
                finished_at: None,
                error: None,
            });
        }
    }

    /// A publish held back for the lease: sent now if the run still waits for it.
    pub(super) fn republish(&mut self, ctx: &mut Context<Self>, run_id: Uuid) {
        self.run_timers.remove(&run_id);
        if self
            .book
            .get(run_id)
            .is_some_and(|run| run.phase == super::run_book::Phase::Publishing)
        {
            self.publish(ctx, run_id);
        }
    }

    /// The broker confirmed a run (it goes `queued`, its timeout starts) or refused it for
    /// good (it fails, and is retried like any failure).
    pub(super) fn published(&mut self, ctx: &mut Context<Self>, outcome: PublishOutcome) {
        let run_id = outcome.run_id;
        match outcome.result {
            Ok(()) => {
                let Some(confirmed) = self.book.confirm(run_id, Utc::now()) else {
                    return; // reported or timed out before the confirm arrived
                };
                if let Some(lateness) = confirmed.lateness_seconds {
                    self.telemetry.lateness(lateness);
                }
                self.persist(confirmed.write);
                let timeout = StdDuration::from_secs(self.config.timeout_sec.max(0) as u64);
                self.arm_timeout(ctx, run_id, timeout);
            }
            Err(failure) => {
                let error = format!("publish failed: {failure}");
                self.finish(
                    ctx,
                    run_id,
                    RunStatus::Failed,
                    None,
                    Utc::now(),
                    Some(error),
                );
            }
        }
    }

    pub(super) fn arm_timeout(
        &mut self,
        ctx: &mut Context<Self>,
        run_id: Uuid,
        after: StdDuration,
    ) {
        let timeout = ctx.notify_later(Wake::Timeout(run_id), after);
        if let Some(earlier) = self.run_timers.insert(run_id, timeout) {
            ctx.cancel_future(earlier);
        }
    }
}

impl JobActor {
    /// Closes a run in flight (report, timeout or refused publish): frees its slot, records
    /// its outcome, and schedules its retry. Answers its duration and chain position.
    pub(super) fn finish(
        &mut self,
        ctx: &mut Context<Self>,
        run_id: Uuid,
        status: RunStatus,
        started_at: Option<chrono::DateTime<Utc>>,
        finished_at: chrono::DateTime<Utc>,
        error: Option<String>,
    ) -> Option<(f64, Option<(Uuid, u64)>)> {
        let finished = self.book.finish(
            run_id,
            status,
            started_at,
            finished_at,
            error.clone(),
            &self.config,
        )?;
        let run = &finished.run;
        self.telemetry.in_flight(-1.0);
        self.telemetry.run(status, run.trigger);
        if let Some(timer) = self.run_timers.remove(&run_id) {
            ctx.cancel_future(timer);
        }
        if matches!(status, RunStatus::Success | RunStatus::Failed) {
            self.telemetry.duration(finished.duration_seconds);
        }
        tracing::info!(trigger_source = run.trigger.as_str(), %run_id, attempt = run.attempt,
            status = status.as_str(), duration_seconds = finished.duration_seconds,
            error = error.as_deref().unwrap_or(""), "run finished");
        let answer = (finished.duration_seconds, run.chain);
        let [row, last_run] = finished.writes;
        self.persist(row);
        self.persist(last_run);
        if matches!(status, RunStatus::Failed | RunStatus::Timeout)
            && !matches!(finished.retry, Retry::After(..))
        {
            let _ = self.engine.events.send(EngineEvent::RunFailed {
                job_id: self.config.job_id.clone(),
                run_id,
                status,
                attempt: finished.run.attempt,
                error: error.clone(),
            });
        }
        match finished.retry {
            Retry::No => {}
            Retry::Exhausted => {
                tracing::warn!(%run_id, trigger_source = finished.run.trigger.as_str(),
                    attempt = finished.run.attempt, "retries exhausted");
            }
            Retry::After(backoff, fire) => {
                let timer = ctx.notify_later(Wake::Retry(run_id), backoff);
                self.retries.insert(run_id, (timer, fire));
            }
        }
        if self.catching_up {
            // A slot is free: the next missed instant fires now.
            self.arm(ctx);
        }
        Some(answer)
    }

    /// A retry's backoff is over: it fires as attempt n + 1 of the same due instant.
    pub(super) fn retry_due(&mut self, ctx: &mut Context<Self>, run_id: Uuid) {
        if let Some((_, fire)) = self.retries.remove(&run_id) {
            self.start_run(ctx, fire);
        }
    }

    pub(super) fn cancel_retries(&mut self, ctx: &mut Context<Self>) {
        for (_, (timer, _)) in self.retries.drain() {
            ctx.cancel_future(timer);
        }
    }

    pub(super) fn timed_out(&mut self, ctx: &mut Context<Self>, run_id: Uuid) {
        let error = format!("no completion report within {} s", self.config.timeout_sec);
        self.finish(
            ctx,
            run_id,
            RunStatus::Timeout,
            None,
            Utc::now(),
            Some(error),
        );
    }
}
