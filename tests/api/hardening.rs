//! Regression tests for forged and phantom completion reports, cross-site requests and an
//! API served open without a word.

use std::sync::Arc;
use std::time::Duration;

use actors::Scope;
use jennie_scheduler::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, spawn_app_with, test_settings, Backend, TestApp, TestDatabase};

async fn metrics_text(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// The job row and history as the API shows them, to compare before and after.
async fn snapshot(app: &TestApp, job_id: &str) -> (Value, Vec<Value>) {
    let mut job = app.get_job(job_id).await.body;
    job.as_object_mut().expect("a job").remove("next_due_at");
    (job, app.runs(job_id).await)
}

#[actix_web::test]
async fn a_report_naming_a_run_the_engine_never_issued_changes_nothing_in_any_mode() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "sched", "queue": queue.name, "interval_seconds": 3600}))
        .await;
    app.post_job(
        &json!({"job_id": "chained", "queue": queue.name, "interval_seconds": 3600,
        "reschedule_mode": "queue", "enabled": false}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_sched = snapshot(&app, "sched").await;
    let before_chained = snapshot(&app, "chained").await;

    let forged = |chain: Value| {
        json!({"run_id": uuid::Uuid::new_v4(), "status": "failed", "error": "forged",
            "chain_id": chain, "chain_seq": 2, "trigger_source": "auto-reschedule",
            "attempt": 1, "due_at": "2026-01-01T00:00:00Z", "queued_at": "2026-01-01T00:00:00Z"})
    };
    let on_scheduler_job = app
        .post(
            "/jobs/sched/last-run",
            Some(&forged(json!(uuid::Uuid::new_v4()))),
        )
        .await;
    let on_queue_job = app
        .post(
            "/jobs/chained/last-run",
            Some(&forged(json!(uuid::Uuid::new_v4()))),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    for reply in [&on_scheduler_job, &on_queue_job] {
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{:?}", reply.body);
        assert_eq!(reply.body["error"], "run_not_found");
    }
    assert_eq!(snapshot(&app, "sched").await, before_sched);
    assert_eq!(snapshot(&app, "chained").await, before_chained);
    let metrics = metrics_text(&app).await;
    assert!(
        !metrics.contains("jennie_job_runs_total{job_id=\"sched\"")
            && !metrics.contains("jennie_job_runs_total{job_id=\"chained\""),
        "a forged report is not counted"
    );
    queue.delete().await;
}

#[actix_web::test]
async fn a_chain_report_is_taken_only_for_the_position_the_engine_asked_for() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(
        &json!({"job_id": "chain", "queue": queue.name, "interval_seconds": 3600,
        "reschedule_mode": "queue"}),
    )
    .await;
    let bootstrap = queue.next(Duration::from_secs(5)).await.expect("bootstrap");
    let chain_id = bootstrap.body["chain_id"].clone();
    assert_eq!(bootstrap.body["chain_seq"], 1);
    let report = |run_id: Value, seq: u64, chain: &Value| {
        json!({"run_id": run_id, "status": "success", "chain_id": chain, "chain_seq": seq,
            "trigger_source": if seq == 1 { "scheduler" } else { "auto-reschedule" }})
    };

    let forged_bootstrap = app
        .post(
            "/jobs/chain/last-run",
            Some(&report(json!(uuid::Uuid::new_v4()), 1, &chain_id)),
        )
        .await;
    let first = app
        .post(
            "/jobs/chain/last-run",
            Some(&report(bootstrap.body["run_id"].clone(), 1, &chain_id)),
        )
        .await;
    let first_again = app
        .post(
            "/jobs/chain/last-run",
            Some(&report(bootstrap.body["run_id"].clone(), 1, &chain_id)),
        )
        .await;
    let skipped_ahead = app
        .post(
            "/jobs/chain/last-run",
            Some(&report(json!(uuid::Uuid::new_v4()), 3, &chain_id)),
        )
        .await;
    let other_chain = app
        .post(
            "/jobs/chain/last-run",
            Some(&report(
                json!(uuid::Uuid::new_v4()),
                2,
                &json!(uuid::Uuid::new_v4()),
            )),
        )
        .await;
    let second_run = json!(uuid::Uuid::new_v4());
    let second = app
        .post(
            "/jobs/chain/last-run",
            Some(&report(second_run.clone(), 2, &chain_id)),
        )
        .await;
    let second_again = app
        .post(
            "/jobs/chain/last-run",
            Some(&report(second_run.clone(), 2, &chain_id)),
        )
        .await;
    let same_position_new_run = app
        .post(
            "/jobs/chain/last-run",
            Some(&report(json!(uuid::Uuid::new_v4()), 2, &chain_id)),
        )
        .await;

    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        forged_bootstrap.status,
        StatusCode::NOT_FOUND,
        "position 1 is the engine's own"
    );
    assert_eq!(first.body["reschedule"], true);
    assert_eq!(
        (
            first_again.body["counted"].clone(),
            first_again.body["reschedule"].clone()
        ),
        (json!(false), json!(true)),
        "a retried report gets the same verdict and counts once"
    );
    assert_eq!(
        skipped_ahead.status,
        StatusCode::NOT_FOUND,
        "{:?}",
        skipped_ahead.body
    );
    assert_eq!(
        other_chain.status,
        StatusCode::NOT_FOUND,
        "{:?}",
        other_chain.body
    );
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    assert_eq!(
        (
            second.body["counted"].clone(),
            second.body["reschedule"].clone()
        ),
        (json!(true), json!(true))
    );
    assert_eq!(second_again.body["counted"], false);
    assert_eq!(same_position_new_run.status, StatusCode::NOT_FOUND);
    let runs = app.runs_until("chain", 3, |runs| runs.len() >= 2).await;
    assert_eq!(
        runs.len(),
        2,
        "the bootstrap and the one run a worker was told to publish: {runs:?}"
    );
    queue.delete().await;
}

