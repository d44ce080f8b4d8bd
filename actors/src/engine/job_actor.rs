//! The job actor: one per job row. It owns the job's timer (one handle to the next due
//! instant, replaced on reload), its runs in flight with their timeout timers, the
//! `max_parallel` limit and the retries with backoff. It never blocks and never touches the
//! database or the broker itself: it sends writes to the persistence actor and messages to the
//! broker actor (through persistence, so a run is `pending` in the table before it is sent).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix::prelude::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;
use worker::{CompletionReport, CompletionStatus, JobMessage, TriggerSource};

use super::broker::{Publish, PublishOutcome, RunLabel};
use super::persistence::{Persist, PersistThenPublish, Stage, Staged};
use super::timing::Timing;
use super::EngineContext;
use crate::job::{JobConfig, JobState, RescheduleMode};
use crate::run::{RunRecord, RunStatus, StateWrite};

/// Finished run ids remembered per job, so a repeated report counts once.
const RECENT_FINISHED: usize = 64;
/// Retry backoff: 1 s, 2 s, 4 s, … capped here.
const MAX_RETRY_BACKOFF: StdDuration = StdDuration::from_secs(60);

/// The job's configuration changed (edit, pause, resume, or a change seen in the table).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload(pub Arc<JobConfig>);

/// Publish a run now (`POST /jobs/{id}/run-now`).
#[derive(Message)]
#[rtype(result = "Result<Uuid, RunNowRejected>")]
pub struct RunNow {
    pub params: Option<Map<String, Value>>,
    /// Publish even when `max_parallel` runs are in flight.
    pub force: bool,
}

/// Why a run-now was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{in_flight} run(s) in flight, max_parallel is {max_parallel}")]
pub struct RunNowRejected {
    pub in_flight: usize,
    pub max_parallel: i64,
}

/// A worker's completion report (`POST /jobs/{id}/last-run`).
#[derive(Message)]
#[rtype(result = "Result<Completion, ReportRefused>")]
pub struct Complete(pub CompletionReport);

/// What a completion report did.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The run it closed; None when the report named no run and none was in flight.
    pub run_id: Option<Uuid>,
    pub status: RunStatus,
    /// False when the run had been reported already (a duplicate counts once).
    pub counted: bool,
    /// Whether a queue-mode worker should publish the next run.
    pub reschedule: bool,
    pub duration_seconds: Option<f64>,
}

/// Why a completion report changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportRefused {
    /// The report named a run this job does not have in flight or recently finished, and it
    /// is not the next position of a queue-mode chain the engine started.
    #[error("run {0} is not in flight for this job")]
    UnknownRun(Uuid),
    /// The report named no run, and none is in flight.
    #[error("no run of this job is in flight")]
    NoRunInFlight,
}

/// Chains replaced on this job (paused, edited, restarted by the watchdog) whose last run may
/// still report: remembered so that run is recorded (and told not to go on).
const OLD_CHAINS: usize = 4;

/// The next due instant as stored (whole seconds).
#[derive(Message)]
#[rtype(result = "Option<DateTime<Utc>>")]
pub struct GetNextDue;

/// Stop the job's schedule and the actor: the job was deleted (its staged run goes too), or
/// the service stops (the staged run stays for the next process to adopt).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown {
    pub deleted: bool,
}

/// A run in flight: published (or about to be) and not yet finished or timed out.
struct InFlight {
    run_id: Uuid,
    trigger: TriggerSource,
    attempt: u32,
    due_at: DateTime<Utc>,
    queued_at: DateTime<Utc>,
    params: Map<String, Value>,
    confirmed: bool,
    timeout: Option<SpawnHandle>,
    /// Queue mode: the chain and position of this run.
    chain: Option<(Uuid, u64)>,
}

/// The queue-mode chain the engine considers current.
struct Chain {
    id: Uuid,
    /// The highest position whose report was told to reschedule.
    last_seq: u64,
}

/// What to publish.
struct Fire {
    trigger: TriggerSource,
    due_at: DateTime<Utc>,
    params: Map<String, Value>,
    attempt: u32,
    force: bool,
    chain: Option<(Uuid, u64)>,
    /// Published now for now: `queued_at` = `due_at`.
    immediate: bool,
    /// The staged run this fire is (scheduled fires only).
    staged: Option<StagedRun>,
}

/// What the job's one timer is armed for.
#[derive(Debug, Clone, Copy)]
enum Wake {
    /// Stage the next run: its instant has come within the staging horizon.
    Stage,
    /// Fire the next run.
    Fire,
}

/// The next scheduled fire, staged ahead as a `scheduled` run row.
#[derive(Debug, Clone, Copy)]
struct StagedRun {
    run_id: Uuid,
    due_at: DateTime<Utc>,
    /// Its row is committed: the fire is a publish and nothing else.
    written: bool,
}

impl Fire {
    /// The fire of a scheduled instant.
    fn scheduled(due_at: DateTime<Utc>, params: Map<String, Value>) -> Fire {
        Fire {
            trigger: TriggerSource::Scheduler,
            due_at,
            params,
            attempt: 1,
            force: false,
            chain: None,
            immediate: false,
            staged: None,
        }
    }

    /// A run published now, for now (manual runs, queue-mode bootstraps): `due_at` and
    /// `queued_at` are the same instant.
    fn immediate(
        trigger: TriggerSource,
        params: Map<String, Value>,
        chain: Option<(Uuid, u64)>,
    ) -> Fire {
        Fire {
            trigger,
            due_at: Utc::now(),
            params,
            attempt: 1,
            force: true,
            chain,
            immediate: true,
            staged: None,
        }
    }
}

