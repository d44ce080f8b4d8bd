//! Run reports over AMQP: the report body plus `job_id` published to the reports queue
//! is settled like `POST /jobs/{id}/last-run`, answered on `reply_to`, and refused messages
//! are dead-lettered.

use std::sync::Arc;
use std::time::Duration;

use actors::Scope;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{json, Value};

use crate::amqp::{rabbitmq_url, TestQueue};
use crate::helpers::{spawn_app_with, test_settings, Backend, TestDatabase};

#[actix_web::test]
async fn a_report_message_is_settled_answered_and_a_bad_one_dead_lettered() {
    let database = Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    let reports = format!("real.jobs.reports-test-{}", uuid::Uuid::new_v4().simple());
    settings.reports_queue = reports.clone();
    let app = spawn_app_with(settings, database).await;
    let mut jobs = TestQueue::new("real").await;
    let mut replies = TestQueue::new("real").await;
    app.post_job(
        &json!({"job_id": "amqp", "queue": jobs.name, "interval_seconds": 3600, "max_parallel": 5}),
    )
    .await;
    let run_id = app.post("/jobs/amqp/run-now", None).await.body["run_id"].clone();
    jobs.next(Duration::from_secs(5))
        .await
        .expect("the run's message");

    let connection = Connection::connect(&rabbitmq_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ at 127.0.0.1:5672");
    let channel = connection.create_channel().await.expect("channel");
    // The service declares the queue when it starts consuming; wait for it.
    for _ in 0..50 {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        if channel
            .queue_declare(reports.as_str().into(), passive, FieldTable::default())
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let channel = connection.create_channel().await.expect("a fresh channel");
    let replies_name = replies.name.clone();
    let publish = |body: Vec<u8>, correlation: &'static str| {
        let channel = channel.clone();
        let (reports, reply_to) = (reports.clone(), replies_name.clone());
        async move {
            channel
                .basic_publish(
                    "".into(),
                    reports.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default()
                        .with_reply_to(reply_to.as_str().into())
                        .with_correlation_id(correlation.into()),
                )
                .await
                .expect("publish")
                .await
                .expect("confirm");
        }
    };
    let report = json!({"job_id": "amqp", "run_id": run_id, "status": "failed", "error": "boom"});
    publish(report.to_string().into_bytes(), "first").await;
    let first = replies
        .next(Duration::from_secs(5))
        .await
        .expect("an answer");
    // The report's outcome reaches the job once its write commits (before the SDK's later one).
    let mut last_status = Value::Null;
    for _ in 0..60 {
        last_status = app.get_job("amqp").await.body["last_status"].clone();
        if last_status == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    publish(report.to_string().into_bytes(), "again").await;
    let again = replies
        .next(Duration::from_secs(5))
        .await
        .expect("an answer");
    publish(b"not json".to_vec(), "bad").await;
    publish(
        json!({"job_id": "amqp", "run_id": uuid::Uuid::new_v4(), "chain_id": uuid::Uuid::new_v4(), "chain_seq": 2})
            .to_string()
            .into_bytes(),
        "forged",
    )
    .await;
    publish(
        json!({"job_id": "nobody"}).to_string().into_bytes(),
        "unknown job",
    )
    .await;
    let mut dead = TestQueue::consume(format!("{reports}.dead")).await;
    let dead_letters = dead.collect_for(Duration::from_secs(3)).await;
    let refusals = replies.collect_for(Duration::from_millis(500)).await;
    // The worker SDK's AMQP transport: the same rule, the REST statuses for refusals.
    let second_run = app.post("/jobs/amqp/run-now", None).await.body["run_id"].clone();
    let client = worker::SchedulerClient::over_amqp(&rabbitmq_url(), &reports).expect("client");
    let sdk_report = worker::RunReport {
        run_id: serde_json::from_value(second_run.clone()).ok(),
        ..Default::default()
    };
    let sdk_answer = client
        .mark_job_run("amqp", &sdk_report)
        .await
        .expect("an answer");
    let sdk_refused = client
        .mark_job_run(
            "amqp",
            &worker::RunReport {
                run_id: Some(uuid::Uuid::new_v4()),
                ..Default::default()
            },
        )
        .await;

    assert_eq!(
        first
            .properties
            .correlation_id()
            .as_ref()
            .map(|c| c.as_str()),
        Some("first")
    );
    assert_eq!(first.body["counted"], true, "{}", first.body);
    assert_eq!(first.body["status"], "failed");
    assert_eq!(first.body["run_id"], run_id);
    assert_eq!(
        again.body["counted"], false,
        "a repeat counts once: {}",
        again.body
    );
    assert_eq!(
        dead_letters.len(),
        3,
        "the invalid, the forged and the unknown job: {dead_letters:?}"
    );
    let mut codes: Vec<&str> = refusals
        .iter()
        .map(|answer| answer.body["error"].as_str().unwrap_or("?"))
        .collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        ["invalid_json", "not_found", "run_not_found"],
        "{refusals:?}"
    );
    assert_eq!(
        sdk_answer.run_id.map(|id| id.to_string()),
        second_run.as_str().map(str::to_string)
    );
    assert!(sdk_answer.counted);
    assert!(
        matches!(
            sdk_refused,
            Err(worker::ClientError::Refused { status: 404, .. })
        ),
        "{sdk_refused:?}"
    );
    let runs = app
        .runs_until("amqp", 3, |runs| {
            runs.iter()
                .any(|r| r["run_id"] == run_id && r["status"] == "failed")
        })
        .await;
    let run: &Value = runs
        .iter()
        .find(|r| r["run_id"] == run_id)
        .expect("the run");
    assert_eq!(run["error"], "boom");
    assert_eq!(last_status, "failed", "the failed report reached the job");

    for queue in [reports.clone(), format!("{reports}.dead")] {
        let _ = channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    let _ = connection.close(200, "OK".into()).await;
    jobs.delete().await;
    replies.delete().await;
}
