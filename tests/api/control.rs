//! run-now, max_parallel, timeouts and retries.

use std::time::Duration;

use actors::Scope;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, Backend};

fn statuses(runs: &[Value]) -> Vec<&str> {
    runs.iter()
        .map(|run| run["status"].as_str().unwrap_or("?"))
        .collect()
}

async fn run_now_respects_max_parallel_unless_forced_and_works_while_paused(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(
        &json!({"job_id": "manual", "queue": queue.name, "interval_seconds": 3600,
        "default_params": {"mode": "a"}}),
    )
    .await;

    let first = app.post("/jobs/manual/run-now", None).await;
    let refused = app
        .post(
            "/jobs/manual/run-now",
            Some(&json!({"params": {"mode": "b"}})),
        )
        .await;
    let forced = app
        .post(
            "/jobs/manual/run-now?force=true",
            Some(&json!({"params": {"mode": "b"}})),
        )
        .await;
    let missing = app.post("/jobs/nope/run-now", None).await;
    let bad_params = app
        .post("/jobs/manual/run-now", Some(&json!({"params": [1]})))
        .await;
    let bad_query = app.post("/jobs/manual/run-now?force=maybe", None).await;
    let huge_params = app
        .post(
            "/jobs/manual/run-now?force=true",
            Some(&json!({"params": {"blob": "x".repeat(70_000)}})),
        )
        .await;

    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    assert!(uuid::Uuid::parse_str(first.body["run_id"].as_str().unwrap()).is_ok());
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "max_parallel_reached");
    assert_eq!(forced.status, StatusCode::ACCEPTED, "{:?}", forced.body);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(bad_params.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_params.body["field"], "params");
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        huge_params.status,
        StatusCode::BAD_REQUEST,
        "params must fit the run history"
    );
    let messages = [
        queue.next(Duration::from_secs(5)).await.expect("first"),
        queue.next(Duration::from_secs(5)).await.expect("forced"),
    ];
    assert_eq!(messages[0].body["run_id"], first.body["run_id"]);
    assert_eq!(messages[0].body["params"], json!({"mode": "a"}));
    assert_eq!(messages[1].body["run_id"], forced.body["run_id"]);
    assert_eq!(messages[1].body["params"], json!({"mode": "b"}));
    assert!(messages
        .iter()
        .all(|m| m.body["trigger_source"] == "manual"));

    // Free both slots, pause, and run once more: allowed while paused.
    for reply in [&first, &forced] {
        let done = app
            .post(
                "/jobs/manual/last-run",
                Some(&json!({"run_id": reply.body["run_id"], "status": "success"})),
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    }
    app.post("/jobs/manual/pause", None).await;
    let while_paused = app.post("/jobs/manual/run-now", None).await;
    assert_eq!(
        while_paused.status,
        StatusCode::ACCEPTED,
        "{:?}",
        while_paused.body
    );
    let message = queue
        .next(Duration::from_secs(5))
        .await
        .expect("run while paused");
    assert_eq!(message.body["run_id"], while_paused.body["run_id"]);
    queue.delete().await;
}
crate::on_both_backends!(run_now_respects_max_parallel_unless_forced_and_works_while_paused);

#[actix_web::test]
async fn a_fire_at_max_parallel_is_recorded_skipped() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(
        &json!({"job_id": "busy", "queue": queue.name, "interval_seconds": 1, "max_parallel": 1,
        "timeout_sec": 60}),
    )
    .await;

    let received = queue.collect_for(Duration::from_millis(3_600)).await;
    let runs = app
        .runs_until("busy", 3, |runs| {
            statuses(runs).iter().filter(|s| **s == "skipped").count() >= 2
        })
        .await;

    assert_eq!(received.len(), 1, "only one run may be in flight");
    let statuses = statuses(&runs);
    assert_eq!(
        statuses.iter().filter(|s| **s == "queued").count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == "skipped").count() >= 2,
        "{statuses:?}"
    );
    let skipped = runs.iter().find(|run| run["status"] == "skipped").unwrap();
    assert!(
        skipped["error"].as_str().unwrap().contains("max_parallel"),
        "{skipped}"
    );
    queue.delete().await;
}

#[actix_web::test]
async fn a_timeout_frees_the_slot_and_a_retry_follows_until_the_limit() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(
        &json!({"job_id": "slow", "queue": queue.name, "interval_seconds": 3600, "max_parallel": 1,
        "timeout_sec": 1, "retry_limit": 1}),
    )
    .await;

    let started = app.post("/jobs/slow/run-now", None).await;
    let first = queue
        .next(Duration::from_secs(3))
        .await
        .expect("first attempt");
    let retry = queue
        .next(Duration::from_secs(5))
        .await
        .expect("a retry after the timeout");
    let none = queue.next(Duration::from_secs(4)).await;
    let runs = app
        .runs_until("slow", 3, |runs| {
            runs.len() == 2 && statuses(runs) == ["timeout", "timeout"]
        })
        .await;
    let job = app.get_job("slow").await.body;

    assert_eq!(first.body["run_id"], started.body["run_id"]);
    assert_eq!(first.body["attempt"], 1);
    assert_eq!(retry.body["attempt"], 2);
    assert_eq!(retry.body["trigger_source"], "retry");
    assert_ne!(retry.body["run_id"], first.body["run_id"]);
    assert_eq!(
        retry.body["due_at"], first.body["due_at"],
        "a retry is for the same due instant"
    );
    assert!(
        none.is_none(),
        "retry_limit 1 allows one retry only: {none:?}"
    );
    assert_eq!(statuses(&runs), ["timeout", "timeout"], "{runs:?}");
    assert_eq!(job["last_status"], "timeout");
    assert!(job["last_error"]
        .as_str()
        .unwrap()
        .contains("no completion report"));
    queue.delete().await;
}
