use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::job::Scope;

fn config(max_parallel: i64, retry_limit: i64, mode: RescheduleMode) -> JobConfig {
    JobConfig {
        job_id: "book".into(),
        scope: Scope::Real,
        reschedule_mode: mode,
        cron_expr: String::new(),
        interval_seconds: Some(60),
        queue: "real.jobs.book".into(),
        enabled: true,
        max_parallel,
        default_params: Map::new(),
        timeout_sec: 30,
        retry_limit,
        description: None,
        telemetry_label: "book".into(),
        notify: true,
        timezone: None,
        jitter_seconds: 0,
        misfire_policy: crate::job::MisfirePolicy::CatchUpOnce,
        misfire_grace_seconds: None,
        calendar: None,
        calendar_mode: Default::default(),
    }
}

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, second).unwrap()
}

fn params() -> Map<String, Value> {
    json!({"pages": 3}).as_object().unwrap().clone()
}

fn run_id_of(started: &Started) -> Uuid {
    match started {
        Started::Run { run_id, .. } | Started::Skipped { run_id, .. } => *run_id,
    }
}

#[test]
fn a_written_staged_run_is_a_publish_under_its_own_run_id() {
    let mut book = RunBook::default();
    let staged = StagedRun {
        run_id: Uuid::from_u128(7),
        due_at: at(0),
        written: true,
    };
    let mut fire = Fire::scheduled(at(0), params());
    fire.staged = Some(staged);
    let started = book.start(fire, &config(1, 0, RescheduleMode::Scheduler), at(1));
    assert_eq!(
        started,
        Started::Run {
            run_id: staged.run_id,
            row: Row::Written
        }
    );
    assert_eq!(book.in_flight()[0].phase, Phase::Publishing);
    assert_eq!(book.in_flight()[0].queued_at, at(1));
    assert_eq!(book.take_for_publish(staged.run_id), None, "already sent");
}

#[test]
fn a_staged_run_not_yet_written_and_an_unstaged_fire_write_their_row_first() {
    let config = config(5, 0, RescheduleMode::Scheduler);
    let mut book = RunBook::default();
    let mut fire = Fire::scheduled(at(0), params());
    fire.staged = Some(StagedRun {
        run_id: Uuid::from_u128(8),
        due_at: at(0),
        written: false,
    });
    let started = book.start(fire, &config, at(0));
    let Started::Run { run_id, row } = started else {
        panic!("runs")
    };
    assert_eq!(row, Row::Write(status_write(run_id, RunStatus::Pending)));

    let manual = Fire::immediate(TriggerSource::Manual, params(), None, at(3));
    let Started::Run { run_id, row } = book.start(manual, &config, at(9)) else {
        panic!("runs")
    };
    let Row::Write(StateWrite::InsertRun(record)) = row else {
        panic!("an insert: {row:?}")
    };
    assert_eq!(
        (record.status, record.queued_at, record.due_at),
        (RunStatus::Pending, at(3), at(3)),
        "an immediate run is queued at its due instant"
    );
    assert_eq!(
        book.take_for_publish(run_id).map(|run| run.phase),
        Some(Phase::Publishing)
    );
    assert_eq!(book.take_for_publish(run_id), None, "published once");
}

#[test]
fn a_fire_at_max_parallel_is_skipped_unless_forced() {
    let config = config(1, 0, RescheduleMode::Scheduler);
    let mut book = RunBook::default();
    book.start(Fire::scheduled(at(0), params()), &config, at(0));
    let skipped = book.start(Fire::scheduled(at(1), params()), &config, at(1));
    let Started::Skipped { error, write, .. } = &skipped else {
        panic!("skipped: {skipped:?}")
    };
    assert!(error.contains("still waiting to be published"), "{error}");
    let StateWrite::InsertRun(record) = write else {
        panic!("a skipped row")
    };
    assert_eq!(record.status, RunStatus::Skipped);
    assert_eq!(book.in_flight().len(), 1);

    let first = book.in_flight()[0].run_id;
    book.confirm(first, at(1));
    let Started::Skipped { error, .. } =
        book.start(Fire::scheduled(at(2), params()), &config, at(2))
    else {
        panic!("skipped")
    };
    assert_eq!(error, "max_parallel (1) runs in flight");

    let forced = Fire::immediate(TriggerSource::Manual, params(), None, at(2));
    assert!(matches!(
        book.start(forced, &config, at(2)),
        Started::Run { .. }
    ));
    assert_eq!(book.in_flight().len(), 2);
}

#[test]
fn a_skipped_staged_fire_updates_its_row() {
    let config = config(0, 0, RescheduleMode::Scheduler);
    let mut book = RunBook::default();
    let mut fire = Fire::scheduled(at(0), params());
    fire.staged = Some(StagedRun {
        run_id: Uuid::from_u128(9),
        due_at: at(0),
        written: true,
    });
    let Started::Skipped { write, .. } = book.start(fire, &config, at(0)) else {
        panic!("skipped")
    };
    assert!(
        matches!(write, StateWrite::RunStatus { status: RunStatus::Skipped, run_id, .. } if run_id == Uuid::from_u128(9))
    );
}

