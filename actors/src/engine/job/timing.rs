//! When a job is due: its cron or interval, anchored so that intervals never drift.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::job::{JobConfig, RescheduleMode};
use crate::schedule::CronSchedule;

/// The scheduler-mode timing of a job.
#[derive(Debug, Clone)]
pub enum Timing {
    /// Fires at the instants of a cron expression in a zone.
    Cron(Box<CronSchedule>, Tz),
    /// Fires every `Duration`, anchored on the previous due instant.
    Interval(Duration),
    /// Not fired by the scheduler (queue mode).
    Unscheduled,
}

impl Timing {
    /// The timing of `config`; the cron decides when a job has both cron and interval.
    pub fn of(config: &JobConfig, zone: Tz) -> Timing {
        if config.reschedule_mode == RescheduleMode::Queue {
            return Timing::Unscheduled;
        }
        if !config.cron_expr.is_empty() {
            if let Ok(cron) = CronSchedule::parse(&config.cron_expr) {
                return Timing::Cron(Box::new(cron), zone);
            }
            tracing::error!(job_id = %config.job_id, cron_expr = %config.cron_expr, "stored cron_expr is invalid; job not scheduled");
            return Timing::Unscheduled;
        }
        match config.interval_seconds {
            Some(seconds) if seconds > 0 => Timing::Interval(Duration::seconds(seconds)),
            _ => Timing::Unscheduled,
        }
    }

    /// The first due instant of a schedule that starts now.
    pub fn first_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Timing::Cron(cron, zone) => cron.next_after(now, *zone),
            Timing::Interval(every) => Some(now + *every),
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
            Timing::Cron(cron, zone) => match cron.next_after(due, *zone) {
                Some(next) if next > now => (Some(next), 0),
                Some(_) => (cron.next_after(now, *zone), 1),
                None => (None, 0),
            },
            Timing::Interval(every) => {
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

/// The next `count` due instants of a job, from its next due instant when it has one (an
/// interval is anchored there), else from `now`. Empty for a queue-mode job.
pub(crate) fn upcoming(
    config: &JobConfig,
    zone: Tz,
    next_due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    count: usize,
) -> Vec<DateTime<Utc>> {
    let timing = Timing::of(config, zone);
    let mut instants = Vec::with_capacity(count);
    let mut next = next_due.or_else(|| timing.first_after(now));
    while let Some(due) = next {
        if instants.len() == count {
            break;
        }
        instants.push(due);
        next = match &timing {
            Timing::Cron(cron, zone) => cron.next_after(due, *zone),
            Timing::Interval(every) => Some(due + *every),
            Timing::Unscheduled => None,
        };
    }
    instants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn upcoming_instants_follow_the_schedule_from_the_next_due_instant() {
        let mut config = JobConfig::from_create_body(
            &serde_json::json!({"job_id": "a", "queue": "real.jobs.a", "interval_seconds": 90}),
            crate::job::Scope::Real,
        )
        .unwrap();
        let now = at("2026-11-28T00:00:00Z");
        assert_eq!(
            upcoming(
                &config,
                chrono_tz::UTC,
                Some(at("2026-11-28T00:00:30Z")),
                now,
                3
            ),
            vec![
                at("2026-11-28T00:00:30Z"),
                at("2026-11-28T00:02:00Z"),
                at("2026-11-28T00:03:30Z")
            ]
        );
        config.cron_expr = "30 8 * * 1-5".into();
        assert_eq!(
            upcoming(&config, chrono_tz::Asia::Seoul, None, now, 2),
            vec![at("2026-11-29T23:30:00Z"), at("2026-11-30T23:30:00Z")]
        );
        config.reschedule_mode = RescheduleMode::Queue;
        assert!(upcoming(&config, chrono_tz::UTC, None, now, 5).is_empty());
    }

    #[test]
    fn intervals_are_anchored_and_skip_whole_periods_when_late() {
        let timing = Timing::Interval(Duration::seconds(10));
        let due = at("2026-11-28T00:00:00Z");
        assert_eq!(
            timing.next_after(due, due),
            (Some(at("2026-11-28T00:00:10Z")), 0)
        );
        // Woke 35 s late: 00:10, 00:20, 00:30 are coalesced; next is 00:40.
        assert_eq!(
            timing.next_after(due, at("2026-11-28T00:00:35Z")),
            (Some(at("2026-11-28T00:00:40Z")), 3)
        );
    }

    #[test]
    fn cron_next_is_after_now_when_late() {
        let cron = CronSchedule::parse("* * * * *").unwrap();
        let timing = Timing::Cron(Box::new(cron), chrono_tz::UTC);
        let due = at("2026-11-28T00:00:00Z");
        assert_eq!(
            timing.next_after(due, at("2026-11-28T00:05:30Z")),
            (Some(at("2026-11-28T00:06:00Z")), 1)
        );
    }
}
