//! A job actor's start after a restart or a takeover: it takes over the runs the previous
//! process left in flight, and resumes its schedule from what it left (decided by the pure
//! `resume.rs`), each caught-up instant passing the job's calendar.

use actix::prelude::*;
use chrono::Utc;
use worker::TriggerSource;

use super::closed_days::earliest;
use super::resume::{self, Adopted, Left, Missed};
use super::run_book::{Fire, Phase, StagedRun};
use super::JobActor;
use crate::calendar::Gate;
use crate::run::{RunRecord, RunStatus, StateWrite};

impl JobActor {
    /// Takes over the runs that were in flight when the service stopped: `pending` ones are
    /// published again (same run_id), `queued` ones get the rest of their timeout. Answers the
    /// staged (`scheduled`) runs, oldest first, for [`Self::resume_schedule`].
    pub(super) fn restore_runs(&mut self, ctx: &mut Context<Self>) -> Vec<RunRecord> {
        let now = Utc::now();
        let (staged, open): (Vec<RunRecord>, Vec<RunRecord>) = std::mem::take(&mut self.restored)
            .into_iter()
            .partition(|record| record.status == RunStatus::Scheduled);
        for record in open {
            let run = self.book.restore(record);
            let (run_id, phase) = (run.run_id, run.phase);
            let deadline = run.queued_at + chrono::Duration::seconds(self.config.timeout_sec);
            self.telemetry.in_flight(1.0);
            if phase == Phase::Queued {
                self.arm_timeout(ctx, run_id, (deadline - now).to_std().unwrap_or_default());
            } else {
                tracing::info!(%run_id, "publishing a run left pending by the previous process");
                self.publish(ctx, run_id);
            }
        }
        staged
    }

    /// The first schedule after start-up, over what the previous process left.
    pub(super) fn resume_schedule(&mut self, ctx: &mut Context<Self>, staged: Vec<RunRecord>) {
        let now = Utc::now();
        let in_flight_dues: Vec<_> = (self.book.in_flight().iter())
            .filter(|run| run.trigger == TriggerSource::Scheduler)
            .map(|run| run.due_at)
            .collect();
        let grace = self.grace();
        let resumed = resume::resume(Left {
            now,
            grace,
            policy: self.config.misfire_policy,
            scheduled: self.scheduled(),
            timing: &self.timing,
            stored_next_due: self.stored_next_due,
            in_flight_dues: in_flight_dues.clone(),
            staged,
        });
        tracing::debug!(job_id = %self.config.job_id, stored_next_due = ?self.stored_next_due, ?in_flight_dues,
            adopted = ?resumed.adopted.iter().map(Adopted::label).collect::<Vec<_>>(),
            missed = ?resumed.missed, next_due = ?resumed.next_due, "schedule resumed");
        // Where a missed instant on a closed day moved to (`next_open_day`).
        let mut moved = None;
        for adopted in resumed.adopted {
            match adopted {
                Adopted::Delete(run_id) => self.persist(StateWrite::DeleteRun { run_id }),
                Adopted::Publish { row, late } => match self.calendar_gate(row.due_at) {
                    Gate::Move { to, .. } => {
                        moved = earliest(moved, Some(to));
                        self.persist(StateWrite::DeleteRun { run_id: row.run_id });
                    }
                    Gate::Skip(why) => self.skip_for_holiday(row.due_at, Some(row.run_id), why),
                    Gate::Open => {
                        self.telemetry.missed("caught_up", 1);
                        tracing::warn!(trigger_source = "scheduler", run_id = %row.run_id, missed_due_at = %row.due_at,
                            late_ms = late.num_milliseconds(), "publishing a staged fire missed while down");
                        let mut fire = Fire::scheduled(row.due_at, row.params);
                        fire.staged = Some(StagedRun {
                            run_id: row.run_id,
                            due_at: row.due_at,
                            written: true,
                        });
                        self.start_run(ctx, fire);
                        // A missed instant moved onto this one (or before it) folds into it.
                        moved = moved.filter(|moved| *moved > row.due_at);
                    }
                },
                Adopted::Skip { row, late } => match self.calendar_gate(row.due_at) {
                    // Its fire moved past now: kept.
                    Gate::Move { to, .. } if to > now => {
                        moved = earliest(moved, Some(to));
                        self.persist(StateWrite::DeleteRun { run_id: row.run_id });
                    }
                    Gate::Skip(why) => self.skip_for_holiday(row.due_at, Some(row.run_id), why),
                    _ => {
                        self.telemetry.missed("skipped", 1);
                        let why = if late > grace {
                            "later than the grace period"
                        } else {
                            "the job's misfire policy is skip"
                        };
                        tracing::warn!(trigger_source = "scheduler", run_id = %row.run_id, missed_due_at = %row.due_at,
                            late_ms = late.num_milliseconds(), why, "skipping a staged fire missed while down");
                        self.skip_missed(&row, now, why);
                    }
                },
            }
        }
        match resumed.missed {
            Some(Missed::CaughtUp { due, late }) => match self.calendar_gate(due) {
                Gate::Move { to, .. } => moved = earliest(moved, Some(to)),
                Gate::Skip(why) => self.skip_for_holiday(due, None, why),
                Gate::Open => {
                    self.telemetry.missed("caught_up", 1);
                    tracing::warn!(trigger_source = "scheduler", missed_due_at = %due,
                        late_ms = late.num_milliseconds(), "catching up a fire missed while down");
                    self.start_run(
                        ctx,
                        Fire::scheduled(due, self.config.default_params.clone()),
                    );
                    // A missed instant moved onto this one (or before it) folds into it.
                    moved = moved.filter(|moved| *moved > due);
                }
            },
            Some(Missed::Skipped { due, late }) => {
                // A fire they moved off a closed day to after now is kept.
                moved = earliest(moved, self.moved_ahead(due, now));
                self.telemetry.missed("skipped", 1);
                tracing::warn!(trigger_source = "scheduler", missed_due_at = %due, late_ms = late.num_milliseconds(),
                    policy = self.config.misfire_policy.as_str(),
                    "skipping the fires missed while down (later than the grace period, or the skip policy)");
            }
            Some(Missed::CatchingUp {
                first,
                late,
                skipped_before,
            }) => {
                if skipped_before {
                    self.telemetry.missed("skipped", 1);
                }
                tracing::warn!(trigger_source = "scheduler", first_due_at = %first, late_ms = late.num_milliseconds(),
                    skipped_before, "catching up every fire missed while down within the grace period, one run each");
                self.catching_up = true;
            }
            None => {}
        }
        self.staged = resumed.ahead;
        // A missed instant on a closed day moved to an open day before the next instant comes
        // first (a later one folds into the schedule).
        self.moved = moved;
        self.set_next_due(earliest(resumed.next_due, moved));
        self.restage(ctx, false);
        self.arm(ctx);
    }

    /// Records a staged run left by the previous process `skipped` for `why`.
    fn skip_missed(&self, row: &RunRecord, now: chrono::DateTime<Utc>, why: &str) {
        self.persist(StateWrite::RunStatus {
            run_id: row.run_id,
            status: RunStatus::Skipped,
            started_at: None,
            finished_at: Some(now),
            error: Some(format!("missed while the service was down: {why}")),
        });
    }
}
