//! The job's schedule: one timer that stages the next run ahead of its instant and then fires
//! it, and reloads when the job changes (the first schedule after a restart is `restart.rs`).

use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use worker::TriggerSource;

use super::closed_days::earliest;
use super::messages::Wake;
use super::resume::{self, Armed};
use super::run_book::{Fire, StagedRun};
use super::timing::Timing;
use super::JobActor;
use crate::calendar::Gate;
use crate::instant::to_seconds;
use crate::job::JobConfig;
use crate::run::{RunRecord, RunStatus, StateWrite};

impl JobActor {
    /// Enabled, with a cron or interval timing (not queue mode).
    pub(super) fn scheduled(&self) -> bool {
        self.config.enabled && !matches!(self.timing, Timing::Unscheduled)
    }

    /// How late a missed instant may still be caught up: the job's own grace, else the
    /// service's.
    pub(super) fn grace(&self) -> chrono::Duration {
        (self.config.misfire_grace_seconds).map_or(
            self.engine.settings.misfire_grace,
            chrono::Duration::seconds,
        )
    }

    pub(super) fn set_next_due(&mut self, next_due: Option<DateTime<Utc>>) {
        self.next_due = next_due;
        // The column keeps whole seconds: an instant that only differs below that (a row
        // written with milliseconds by another tool) is not written again.
        let stored = next_due.map(to_seconds);
        if stored != self.stored_next_due.map(to_seconds) {
            self.stored_next_due = stored;
            self.persist(StateWrite::NextDue {
                job_id: self.config.job_id.clone(),
                next_due_at: next_due,
            });
        }
    }

    /// Arms the schedule timer, replacing any armed one: staging waits on an ordinary actor
    /// timer, a fire on the precise timer (to the exact instant).
    pub(super) fn arm(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        // Any fire armed before is void from here on.
        self.armed += 1;
        let now = Utc::now();
        let ahead = self.engine.settings.stage_ahead;
        let staged = self.staged.is_some();
        let Some((armed, at)) =
            resume::next_wake(self.next_due, staged, self.scheduled(), now, ahead)
        else {
            return;
        };
        let delay = (at - now).to_std().unwrap_or_default();
        match armed {
            Armed::Stage => self.timer = Some(ctx.notify_later(Wake::Stage, delay)),
            Armed::Fire => {
                let deadline = std::time::Instant::now() + delay;
                (self.engine.timer).at(deadline, (ctx.address(), self.armed));
            }
        }
    }

    /// The staging horizon reached the next instant.
    pub(super) fn stage_due(&mut self, ctx: &mut Context<Self>) {
        self.timer = None;
        self.restage(ctx, false);
        self.arm(ctx);
    }

    /// The next instant came: fire it (its staged run, if written, is a publish alone), then
    /// move on to the instant after it. `armed` tells a current arming from a replaced one.
    pub(super) fn fire_due(&mut self, ctx: &mut Context<Self>, armed: u64) {
        if armed != self.armed {
            return;
        }
        let Some(due) = self.next_due else {
            return;
        };
        if Utc::now() < due {
            // Woke early (the wall clock moved): re-arm for the rest.
            self.arm(ctx);
            return;
        }
        if !self.dispatcher().leased() {
            // Cluster mode: the partition's lease is not held here now. Its next owner fires
            // this instant (or catches it up) and this actor is stopped; or the lease comes
            // back (a slow round) and the instant fires then, late.
            let armed = self.armed;
            ctx.notify_later(Wake::Fire { armed }, super::dispatch::LEASE_RECHECK);
            return;
        }
        let gate = self.calendar_gate(due);
        if gate != Gate::Open {
            self.closed_day(ctx, due, gate);
            return;
        }
        if self.catching_up {
            let now = Utc::now();
            let grace = self.grace();
            if now - due > grace {
                // It waited for a slot past the grace: the instants now later than the grace
                // are skipped, and the catch-up goes on from the first one within it.
                self.telemetry.missed("skipped", 1);
                tracing::warn!(trigger_source = "scheduler", missed_due_at = %due,
                    "catching up: the instants now later than the grace period are skipped");
                let next = match (self.timing.first_from(due, now - grace))
                    .filter(|first| *first <= now)
                {
                    Some(first) => Some(first),
                    None => {
                        self.catching_up = false;
                        self.timing.next_after(due, now).0
                    }
                };
                // A fire moved off a closed day that is now past the grace goes the same way.
                self.moved = self.moved.filter(|moved| *moved >= now - grace);
                let next = earliest(next, self.moved);
                self.next_due = next;
                self.restage(ctx, false);
                self.set_next_due(next);
                self.arm(ctx);
                return;
            }
            // A missed instant waits for a free slot (a run that finishes arms the timer
            // again) rather than being skipped; a retry waiting for its backoff keeps its slot.
            let taken = self.book.in_flight().len() + self.retries.len();
            if taken as i64 >= self.config.max_parallel {
                return;
            }
        }
        let mut fire = Fire::scheduled(due, self.config.default_params.clone());
        fire.staged = self.staged.take().filter(|staged| staged.due_at == due);
        // A fire moved off a closed day folds into this one (it is, or comes before, it).
        self.moved = None;
        self.start_run(ctx, fire);
        let (next, coalesced) = if self.catching_up {
            self.telemetry.missed("caught_up", 1);
            // The instants after it, each in turn, until one is still ahead.
            let next = self.timing.after(due);
            self.catching_up = next.is_some_and(|next| next <= Utc::now());
            (next, 0)
        } else {
            self.timing.next_after(due, Utc::now())
        };
        if coalesced > 0 {
            self.telemetry.missed("coalesced", coalesced);
            tracing::warn!(
                coalesced,
                "woke late: due instants passed meanwhile were coalesced into this fire"
            );
        }
        // A next instant that is staged at once is on record as its staged row: the fire
        // path writes no `next_due_at` then (one write less per fire; the read model takes
        // the instant from the staged row, and a restart from the staged rows).
        self.next_due = next;
        self.restage(ctx, false);
        if next.is_none() || self.staged.map(|staged| staged.due_at) != next {
            self.set_next_due(next);
        }
        self.arm(ctx);
    }