pub struct JobActor {
    /// Shared with the read model: one copy per job.
    config: Arc<JobConfig>,
    timing: Timing,
    engine: Arc<EngineContext>,
    next_due: Option<DateTime<Utc>>,
    /// `next_due_at` as stored; written only when it changes.
    stored_next_due: Option<DateTime<Utc>>,
    timer: Option<SpawnHandle>,
    /// The next scheduled fire's run, staged ahead of its due instant.
    staged: Option<StagedRun>,
    in_flight: Vec<InFlight>,
    retries: HashMap<Uuid, SpawnHandle>,
    /// Recently finished runs with their status and the verdict their report got, so a
    /// repeated report (a retry whose answer was lost) gets the same answer and counts once.
    recent: std::collections::VecDeque<(Uuid, RunStatus, bool)>,
    /// Runs restored from the table at start-up, taken over in `started`.
    restored: Vec<RunRecord>,
    /// Queue mode: the current chain (None until started, or restored from the table).
    chain: Option<Chain>,
    /// Queue mode: chains replaced since start-up, newest last.
    old_chains: std::collections::VecDeque<Chain>,
    /// Queue mode: restarts the chain when no report came for interval + timeout.
    watchdog: Option<SpawnHandle>,
    /// A new job (not one loaded at start-up): queue mode bootstraps at once.
    fresh: bool,
    /// The `job_id` metric label.
    metric_job: String,
}

impl JobActor {
    pub fn new(
        config: Arc<JobConfig>,
        state: &JobState,
        open_runs: Vec<RunRecord>,
        engine: Arc<EngineContext>,
        fresh: bool,
    ) -> Self {
        let timing = Timing::of(&config, engine.settings.timezone);
        let metric_job = crate::metrics::job_label(&config.job_id, engine.settings.metrics_per_job);
        JobActor {
            timing,
            engine,
            next_due: None,
            stored_next_due: state.next_due_at,
            timer: None,
            staged: None,
            in_flight: Vec::new(),
            retries: HashMap::new(),
            recent: Default::default(),
            restored: open_runs,
            chain: state.chain.map(|(id, last_seq)| Chain { id, last_seq }),
            old_chains: Default::default(),
            watchdog: None,
            fresh,
            metric_job,
            config,
        }
    }

    fn count_run(&self, status: RunStatus, trigger: TriggerSource) {
        metrics::counter!(crate::metrics::JOB_RUNS_TOTAL,
            "job_id" => self.metric_job.clone(), "scope" => self.config.scope.as_str(),
            "status" => status.as_str(), "trigger_source" => trigger.as_str())
        .increment(1);
    }

    fn count_missed(&self, outcome: &'static str, count: u64) {
        metrics::counter!(crate::metrics::MISSED_FIRES_TOTAL,
            "job_id" => self.metric_job.clone(), "scope" => self.config.scope.as_str(), "outcome" => outcome)
        .increment(count);
    }

    /// Moves the runs-in-flight gauge by `delta` (increments, so jobs sharing the `_all`
    /// label add up).
    fn gauge_in_flight(&self, delta: f64) {
        metrics::gauge!(crate::metrics::RUNS_IN_FLIGHT,
            "job_id" => self.metric_job.clone(), "scope" => self.config.scope.as_str())
        .increment(delta);
    }

    fn queue_mode_active(&self) -> bool {
        self.config.enabled && self.config.reschedule_mode == RescheduleMode::Queue
    }

    /// Queue mode: starts a new chain with a bootstrap message. Any older chain
    /// stops at its next report, which is answered `reschedule: false`.
    fn start_chain(&mut self, ctx: &mut Context<Self>, why: &str) {
        let id = Uuid::new_v4();
        tracing::info!(job_id = %self.config.job_id, scope = %self.config.scope, chain_id = %id, why, "starting a queue-mode chain");
        self.retire_chain();
        self.chain = Some(Chain { id, last_seq: 0 });
        self.persist_chain();
        let bootstrap = Fire::immediate(
            TriggerSource::Scheduler,
            self.config.default_params.clone(),
            Some((id, 1)),
        );
        self.fire(ctx, bootstrap);
        self.arm_watchdog(ctx);
    }

    /// Queue mode: (re)arms the watchdog for interval_seconds + timeout_sec from now.
    fn arm_watchdog(&mut self, ctx: &mut Context<Self>) {
        if let Some(watchdog) = self.watchdog.take() {
            ctx.cancel_future(watchdog);
        }
        if !self.queue_mode_active() {
            return;
        }
        let quiet = self.config.interval_seconds.unwrap_or(0) + self.config.timeout_sec;
        self.watchdog = Some(ctx.run_later(StdDuration::from_secs(quiet.max(1) as u64), move |actor, ctx| {
            actor.watchdog = None;
            if actor.queue_mode_active() {
                tracing::warn!(job_id = %actor.config.job_id, scope = %actor.config.scope, quiet_seconds = quiet,
                    "queue-mode chain broken: no report for interval_seconds + timeout_sec; restarting it");
                actor.start_chain(ctx, "watchdog");
            }
        }));
    }

    /// Queue mode: the current chain stops being current (it may still have a run out).
    fn retire_chain(&mut self) {
        if let Some(chain) = self.chain.take() {
            if self.old_chains.len() == OLD_CHAINS {
                self.old_chains.pop_front();
            }
            self.old_chains.push_back(chain);
        }
    }

