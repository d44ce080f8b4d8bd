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
fn a_move_from_the_middle_of_a_closure_lands_on_the_open_day_s_first_instant() {
    let weekend = Calendar::weekends_only("weekend");
    let mut hourly = job(
        serde_json::json!({"job_id": "hourly", "queue": "real.jobs.h",
        "cron_expr": "0 9-15 * * *", "timezone": "UTC", "calendar": "weekend",
        "calendar_mode": "next_open_day"}),
    );
    // Sunday 6 December 2026 at 12:30: the rest of Sunday folds into Monday 09:00, and
    // Monday's other instants follow (none of the open day is lost).
    let listed: Vec<_> = (upcoming_on(
        &hourly,
        chrono_tz::UTC,
        None,
        at("2026-12-06T12:30:00Z"),
        3,
        Some(&weekend),
    )
    .into_iter())
    .map(|instant| (instant.at, instant.moved_from))
    .collect();
    assert_eq!(
        listed,
        vec![
            (at("2026-12-07T09:00:00Z"), Some(at("2026-12-06T13:00:00Z"))),
            (at("2026-12-07T10:00:00Z"), None),
            (at("2026-12-07T11:00:00Z"), None),
        ]
    );
    // In skip mode the closed instants are listed, skipped.
    hourly.calendar_mode = crate::calendar::CalendarMode::Skip;
    let skipped = upcoming_on(
        &hourly,
        chrono_tz::UTC,
        None,
        at("2026-12-06T12:30:00Z"),
        4,
        Some(&weekend),
    );
    assert_eq!(
        (skipped.iter())
            .map(|instant| instant.closed.is_some())
            .collect::<Vec<_>>(),
        vec![true, true, true, false]
    );
}

#[test]
fn an_interval_instant_s_day_is_its_own_whatever_its_jitter() {
    let weekend = Calendar::weekends_only("weekend");
    let config = job(
        serde_json::json!({"job_id": "spread", "queue": "real.jobs.s",
        "interval_seconds": 3600, "jitter_seconds": 3600, "timezone": "UTC",
        "calendar": "weekend"}),
    );
    let timing = Timing::of(&config, chrono_tz::UTC);
    let mode = crate::calendar::CalendarMode::Skip;
    // 00:30 on Saturday is Saturday, however large the jitter.
    assert!(matches!(
        timing.gate(&weekend, mode, at("2026-12-05T00:30:00Z"), chrono_tz::UTC),
        Gate::Skip(_)
    ));
    assert_eq!(
        timing.gate(&weekend, mode, at("2026-12-07T00:30:00Z"), chrono_tz::UTC),
        Gate::Open
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
    // An instant off the schedule (moved off a closed day to the next open day's first
    // instant) gets its milliseconds back too: its day stays the one it was moved to.
    let moved = at("2026-12-08T05:00:00Z");
    let millis = config.jitter().num_milliseconds() % 1000;
    assert_eq!(timing.snap(moved), moved + Duration::milliseconds(millis));
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

#[test]
fn a_long_closure_of_a_frequent_job_is_listed_without_walking_all_of_it() {
    // Open once a year: a job every second moves past the year's closed days.
    let closed: Vec<String> = (1..365)
        .map(|n| {
            (chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() + Duration::days(n)).to_string()
        })
        .collect();
    let calendar =
        Calendar::from_body("shut", &serde_json::json!({"dates": closed, "weekend": []})).unwrap();
    let config = job(serde_json::json!({"job_id": "tick", "queue": "real.jobs.t",
        "interval_seconds": 1, "calendar": "shut", "calendar_mode": "next_open_day"}));
    let now = at("2027-01-02T00:00:00Z");
    let listed = upcoming_on(&config, chrono_tz::UTC, None, now, 2, Some(&calendar));
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].at.date_naive().to_string(), "2028-01-01");
    assert_eq!(listed[0].moved_from, Some(at("2027-01-02T00:00:01Z")));
    assert_eq!(listed[1].at, listed[0].at + Duration::seconds(1));
}
