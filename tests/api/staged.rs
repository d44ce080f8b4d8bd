//! Staged runs: the next scheduled fire is a `scheduled` run row written ahead of its due
//! instant; the fire publishes it under its run_id; edits, pauses and deletes replace or
//! remove it; a restart adopts it.

use std::time::Duration;

use actors::Scope;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, spawn_app_with, test_settings, Backend, TestApp};

/// The staged run of `job_id` once it is written (the first row of the history).
async fn staged(app: &TestApp, job_id: &str) -> Option<Value> {
    staged_other_than(app, job_id, &Value::Null).await
}

/// The staged run of `job_id` once one other than `old` (a run_id) is written.
async fn staged_other_than(app: &TestApp, job_id: &str, old: &Value) -> Option<Value> {
    for _ in 0..50 {
        let runs = app.all_runs(job_id).await;
        if let Some(first) = runs
            .first()
            .filter(|run| run["status"] == "scheduled" && run["run_id"] != *old)
        {
            assert_eq!(
                runs.iter()
                    .filter(|run| run["status"] == "scheduled")
                    .count(),
                1,
                "one staged run at most: {runs:?}"
            );
            return Some(first.clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn the_next_fire_is_staged_and_follows_every_change(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    app.post_job(
        &json!({"job_id": "staged", "queue": "real.jobs.staged", "interval_seconds": 3600,
        "default_params": {"a": 1}}),
    )
    .await;

    let first = staged(&app, "staged").await.expect("staged at create");
    let job = app.get_job_settled("staged").await.body;
    let due: chrono::DateTime<chrono::Utc> = first["due_at"].as_str().unwrap().parse().unwrap();
    let next: chrono::DateTime<chrono::Utc> = job["next_due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(chrono::SubsecRound::trunc_subsecs(due, 0), next);
    assert_eq!(first["trigger_source"], "scheduler");
    assert_eq!(first["params"], json!({"a": 1}));

    let manual = app.post("/jobs/staged/run-now", None).await;
    assert_eq!(manual.status, StatusCode::ACCEPTED);
    let after_run_now = staged(&app, "staged").await.expect("still staged");
    assert_eq!(
        after_run_now["run_id"], first["run_id"],
        "run-now leaves the next fire alone"
    );

    app.put_job("staged", &json!({"default_params": {"a": 2}}))
        .await;
    let edited = staged_other_than(&app, "staged", &first["run_id"])
        .await
        .expect("new params, new staged run");
    assert_eq!(edited["params"], json!({"a": 2}));

    app.post("/jobs/staged/pause", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paused = app.all_runs("staged").await;
    assert!(
        paused.iter().all(|run| run["status"] != "scheduled"),
        "a paused job has no staged run: {paused:?}"
    );
    assert!(
        paused
            .iter()
            .all(|run| run["run_id"] != first["run_id"] && run["run_id"] != edited["run_id"]),
        "a replaced staged run never shows as a run that happened"
    );

    app.post("/jobs/staged/resume", None).await;
    staged_other_than(&app, "staged", &edited["run_id"])
        .await
        .expect("a new staged run after resume");
}
crate::on_both_backends!(the_next_fire_is_staged_and_follows_every_change);

#[actix_web::test]
async fn a_fire_publishes_its_staged_run_and_the_row_goes_queued() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "tick", "queue": queue.name, "interval_seconds": 2}))
        .await;
    let before = staged(&app, "tick").await.expect("staged");

    let message = queue.next(Duration::from_secs(5)).await.expect("a fire");

    assert_eq!(
        message.body["run_id"], before["run_id"],
        "the fire is the staged run"
    );
    assert_eq!(
        message.body["due_at"].as_str().map(|t| &t[..19]),
        before["due_at"].as_str().map(|t| &t[..19])
    );
    let runs = app
        .runs_until("tick", 3, |runs| {
            runs.iter()
                .any(|run| run["run_id"] == before["run_id"] && run["status"] == "queued")
        })
        .await;
    assert!(
        runs.iter()
            .any(|run| run["run_id"] == before["run_id"] && run["status"] == "queued"),
        "{runs:?}"
    );
    staged_other_than(&app, "tick", &before["run_id"])
        .await
        .expect("the next fire is staged");
    queue.delete().await;
}

#[actix_web::test]
async fn a_restart_adopts_the_staged_run_ahead_and_publishes_one_that_passed_under_its_own_id() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "ahead", "queue": queue.name, "interval_seconds": 3600}))
        .await;
    app.post_job(&json!({"job_id": "passed", "queue": queue.name, "interval_seconds": 3600}))
        .await;
    let ahead = staged(&app, "ahead").await.expect("staged");
    let passed = staged(&app, "passed").await.expect("staged");

    let database = app.stop().await;
    let connection = database.connection().await;
    let past = chrono::Utc::now() - chrono::Duration::seconds(30);
    connection
        .execute_raw(Statement::from_sql_and_values(
            connection.get_database_backend(),
            "UPDATE job_runs SET due_at = ?, queued_at = ? WHERE run_id = ?",
            [
                past.naive_utc().into(),
                past.naive_utc().into(),
                passed["run_id"].as_str().unwrap().into(),
            ],
        ))
        .await
        .expect("move the staged run into the past");
    connection
        .execute_raw(Statement::from_sql_and_values(
            connection.get_database_backend(),
            "UPDATE jobs SET next_due_at = ? WHERE job_id = 'passed'",
            [chrono::SubsecRound::trunc_subsecs(past, 0)
                .naive_utc()
                .into()],
        ))
        .await
        .expect("and the stored next instant");
    let app = spawn_app_with(test_settings(Scope::Real, &database), database.clone()).await;

    let message = queue
        .next(Duration::from_secs(5))
        .await
        .expect("the missed fire");
    let extra = queue.next(Duration::from_secs(1)).await;
    assert_eq!(message.body["job_id"], "passed");
    assert_eq!(
        message.body["run_id"], passed["run_id"],
        "published under its own run_id"
    );
    assert!(extra.is_none(), "one fire only: {extra:?}");
    assert_eq!(
        staged(&app, "ahead").await.expect("adopted")["run_id"],
        ahead["run_id"]
    );
    let runs = app.all_runs("passed").await;
    assert_eq!(
        runs.iter()
            .filter(|run| run["run_id"] == passed["run_id"])
            .count(),
        1,
        "{runs:?}"
    );
    queue.delete().await;
}

#[actix_web::test]
async fn a_run_is_staged_only_once_its_instant_is_within_the_horizon() {
    let database = std::sync::Arc::new(crate::helpers::TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.stage_ahead_seconds = 1;
    let app = spawn_app_with(settings, database).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "later", "queue": queue.name, "interval_seconds": 4}))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let early = app.all_runs("later").await;
    let staged = staged_other_than(&app, "later", &Value::Null).await;
    let message = queue.next(Duration::from_secs(6)).await.expect("the fire");

    assert!(
        early.is_empty(),
        "nothing staged 3.5 s ahead with a 1 s horizon: {early:?}"
    );
    let staged = staged.expect("staged within the horizon");
    assert_eq!(
        message.body["run_id"], staged["run_id"],
        "the fire is the staged run"
    );
    queue.delete().await;
}