    /// Keeps the staged run in step with the next due instant: a staged run for another
    /// instant (or none: paused, unscheduled) is deleted, and the next instant gets one once
    /// it is within the staging horizon (`SCHEDULER_STAGE_AHEAD_SECONDS`; the timer wakes to
    /// stage it otherwise). `force` replaces it even for the same instant (its params changed).
    pub(super) fn restage(&mut self, ctx: &mut Context<Self>, force: bool) {
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
        let ahead = self.engine.settings.stage_ahead;
        let Some(due_at) = wanted.filter(|due| resume::within_staging(*due, Utc::now(), ahead))
        else {
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
        self.dispatcher()
            .write_row(StateWrite::InsertRun(record), run_id, false, ctx);
        self.staged = Some(StagedRun {
            run_id,
            due_at,
            written: false,
        });
    }

    /// A staged run's row landed: its fire needs no database.
    pub(super) fn staged_written(&mut self, run_id: Uuid) {
        if let Some(staged) = self
            .staged
            .as_mut()
            .filter(|staged| staged.run_id == run_id)
        {
            staged.written = true;
        }
    }

    /// The job's configuration changed: the chain, the schedule and the staged run follow.
    pub(super) fn reload(&mut self, ctx: &mut Context<Self>, config: Arc<JobConfig>) {
        let old = std::mem::replace(&mut self.config, config);
        self.reload_queue_mode(ctx, &old);
        let config = &self.config;
        // What the instants are (a fire moved off a closed day is void when these change).
        let instants_changed = old.cron_expr != config.cron_expr
            || old.interval_seconds != config.interval_seconds
            || old.reschedule_mode != config.reschedule_mode
            || old.timezone != config.timezone
            || old.calendar != config.calendar
            || old.calendar_mode != config.calendar_mode;
        let slots_changed = instants_changed || old.enabled != config.enabled;
        // A catch-up under a policy or grace that no longer holds ends: the schedule goes on
        // from now.
        let catch_up_ended = self.catching_up
            && (old.misfire_policy != config.misfire_policy
                || old.misfire_grace_seconds != config.misfire_grace_seconds);
        let jitter_changed = old.jitter_seconds != config.jitter_seconds;
        let schedule_changed = slots_changed || catch_up_ended || jitter_changed;
        let params_changed = old.default_params != config.default_params;
        if !schedule_changed {
            // The column may lag behind a staged instant: an edit puts it right.
            let next = self.next_due;
            self.set_next_due(next);
            if params_changed {
                self.restage(ctx, true);
                self.arm(ctx);
            }
            return;
        }
        self.timing = Timing::of(config, self.engine.settings.timezone);
        tracing::info!(enabled = config.enabled, "schedule reloaded");
        if !config.enabled {
            self.cancel_retries(ctx);
        }
        let next = match self.next_due {
            // Only the jitter changed: the pending instant keeps its slot, moved by the new
            // offset (were it taken from now, a slot just fired could come again, or the one
            // pending be lost).
            Some(pending) if !slots_changed && !catch_up_ended && self.scheduled() => {
                let shift = self.config.jitter() - old.jitter();
                self.moved = self.moved.map(|moved| moved + shift);
                Some(pending + shift)
            }
            _ => {
                self.catching_up = false;
                let now = Utc::now();
                // A pause, a resume or a policy change keeps a fire moved off a closed day
                // that is still ahead.
                self.moved = self.moved.filter(|moved| !instants_changed && *moved > now);
                self.scheduled()
                    .then(|| earliest(self.timing.first_after(now), self.moved))
                    .flatten()
            }
        };
        self.set_next_due(next);
        self.restage(ctx, params_changed);
        self.arm(ctx);
    }
}
