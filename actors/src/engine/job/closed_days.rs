//! A job on an exchange calendar: each due instant passes the calendar's gate when it comes
//! (read from the engine's registry then, so an edit applies at once). On a closed day the
//! instant is recorded `skipped` with the reason (`skip`), or moves to the same local time on
//! the next open day (`next_open_day`). Run-now ignores the calendar.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use worker::TriggerSource;

use super::run_book::{skipped_write, Fire};
use super::JobActor;
use std::sync::Arc;

use crate::calendar::{Calendar, CalendarMode, Gate};
use crate::run::RunStatus;

impl JobActor {
    /// What the job's calendar says of `due` (open when the job has none).
    pub(super) fn calendar_gate(&self, due: DateTime<Utc>) -> Gate {
        match self.job_calendar() {
            Some(calendar) => (self.timing).gate(
                &calendar,
                self.config.calendar_mode,
                due,
                self.config.zone(self.engine.settings.timezone),
            ),
            None => Gate::Open,
        }
    }

    /// The job's calendar as the engine has it now.
    fn job_calendar(&self) -> Option<Arc<Calendar>> {
        let name = self.config.calendar.as_ref()?;
        Some(self.engine.calendars.get(name).unwrap_or_else(|| {
            // Deleted under the job by hand (the API refuses it while a job uses it):
            // weekends stay closed.
            tracing::warn!(calendar = %name, "the job's calendar does not exist; only weekends are closed");
            Arc::new(Calendar::weekends_only(name))
        }))
    }

    /// `next_open_day` after a restart: the earliest fire that the instants from `from` up to
    /// `now` (passed while no process ran the job) moved to after `now`; it is kept.
    pub(super) fn moved_ahead(
        &self,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        /// Instants looked at at most.
        const MAX_MISSED: usize = 10_000;
        if self.config.calendar_mode != CalendarMode::NextOpenDay {
            return None;
        }
        let calendar = self.job_calendar()?;
        let (mode, zone) = (
            self.config.calendar_mode,
            self.config.zone(self.engine.settings.timezone),
        );
        let mut moved = None;
        let mut instant = Some(from);
        for _ in 0..MAX_MISSED {
            let Some(due) = instant.filter(|due| *due <= now) else {
                break;
            };
            if let Gate::Move { to, .. } = self.timing.gate(&calendar, mode, due, zone) {
                moved = earliest(moved, Some(to).filter(|to| *to > now));
            }
            instant = self.timing.after(due);
        }
        moved
    }

    /// The instant `due` fell on a closed day (`gate` is not open): skip it, or move its fire
    /// (`self.moved`, the earliest fire moved off a closed day and not yet made); then arm for
    /// whichever comes first, the moved fire or the schedule's next instant. Every instant of
    /// the schedule still passes the gate when it comes: an edit that opens a day again fires
    /// its instants, and an open fire before the moved one takes its place.
    pub(super) fn closed_day(&mut self, ctx: &mut Context<Self>, due: DateTime<Utc>, gate: Gate) {
        // The moved fire itself fell on a closed day (the calendar changed): it is decided
        // anew. One before it is stale (passed while the job waited for a slot).
        self.moved = self.moved.filter(|moved| *moved > due);
        let regular = if self.catching_up {
            self.timing.after(due)
        } else {
            self.timing.next_after(due, Utc::now()).0
        };
        match gate {
            Gate::Open => return,
            Gate::Skip(why) => {
                let staged = self.staged.take().filter(|staged| staged.due_at == due);
                self.skip_for_holiday(due, staged.map(|staged| staged.run_id), why);
            }
            Gate::Move { to, why, .. } => {
                tracing::info!(trigger_source = "scheduler", due_at = %due, moved_to = %to, %why,
                    "closed day: the fire moves to the next open day");
                self.moved = earliest(self.moved, Some(to));
            }
        }
        let next = earliest(regular, self.moved);
        self.catching_up = self.catching_up && next.is_some_and(|next| next <= Utc::now());
        self.next_due = next;
        self.restage(ctx, false);
        self.set_next_due(next);
        self.arm(ctx);
    }

    /// Records the instant `due` `skipped` for `why` (its staged run `staged`, else a new row).
    /// A closed day is not a fault: it does not count towards the skipped-in-a-row alert.
    pub(super) fn skip_for_holiday(
        &mut self,
        due: DateTime<Utc>,
        staged: Option<Uuid>,
        why: String,
    ) {
        let mut fire = Fire::scheduled(due, self.config.default_params.clone());
        fire.staged = staged.map(|run_id| super::run_book::StagedRun {
            run_id,
            due_at: due,
            written: true,
        });
        let run_id = staged.unwrap_or_else(Uuid::new_v4);
        tracing::info!(trigger_source = "scheduler", %run_id, due_at = %due, %why, "closed day: fire skipped");
        self.telemetry
            .run(RunStatus::Skipped, TriggerSource::Scheduler);
        let write = skipped_write(fire, run_id, &self.config, Utc::now(), why);
        self.persist(write);
    }
}

/// The earlier of two optional instants.
pub(super) fn earliest(
    a: Option<DateTime<Utc>>,
    b: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