#[actix_web::test]
async fn a_report_without_a_run_when_none_is_in_flight_is_409_and_changes_nothing() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    app.post_job(
        &json!({"job_id": "idle", "queue": "real.jobs.idle", "interval_seconds": 3600,
        "enabled": false}),
    )
    .await;
    let before = snapshot(&app, "idle").await;

    let no_body = app.post("/jobs/idle/last-run", None).await;
    let empty_object = app.post("/jobs/idle/last-run", Some(&json!({}))).await;
    let null = app
        .send(Method::POST, "/jobs/idle/last-run", Some("null"))
        .await;

    for reply in [&no_body, &empty_object, &null] {
        assert_eq!(reply.status, StatusCode::CONFLICT, "{:?}", reply.body);
        assert_eq!(reply.body["error"], "no_run_in_flight");
    }
    assert_eq!(snapshot(&app, "idle").await, before);
    assert!(before.0["last_status"].is_null());
    assert!(!metrics_text(&app)
        .await
        .contains("jennie_job_runs_total{job_id=\"idle\""));
}

#[actix_web::test]
async fn changes_need_a_json_content_type_and_no_cors_header_is_sent_by_default() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let job =
        json!({"job_id": "ct", "queue": "real.jobs.ct", "interval_seconds": 3600}).to_string();
    let plain = [("Content-Type", "text/plain")];
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let cross_site = [("Origin", "https://evil.example")];

    let create_plain = app
        .send_with(Method::POST, "/jobs", &plain, Some(&job))
        .await;
    let create_form = app
        .send_with(Method::POST, "/jobs", &form, Some(&job))
        .await;
    let create_none = app
        .send_with(Method::POST, "/jobs", &cross_site, Some(&job))
        .await;
    assert!(app.list_jobs().await.is_empty(), "nothing was created");
    let created = app
        .send_with(
            Method::POST,
            "/jobs",
            &[("Content-Type", "Application/JSON; charset=utf-8")],
            Some(&job),
        )
        .await;
    let put_plain = app
        .send_with(
            Method::PUT,
            "/jobs/ct",
            &plain,
            Some(r#"{"interval_seconds": 5}"#),
        )
        .await;
    let run_now_none = app
        .send_with(Method::POST, "/jobs/ct/run-now", &cross_site, None)
        .await;
    let pause_plain = app
        .send_with(Method::POST, "/jobs/ct/pause", &plain, None)
        .await;
    let run_now_null = app
        .send(Method::POST, "/jobs/ct/run-now", Some("null"))
        .await;
    let read = app
        .send_with(Method::GET, "/jobs/ct", &cross_site, None)
        .await;

    for reply in [
        &create_plain,
        &create_form,
        &create_none,
        &put_plain,
        &run_now_none,
        &pause_plain,
    ] {
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{:?}",
            reply.body
        );
        assert_eq!(reply.body["error"], "unsupported_media_type");
    }
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        run_now_null.status,
        StatusCode::ACCEPTED,
        "a null body is no body"
    );
    assert_eq!(read.status, StatusCode::OK);
    assert!(!read.headers.contains_key("access-control-allow-origin"));
    let job = app.get_job("ct").await.body;
    assert_eq!(
        (job["interval_seconds"].clone(), job["enabled"].clone()),
        (json!(3600), json!(true))
    );
    let deleted = app.send_with(Method::DELETE, "/jobs/ct", &[], None).await;
    assert_eq!(
        deleted.status,
        StatusCode::NO_CONTENT,
        "DELETE carries no body"
    );
}

