use std::collections::HashMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};

use super::*;
use crate::job::{JobConfig, JobState as Row, Scope};

fn job(id: &str, body: serde_json::Value) -> (Arc<JobConfig>, Row) {
    let mut body = body;
    body["job_id"] = id.into();
    body["queue"] = format!("real.jobs.{id}").into();
    let config = JobConfig::from_create_body(&body, Scope::Real).expect("valid");
    let state = Row::default();
    (Arc::new(config), state)
}

fn jobs() -> Vec<(Arc<JobConfig>, Row)> {
    let at = |minute| Some(Utc.with_ymd_and_hms(2026, 11, 28, 9, minute, 0).unwrap());
    let mut a = job(
        "alpha",
        serde_json::json!({"cron_expr": "30 8 * * 1-5", "description": "Buy scanner"}),
    );
    a.1.next_due_at = at(5);
    a.1.last_status = Some("failed".into());
    a.1.last_run_at = at(1);
    let mut b = job(
        "bravo",
        serde_json::json!({"interval_seconds": 300, "enabled": false}),
    );
    b.1.last_status = Some("success".into());
    b.1.last_run_at = at(3);
    let mut c = job("charlie", serde_json::json!({"interval_seconds": 60}));
    c.1.next_due_at = at(2);
    c.1.last_status = Some("timeout".into());
    let d = job(
        "delta",
        serde_json::json!({"reschedule_mode": "queue", "interval_seconds": 5}),
    );
    vec![a, b, c, d]
}

fn page(query: JobQuery) -> JobPage {
    let jobs = jobs();
    let views = jobs
        .iter()
        .map(|(config, state)| JobView { config, state })
        .collect();
    let in_flight = HashMap::from([("charlie".to_string(), 2), ("delta".to_string(), 1)]);
    page_of(views, &in_flight, &query)
}

fn ids(page: &JobPage) -> Vec<&str> {
    page.jobs
        .iter()
        .map(|job| job.job.config.job_id.as_str())
        .collect()
}

#[test]
fn states_filter_and_are_counted_whatever_the_filter() {
    let all = page(JobQuery::default());
    assert_eq!(ids(&all), ["alpha", "bravo", "charlie", "delta"]);
    assert_eq!(
        all.counts,
        StateCounts {
            all: 4,
            enabled: 3,
            paused: 1,
            failing: 2,
            running: 2
        }
    );
    for (state, expected) in [
        (JobState::Failing, vec!["alpha", "charlie"]),
        (JobState::Paused, vec!["bravo"]),
        (JobState::Running, vec!["charlie", "delta"]),
        (JobState::Enabled, vec!["alpha", "charlie", "delta"]),
    ] {
        let page = page(JobQuery {
            state: Some(state),
            ..JobQuery::default()
        });
        assert_eq!(ids(&page), expected, "{state:?}");
        assert_eq!(page.total as usize, expected.len());
        assert_eq!(page.counts.all, 4);
    }
    assert_eq!(page(JobQuery::default()).jobs[2].in_flight, 2);
}

#[test]
fn text_matches_id_queue_description_and_cron_in_any_case() {
    let query =
        |text: &str| JobQuery::from_params(Some(text), None, None, None, None, None).unwrap();
    assert_eq!(ids(&page(query("BUY"))), ["alpha"]);
    assert_eq!(ids(&page(query("jobs.br"))), ["bravo"]);
    assert_eq!(ids(&page(query("1-5"))), ["alpha"]);
    assert!(page(query("zulu")).jobs.is_empty());
    assert_eq!(page(query("  ")).total, 4);
}

#[test]
fn sorts_put_jobs_without_the_key_last_and_pages_cut() {
    let sorted = |sort, descending| {
        ids(&page(JobQuery {
            sort,
            descending,
            ..JobQuery::default()
        }))
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    assert_eq!(
        sorted(JobSort::NextDue, false),
        ["charlie", "alpha", "bravo", "delta"]
    );
    assert_eq!(
        sorted(JobSort::NextDue, true),
        ["alpha", "charlie", "bravo", "delta"]
    );
    assert_eq!(
        sorted(JobSort::LastRun, true),
        ["bravo", "alpha", "charlie", "delta"]
    );
    assert_eq!(
        sorted(JobSort::JobId, true),
        ["delta", "charlie", "bravo", "alpha"]
    );
    let second = page(JobQuery {
        offset: 2,
        limit: 1,
        ..JobQuery::default()
    });
    assert_eq!((ids(&second), second.total), (vec!["charlie"], 4));
    assert!(page(JobQuery {
        offset: 99,
        ..JobQuery::default()
    })
    .jobs
    .is_empty());
}

#[test]
fn schedules_are_given_in_words() {
    let all = page(JobQuery::default());
    let words: Vec<&str> = all
        .jobs
        .iter()
        .map(|job| job.schedule_text.as_str())
        .collect();
    assert_eq!(
        words,
        [
            "at 08:30, Monday to Friday",
            "every 5 minutes",
            "every minute",
            "queue mode: the worker reschedules (every 5 seconds)"
        ]
    );
}

#[test]
fn wrong_parameters_name_themselves() {
    let field = |result: Result<JobQuery, ValidationError>| result.unwrap_err().field.unwrap();
    assert_eq!(
        field(JobQuery::from_params(
            None,
            Some("odd"),
            None,
            None,
            None,
            None
        )),
        "state"
    );
    assert_eq!(
        field(JobQuery::from_params(
            None,
            None,
            Some("x"),
            None,
            None,
            None
        )),
        "sort"
    );
    assert_eq!(
        field(JobQuery::from_params(
            None,
            None,
            None,
            Some("up"),
            None,
            None
        )),
        "order"
    );
    assert_eq!(
        field(JobQuery::from_params(None, None, None, None, None, Some(0))),
        "limit"
    );
    assert_eq!(
        field(JobQuery::from_params(
            None,
            None,
            None,
            None,
            None,
            Some(MAX_PAGE_SIZE + 1)
        )),
        "limit"
    );
    assert_eq!(
        field(JobQuery::from_params(
            Some(&"x".repeat(201)),
            None,
            None,
            None,
            None,
            None
        )),
        "q"
    );
}
