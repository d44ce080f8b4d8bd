//! When a job is due: its cron or interval, anchored so that intervals never drift.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::calendar::{gate, Calendar, Gate};
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
    /// and a jittered cron instant has milliseconds. Another instant (a schedule changed
    /// meanwhile) stays as it is.
    pub fn snap(&self, stored: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Timing::Cron(_, _, jitter) if !jitter.is_zero() => (self
                .after(stored - Duration::milliseconds(1)))
            .filter(|instant| *instant - stored < Duration::seconds(1))
            .unwrap_or(stored),
            _ => stored,
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

/// [`upcoming`] on `calendar`: an instant on a closed day is listed skipped (`skip`), or as
/// the instant it moves to, from which the schedule goes on (`next_open_day`), as the engine
/// fires them.
pub(crate) fn upcoming_on(
    config: &JobConfig,
    zone: Tz,
    next_due: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    count: usize,
    calendar: Option<&Calendar>,
) -> Vec<Upcoming> {
    let timing = Timing::of(config, zone);
    let job_zone = config.zone(zone);
    let mut instants = Vec::with_capacity(count);
    let mut next = (next_due.map(|due| timing.snap(due))).or_else(|| timing.first_after(now));
    while let Some(due) = next {
        if instants.len() == count {
            break;
        }
        let gate = calendar.map_or(Gate::Open, |calendar| {
            gate(
                calendar,
                config.calendar_mode,
                due,
                config.jitter(),
                job_zone,
            )
        });
        let (instant, from) = match gate {
            Gate::Open => (
                Upcoming {
                    at: due,
                    closed: None,
                    moved_from: None,
                },
                due,
            ),
            Gate::Skip(why) => (
                Upcoming {
                    at: due,
                    closed: Some(why),
                    moved_from: None,
                },
                due,
            ),
            Gate::Move { to, why } => (
                Upcoming {
                    at: to,
                    closed: Some(why),
                    moved_from: Some(due),
                },
                to,
            ),
        };
        instants.push(instant);
        next = timing.after(from);
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
    fn upcoming_instants_on_a_calendar_are_marked_skipped_or_moved() {
        let krx = Calendar::from_body(
            "krx",
            &serde_json::json!({"dates": ["2026-09-24", "2026-09-25"]}),
        )
        .unwrap();
        let mut config = job(
            serde_json::json!({"job_id": "open", "queue": "real.jobs.open",
            "cron_expr": "0 8 * * 1-5", "calendar": "krx"}),
        );
        let seoul = chrono_tz::Asia::Seoul;
        let now = at("2026-09-22T00:00:00Z");
        let listed = |config: &JobConfig| {
            (upcoming_on(config, seoul, None, now, 4, Some(&krx)).into_iter())
                .map(|instant| (instant.at, instant.closed.is_some(), instant.moved_from))
                .collect::<Vec<_>>()
        };
        // 08:00 in Seoul is 23:00Z the day before. Chuseok closes Thursday and Friday.
        assert_eq!(
            listed(&config),
            vec![
                (at("2026-09-22T23:00:00Z"), false, None),
                (at("2026-09-23T23:00:00Z"), true, None),
                (at("2026-09-24T23:00:00Z"), true, None),
                (at("2026-09-27T23:00:00Z"), false, None),
            ]
        );
        // Thursday's fire moves to Monday; Friday's folds into it; the schedule goes on.
        config.calendar_mode = crate::calendar::CalendarMode::NextOpenDay;
        assert_eq!(
            listed(&config),
            vec![
                (at("2026-09-22T23:00:00Z"), false, None),
                (
                    at("2026-09-27T23:00:00Z"),
                    true,
                    Some(at("2026-09-23T23:00:00Z"))
                ),
                (at("2026-09-28T23:00:00Z"), false, None),
                (at("2026-09-29T23:00:00Z"), false, None),
            ]
        );
    }

    #[test]
    fn intervals_are_anchored_and_skip_whole_periods_when_late() {
        let timing = Timing::Interval(Duration::seconds(10), Duration::zero());
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

    fn job(body: serde_json::Value) -> JobConfig {
        JobConfig::from_create_body(&body, crate::job::Scope::Real).unwrap()
    }

    #[test]
    fn a_job_s_own_zone_reads_its_cron_across_dst_changes() {
        let new_york = job(serde_json::json!({"job_id": "ny", "queue": "real.jobs.ny",
            "cron_expr": "30 9 * * *", "timezone": "America/New_York"}));
        // US clocks went forward on Sunday 8 March 2026: 09:30 is 14:30Z before, 13:30Z after.
        assert_eq!(
            upcoming(
                &new_york,
                chrono_tz::Asia::Seoul,
                None,
                at("2026-03-07T00:00:00Z"),
                2
            ),
            vec![at("2026-03-07T14:30:00Z"), at("2026-03-08T13:30:00Z")]
        );
        let london = job(
            serde_json::json!({"job_id": "ldn", "queue": "real.jobs.ldn",
            "cron_expr": "30 9 * * *", "timezone": "Europe/London"}),
        );
        // British Summer Time began on Sunday 29 March 2026; it ended on 25 October.
        assert_eq!(
            upcoming(&london, chrono_tz::UTC, None, at("2026-03-28T00:00:00Z"), 2),
            vec![at("2026-03-28T09:30:00Z"), at("2026-03-29T08:30:00Z")]
        );
        assert_eq!(
            upcoming(&london, chrono_tz::UTC, None, at("2026-10-24T12:00:00Z"), 2),
            vec![at("2026-10-25T09:30:00Z"), at("2026-10-26T09:30:00Z")]
        );
        // 02:30 does not exist in New York on 8 March: it fires when the gap ends (03:00 EDT).
        let gap = job(
            serde_json::json!({"job_id": "gap", "queue": "real.jobs.gap",
            "cron_expr": "30 2 * * *", "timezone": "America/New_York"}),
        );
        assert_eq!(
            upcoming(&gap, chrono_tz::UTC, None, at("2026-03-08T00:00:00Z"), 2),
            vec![at("2026-03-08T07:00:00Z"), at("2026-03-09T06:30:00Z")]
        );
        // Without a zone of its own, the service's zone.
        let seoul = job(serde_json::json!({"job_id": "kr", "queue": "real.jobs.kr",
            "cron_expr": "30 9 * * *"}));
        assert_eq!(
            upcoming(
                &seoul,
                chrono_tz::Asia::Seoul,
                None,
                at("2026-03-07T00:00:00Z"),
                1
            ),
            vec![at("2026-03-07T00:30:00Z")]
        );
    }

    #[test]
    fn jitter_is_a_stable_offset_below_its_bound_spread_over_the_jobs() {
        use crate::job::jitter_of;
        assert_eq!(jitter_of("buy-scanner", 0), Duration::zero());
        assert_eq!(jitter_of("buy-scanner", 300), jitter_of("buy-scanner", 300));
        let offsets: std::collections::BTreeSet<i64> = (0..1000)
            .map(|n| jitter_of(&format!("job-{n}"), 60).num_milliseconds())
            .collect();
        assert!(offsets.iter().all(|ms| (0..60_000).contains(ms)));
        assert!(
            offsets.len() > 950,
            "1 000 jobs, {} distinct offsets",
            offsets.len()
        );
        let (low, high) = (
            offsets.iter().filter(|ms| **ms < 30_000).count(),
            offsets.len(),
        );
        assert!(
            (350..=650).contains(&low),
            "{low} of {high} in the first half"
        );
    }

    #[test]
    fn a_jittered_cron_fires_its_offset_after_each_instant() {
        let config = job(
            serde_json::json!({"job_id": "spread-7", "queue": "real.jobs.s",
            "cron_expr": "*/5 * * * *", "jitter_seconds": 60}),
        );
        let offset = config.jitter();
        assert!(offset > Duration::zero() && offset < Duration::seconds(60));
        let timing = Timing::of(&config, chrono_tz::UTC);
        let base = at("2026-11-28T00:05:00Z");
        let first = timing.first_after(at("2026-11-28T00:04:30Z")).unwrap();
        assert_eq!(first, base + offset);
        assert_eq!(
            timing.after(first),
            Some(base + Duration::minutes(5) + offset)
        );
        // Between an instant and its jittered fire, the fire is still the next one.
        assert_eq!(timing.first_after(base), Some(base + offset));
        let interval = job(
            serde_json::json!({"job_id": "spread-7", "queue": "real.jobs.s",
            "interval_seconds": 300, "jitter_seconds": 60}),
        );
        let now = at("2026-11-28T00:00:00Z");
        assert_eq!(
            Timing::of(&interval, chrono_tz::UTC).first_after(now),
            Some(now + Duration::minutes(5) + offset)
        );
    }

    #[test]
    fn a_jittered_instant_stored_in_whole_seconds_snaps_back_onto_the_schedule() {
        let config = job(
            serde_json::json!({"job_id": "us-open", "queue": "real.jobs.u",
            "cron_expr": "30 9 * * *", "jitter_seconds": 30, "timezone": "America/New_York"}),
        );
        let timing = Timing::of(&config, chrono_tz::UTC);
        let instant = timing.first_after(at("2026-12-07T00:00:00Z")).unwrap();
        assert!(instant.timestamp_subsec_millis() > 0, "{instant}");
        let stored = crate::instant::to_seconds(instant);
        assert_eq!(timing.snap(stored), instant);
        assert_eq!(
            upcoming(
                &config,
                chrono_tz::UTC,
                Some(stored),
                at("2026-12-07T00:00:00Z"),
                2
            ),
            vec![instant, instant + Duration::days(1)],
            "no instant twice"
        );
        // An instant not of the schedule (it changed) is kept.
        let stale = at("2026-12-07T03:00:00Z");
        assert_eq!(timing.snap(stale), stale);
    }

    #[test]
    fn the_first_instant_from_a_point_keeps_an_interval_anchored() {
        let timing = Timing::Interval(Duration::seconds(60), Duration::zero());
        let due = at("2026-11-28T00:00:10Z");
        assert_eq!(
            timing.first_from(due, at("2026-11-28T00:00:00Z")),
            Some(due)
        );
        assert_eq!(
            timing.first_from(due, at("2026-11-28T00:02:00Z")),
            Some(at("2026-11-28T00:02:10Z"))
        );
        assert_eq!(
            timing.first_from(due, at("2026-11-28T00:02:10Z")),
            Some(at("2026-11-28T00:02:10Z"))
        );
        let cron = Timing::Cron(
            Box::new(CronSchedule::parse("0 * * * *").unwrap()),
            chrono_tz::UTC,
            Duration::zero(),
        );
        assert_eq!(
            cron.first_from(at("2026-11-28T00:00:00Z"), at("2026-11-28T03:00:00Z")),
            Some(at("2026-11-28T03:00:00Z"))
        );
    }

    #[test]
    fn cron_next_is_after_now_when_late() {
        let cron = CronSchedule::parse("* * * * *").unwrap();
        let timing = Timing::Cron(Box::new(cron), chrono_tz::UTC, Duration::zero());
        let due = at("2026-11-28T00:00:00Z");
        assert_eq!(
            timing.next_after(due, at("2026-11-28T00:05:30Z")),
            (Some(at("2026-11-28T00:06:00Z")), 1)
        );
    }
}
