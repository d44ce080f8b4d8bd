use actors::Scope;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, test_settings, Backend};

async fn jobs_survive_a_restart(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let created = app
        .post_job(
            &json!({"job_id": "news-crawler", "queue": "real.jobs.news-crawler",
            "cron_expr": "*/10 * * * *", "interval_seconds": 600, "default_params": {"pages": 3}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);

    let database = app.stop().await;
    let restarted = spawn_app_with(test_settings(Scope::Real, &database), database.clone()).await;

    let fetched = restarted.get_job("news-crawler").await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, created.body);
}
crate::on_both_backends!(jobs_survive_a_restart);