    fn persist_chain(&self) {
        if let Some(chain) = &self.chain {
            self.persist(StateWrite::Chain {
                job_id: self.config.job_id.clone(),
                chain_id: chain.id,
                chain_seq: chain.last_seq,
            });
        }
    }

    /// Queue mode: the verdict on a finished run the engine published itself (a bootstrap):
    /// whether its worker should publish the next run. Exactly one report per position of the
    /// current chain says yes; a run without a chain (run-now) never continues one.
    fn chain_verdict(&mut self, ctx: &mut Context<Self>, chain: Option<(Uuid, u64)>) -> bool {
        let Some((id, seq)) = chain else {
            return false;
        };
        if !self.queue_mode_active() {
            return false;
        }
        match &mut self.chain {
            Some(current) if current.id == id && seq > current.last_seq => {
                current.last_seq = seq;
            }
            _ => return false,
        }
        self.persist_chain();
        self.arm_watchdog(ctx);
        true
    }

    /// Queue mode: a report of a run the engine did not publish itself. It is taken only when
    /// it is the next position of a chain the engine started (current or recently replaced),
    /// that is a run a worker was told to publish. Answers the verdict (go on or not), or None
    /// when the run cannot be one of ours.
    fn worker_run_verdict(
        &mut self,
        ctx: &mut Context<Self>,
        chain_id: Option<Uuid>,
        seq: Option<u64>,
    ) -> Option<bool> {
        if self.config.reschedule_mode != RescheduleMode::Queue {
            return None;
        }
        // Position 1 is the engine's own bootstrap, never a worker's run.
        let (id, seq) = (chain_id?, seq.filter(|seq| *seq >= 2)?);
        if let Some(current) = self.chain.as_mut().filter(|chain| chain.id == id) {
            if seq != current.last_seq + 1 {
                return None;
            }
            current.last_seq = seq;
            self.persist_chain();
            let go_on = self.queue_mode_active();
            if go_on {
                self.arm_watchdog(ctx);
            }
            return Some(go_on);
        }
        // A replaced chain has at most one run left out: take its report once, then forget it.
        let old = self
            .old_chains
            .iter()
            .position(|chain| chain.id == id && seq == chain.last_seq + 1)?;
        self.old_chains.remove(old);
        Some(false)
    }

    fn scheduled(&self) -> bool {
        self.config.enabled && !matches!(self.timing, Timing::Unscheduled)
    }

    fn persist(&self, write: StateWrite) {
        self.engine.persistence.do_send(Persist(write));
    }

    fn set_next_due(&mut self, next_due: Option<DateTime<Utc>>) {
        self.next_due = next_due;
        let whole_seconds = |t: DateTime<Utc>| chrono::SubsecRound::trunc_subsecs(t, 0);
        let stored = next_due.map(whole_seconds);
        // The column keeps whole seconds: an instant that only differs below that (a row
        // written with milliseconds by another tool) is not written again.
        if stored != self.stored_next_due.map(whole_seconds) {
            self.stored_next_due = stored;
            self.persist(StateWrite::NextDue {
                job_id: self.config.job_id.clone(),
                next_due_at: next_due,
            });
        }
    }

