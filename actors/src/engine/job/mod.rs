//! The job actor: one per job row. It owns the job's schedule timer, its runs in flight (a
//! [`RunBook`]) with their timeouts and retries, and its queue-mode chain. It never blocks and
//! never writes the database or talks to the broker itself: every run goes out through
//! [`dispatch`] (row first, then publish, then the outcome), state changes go to the
//! persistence actor. Its one database read is for a report naming a run it does not know.
//!
//! - `schedule.rs`: the timer, staging, firing and reloads, over `timing.rs`;
//! - `restart.rs`: the runs and the schedule a restart or a takeover takes over (decided by
//!   the pure `resume.rs`);
//! - `closed_days.rs`: the exchange calendar's gate on each due instant (skip or move);
//! - `dispatch.rs`: row exists → publish → record the outcome, for every kind of run;
//! - `run_book.rs`: the pure rules of starting and finishing runs;
//! - `chain.rs`: the pure queue-mode chain rules; `queue_mode.rs` its bootstrap and watchdog;
//! - `report.rs`: the one rule for a worker's report;
//! - `handlers.rs`: the other messages; `telemetry.rs`: metrics and the job's tracing span.

mod chain;
mod closed_days;
mod dispatch;
mod handlers;
mod messages;
mod queue_mode;
mod report;
mod restart;
mod resume;
mod run_book;
mod schedule;
mod telemetry;
mod timing;

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use messages::{
    GetNextDue, Reload, ReportRefused, RunNow, RunNowRejected, SettleReport, Settlement, Shutdown,
};

use super::EngineContext;
use crate::job::{JobConfig, JobState};
use crate::run::{Fence, RunRecord, StateWrite};
use chain::Chains;
use dispatch::Dispatcher;
use run_book::{Fire, RunBook, StagedRun};
use telemetry::JobTelemetry;
use timing::Timing;
pub(crate) use timing::{upcoming_on, Upcoming};

/// A fire the precise timer holds: the job and the arming it was set for.
pub(crate) type FireDue = (Addr<JobActor>, u64);

/// Wakes the job actors whose fire instants came (on the engine's thread).
pub(crate) fn wake_for_fires(batch: Vec<FireDue>) {
    for (job, armed) in batch {
        job.do_send(messages::Wake::Fire { armed });
    }
}

pub struct JobActor {
    /// Shared with the read model: one copy per job.
    config: Arc<JobConfig>,
    timing: Timing,
    engine: Arc<EngineContext>,
    telemetry: JobTelemetry,
    next_due: Option<DateTime<Utc>>,
    /// `next_due_at` as stored; written only when it changes.
    stored_next_due: Option<DateTime<Utc>>,
    /// The timer that stages the next run.
    timer: Option<SpawnHandle>,
    /// Counts armings of the fire timer: a wake carrying an older count is void.
    armed: u64,
    /// The next scheduled fire's run, staged ahead of its due instant.
    staged: Option<StagedRun>,
    book: RunBook,
    /// Per run in flight: the timer of its timeout, or of its row's hold.
    run_timers: HashMap<Uuid, SpawnHandle>,
    /// Retries waiting for their backoff, with the fire each one is.
    retries: HashMap<Uuid, (SpawnHandle, Fire)>,
    /// Runs restored from the table at start-up, taken over in `started`.
    restored: Vec<RunRecord>,
    chains: Chains,
    /// Queue mode: restarts the chain when no report came for interval + timeout.
    watchdog: Option<SpawnHandle>,
    /// A new job (not one loaded at start-up): queue mode bootstraps at once.
    fresh: bool,
    /// Fires skipped since the last one that ran.
    skipped_in_a_row: u64,
    /// `catch_up_all` after a restart: `next_due` is a missed instant, and each one after it
    /// up to now fires in turn, waiting for a free slot instead of being skipped.
    catching_up: bool,
    /// `next_open_day`: the earliest fire moved off a closed day and not made yet (an open
    /// fire before it takes its place).
    moved: Option<DateTime<Utc>>,
    /// The partition lease this actor runs under (cluster mode; epoch 0 on one instance).
    fence: Fence,
}

impl JobActor {
    pub fn new(
        config: Arc<JobConfig>,
        state: &JobState,
        open_runs: Vec<RunRecord>,
        engine: Arc<EngineContext>,
        fresh: bool,
        fence: Fence,
    ) -> Self {
        JobActor {
            fence,
            timing: Timing::of(&config, engine.settings.timezone),
            telemetry: JobTelemetry::new(&config, engine.settings.metrics_per_job),
            engine,
            next_due: None,
            stored_next_due: state.next_due_at,
            timer: None,
            armed: 0,
            staged: None,
            book: RunBook::default(),
            run_timers: HashMap::new(),
            retries: HashMap::new(),
            restored: open_runs,
            chains: Chains::restored(state.chain),
            watchdog: None,
            fresh,
            skipped_in_a_row: 0,
            catching_up: false,
            moved: None,
            config,
        }
    }

    fn persist(&self, write: StateWrite) {
        self.dispatcher().write(write);
    }

    fn dispatcher(&self) -> Dispatcher<'_> {
        Dispatcher::of(&self.engine, self.fence)
    }

    fn span(&self) -> tracing::Span {
        JobTelemetry::span(&self.config)
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.telemetry
            .in_flight(-(self.book.in_flight().len() as f64));
    }

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Only a job with something left by the previous process (or a chain) may log here:
        // the other 100 000 start without creating a span.
        let eventful = !self.restored.is_empty()
            || self.fresh
            || self.queue_mode_active()
            || self.stored_next_due.is_some_and(|due| due <= Utc::now());
        let _span = eventful.then(|| self.span().entered());
        let staged = self.restore_runs(ctx);
        self.resume_schedule(ctx, staged);
        if !self.fresh {
            self.engine.one_loaded();
        }
        self.start_queue_mode(ctx);
    }
}
