//! When a job's timer wakes and what a restart does with the schedule the previous process
//! left: its staged runs (adopted, published, skipped or deleted) and its stored next instant
//! (kept, caught up within the grace period, or skipped). Pure: `now` comes in.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::run_book::StagedRun;
use super::timing::Timing;
use crate::instant::to_seconds;
use crate::job::MisfirePolicy;
use crate::run::RunRecord;

/// Under the `skip` policy, a staged run at most this late may have been published just
/// before the stop (a publish is recorded at the broker's confirm): it goes out again under its
/// own run_id, which a worker that had it drops, instead of being recorded `skipped`.
const SKIP_MARGIN: Duration = Duration::seconds(5);

/// A timer may wake a little early by the wall clock.
const EARLY_SLACK_MS: i64 = 100;

/// Whether `due` is close enough to stage its run now.
pub fn within_staging(due: DateTime<Utc>, now: DateTime<Utc>, ahead: Duration) -> bool {
    due - now <= ahead + Duration::milliseconds(EARLY_SLACK_MS)
}

/// What the job's schedule timer is armed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Armed {
    /// To stage the next run.
    Stage,
    /// To fire it.
    Fire,
}

/// What the job's schedule timer is armed for, and when: to stage the next run while its
/// instant is beyond the staging horizon and nothing is staged, else to fire it.
pub fn next_wake(
    next_due: Option<DateTime<Utc>>,
    staged: bool,
    scheduled: bool,
    now: DateTime<Utc>,
    ahead: Duration,
) -> Option<(Armed, DateTime<Utc>)> {
    let due = next_due?;
    if !staged && scheduled && !within_staging(due, now, ahead) {
        Some((Armed::Stage, due - ahead))
    } else {
        Some((Armed::Fire, due))
    }
}

/// What the previous process left, as of the restart.
pub struct Left<'a> {
    pub now: DateTime<Utc>,
    /// The job's own grace, else the service's.
    pub grace: Duration,
    pub policy: MisfirePolicy,
    /// Whether the job is scheduled now (enabled, with a timing).
    pub scheduled: bool,
    pub timing: &'a Timing,
    /// `next_due_at` as stored.
    pub stored_next_due: Option<DateTime<Utc>>,
    /// The due instants of scheduled runs it left in flight (restored).
    pub in_flight_dues: Vec<DateTime<Utc>>,
    /// Its staged (`scheduled`) runs, oldest first.
    pub staged: Vec<RunRecord>,
}

/// What becomes of a staged run left by the previous process.
#[derive(Debug, Clone, PartialEq)]
pub enum Adopted {
    /// Not wanted: the job is not scheduled, or another run is staged ahead.
    Delete(Uuid),
    /// Its instant passed while the service was down, within the grace period: publish it
    /// under its own run_id.
    Publish { row: RunRecord, late: Duration },
    /// Passed, later than the grace period (or the `skip` policy): record it `skipped`.
    Skip { row: RunRecord, late: Duration },
}

impl Adopted {
    /// What becomes of the row, and its instant, for a log line.
    pub fn label(&self) -> String {
        match self {
            Adopted::Delete(run_id) => format!("delete {run_id}"),
            Adopted::Publish { row, .. } => format!("publish {}", row.due_at),
            Adopted::Skip { row, .. } => format!("skip {}", row.due_at),
        }
    }
}