    /// Arms the one timer, replacing any armed one: to stage the next run when its instant
    /// is still beyond the staging horizon, else to fire it.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        let Some(due) = self.next_due else {
            return;
        };
        let now = Utc::now();
        let (wake, at) =
            if self.staged.is_none() && self.scheduled() && !self.within_staging(due, now) {
                (Wake::Stage, due - self.engine.settings.stage_ahead)
            } else {
                (Wake::Fire, due)
            };
        let delay = (at - now).to_std().unwrap_or_default();
        self.timer = Some(ctx.run_later(delay, move |actor, ctx| match wake {
            Wake::Stage => {
                actor.timer = None;
                actor.restage(ctx, false);
                actor.arm(ctx);
            }
            Wake::Fire => actor.on_timer(ctx),
        }));
    }

    /// Whether `due` is close enough to stage its run now (a timer may wake a little early
    /// by the wall clock: 100 ms of slack).
    fn within_staging(&self, due: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        due - now <= self.engine.settings.stage_ahead + Duration::milliseconds(100)
    }

    fn on_timer(&mut self, ctx: &mut Context<Self>) {
        self.timer = None;
        let Some(due) = self.next_due else {
            return;
        };
        let now = Utc::now();
        if now < due {
            // Woke early (the wall clock moved): re-arm for the rest.
            self.arm(ctx);
            return;
        }
        let mut fire = Fire::scheduled(due, self.config.default_params.clone());
        fire.staged = self.staged.take().filter(|staged| staged.due_at == due);
        self.fire(ctx, fire);
        let (next, coalesced) = self.timing.next_after(due, Utc::now());
        if coalesced > 0 {
            self.count_missed("coalesced", coalesced);
            tracing::warn!(job_id = %self.config.job_id, scope = %self.config.scope, coalesced,
                "woke late: due instants passed meanwhile were coalesced into this fire");
        }
        self.set_next_due(next);
        self.restage(ctx, false);
        self.arm(ctx);
    }

    /// Keeps the staged run in step with the next due instant: a staged run for another
    /// instant (or none: paused, unscheduled) is deleted, and the next instant gets one once
    /// it is within the staging horizon (`SCHEDULER_STAGE_AHEAD_SECONDS`; the timer wakes to
    /// stage it otherwise). `force` replaces it even for the same instant (its params changed).
    fn restage(&mut self, ctx: &mut Context<Self>, force: bool) {
        let wanted = self.next_due.filter(|_| self.scheduled());
        if let Some(staged) = self.staged {
            if !force && Some(staged.due_at) == wanted {
                return;
            }
            self.staged = None;
            self.persist(StateWrite::DeleteRun {
                run_id: staged.run_id,
            });
        }
        let Some(due_at) = wanted.filter(|due| self.within_staging(*due, Utc::now())) else {
            return;
        };
        let run_id = Uuid::new_v4();
        let config = &self.config;
        let record = RunRecord {
            run_id,
            job_id: config.job_id.clone(),
            scope: config.scope.as_str().to_string(),
            trigger_source: TriggerSource::Scheduler,
            attempt: 1,
            due_at,
            queued_at: due_at,
            started_at: None,
            finished_at: None,
            status: RunStatus::Scheduled,
            error: None,
            params: config.default_params.clone(),
        };
        self.engine.persistence.do_send(Stage {
            write: StateWrite::InsertRun(record),
            run_id,
            written: ctx.address().recipient(),
        });
        self.staged = Some(StagedRun {
            run_id,
            due_at,
            written: false,
        });
    }

    /// Publishes a run, or records it `skipped` when `max_parallel` runs are in flight.
    fn fire(&mut self, ctx: &mut Context<Self>, fire: Fire) -> Option<Uuid> {
        // An immediate fire is queued at its due instant; a scheduled one when it is sent.
        let now = if fire.immediate {
            fire.due_at
        } else {
            Utc::now()
        };
        let run_id = fire
            .staged
            .map_or_else(Uuid::new_v4, |staged| staged.run_id);
        let config = &self.config;
        if !fire.force && self.in_flight.len() as i64 >= config.max_parallel {
            let waiting = self.in_flight.iter().filter(|run| !run.confirmed).count();
            let error = if waiting > 0 {
                format!("coalesced: {waiting} earlier run(s) still waiting to be published (broker unavailable)")
            } else {
                format!("max_parallel ({}) runs in flight", config.max_parallel)
            };
            tracing::warn!(job_id = %config.job_id, scope = %config.scope, trigger_source = fire.trigger.as_str(),
                run_id = %run_id, %error, "fire skipped");
            self.count_run(RunStatus::Skipped, fire.trigger);
            if fire.staged.is_some() {
                self.persist(StateWrite::RunStatus {
                    run_id,
                    status: RunStatus::Skipped,
                    started_at: None,
                    finished_at: Some(now),
                    error: Some(error),
                });
                return None;
            }
            let config = &self.config;
            self.persist(StateWrite::InsertRun(RunRecord {
                run_id,
                job_id: config.job_id.clone(),
                scope: config.scope.as_str().to_string(),
                trigger_source: fire.trigger,
                attempt: fire.attempt,
                due_at: fire.due_at,
                queued_at: now,
                started_at: None,
                finished_at: Some(now),
                status: RunStatus::Skipped,
                error: Some(error),
                params: fire.params,
            }));
            return None;
        }
        let run = InFlight {
            run_id,
            trigger: fire.trigger,
            attempt: fire.attempt,
            due_at: fire.due_at,
            queued_at: now,
            params: fire.params,
            confirmed: false,
            timeout: None,
            chain: fire.chain,
        };
        let record = RunRecord {
            run_id,
            job_id: config.job_id.clone(),
            scope: config.scope.as_str().to_string(),
            trigger_source: run.trigger,
            attempt: run.attempt,
            due_at: run.due_at,
            queued_at: now,
            started_at: None,
            finished_at: None,
            status: RunStatus::Pending,
            error: None,
            params: run.params.clone(),
        };
        let publish = self.publish_of(&run, ctx);
        tracing::info!(job_id = %config.job_id, scope = %config.scope, trigger_source = run.trigger.as_str(),
            run_id = %run_id, attempt = run.attempt, due_at = %run.due_at, "firing");
        self.in_flight.push(run);
        self.gauge_in_flight(1.0);
        match fire.staged {
            // The row is in the table: the fire is the publish, and the row goes `scheduled`
            // → `queued` on the confirm. While the broker is down the fire waits in its outbox:
            // the row says `pending` then (off the fire's path), so it shows as one.
            Some(staged) if staged.written => {
                self.engine.broker.do_send(publish);
                if !self.engine.broker_up.load(Ordering::Relaxed) {
                    self.persist(StateWrite::RunStatus {
                        run_id,
                        status: RunStatus::Pending,
                        started_at: None,
                        finished_at: None,
                        error: None,
                    });
                }
            }
            // Staged too close to its instant to be written yet: publish behind the write.
            Some(_) => self.engine.persistence.do_send(PersistThenPublish(
                StateWrite::RunStatus {
                    run_id,
                    status: RunStatus::Pending,
                    started_at: None,
                    finished_at: None,
                    error: None,
                },
                publish,
            )),
            None => self
                .engine
                .persistence
                .do_send(PersistThenPublish(StateWrite::InsertRun(record), publish)),
        }
        Some(run_id)
    }

    fn message_of(&self, run: &InFlight) -> JobMessage {
        let config = &self.config;
        JobMessage {
            job_id: config.job_id.clone(),
            scope: config.scope.as_str().to_string(),
            run_id: run.run_id,
            trigger_source: run.trigger,
            params: run.params.clone(),
            next_delay_sec: config.interval_seconds,
            auto_reschedule: config.reschedule_mode == RescheduleMode::Queue,
            timeout_sec: config.timeout_sec,
            retry_limit: config.retry_limit,
            telemetry_label: config.telemetry_label.clone(),
            queued_at: run.queued_at,
            due_at: run.due_at,
            attempt: run.attempt,
            chain_id: run.chain.map(|(id, _)| id),
            chain_seq: run.chain.map(|(_, seq)| seq),
        }
    }

    fn publish_of(&self, run: &InFlight, ctx: &mut Context<Self>) -> Publish {
        let payload = serde_json::to_vec(&self.message_of(run)).unwrap_or_default();
        let about = RunLabel {
            job_id: self.config.job_id.clone(),
            scope: self.config.scope.as_str(),
            trigger_source: run.trigger.as_str(),
        };
        Publish::new(
            self.config.queue.clone(),
            run.run_id,
            about,
            payload,
            Some(ctx.address().recipient()),
        )
    }

    fn arm_timeout(&mut self, ctx: &mut Context<Self>, run_id: Uuid, after: StdDuration) {
        let handle = ctx.run_later(after, move |actor, ctx| actor.on_timeout(ctx, run_id));
        if let Some(run) = self.in_flight.iter_mut().find(|run| run.run_id == run_id) {
            run.timeout = Some(handle);
        }
    }

    fn on_timeout(&mut self, ctx: &mut Context<Self>, run_id: Uuid) {
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

    /// Closes a run in flight: frees its slot, records its outcome, and retries a failure.
    fn finish(
        &mut self,
        ctx: &mut Context<Self>,
        run_id: Uuid,
        status: RunStatus,
        started_at: Option<DateTime<Utc>>,
        finished_at: DateTime<Utc>,
        error: Option<String>,
    ) -> Option<(f64, Option<(Uuid, u64)>)> {
        let index = self.in_flight.iter().position(|run| run.run_id == run_id)?;
        let run = self.in_flight.remove(index);
        let chain = run.chain;
        self.gauge_in_flight(-1.0);
        self.count_run(status, run.trigger);
        if let Some(timeout) = run.timeout {
            ctx.cancel_future(timeout);
        }
        let config = &self.config;
        let duration = ((finished_at - started_at.unwrap_or(run.queued_at))
            .num_milliseconds()
            .max(0)) as f64
            / 1000.0;
        if matches!(status, RunStatus::Success | RunStatus::Failed) {
            metrics::histogram!(crate::metrics::JOB_DURATION_SECONDS,
                "job_id" => self.metric_job.clone(), "scope" => config.scope.as_str())
            .record(duration);
        }
        tracing::info!(job_id = %config.job_id, scope = %config.scope, trigger_source = run.trigger.as_str(),
            run_id = %run_id, attempt = run.attempt, status = status.as_str(), duration_seconds = duration,
            error = error.as_deref().unwrap_or(""), "run finished");
        self.persist(StateWrite::RunStatus {
            run_id,
            status,
            started_at,
            finished_at: Some(finished_at),
            error: error.clone(),
        });
        self.persist(StateWrite::LastRun {
            job_id: config.job_id.clone(),
            last_run_at: finished_at,
            last_status: status,
            last_error: error,
        });
        self.remember(run_id, status);
        // A queue-mode chain goes on by itself (and its watchdog restarts it): a retry would
        // start a second chain.
        if matches!(status, RunStatus::Failed | RunStatus::Timeout)
            && self.config.reschedule_mode == RescheduleMode::Scheduler
        {
            self.retry_later(ctx, run);
        }
        Some((duration, chain))
    }

    fn remember(&mut self, run_id: Uuid, status: RunStatus) {
        if self.recent.len() == RECENT_FINISHED {
            self.recent.pop_front();
        }
        self.recent.push_back((run_id, status, false));
    }

    /// Keeps the verdict a run's report got, for a repeat of that report.
    fn note_verdict(&mut self, run_id: Uuid, reschedule: bool) {
        if let Some(entry) = self.recent.iter_mut().rev().find(|(id, ..)| *id == run_id) {
            entry.2 = reschedule;
        }
    }

    fn retry_later(&mut self, ctx: &mut Context<Self>, run: InFlight) {
        if i64::from(run.attempt) > self.config.retry_limit {
            tracing::warn!(job_id = %self.config.job_id, scope = %self.config.scope, run_id = %run.run_id,
                trigger_source = run.trigger.as_str(), attempt = run.attempt, "retries exhausted");
            return;
        }
        let backoff =
            StdDuration::from_secs(1u64 << (run.attempt - 1).min(16)).min(MAX_RETRY_BACKOFF);
        let key = run.run_id;
        let handle = ctx.run_later(backoff, move |actor, ctx| {
            actor.retries.remove(&key);
            actor.fire(
                ctx,
                Fire {
                    trigger: TriggerSource::Retry,
                    due_at: run.due_at,
                    params: run.params,
                    attempt: run.attempt + 1,
                    force: false,
                    chain: None,
                    immediate: false,
                    staged: None,
                },
            );
        });
        self.retries.insert(key, handle);
    }

    fn cancel_retries(&mut self, ctx: &mut Context<Self>) {
        for (_, handle) in self.retries.drain() {
            ctx.cancel_future(handle);
        }
    }

    /// Takes over the runs that were in flight when the service stopped: `pending` ones are
    /// published again (same run_id), `queued` ones get the rest of their timeout. Answers the
    /// staged (`scheduled`) runs, oldest first, for [`Self::resume_schedule`].
    fn restore_runs(&mut self, ctx: &mut Context<Self>) -> Vec<RunRecord> {
        let now = Utc::now();
        let (staged, open): (Vec<RunRecord>, Vec<RunRecord>) = std::mem::take(&mut self.restored)
            .into_iter()
            .partition(|record| record.status == RunStatus::Scheduled);
        for record in open {
            let run = InFlight {
                run_id: record.run_id,
                trigger: record.trigger_source,
                attempt: record.attempt,
                due_at: record.due_at,
                queued_at: record.queued_at,
                params: record.params,
                confirmed: record.status == RunStatus::Queued,
                timeout: None,
                chain: None,
            };
            let run_id = run.run_id;
            if run.confirmed {
                let deadline = run.queued_at + Duration::seconds(self.config.timeout_sec);
                self.in_flight.push(run);
                self.arm_timeout(ctx, run_id, (deadline - now).to_std().unwrap_or_default());
            } else {
                tracing::info!(job_id = %self.config.job_id, scope = %self.config.scope, run_id = %run_id,
                    trigger_source = run.trigger.as_str(), "publishing a run left pending by the previous process");
                let publish = self.publish_of(&run, ctx);
                self.in_flight.push(run);
                self.engine.broker.do_send(publish);
            }
        }
        self.gauge_in_flight(self.in_flight.len() as f64);
        staged
    }

    /// Adopts the runs the previous process staged: one still ahead is the next fire (under
    /// its own run_id); one whose instant passed while the service was down is published now
    /// if it is within the grace period, else recorded `skipped`. Answers the due instants it
    /// settled and the staged run still ahead, if any.
    fn adopt_staged(
        &mut self,
        ctx: &mut Context<Self>,
        rows: Vec<RunRecord>,
    ) -> (Vec<DateTime<Utc>>, Option<StagedRun>) {
        let now = Utc::now();
        let grace = self.engine.settings.misfire_grace;
        let (mut settled, mut ahead) = (Vec::new(), None);
        for row in rows {
            let staged = StagedRun {
                run_id: row.run_id,
                due_at: row.due_at,
                written: true,
            };
            if !self.scheduled() || (row.due_at > now && ahead.is_some()) {
                self.persist(StateWrite::DeleteRun { run_id: row.run_id });
                continue;
            }
            if row.due_at > now {
                ahead = Some(staged);
                continue;
            }
            settled.push(row.due_at);
            let late = now - row.due_at;
            let config = &self.config;
            if late <= grace {
                self.count_missed("caught_up", 1);
                tracing::warn!(job_id = %config.job_id, scope = %config.scope, trigger_source = "scheduler", run_id = %row.run_id,
                    missed_due_at = %row.due_at, late_ms = late.num_milliseconds(), "publishing a staged fire missed while down");
                let mut fire = Fire::scheduled(row.due_at, row.params);
                fire.staged = Some(staged);
                self.fire(ctx, fire);
            } else {
                self.count_missed("skipped", 1);
                tracing::warn!(job_id = %config.job_id, scope = %config.scope, trigger_source = "scheduler", run_id = %row.run_id,
                    missed_due_at = %row.due_at, late_ms = late.num_milliseconds(), grace_ms = grace.num_milliseconds(),
                    "skipping a staged fire missed while down: later than the grace period");
                self.persist(StateWrite::RunStatus {
                    run_id: row.run_id,
                    status: RunStatus::Skipped,
                    started_at: None,
                    finished_at: Some(now),
                    error: Some(
                        "missed while the service was down, later than the grace period".into(),
                    ),
                });
            }
        }
        (settled, ahead)
    }

    /// The first schedule after start-up: a fire missed while the service was down is caught
    /// up once if it is within the grace period, else skipped.
    fn resume_schedule(&mut self, ctx: &mut Context<Self>, staged_rows: Vec<RunRecord>) {
        let (settled, ahead) = self.adopt_staged(ctx, staged_rows);
        if !self.scheduled() {
            self.set_next_due(None);
            return;
        }
        let now = Utc::now();
        let whole_seconds = |t: DateTime<Utc>| chrono::SubsecRound::trunc_subsecs(t, 0);
        let stored = match ahead {
            Some(staged) => {
                self.staged = Some(staged);
                Some(staged.due_at)
            }
            None => self.stored_next_due,
        };
        // The previous process fired this instant (its run is restored or was settled above)
        // but was stopped before it stored the next one: the candidate is the instant after it.
        let fired_before = |due: DateTime<Utc>| {
            self.in_flight.iter().any(|run| {
                run.trigger == TriggerSource::Scheduler
                    && whole_seconds(run.due_at) == whole_seconds(due)
            }) || settled
                .iter()
                .any(|settled| whole_seconds(*settled) == whole_seconds(due))
        };
        let stored = match stored {
            Some(due) if due <= now && fired_before(due) => self.timing.next_after(due, due).0,
            other => other,
        };
        let next = match stored {
            Some(due) if due > now => Some(due),
            Some(due) => {
                let late = now - due;
                let grace = self.engine.settings.misfire_grace;
                if late <= grace {
                    self.count_missed("caught_up", 1);
                    let config = &self.config;
                    tracing::warn!(job_id = %config.job_id, scope = %config.scope, trigger_source = "scheduler",
                        missed_due_at = %due, late_ms = late.num_milliseconds(), "catching up a fire missed while down");
                    let fire = Fire::scheduled(due, self.config.default_params.clone());
                    self.fire(ctx, fire);
                } else {
                    self.count_missed("skipped", 1);
                    let config = &self.config;
                    tracing::warn!(job_id = %config.job_id, scope = %config.scope, trigger_source = "scheduler",
                        missed_due_at = %due, late_ms = late.num_milliseconds(), grace_ms = grace.num_milliseconds(),
                        "skipping a fire missed while down: later than the grace period");
                }
                self.timing.next_after(due, now).0
            }
            None => self.timing.first_after(now),
        };
        self.set_next_due(next);
        self.restage(ctx, false);
        self.arm(ctx);
    }

    fn reload(&mut self, ctx: &mut Context<Self>, config: Arc<JobConfig>) {
        let was_chaining = self.queue_mode_active();
        let old = std::mem::replace(&mut self.config, config);
        match (was_chaining, self.queue_mode_active()) {
            (false, true) => self.start_chain(ctx, "job resumed"),
            (true, false) => {
                tracing::info!(job_id = %self.config.job_id, scope = %self.config.scope, "queue-mode chain stops at its next report");
                self.retire_chain();
                self.arm_watchdog(ctx);
            }
            (true, true) => {
                // Workers copy the message forward: a changed setting needs a new chain.
                let config = &self.config;
                let carried_changed = old.interval_seconds != config.interval_seconds
                    || old.default_params != config.default_params
                    || old.timeout_sec != config.timeout_sec
                    || old.retry_limit != config.retry_limit
                    || old.telemetry_label != config.telemetry_label
                    || old.queue != config.queue;
                if carried_changed {
                    self.start_chain(ctx, "job edited");
                } else {
                    self.arm_watchdog(ctx);
                }
            }
            (false, false) => {}
        }
        let config = &self.config;
        let schedule_changed = old.cron_expr != config.cron_expr
            || old.interval_seconds != config.interval_seconds
            || old.reschedule_mode != config.reschedule_mode
            || old.enabled != config.enabled;
        let params_changed = old.default_params != config.default_params;
        if !schedule_changed {
            if params_changed {
                self.restage(ctx, true);
                self.arm(ctx);
            }
            return;
        }
        self.timing = Timing::of(config, self.engine.settings.timezone);
        tracing::info!(job_id = %config.job_id, scope = %config.scope, enabled = config.enabled, "schedule reloaded");
        if !config.enabled {
            self.cancel_retries(ctx);
        }
        let next = if self.scheduled() {
            self.timing.first_after(Utc::now())
        } else {
            None
        };
        self.set_next_due(next);
        self.restage(ctx, params_changed);
        self.arm(ctx);
    }
}

