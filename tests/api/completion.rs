//! `POST /jobs/{id}/last-run`: the worker's completion report.

use std::time::Duration;

use actors::Scope;
use reqwest::StatusCode;
use serde_json::json;

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, Backend};

async fn a_report_closes_its_run_once(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "worked", "queue": queue.name, "interval_seconds": 3600, "max_parallel": 5}))
        .await;
    let run_a = app.post("/jobs/worked/run-now", None).await.body["run_id"].clone();
    let run_b = app.post("/jobs/worked/run-now", None).await.body["run_id"].clone();
    queue.next(Duration::from_secs(5)).await.expect("message a");
    let started_at = chrono::Utc::now() - chrono::Duration::milliseconds(1_500);

    let report = json!({"run_id": run_b, "status": "success", "started_at": started_at.to_rfc3339(),
        "finished_at": chrono::Utc::now().to_rfc3339()});
    let first = app.post("/jobs/worked/last-run", Some(&report)).await;
    let again = app.post("/jobs/worked/last-run", Some(&report)).await;
    let no_body = app.post("/jobs/worked/last-run", None).await;
    let unknown = app
        .post(
            "/jobs/worked/last-run",
            Some(&json!({"run_id": uuid::Uuid::new_v4()})),
        )
        .await;
    let bad = app
        .post("/jobs/worked/last-run", Some(&json!({"status": "meh"})))
        .await;
    let extra = app
        .post("/jobs/worked/last-run", Some(&json!({"surprise": 1})))
        .await;

    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["counted"], true);
    assert_eq!(first.body["run_id"], run_b);
    assert!(
        (first.body["duration_seconds"].as_f64().unwrap() - 1.5).abs() < 0.1,
        "{:?}",
        first.body
    );
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["counted"], false, "a duplicate counts once");
    assert_eq!(no_body.status, StatusCode::OK);
    assert_eq!(
        no_body.body["run_id"], run_a,
        "no body closes the oldest run in flight"
    );
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error"], "run_not_found");
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(extra.status, StatusCode::BAD_REQUEST);

    let runs = app
        .runs_until("worked", 3, |runs| {
            runs.iter().all(|r| r["status"] == "success")
        })
        .await;
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter().all(|run| run["status"] == "success"),
        "{runs:?}"
    );
    assert!(runs
        .iter()
        .all(|run| run["finished_at"].is_string() && run["duration_seconds"].is_number()));
    let job = app.get_job("worked").await.body;
    assert_eq!(job["last_status"], "success");
    assert!(job["last_run_at"].is_string());
    queue.delete().await;
}
crate::on_both_backends!(a_report_closes_its_run_once);

#[actix_web::test]
async fn a_failed_report_is_retried_with_the_next_attempt() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "flaky", "queue": queue.name, "interval_seconds": 3600, "retry_limit": 1}))
        .await;
    app.post("/jobs/flaky/run-now", None).await;
    let first = queue
        .next(Duration::from_secs(5))
        .await
        .expect("first attempt");

    let failed = app
        .post(
            "/jobs/flaky/last-run",
            Some(&json!({"run_id": first.body["run_id"], "status": "failed", "error": "boom"})),
        )
        .await;
    let retry = queue.next(Duration::from_secs(5)).await.expect("a retry");
    let failed_again = app
        .post(
            "/jobs/flaky/last-run",
            Some(&json!({"run_id": retry.body["run_id"], "status": "failed", "error": "boom 2"})),
        )
        .await;
    let none = queue.next(Duration::from_secs(3)).await;

    assert_eq!(failed.status, StatusCode::OK);
    assert_eq!(retry.body["attempt"], 2);
    assert_eq!(retry.body["trigger_source"], "retry");
    assert_eq!(failed_again.status, StatusCode::OK);
    assert!(none.is_none(), "retries stop at retry_limit");
    let job = app.get_job("flaky").await.body;
    assert_eq!(job["last_status"], "failed");
    assert_eq!(job["last_error"], "boom 2");
    let runs = app
        .runs_until("flaky", 3, |runs| {
            runs.iter().all(|r| r["status"] == "failed")
        })
        .await;
    let attempts: Vec<_> = runs
        .iter()
        .map(|run| (run["attempt"].clone(), run["status"].clone()))
        .collect();
    assert_eq!(
        attempts,
        vec![(json!(2), json!("failed")), (json!(1), json!("failed"))]
    );
    queue.delete().await;
}
