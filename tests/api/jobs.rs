use actors::Scope;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, Backend};

async fn create_read_update_delete(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let body = json!({
        "job_id": "price-monitor",
        "queue": "real.jobs.price-monitor",
        "cron_expr": "0 9 * * 1-5",
        "default_params": {"action": "start", "symbols": ["005930"]},
        "description": "시세 모니터",
    });

    // Create
    let created = app.post_job(&body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let job = &created.body;
    assert_eq!(job["scope"], "real");
    assert_eq!(job["reschedule_mode"], "scheduler");
    assert_eq!(job["enabled"], true);
    assert_eq!(job["max_parallel"], 1);
    assert_eq!(job["timeout_sec"], 120);
    assert_eq!(job["retry_limit"], 3);
    assert_eq!(job["interval_seconds"], serde_json::Value::Null);
    assert_eq!(job["telemetry_label"], "price_monitor_job");
    assert_eq!(job["default_params"], body["default_params"]);
    assert_eq!(job["description"], "시세 모니터");
    assert!(job["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    // Read, one and all
    let fetched = app.get_job_settled("price-monitor").await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(&fetched.body, job);
    assert_eq!(app.list_jobs().await, vec![job.clone()]);

    // Update: only the given fields change; managed fields are ignored
    let updated = app
        .put_job(
            "price-monitor",
            &json!({"max_parallel": 3, "last_status": "success", "next_due_at": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    assert_eq!(updated.body["max_parallel"], 3);
    assert_eq!(updated.body["last_status"], serde_json::Value::Null);
    assert_eq!(updated.body["cron_expr"], "0 9 * * 1-5");
    assert_eq!(updated.body["default_params"], body["default_params"]);
    assert_eq!(
        app.get_job_settled("price-monitor").await.body,
        updated.body
    );

    // A duplicate is a conflict and changes nothing
    let duplicate = app
        .post_job(
            &json!({"job_id": "price-monitor", "queue": "real.jobs.x", "interval_seconds": 5}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.body["error"], "job_exists");
    assert_eq!(
        app.get_job_settled("price-monitor").await.body,
        updated.body
    );

    // Delete
    assert_eq!(
        app.delete_job("price-monitor").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get_job("price-monitor").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete_job("price-monitor").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(app.list_jobs().await.is_empty());
}
crate::on_both_backends!(create_read_update_delete);

async fn an_instance_sees_only_its_own_scope(backend: Backend) {
    let mock = spawn_app(Scope::Mock, backend).await;
    let created = mock
        .post_job(
            &json!({"job_id": "mock-scout", "queue": "mock.jobs.scout", "interval_seconds": 60}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let mut settings = crate::helpers::test_settings(Scope::Real, &mock.database);
    settings.http_workers = 1;
    let real = crate::helpers::spawn_app_with(settings, mock.database.clone()).await;

    assert_eq!(
        real.get_job("mock-scout").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        real.put_job("mock-scout", &json!({"enabled": false}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        real.delete_job("mock-scout").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(real.list_jobs().await.is_empty());
    assert_eq!(mock.get_job("mock-scout").await.body["enabled"], true);
}
crate::on_both_backends!(an_instance_sees_only_its_own_scope);

#[actix_web::test]
async fn interval_only_and_queue_mode_jobs_are_accepted() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;

    let interval = app
        .post_job(&json!({"job_id": "tick", "queue": "real.jobs.tick", "interval_seconds": 1}))
        .await;
    let queue_mode = app
        .post_job(&json!({"job_id": "chain", "queue": "real.jobs.chain",
            "reschedule_mode": "queue", "interval_seconds": 30, "cron_expr": ""}))
        .await;

    assert_eq!(interval.status, StatusCode::CREATED, "{:?}", interval.body);
    assert_eq!(interval.body["cron_expr"], "");
    assert_eq!(
        queue_mode.status,
        StatusCode::CREATED,
        "{:?}",
        queue_mode.body
    );
    assert_eq!(queue_mode.body["reschedule_mode"], "queue");
}

async fn job_ids_are_case_sensitive(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;

    let lower = app
        .post_job(&json!({"job_id": "scout", "queue": "real.jobs.scout", "interval_seconds": 60}))
        .await;
    let upper = app
        .post_job(&json!({"job_id": "Scout", "queue": "real.jobs.scout", "interval_seconds": 30}))
        .await;

    assert_eq!(lower.status, StatusCode::CREATED);
    assert_eq!(upper.status, StatusCode::CREATED, "{:?}", upper.body);
    assert_eq!(app.get_job("Scout").await.body["interval_seconds"], 30);
    assert_eq!(app.get_job("scout").await.body["interval_seconds"], 60);
    assert_eq!(app.get_job("SCOUT").await.status, StatusCode::NOT_FOUND);
}
crate::on_both_backends!(job_ids_are_case_sensitive);