impl Actor for JobActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.gauge_in_flight(-(self.in_flight.len() as f64));
    }

    fn started(&mut self, ctx: &mut Context<Self>) {
        let staged = self.restore_runs(ctx);
        self.resume_schedule(ctx, staged);
        if !self.fresh {
            // The last actor of the start-up load to arm its timer says so.
            let loading = &self.engine.loading;
            let before = loading.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            });
            if before == Ok(1) {
                tracing::info!(scope = %self.config.scope, elapsed_ms = self.engine.started.elapsed().as_millis() as u64,
                    "all job timers armed");
            }
        }
        if self.queue_mode_active() {
            if self.fresh {
                self.start_chain(ctx, "job created");
            } else if self.chain.is_some() {
                // The chain on record may be running: its next report goes on, or the
                // watchdog restarts it if none comes in time.
                self.arm_watchdog(ctx);
            } else {
                // No chain on record (a row from before chains were kept): a chain of unknown
                // origin is never adopted, so start one; an old one stops at its next report.
                self.start_chain(ctx, "no chain on record");
            }
        }
    }
}

impl Handler<Reload> for JobActor {
    type Result = ();

    fn handle(&mut self, Reload(config): Reload, ctx: &mut Context<Self>) {
        self.reload(ctx, config);
    }
}