#[actix_web::test]
async fn listed_cors_origins_and_only_those_are_allowed() {
    let database = Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.cors_origins = vec!["https://ops.example".into()];
    let app = spawn_app_with(settings, database).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/jobs", app.address))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };

    let listed = preflight("https://ops.example").await.expect("answer");
    let other = preflight("https://evil.example").await.expect("answer");
    let read = app
        .send_with(
            Method::GET,
            "/jobs",
            &[("Origin", "https://ops.example")],
            None,
        )
        .await;

    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://ops.example"
    );
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    assert_eq!(
        read.headers["access-control-allow-origin"],
        "https://ops.example"
    );
}

#[actix_web::test]
async fn the_bearer_scheme_is_matched_in_any_case_and_405_says_what_is_allowed() {
    let database = Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.api_token = Some("Tok3n".into());
    let mut app = spawn_app_with(settings, database).await;
    app.token = None;

    let lower = app
        .send_with(
            Method::GET,
            "/jobs",
            &[("Authorization", "bearer Tok3n")],
            None,
        )
        .await;
    let upper = app
        .send_with(
            Method::GET,
            "/jobs",
            &[("Authorization", "BEARER Tok3n")],
            None,
        )
        .await;
    let token_case = app
        .send_with(
            Method::GET,
            "/jobs",
            &[("Authorization", "Bearer tok3n")],
            None,
        )
        .await;
    let wrong_method = app
        .send_with(
            Method::PATCH,
            "/jobs/x",
            &[("Authorization", "Bearer Tok3n")],
            Some("{}"),
        )
        .await;

    assert_eq!(lower.status, StatusCode::OK);
    assert_eq!(upper.status, StatusCode::OK);
    assert_eq!(
        token_case.status,
        StatusCode::UNAUTHORIZED,
        "the token itself is exact"
    );
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        wrong_method.headers["allow"], "GET, PUT, DELETE",
        "405 before the content type"
    );
    let post_health = app.send_with(Method::POST, "/health", &[], None).await;
    assert_eq!(post_health.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post_health.body["error"], "method_not_allowed");
    assert_eq!(post_health.headers["allow"], "GET");
}

#[actix_web::test]
async fn an_open_api_off_loopback_is_refused_unless_allowed_and_then_flagged_on_ready() {
    let database = Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.http_addr = "0.0.0.0:0".parse().expect("address");

    let refused = Application::build(settings.clone())
        .await
        .err()
        .expect("refused");
    assert!(
        refused.to_string().contains("SCHEDULER_API_TOKEN"),
        "{refused}"
    );

    settings.allow_unauthenticated = true;
    let app = spawn_app_with(settings, database).await;
    let ready = app.send(Method::GET, "/ready", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    let warnings = ready.body["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains("without a token")),
        "{warnings:?}"
    );
}

#[actix_web::test]
async fn a_queue_mode_chain_goes_on_across_a_restart_and_a_stranger_cannot_adopt_it() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(
        &json!({"job_id": "kept", "queue": queue.name, "interval_seconds": 3600,
        "reschedule_mode": "queue"}),
    )
    .await;
    let bootstrap = queue.next(Duration::from_secs(5)).await.expect("bootstrap");
    let chain_id = bootstrap.body["chain_id"].clone();
    let first = app
        .post(
            "/jobs/kept/last-run",
            Some(&json!({"run_id": bootstrap.body["run_id"],
            "chain_id": chain_id, "chain_seq": 1})),
        )
        .await;
    assert_eq!(first.body["reschedule"], true);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let database = app.stop().await;
    let app = spawn_app_with(test_settings(Scope::Real, &database), database.clone()).await;
    let stranger = app
        .post(
            "/jobs/kept/last-run",
            Some(&json!({"run_id": uuid::Uuid::new_v4(),
            "chain_id": uuid::Uuid::new_v4(), "chain_seq": 2})),
        )
        .await;
    let next = app
        .post(
            "/jobs/kept/last-run",
            Some(&json!({"run_id": uuid::Uuid::new_v4(),
            "chain_id": chain_id, "chain_seq": 2, "trigger_source": "auto-reschedule"})),
        )
        .await;

    assert_eq!(
        stranger.status,
        StatusCode::NOT_FOUND,
        "{:?}",
        stranger.body
    );
    assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
    assert_eq!(
        next.body["reschedule"], true,
        "the chain the engine started goes on"
    );
    queue.delete().await;
}
