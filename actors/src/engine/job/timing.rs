//! When a job is due: its cron or interval, anchored so that intervals never drift.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::calendar::{self, Calendar, CalendarMode, Gate};
use crate::job::{JobConfig, RescheduleMode};
use crate::schedule::CronSchedule;

/// The scheduler-mode timing of a job.
#[derive(Debug, Clone)]
pub enum Timing {
    /// Fires at the instants of a cron expression in a zone, each moved later by the jitter.
    Cron(Box<CronSchedule>, Tz, Duration),
    /// Fires every `Duration`, anchored on the previous due instant (the jitter moves the
    /// first instant of a schedule that starts now, and with it every later one).
    Interval(Duration, Duration),
    /// Not fired by the scheduler (queue mode).
    Unscheduled,
}

impl Timing {
    /// The timing of `config` (its own zone, else `zone`); the cron decides when a job has
    /// both cron and interval.
    pub fn of(config: &JobConfig, zone: Tz) -> Timing {
        if config.reschedule_mode == RescheduleMode::Queue {
            return Timing::Unscheduled;
        }
        let jitter = config.jitter();
        if !config.cron_expr.is_empty() {
            if let Ok(cron) = CronSchedule::parse(&config.cron_expr) {
                return Timing::Cron(Box::new(cron), config.zone(zone), jitter);
            }
            tracing::error!(job_id = %config.job_id, cron_expr = %config.cron_expr, "stored cron_expr is invalid; job not scheduled");
            return Timing::Unscheduled;
        }
        match config.interval_seconds {
            Some(seconds) if seconds > 0 => Timing::Interval(Duration::seconds(seconds), jitter),
            _ => Timing::Unscheduled,
        }
    }

    /// The first due instant of a schedule that starts now.
    pub fn first_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timing::Cron(..) => self.after(now),
            Timing::Interval(every, jitter) => Some(now + *every + *jitter),
            Timing::Unscheduled => None,
        }
    }

    /// The instant of the schedule right after `instant` (an interval: one period on).
    pub fn after(&self, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timing::Cron(cron, zone, jitter) => cron
                .next_after(instant - *jitter, *zone)
                .map(|base| base + *jitter),
            Timing::Interval(every, _) => Some(instant + *every),
            Timing::Unscheduled => None,
        }
    }

    /// A stored instant back on the schedule: the `next_due_at` column keeps whole seconds,
    /// and every instant of a jittered cron (a moved one too) is a whole second plus the
    /// jitter's milliseconds.
    pub fn snap(&self, stored: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Timing::Cron(_, _, jitter) if !jitter.is_zero() => {
                let millis = jitter.num_milliseconds().rem_euclid(1000);
                crate::instant::to_seconds(stored) + Duration::milliseconds(millis)
            }
            _ => stored,
        }
    }

    /// How far an instant is from its slot, whose day the calendar judges: a cron's jitter;
    /// zero for an interval, whose instants are their own slots.
    fn slot_jitter(&self) -> Duration {
        match self {
            Timing::Cron(_, _, jitter) => *jitter,
            _ => Duration::zero(),
        }
    }

    /// The gate of `calendar` for `due`, an instant of this timing read in `zone`: a cron
    /// instant's day is its slot's (before the jitter), an interval instant's its own. A move
    /// lands on the schedule's first instant of the open day when that comes before the same
    /// local time (a job resumed in the middle of a holiday misses none of the open day).
    pub fn gate(
        &self,
        calendar: &Calendar,
        mode: CalendarMode,
        due: DateTime<Utc>,
        zone: Tz,
    ) -> Gate {
        let jitter = self.slot_jitter();
        match calendar::gate(calendar, mode, due, jitter, zone) {
            Gate::Move { to, day_start, why } => Gate::Move {
                to: (self.first_from(due, day_start))
                    .filter(|first| *first < to)
                    .unwrap_or(to),
                day_start,
                why,
            },
            other => other,
        }
    }

    /// The first instant at or after `from` of the schedule that `due` is an instant of
    /// (`due` itself when it is not before `from`; an interval stays anchored on `due`).
    pub fn first_from(&self, due: DateTime<Utc>, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if due >= from {
            return Some(due);
        }
        match self {
            Timing::Cron(..) => self.after(from - Duration::milliseconds(1)),
            Timing::Interval(every, _) => {
                let every_ms = every.num_milliseconds().max(1);
                let behind = (from - due).num_milliseconds();
                let periods = (behind + every_ms - 1) / every_ms;
                Some(due + Duration::milliseconds(every_ms * periods))
            }
            Timing::Unscheduled => None,
        }
    }

    /// The due instant after `due`, and how many instants between were skipped because they
    /// are not after `now` (a late wake-up coalesces them into the fire just made).
    pub fn next_after(
        &self,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, u64) {
        match self {
            Timing::Cron(..) => match self.after(due) {
                Some(next) if next > now => (Some(next), 0),
                Some(_) => (self.after(now), 1),
                None => (None, 0),
            },
            Timing::Interval(every, _) => {
                let next = due + *every;
                if next > now {
                    return (Some(next), 0);
                }
                let every_ms = every.num_milliseconds().max(1);
                let behind = (now - due).num_milliseconds() / every_ms;
                let skipped = behind as u64;
                (
                    Some(due + Duration::milliseconds(every_ms * (behind + 1))),
                    skipped,
                )
            }
            Timing::Unscheduled => (None, 0),
        }
    }
}