/// The stored next instant passed while the service was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// `catch_up_once`: one run, due at the oldest missed instant.
    CaughtUp { due: DateTime<Utc>, late: Duration },
    /// Not fired: later than the grace, or the `skip` policy.
    Skipped { due: DateTime<Utc>, late: Duration },
    /// `catch_up_all`: every instant from `first` up to now fires, one run each, in order
    /// (`next_due` is `first`). `skipped_before`: older instants were beyond the grace.
    CatchingUp {
        first: DateTime<Utc>,
        late: Duration,
        skipped_before: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resumed {
    pub adopted: Vec<Adopted>,
    /// The staged run still ahead: the next fire, under its own run_id.
    pub ahead: Option<StagedRun>,
    pub missed: Option<Missed>,
    pub next_due: Option<DateTime<Utc>>,
}

/// The first schedule after a restart. Instants missed while the service was down are, within
/// the grace period and by the job's misfire policy, caught up once (at the oldest), each, or
/// not at all; later than the grace they are skipped. An instant the previous process fired is
/// never fired again, and the instant after it is the first one missed.
pub fn resume(left: Left<'_>) -> Resumed {
    let (now, grace) = (left.now, left.grace);
    let (mut adopted, mut settled, mut ahead) = (Vec::new(), Vec::new(), None);
    // Passed staged rows that are published now (a catch-up), not skipped.
    let mut published = Vec::new();
    for row in left.staged {
        if !left.scheduled || (row.due_at > now && ahead.is_some()) {
            adopted.push(Adopted::Delete(row.run_id));
        } else if row.due_at > now {
            ahead = Some(StagedRun {
                run_id: row.run_id,
                due_at: row.due_at,
                written: true,
            });
        } else {
            settled.push(row.due_at);
            let late = now - row.due_at;
            let republish = match left.policy {
                MisfirePolicy::Skip => late <= SKIP_MARGIN.min(grace),
                _ => late <= grace,
            };
            adopted.push(if republish {
                published.push(row.due_at);
                Adopted::Publish { row, late }
            } else {
                Adopted::Skip { row, late }
            });
        }
    }
    if !left.scheduled {
        return Resumed {
            adopted,
            ahead: None,
            missed: None,
            next_due: None,
        };
    }
    // The fire path does not write `next_due_at` when it stages the next instant at once:
    // the latest staged row is then newer than the column.
    // Runs left in flight are newer than the column too.
    let latest_settled = (settled.iter().chain(&left.in_flight_dues))
        .map(|due| to_seconds(*due))
        .max();
    let stored =
        ahead
            .map(|staged| staged.due_at)
            .or(match (left.stored_next_due, latest_settled) {
                (Some(column), Some(row)) => Some(column.max(row)),
                (column, row) => column.or(row),
            });
    // The column and the comparison above keep whole seconds: a jittered instant gets its
    // milliseconds back, so the instant after it is not itself.
    let stored = stored.map(|stored| left.timing.snap(stored));
    let among = |dues: &[DateTime<Utc>], due: DateTime<Utc>| {
        dues.iter()
            .any(|fired| to_seconds(*fired) == to_seconds(due))
    };
    let stored = match stored {
        // The previous process fired this instant (its run is restored), or may have (its
        // staged run is still `scheduled`: published again above under its run_id, since a
        // publish is recorded only at the broker's confirm), but was stopped before it stored
        // the next one: the candidate is the instant after it. Were the instants after a
        // published staged run coalesced into it, a worker that drops the repeated run_id
        // would see no catch-up at all.
        Some(due)
            if due <= now
                && (among(&published, due)
                    || among(&left.in_flight_dues, due)
                    || among(&settled, due)) =>
        {
            left.timing.next_after(due, due).0
        }
        other => other,
    };
    let (missed, next_due) = match stored {
        Some(due) if due > now => (None, Some(due)),
        Some(due) => {
            let late = now - due;
            let skipped = (
                Some(Missed::Skipped { due, late }),
                left.timing.next_after(due, now).0,
            );
            match left.policy {
                MisfirePolicy::CatchUpOnce if late <= grace => (
                    Some(Missed::CaughtUp { due, late }),
                    left.timing.next_after(due, now).0,
                ),
                MisfirePolicy::CatchUpAll => {
                    match left
                        .timing
                        .first_from(due, now - grace)
                        .filter(|first| *first <= now)
                    {
                        Some(first) => (
                            Some(Missed::CatchingUp {
                                first,
                                late: now - first,
                                skipped_before: first > due,
                            }),
                            Some(first),
                        ),
                        None => skipped,
                    }
                }
                _ => skipped,
            }
        }
        None => (None, left.timing.first_after(now)),
    };
    Resumed {
        adopted,
        ahead,
        missed,
        next_due,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use worker::TriggerSource;

    use super::*;
    use crate::run::RunStatus;

    fn at(second: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap() + Duration::seconds(second)
    }

    fn staged_row(n: u128, due_at: DateTime<Utc>) -> RunRecord {
        RunRecord {
            run_id: Uuid::from_u128(n),
            job_id: "resume".into(),
            scope: "real".into(),
            trigger_source: TriggerSource::Scheduler,
            attempt: 1,
            due_at,
            queued_at: due_at,
            started_at: None,
            finished_at: None,
            status: RunStatus::Scheduled,
            error: None,
            params: Default::default(),
        }
    }

    const EVERY_MINUTE: Timing = Timing::Interval(Duration::seconds(60), Duration::zero());

    fn left(stored: Option<DateTime<Utc>>, staged: Vec<RunRecord>) -> Left<'static> {
        Left {
            now: at(1000),
            grace: Duration::seconds(300),
            policy: MisfirePolicy::CatchUpOnce,
            scheduled: true,
            timing: &EVERY_MINUTE,
            stored_next_due: stored,
            in_flight_dues: Vec::new(),
            staged,
        }
    }

    #[test]
    fn the_timer_stages_ahead_and_fires_at_the_instant() {
        let ahead = Duration::seconds(5);
        assert_eq!(
            next_wake(Some(at(60)), false, true, at(0), ahead),
            Some((Armed::Stage, at(55)))
        );
        assert_eq!(
            next_wake(Some(at(60)), true, true, at(0), ahead),
            Some((Armed::Fire, at(60)))
        );
        assert_eq!(
            next_wake(Some(at(4)), false, true, at(0), ahead),
            Some((Armed::Fire, at(4))),
            "within the horizon: staged at once, so the timer fires"
        );
        assert_eq!(next_wake(None, false, true, at(0), ahead), None);
    }

    #[test]
    fn a_staged_run_ahead_is_the_next_fire_and_a_second_one_is_deleted() {
        let resumed = resume(left(
            Some(at(1060)),
            vec![staged_row(1, at(1060)), staged_row(2, at(1120))],
        ));
        assert_eq!(
            resumed.ahead.map(|staged| staged.run_id),
            Some(Uuid::from_u128(1))
        );
        assert_eq!(resumed.adopted, vec![Adopted::Delete(Uuid::from_u128(2))]);
        assert_eq!((resumed.missed, resumed.next_due), (None, Some(at(1060))));
    }

    #[test]
    fn a_staged_run_that_passed_is_published_within_grace_else_skipped() {
        let resumed = resume(left(
            Some(at(900)),
            vec![staged_row(1, at(400)), staged_row(2, at(900))],
        ));
        assert!(matches!(&resumed.adopted[0], Adopted::Skip { row, .. } if row.due_at == at(400)));
        assert!(
            matches!(&resumed.adopted[1], Adopted::Publish { row, late } if row.due_at == at(900) && *late == Duration::seconds(100))
        );
        assert_eq!(
            resumed.missed,
            Some(Missed::CaughtUp {
                due: at(960),
                late: Duration::seconds(40)
            }),
            "900 may have gone out before the stop: the instant after it is caught up too"
        );
        assert_eq!(resumed.next_due, Some(at(1020)));
    }

    #[test]
    fn a_stored_instant_missed_while_down_is_caught_up_once_within_grace() {
        let resumed = resume(left(Some(at(940)), Vec::new()));
        assert_eq!(
            resumed.missed,
            Some(Missed::CaughtUp {
                due: at(940),
                late: Duration::seconds(60)
            })
        );
        assert_eq!(resumed.next_due, Some(at(1060)));

        let resumed = resume(left(Some(at(100)), Vec::new()));
        assert!(matches!(resumed.missed, Some(Missed::Skipped { due, .. }) if due == at(100)));
        assert_eq!(resumed.next_due, Some(at(1060)));
    }

    #[test]
    fn the_instant_after_one_already_fired_is_caught_up_and_the_fired_one_is_not_repeated() {
        let mut left = left(Some(at(850)), Vec::new());
        left.in_flight_dues = vec![at(850) + Duration::milliseconds(3)];
        let resumed = resume(left);
        assert_eq!(
            resumed.missed,
            Some(Missed::CaughtUp {
                due: at(910),
                late: Duration::seconds(90)
            })
        );
        assert_eq!(resumed.next_due, Some(at(1030)));
    }

    #[test]
    fn a_job_no_longer_scheduled_deletes_its_staged_runs_and_has_no_next_instant() {
        let mut left = left(
            Some(at(1060)),
            vec![staged_row(1, at(1060)), staged_row(2, at(10))],
        );
        left.scheduled = false;
        let resumed = resume(left);
        assert_eq!(
            resumed.adopted,
            vec![
                Adopted::Delete(Uuid::from_u128(1)),
                Adopted::Delete(Uuid::from_u128(2))
            ]
        );
        assert_eq!((resumed.ahead, resumed.next_due), (None, None));
    }

    #[test]
    fn a_staged_row_newer_than_the_stored_column_is_the_schedule_on_record() {
        // The column still holds an instant fired long ago; the staged row of 900 is newer.
        let resumed = resume(left(Some(at(300)), vec![staged_row(1, at(900))]));
        assert!(
            matches!(&resumed.adopted[..], [Adopted::Publish { row, .. }] if row.due_at == at(900))
        );
        assert_eq!(
            resumed.missed,
            Some(Missed::CaughtUp {
                due: at(960),
                late: Duration::seconds(40)
            }),
            "the instant of 300 is not fired again; the one after 900 is caught up"
        );
        assert_eq!(resumed.next_due, Some(at(1020)));
    }

    #[test]
    fn after_a_skipped_staged_run_the_next_instant_is_still_caught_up_within_grace() {
        let mut left = left(Some(at(300)), vec![staged_row(1, at(800))]);
        left.grace = Duration::seconds(150);
        let resumed = resume(left);
        assert!(matches!(&resumed.adopted[..], [Adopted::Skip { .. }]));
        assert_eq!(
            resumed.missed,
            Some(Missed::CaughtUp {
                due: at(860),
                late: Duration::seconds(140)
            })
        );
    }

    #[test]
    fn a_run_left_in_flight_newer_than_the_stored_column_is_not_fired_again() {
        let mut left = left(Some(at(100)), Vec::new());
        left.in_flight_dues = vec![at(970)];
        let resumed = resume(left);
        assert_eq!(resumed.missed, None, "970 was fired; 1030 is ahead");
        assert_eq!(resumed.next_due, Some(at(1030)));
    }

    #[test]
    fn the_skip_policy_fires_nothing_missed_and_skips_passed_staged_runs() {
        let mut left = left(Some(at(850)), vec![staged_row(1, at(900))]);
        left.policy = MisfirePolicy::Skip;
        let resumed = resume(left);
        assert!(
            matches!(&resumed.adopted[..], [Adopted::Skip { row, .. }] if row.due_at == at(900))
        );
        assert!(matches!(resumed.missed, Some(Missed::Skipped { due, .. }) if due == at(960)));
        assert_eq!(resumed.next_due, Some(at(1020)));
    }

    #[test]
    fn the_skip_policy_still_sends_again_a_staged_run_that_may_just_have_gone_out() {
        let mut left = left(Some(at(990)), vec![staged_row(1, at(998))]);
        left.policy = MisfirePolicy::Skip;
        let resumed = resume(left);
        assert!(
            matches!(&resumed.adopted[..], [Adopted::Publish { row, .. }] if row.due_at == at(998))
        );
        assert_eq!((resumed.missed, resumed.next_due), (None, Some(at(1058))));
    }

    #[test]
    fn catch_up_all_fires_every_instant_within_the_grace_from_the_oldest() {
        let mut left = left(Some(at(850)), Vec::new());
        left.policy = MisfirePolicy::CatchUpAll;
        let resumed = resume(left);
        assert_eq!(
            resumed.missed,
            Some(Missed::CatchingUp {
                first: at(850),
                late: Duration::seconds(150),
                skipped_before: false
            })
        );
        assert_eq!(
            resumed.next_due,
            Some(at(850)),
            "850, 910 and 970 fire in turn"
        );

        // Missed since 130 with a grace of 300 s: the first within it is 730 (130 + 10 × 60).
        let mut left = self::left(Some(at(130)), Vec::new());
        left.policy = MisfirePolicy::CatchUpAll;
        let resumed = resume(left);
        assert_eq!(
            resumed.missed,
            Some(Missed::CatchingUp {
                first: at(730),
                late: Duration::seconds(270),
                skipped_before: true
            })
        );
        assert_eq!(resumed.next_due, Some(at(730)));
    }

    #[test]
    fn catch_up_all_beyond_the_grace_skips_and_goes_on_from_now() {
        // Instants 110 + 60 k: 950 is 50 s late, beyond a grace of 20 s; 1010 is ahead.
        let mut left = left(Some(at(110)), Vec::new());
        left.policy = MisfirePolicy::CatchUpAll;
        left.grace = Duration::seconds(20);
        let resumed = resume(left);
        assert!(matches!(resumed.missed, Some(Missed::Skipped { due, .. }) if due == at(110)));
        assert_eq!(resumed.next_due, Some(at(1010)));
    }

    #[test]
    fn a_job_s_own_grace_decides_for_catch_up_once() {
        let mut left = left(Some(at(940)), Vec::new());
        left.grace = Duration::seconds(10);
        let resumed = resume(left);
        assert!(matches!(resumed.missed, Some(Missed::Skipped { due, .. }) if due == at(940)));
    }

    #[test]
    fn a_jittered_instant_fired_before_the_restart_is_not_fired_again() {
        let jittered = Timing::Cron(
            Box::new(crate::schedule::CronSchedule::parse("* * * * *").unwrap()),
            chrono_tz::UTC,
            Duration::milliseconds(13_916),
        );
        let fired = at(960) + Duration::milliseconds(13_916);
        let mut left: Left<'_> = left(Some(crate::instant::to_seconds(fired)), Vec::new());
        left.timing = &jittered;
        left.in_flight_dues = vec![fired];
        let resumed = resume(left);
        assert_eq!(resumed.missed, None, "{fired} was fired; the next is ahead");
        assert_eq!(resumed.next_due, Some(fired + Duration::seconds(60)));
    }

    #[test]
    fn nothing_stored_starts_the_schedule_from_now() {
        let resumed = resume(left(None, Vec::new()));
        assert_eq!((resumed.missed, resumed.next_due), (None, Some(at(1060))));
    }
}