impl Handler<RunNow> for JobActor {
    type Result = Result<Uuid, RunNowRejected>;

    fn handle(&mut self, run_now: RunNow, ctx: &mut Context<Self>) -> Self::Result {
        if !run_now.force && self.in_flight.len() as i64 >= self.config.max_parallel {
            return Err(RunNowRejected {
                in_flight: self.in_flight.len(),
                max_parallel: self.config.max_parallel,
            });
        }
        let mut params = self.config.default_params.clone();
        params.extend(run_now.params.unwrap_or_default());
        let run_id = self.fire(ctx, Fire::immediate(TriggerSource::Manual, params, None));
        Ok(run_id.expect("a forced fire always publishes"))
    }
}

impl Handler<Complete> for JobActor {
    type Result = Result<Completion, ReportRefused>;

    /// The one rule for completion reports: a run in flight is closed (once); a repeat of a
    /// recent report counts nothing; a run a queue-mode worker published itself is recorded
    /// only when the engine told a worker to publish it; anything else changes nothing.
    fn handle(&mut self, Complete(report): Complete, ctx: &mut Context<Self>) -> Self::Result {
        let status = match report.status.unwrap_or(CompletionStatus::Success) {
            CompletionStatus::Success => RunStatus::Success,
            CompletionStatus::Failed => RunStatus::Failed,
        };
        let finished_at = report.finished_at.unwrap_or_else(Utc::now);
        let Some(run_id) = report
            .run_id
            .or_else(|| self.in_flight.first().map(|run| run.run_id))
        else {
            // No run named and none in flight: only a queue-mode worker reporting the run it
            // was told to publish (without its run_id) tells anything.
            let reschedule = self
                .worker_run_verdict(ctx, report.chain_id, report.chain_seq)
                .ok_or(ReportRefused::NoRunInFlight)?;
            self.count_run(status, TriggerSource::AutoReschedule);
            self.persist(StateWrite::LastRun {
                job_id: self.config.job_id.clone(),
                last_run_at: finished_at,
                last_status: status,
                last_error: report.error,
            });
            return Ok(Completion {
                run_id: None,
                status,
                counted: true,
                reschedule,
                duration_seconds: None,
            });
        };
        let error = report.error.clone();
        if let Some((duration, chain)) =
            self.finish(ctx, run_id, status, report.started_at, finished_at, error)
        {
            // The engine published this run: its own record of the chain decides (a run
            // restored after a restart has none: its report says which it was).
            let chain = chain.or(report.chain_id.zip(report.chain_seq));
            let reschedule = self.chain_verdict(ctx, chain);
            self.note_verdict(run_id, reschedule);
            return Ok(Completion {
                run_id: Some(run_id),
                status,
                counted: true,
                reschedule,
                duration_seconds: Some(duration),
            });
        }
        if let Some((_, earlier, reschedule)) = self.recent.iter().find(|(id, ..)| *id == run_id) {
            return Ok(Completion {
                run_id: Some(run_id),
                status: *earlier,
                counted: false,
                reschedule: *reschedule,
                duration_seconds: None,
            });
        }
        let reschedule = self
            .worker_run_verdict(ctx, report.chain_id, report.chain_seq)
            .ok_or(ReportRefused::UnknownRun(run_id))?;
        // A run a queue-mode worker published itself: record it now that it is over.
        let record = RunRecord {
            run_id,
            job_id: self.config.job_id.clone(),
            scope: self.config.scope.as_str().to_string(),
            trigger_source: TriggerSource::AutoReschedule,
            attempt: report.attempt.unwrap_or(1),
            due_at: report.due_at.unwrap_or(finished_at),
            queued_at: report.queued_at.unwrap_or(finished_at),
            started_at: report.started_at,
            finished_at: Some(finished_at),
            status,
            error: report.error.clone(),
            params: Map::new(),
        };
        let duration_seconds = record.duration_seconds();
        self.count_run(status, record.trigger_source);
        if let Some(duration) = duration_seconds {
            metrics::histogram!(crate::metrics::JOB_DURATION_SECONDS,
                "job_id" => self.metric_job.clone(), "scope" => self.config.scope.as_str())
            .record(duration);
        }
        tracing::info!(job_id = %self.config.job_id, scope = %self.config.scope, trigger_source = record.trigger_source.as_str(),
            run_id = %run_id, status = status.as_str(), "run finished");
        self.persist(StateWrite::InsertRun(record));
        self.persist(StateWrite::LastRun {
            job_id: self.config.job_id.clone(),
            last_run_at: finished_at,
            last_status: status,
            last_error: report.error,
        });
        self.remember(run_id, status);
        self.note_verdict(run_id, reschedule);
        Ok(Completion {
            run_id: Some(run_id),
            status,
            counted: true,
            reschedule,
            duration_seconds,
        })
    }
}

