//! Scheduled fires reach RabbitMQ with the message of the contract, on time.

use std::collections::BTreeSet;
use std::time::Duration;

use actors::Scope;
use reqwest::StatusCode;
use serde_json::json;

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, Backend};

async fn messages_match_the_contract(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = TestQueue::new("real").await;
    let created = app
        .post_job(
            &json!({"job_id": "contract", "queue": queue.name, "interval_seconds": 1,
            "default_params": {"scan_mode": "swing", "limit": 5}, "max_parallel": 10,
            "timeout_sec": 90, "retry_limit": 2}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);

    let fired = queue
        .next(Duration::from_secs(5))
        .await
        .expect("a scheduled message");
    let run_now = app
        .post(
            "/jobs/contract/run-now",
            Some(&json!({"params": {"limit": 50, "extra": true}})),
        )
        .await;
    assert_eq!(run_now.status, StatusCode::ACCEPTED, "{:?}", run_now.body);
    let manual = loop {
        let message = queue
            .next(Duration::from_secs(5))
            .await
            .expect("the manual message");
        if message.body["trigger_source"] == "manual" {
            break message;
        }
    };

    let body = &fired.body;
    let keys: BTreeSet<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "job_id",
        "scope",
        "run_id",
        "trigger_source",
        "params",
        "next_delay_sec",
        "auto_reschedule",
        "timeout_sec",
        "retry_limit",
        "telemetry_label",
        "queued_at",
        "due_at",
        "attempt",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(body["job_id"], "contract");
    assert_eq!(body["scope"], "real");
    assert_eq!(body["trigger_source"], "scheduler");
    assert_eq!(body["params"], json!({"scan_mode": "swing", "limit": 5}));
    assert_eq!(body["next_delay_sec"], 1);
    assert_eq!(body["auto_reschedule"], false);
    assert_eq!(body["timeout_sec"], 90);
    assert_eq!(body["retry_limit"], 2);
    assert_eq!(body["telemetry_label"], "contract_job");
    assert_eq!(body["attempt"], 1);
    for field in ["queued_at", "due_at"] {
        assert!(
            body[field].as_str().expect("a string").ends_with('Z'),
            "{field}: {body}"
        );
        fired.instant(field);
    }
    assert!(fired.instant("queued_at") >= fired.instant("due_at"));
    let run_id = body["run_id"].as_str().expect("run_id");
    uuid::Uuid::parse_str(run_id).expect("run_id is a UUID");
    let properties = &fired.properties;
    assert_eq!(
        properties.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(*properties.delivery_mode(), Some(2), "persistent delivery");
    assert_eq!(
        properties.message_id().as_ref().map(|s| s.as_str()),
        Some(run_id)
    );

    assert_eq!(manual.body["run_id"], run_now.body["run_id"]);
    assert_eq!(
        manual.body["params"],
        json!({"scan_mode": "swing", "limit": 50, "extra": true})
    );
    assert_eq!(manual.body["due_at"], manual.body["queued_at"]);
    queue.delete().await;
}
crate::on_both_backends!(messages_match_the_contract);

#[actix_web::test]
async fn an_interval_job_fires_once_a_second_on_time() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "every-second", "queue": queue.name, "interval_seconds": 1, "max_parallel": 100}))
        .await;

    let received = queue.collect_for(Duration::from_millis(6_500)).await;

    // Created at t0: fires at t0+1 … t0+6.
    assert!(
        (5..=7).contains(&received.len()),
        "{} fires in 6.5 s",
        received.len()
    );
    let lateness: Vec<i64> = received.iter().map(|r| r.lateness_ms()).collect();
    println!("lateness of each fire (receive time - due_at), ms: {lateness:?}");
    for pair in received.windows(2) {
        let step = pair[1].instant("due_at") - pair[0].instant("due_at");
        assert_eq!(
            step.num_milliseconds(),
            1_000,
            "intervals are anchored, never drift"
        );
    }
    assert!(
        lateness.iter().all(|ms| (0..1_000).contains(ms)),
        "{lateness:?}"
    );
    queue.delete().await;
}

async fn pause_resume_put_and_delete_take_effect_live(backend: Backend) {
    let app = spawn_app(Scope::Mock, backend).await;
    let mut queue = TestQueue::new("mock").await;
    app.post_job(
        &json!({"job_id": "live", "queue": queue.name, "interval_seconds": 1, "max_parallel": 100}),
    )
    .await;
    assert!(
        queue.next(Duration::from_secs(3)).await.is_some(),
        "fires before pause"
    );

    // Pause: no fires.
    let paused = app.post("/jobs/live/pause", None).await;
    assert_eq!(paused.status, StatusCode::OK);
    assert_eq!(paused.body["enabled"], false);
    assert_eq!(paused.body["next_due_at"], serde_json::Value::Null);
    queue.collect_for(Duration::from_millis(300)).await; // a fire already on its way
    assert!(
        queue
            .collect_for(Duration::from_millis(2_500))
            .await
            .is_empty(),
        "fired while paused"
    );

    // Resume: fires again.
    let resumed = app.post("/jobs/live/resume", None).await;
    assert_eq!(resumed.body["enabled"], true);
    assert!(resumed.body["next_due_at"].is_string());
    assert!(
        queue.next(Duration::from_secs(3)).await.is_some(),
        "no fire after resume"
    );

    // PUT a new interval: the rate follows without a restart.
    let put = app.put_job("live", &json!({"interval_seconds": 2})).await;
    let put_at = chrono::Utc::now();
    assert_eq!(put.status, StatusCode::OK);
    let received = queue.collect_for(Duration::from_millis(5_000)).await;
    let dues: Vec<_> = received
        .iter()
        .map(|r| r.instant("due_at"))
        .filter(|due| *due > put_at)
        .collect();
    assert!(
        (2..=3).contains(&dues.len()),
        "{} fires in 5 s at a 2 s interval",
        dues.len()
    );
    for pair in dues.windows(2) {
        assert_eq!((pair[1] - pair[0]).num_milliseconds(), 2_000);
    }

    // DELETE: no more fires.
    assert_eq!(app.delete_job("live").await.status, StatusCode::NO_CONTENT);
    queue.collect_for(Duration::from_millis(300)).await;
    assert!(
        queue
            .collect_for(Duration::from_millis(2_500))
            .await
            .is_empty(),
        "fired after delete"
    );
    queue.delete().await;
}
crate::on_both_backends!(pause_resume_put_and_delete_take_effect_live);

#[actix_web::test]
async fn a_cron_job_is_armed_for_its_next_instant_in_the_configured_zone() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;

    let created = app
        .post_job(&json!({"job_id": "scout", "queue": "real.jobs.scout-armed", "cron_expr": "0 8 * * 1-5"}))
        .await;

    let next =
        chrono::DateTime::parse_from_rfc3339(created.body["next_due_at"].as_str().expect("armed"))
            .expect("RFC 3339")
            .with_timezone(&chrono_tz::Asia::Seoul);
    use chrono::{Datelike, Timelike};
    assert_eq!((next.hour(), next.minute()), (8, 0), "{next}");
    assert!(next.weekday().number_from_monday() <= 5, "{next}");
    assert!(next > chrono::Utc::now());
}
