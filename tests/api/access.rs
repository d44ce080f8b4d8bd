use std::sync::Arc;

use actors::Scope;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app_with, test_settings, Backend, TestDatabase};

#[actix_web::test]
async fn a_token_guards_jobs_but_not_health_ready_or_metrics() {
    let database = Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.api_token = Some("s3cret-token".into());
    let mut app = spawn_app_with(settings, database).await;
    let job = json!({"job_id": "a", "queue": "real.jobs.a", "interval_seconds": 5});

    let with_token = app.post_job(&job).await;
    app.token = None;
    let without = app.send(Method::GET, "/jobs", None).await;
    let health = app.send(Method::GET, "/health", None).await;
    let ready = app.send(Method::GET, "/ready", None).await;
    app.token = Some("s3cret-tokeN".into());
    let wrong = app.send(Method::GET, "/jobs/a", None).await;
    let wrong_post = app
        .post_job(&json!({"job_id": "b", "queue": "real.jobs.b", "interval_seconds": 5}))
        .await;
    app.token = Some("s3cret-token".into());

    assert_eq!(with_token.status, StatusCode::CREATED);
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    assert_eq!(without.body["error"], "unauthorized");
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_post.status, StatusCode::UNAUTHORIZED);
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(ready.status, StatusCode::OK);
    let ids: Vec<_> = app
        .list_jobs()
        .await
        .iter()
        .map(|j| j["job_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("a")]);
}

#[actix_web::test]
async fn the_default_address_is_loopback() {
    for scope in [Scope::Real, Scope::Mock] {
        let address = jennie_scheduler::configuration::default_http_addr(scope);
        assert!(address.ip().is_loopback(), "{address}");
    }
}