#[test]
fn a_confirm_measures_lateness_of_scheduled_fires_only() {
    let config = config(5, 0, RescheduleMode::Scheduler);
    let mut book = RunBook::default();
    let scheduled = run_id_of(&book.start(Fire::scheduled(at(0), params()), &config, at(0)));
    let manual = run_id_of(&book.start(
        Fire::immediate(TriggerSource::Manual, params(), None, at(0)),
        &config,
        at(0),
    ));
    let confirmed = book.confirm(scheduled, at(2)).unwrap();
    assert_eq!(confirmed.lateness_seconds, Some(2.0));
    assert_eq!(confirmed.write, status_write(scheduled, RunStatus::Queued));
    assert_eq!(book.confirm(manual, at(2)).unwrap().lateness_seconds, None);
    assert_eq!(book.confirm(Uuid::nil(), at(2)), None);
}

#[test]
fn failures_retry_with_doubling_backoff_until_the_limit() {
    let config = config(5, 2, RescheduleMode::Scheduler);
    let mut book = RunBook::default();
    let mut fire = Fire::scheduled(at(0), params());
    let mut backoffs = Vec::new();
    loop {
        let run_id = run_id_of(&book.start(fire, &config, at(0)));
        let finished = book
            .finish(
                run_id,
                RunStatus::Failed,
                None,
                at(5),
                Some("boom".into()),
                &config,
            )
            .unwrap();
        assert_eq!(finished.duration_seconds, 5.0);
        match finished.retry {
            Retry::After(backoff, next) => {
                assert_eq!(next.trigger, TriggerSource::Retry);
                assert_eq!(next.due_at, at(0), "a retry keeps its due instant");
                assert_eq!(next.params, params());
                backoffs.push(backoff.as_secs());
                fire = next;
            }
            Retry::Exhausted => break,
            Retry::No => panic!("a failure is retried or exhausted"),
        }
    }
    assert_eq!(backoffs, [1, 2], "retry_limit 2: attempts 2 and 3");
}

#[test]
fn successes_and_queue_mode_failures_are_not_retried() {
    for (status, mode) in [
        (RunStatus::Success, RescheduleMode::Scheduler),
        (RunStatus::Timeout, RescheduleMode::Queue),
    ] {
        let config = config(5, 3, mode);
        let mut book = RunBook::default();
        let run_id = run_id_of(&book.start(Fire::scheduled(at(0), params()), &config, at(0)));
        let finished = book
            .finish(run_id, status, Some(at(1)), at(4), None, &config)
            .unwrap();
        assert_eq!(finished.retry, Retry::No);
        assert_eq!(finished.duration_seconds, 3.0, "from the reported start");
        assert!(
            matches!(&finished.writes[1], StateWrite::LastRun { last_status, .. } if *last_status == status)
        );
    }
}

#[test]
fn a_finished_run_is_closed_once_and_its_verdict_remembered() {
    let config = config(5, 0, RescheduleMode::Scheduler);
    let mut book = RunBook::default();
    let run_id = run_id_of(&book.start(Fire::scheduled(at(0), params()), &config, at(0)));
    assert!(book
        .finish(run_id, RunStatus::Success, None, at(1), None, &config)
        .is_some());
    assert!(book
        .finish(run_id, RunStatus::Success, None, at(1), None, &config)
        .is_none());
    assert_eq!(book.earlier(run_id), Some((RunStatus::Success, false)));
    book.note_verdict(run_id, true);
    assert_eq!(book.earlier(run_id), Some((RunStatus::Success, true)));
}

#[test]
fn only_the_latest_finished_runs_are_remembered() {
    let config = config(100, 0, RescheduleMode::Scheduler);
    let mut book = RunBook::default();
    let ids: Vec<Uuid> = (0..=RECENT_FINISHED)
        .map(|_| {
            let run_id = run_id_of(&book.start(Fire::scheduled(at(0), params()), &config, at(0)));
            book.finish(run_id, RunStatus::Success, None, at(1), None, &config);
            run_id
        })
        .collect();
    assert_eq!(book.earlier(ids[0]), None);
    assert!(book.earlier(ids[1]).is_some());
}

#[test]
fn restored_runs_are_republished_when_pending_and_awaited_when_queued() {
    let config = config(5, 0, RescheduleMode::Scheduler);
    let run = InFlight {
        run_id: Uuid::from_u128(1),
        trigger: TriggerSource::Scheduler,
        attempt: 1,
        due_at: at(0),
        queued_at: at(0),
        params: params(),
        phase: Phase::Writing,
        chain: None,
    };
    let mut book = RunBook::default();
    let pending = record_of(&config, &run, RunStatus::Pending);
    assert_eq!(book.restore(pending).phase, Phase::Publishing);
    let mut queued = record_of(&config, &run, RunStatus::Queued);
    queued.run_id = Uuid::from_u128(2);
    assert_eq!(book.restore(queued).phase, Phase::Queued);
    let message = message_of(&config, &book.in_flight()[0]);
    assert_eq!((message.run_id, message.params), (run.run_id, params()));
}
