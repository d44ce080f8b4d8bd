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
use crate::calendar::{self, Calendar, Gate};
use crate::run::RunStatus;

impl JobActor {
    /// What the job's calendar says of `due` (open when the job has none).
    pub(super) fn calendar_gate(&self, due: DateTime<Utc>) -> Gate {
        let Some(name) = &self.config.calendar else {
            return Gate::Open;
        };
        let zone = self.config.zone(self.engine.settings.timezone);
        let (mode, jitter) = (self.config.calendar_mode, self.config.jitter());
        match self.engine.calendars.get(name) {
            Some(calendar) => calendar::gate(&calendar, mode, due, jitter, zone),
            None => {
                // Deleted under the job by hand (the API refuses it while a job uses it):
                // weekends stay closed.
                tracing::warn!(calendar = %name, "the job's calendar does not exist; only weekends are closed");
                calendar::gate(&Calendar::weekends_only(name), mode, due, jitter, zone)
            }
        }
    }

    /// The instant `due` fell on a closed day (`gate` is not open): skip it or move it, then
    /// arm for the next one.
    pub(super) fn closed_day(&mut self, ctx: &mut Context<Self>, due: DateTime<Utc>, gate: Gate) {
        let next = match gate {
            Gate::Open => return,
            Gate::Skip(why) => {
                let staged = self.staged.take().filter(|staged| staged.due_at == due);
                self.skip_for_holiday(due, staged.map(|staged| staged.run_id), why);
                if self.catching_up {
                    let next = self.timing.after(due);
                    self.catching_up = next.is_some_and(|next| next <= Utc::now());
                    next
                } else {
                    self.timing.next_after(due, Utc::now()).0
                }
            }
            Gate::Move { to, why } => {
                tracing::info!(trigger_source = "scheduler", due_at = %due, moved_to = %to, %why,
                    "closed day: the fire moves to the next open day");
                Some(to)
            }
        };
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