/// One upcoming instant of a job, as its calendar leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upcoming {
    pub at: DateTime<Utc>,
    /// Why it does not fire (a closed day, `skip` mode), or why it was moved.
    pub closed: Option<String>,
    /// `next_open_day`: the instant on a closed day this one replaces.
    pub moved_from: Option<DateTime<Utc>>,
}

/// The next `count` due instants of a job, from its next due instant when it has one (an
/// interval is anchored there), else from `now`. Empty for a queue-mode job.
#[cfg(test)]
pub(crate) fn upcoming(
    config: &JobConfig,
    zone: Tz,
    next_due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    count: usize,
) -> Vec<DateTime<Utc>> {
    (upcoming_on(config, zone, next_due, now, count, None).into_iter())
        .map(|instant| instant.at)
        .collect()
}

/// [`upcoming`] on `calendar`, as the engine fires them: an instant on a closed day is
/// listed skipped (`skip`); in `next_open_day` mode it is not listed, and the instant it moves
/// to is, unless an instant of an open day fires first (the move folds into it).
pub(crate) fn upcoming_on(
    config: &JobConfig,
    zone: Tz,
    next_due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    count: usize,
    calendar: Option<&Calendar>,
) -> Vec<Upcoming> {
    /// Instants looked at at most (a closed day is one step).
    const MAX_STEPS: usize = 100_000;
    let timing = Timing::of(config, zone);
    let job_zone = config.zone(zone);
    let mut instants = Vec::with_capacity(count);
    let mut regular = (next_due.map(|due| timing.snap(due))).or_else(|| timing.first_after(now));
    // A fire moved off a closed day: (where to, from which instant, why).
    let mut moved: Option<(DateTime<Utc>, DateTime<Utc>, String)> = None;
    for _ in 0..MAX_STEPS {
        if instants.len() == count {
            break;
        }
        if let Some((to, from, why)) = moved.take() {
            if regular.is_none_or(|due| to <= due) {
                // The schedule goes on after the moved fire (an interval anchors on it).
                regular = timing.after(to);
                instants.push(Upcoming {
                    at: to,
                    closed: Some(why),
                    moved_from: Some(from),
                });
                continue;
            }
            moved = Some((to, from, why));
        }
        let Some(due) = regular else {
            break;
        };
        regular = timing.after(due);
        let gate = calendar.map_or(Gate::Open, |calendar| {
            timing.gate(calendar, config.calendar_mode, due, job_zone)
        });
        match gate {
            Gate::Open => {
                moved = None;
                instants.push(Upcoming {
                    at: due,
                    closed: None,
                    moved_from: None,
                });
            }
            Gate::Skip(why) => instants.push(Upcoming {
                at: due,
                closed: Some(why),
                moved_from: None,
            }),
            Gate::Move { to, why, .. } => {
                if moved.as_ref().is_none_or(|(earlier, ..)| to < *earlier) {
                    moved = Some((to, due, why));
                }
                // The other instants of a closed day move to later times of the same open
                // day: the listing goes on with the next day's first instant.
                let jitter = timing.slot_jitter();
                if let Some(next_day) = calendar::start_of_day_after(due - jitter, job_zone) {
                    regular = timing.first_from(due, next_day + jitter);
                }
            }
        }
    }
    instants
}

#[cfg(test)]
mod tests;