impl Handler<PublishOutcome> for JobActor {
    type Result = ();

    fn handle(&mut self, outcome: PublishOutcome, ctx: &mut Context<Self>) {
        let run_id = outcome.run_id;
        let Some(run) = self.in_flight.iter_mut().find(|run| run.run_id == run_id) else {
            return; // reported or timed out before the confirm arrived
        };
        match outcome.result {
            Ok(()) => {
                run.confirmed = true;
                if run.trigger == TriggerSource::Scheduler {
                    let lateness = (Utc::now() - run.due_at)
                        .num_microseconds()
                        .unwrap_or(i64::MAX) as f64
                        / 1e6;
                    metrics::histogram!(crate::metrics::FIRE_LATENESS_SECONDS,
                        "job_id" => self.metric_job.clone(), "scope" => self.config.scope.as_str())
                    .record(lateness.max(0.0));
                }
                self.persist(StateWrite::RunStatus {
                    run_id,
                    status: RunStatus::Queued,
                    started_at: None,
                    finished_at: None,
                    error: None,
                });
                let timeout = StdDuration::from_secs(self.config.timeout_sec as u64);
                self.arm_timeout(ctx, run_id, timeout);
            }
            Err(failure) => {
                self.finish(
                    ctx,
                    run_id,
                    RunStatus::Failed,
                    None,
                    Utc::now(),
                    Some(format!("publish failed: {failure}")),
                );
            }
        }
    }
}

impl Handler<Shutdown> for JobActor {
    type Result = ();

    fn handle(&mut self, Shutdown { deleted }: Shutdown, ctx: &mut Context<Self>) {
        tracing::info!(job_id = %self.config.job_id, scope = %self.config.scope, "job stopped");
        if let Some(staged) = self.staged.take().filter(|_| deleted) {
            // The job is deleted: its next fire will not happen.
            self.persist(StateWrite::DeleteRun {
                run_id: staged.run_id,
            });
        }
        ctx.stop();
    }
}

impl Handler<GetNextDue> for JobActor {
    type Result = Option<DateTime<Utc>>;

    fn handle(&mut self, _: GetNextDue, _: &mut Context<Self>) -> Self::Result {
        self.stored_next_due
    }
}

impl Handler<Staged> for JobActor {
    type Result = ();

    fn handle(&mut self, Staged(run_id): Staged, _: &mut Context<Self>) {
        if let Some(staged) = self
            .staged
            .as_mut()
            .filter(|staged| staged.run_id == run_id)
        {
            staged.written = true;
        }
    }
}
