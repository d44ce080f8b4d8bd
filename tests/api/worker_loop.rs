//! The whole loop with the worker SDK in-process: scheduler → RabbitMQ → worker → report
//! (→ delay queue → worker, in queue mode).

use std::time::Duration;

use actors::Scope;
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::mpsc;
use worker::{JobMessage, Publisher, SchedulerClient, Worker, WorkerConfig, WorkerHandle};

use crate::amqp::rabbitmq_url;
use crate::helpers::{spawn_app, Backend, TestApp};

fn unique_queue(scope: &str) -> String {
    format!("{scope}.jobs.worker-{}", uuid::Uuid::new_v4().simple())
}

/// Starts an SDK worker on `queue` whose handler sends every message it gets to the returned
/// receiver, sleeps `work`, and fails with `fail` when given.
fn start_worker(
    app: &TestApp,
    queue: &str,
    work: Duration,
    fail: Option<&'static str>,
) -> (WorkerHandle, mpsc::UnboundedReceiver<JobMessage>) {
    start_worker_on(app, queue, work, fail, worker::QueueType::Classic)
}

/// [`start_worker`] declaring its queues as `queue_type`.
fn start_worker_on(
    app: &TestApp,
    queue: &str,
    work: Duration,
    fail: Option<&'static str>,
    queue_type: worker::QueueType,
) -> (WorkerHandle, mpsc::UnboundedReceiver<JobMessage>) {
    let (seen, received) = mpsc::unbounded_channel();
    let config = WorkerConfig {
        amqp_url: rabbitmq_url(),
        queue: queue.to_string(),
        prefetch: 1,
        scheduler: SchedulerClient::new(&app.address, app.token.clone()).expect("client"),
        publisher: Publisher::new(&rabbitmq_url(), queue).with_queue_type(queue_type),
    };
    let handle = Worker::new(config).spawn(move |job: JobMessage| {
        let seen = seen.clone();
        async move {
            let _ = seen.send(job);
            tokio::time::sleep(work).await;
            match fail {
                Some(message) => Err(message.to_string()),
                None => Ok(()),
            }
        }
    });
    (handle, received)
}

async fn collect(
    received: &mut mpsc::UnboundedReceiver<JobMessage>,
    duration: Duration,
) -> Vec<JobMessage> {
    let deadline = tokio::time::Instant::now() + duration;
    let mut messages = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, received.recv()).await {
        messages.push(message);
    }
    messages
}

async fn delete_queues(queue: &str) {
    let connection =
        lapin::Connection::connect(&rabbitmq_url(), lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("channel");
    for name in [queue.to_string(), worker::delay_queue_name(queue, 1000)] {
        let _ = channel
            .queue_delete(name.as_str().into(), Default::default())
            .await;
    }
    let _ = connection.close(200, "OK".into()).await;
}

async fn scheduler_mode_end_to_end(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let queue = unique_queue("real");
    let (worker, mut received) = start_worker(&app, &queue, Duration::from_millis(200), None);
    app.post_job(&json!({"job_id": "e2e", "queue": queue, "interval_seconds": 3600, "default_params": {"scan_mode": "swing"}}))
        .await;

    let run = app.post("/jobs/e2e/run-now", None).await;
    let message = received.recv().await.expect("the worker got the run");
    let runs = app
        .runs_until("e2e", 5, |runs| {
            runs.first().is_some_and(|r| r["status"] == "success")
        })
        .await;
    let job = app.get_job("e2e").await.body;

    assert_eq!(
        message.run_id.to_string(),
        run.body["run_id"].as_str().unwrap()
    );
    assert_eq!(message.params["scan_mode"], "swing");
    assert_eq!(runs[0]["status"], "success", "{runs:?}");
    let duration = runs[0]["duration_seconds"].as_f64().expect("a duration");
    assert!((0.19..5.0).contains(&duration), "duration {duration}");
    assert_eq!(job["last_status"], "success");
    assert!(job["last_run_at"].is_string());
    worker.stop().await;
    delete_queues(&queue).await;
}
crate::on_both_backends!(scheduler_mode_end_to_end);

#[actix_web::test]
async fn a_failing_handler_is_retried_up_to_the_limit() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let queue = unique_queue("real");
    let (worker, mut received) = start_worker(&app, &queue, Duration::ZERO, Some("scan exploded"));
    app.post_job(
        &json!({"job_id": "failing", "queue": queue, "interval_seconds": 3600, "retry_limit": 2}),
    )
    .await;

    app.post("/jobs/failing/run-now", None).await;
    let attempts: Vec<u32> = collect(&mut received, Duration::from_secs(6))
        .await
        .iter()
        .map(|m| m.attempt)
        .collect();
    let runs = app
        .runs_until("failing", 5, |runs| {
            runs.len() == 3 && runs.iter().all(|r| r["status"] == "failed")
        })
        .await;
    let job = app.get_job("failing").await.body;

    assert_eq!(
        attempts,
        vec![1, 2, 3],
        "one try and retry_limit (2) retries"
    );
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(
        runs.iter()
            .all(|run| run["status"] == "failed" && run["error"] == "scan exploded"),
        "{runs:?}"
    );
    assert_eq!(job["last_status"], "failed");
    assert_eq!(job["last_error"], "scan exploded");
    worker.stop().await;
    delete_queues(&queue).await;
}

#[actix_web::test]
async fn a_duplicate_delivery_is_handled_and_reported_once() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let queue = unique_queue("real");
    let (worker, mut received) = start_worker(&app, &queue, Duration::ZERO, None);
    app.post_job(&json!({"job_id": "dup", "queue": queue, "interval_seconds": 3600}))
        .await;
    app.post("/jobs/dup/run-now", None).await;
    let first = received.recv().await.expect("first delivery");

    // The same message again, as a reconnect could deliver it.
    Publisher::new(&rabbitmq_url(), &queue)
        .publish(&first)
        .await
        .expect("publish the copy");
    let again = collect(&mut received, Duration::from_secs(2)).await;
    let runs = app
        .runs_until("dup", 3, |runs| {
            runs.iter().all(|r| r["status"] == "success")
        })
        .await;

    assert!(
        again.is_empty(),
        "the duplicate reached the handler: {again:?}"
    );
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "success");
    worker.stop().await;
    delete_queues(&queue).await;
}

/// Chain ids of messages, in order of first appearance.
fn chains(messages: &[JobMessage]) -> Vec<uuid::Uuid> {
    let mut seen = Vec::new();
    for message in messages {
        let chain = message
            .chain_id
            .expect("queue-mode messages carry their chain");
        if !seen.contains(&chain) {
            seen.push(chain);
        }
    }
    seen
}

async fn queue_mode_chain_runs_pauses_resumes_and_survives_a_killed_worker(backend: Backend) {
    let app = spawn_app(Scope::Mock, backend).await;
    let queue = unique_queue("mock");
    let (worker, mut received) = start_worker(&app, &queue, Duration::from_millis(100), None);
    let created = app
        .post_job(&json!({"job_id": "chain", "queue": queue, "reschedule_mode": "queue", "interval_seconds": 1,
            "timeout_sec": 5}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);

    // Cycles flow through the delay queue, with no scheduler fire after the bootstrap.
    let cycles = collect(&mut received, Duration::from_millis(4_800)).await;
    assert!(cycles.len() >= 3, "{} cycles in 4.8 s", cycles.len());
    assert_eq!(
        cycles[0].trigger_source.as_str(),
        "scheduler",
        "the bootstrap"
    );
    assert!(
        cycles[1..]
            .iter()
            .all(|m| m.trigger_source.as_str() == "auto-reschedule"),
        "{cycles:?}"
    );
    assert!(cycles
        .iter()
        .all(|m| m.auto_reschedule && m.next_delay_sec == Some(1)));
    assert_eq!(chains(&cycles).len(), 1);
    let seqs: Vec<u64> = cycles.iter().map(|m| m.chain_seq.unwrap()).collect();
    assert_eq!(seqs, (1..=cycles.len() as u64).collect::<Vec<_>>());

    // Pause: the chain stops within one cycle.
    app.post("/jobs/chain/pause", None).await;
    collect(&mut received, Duration::from_millis(2_500)).await;
    let while_paused = collect(&mut received, Duration::from_secs(3)).await;
    assert!(
        while_paused.is_empty(),
        "the chain kept running while paused: {while_paused:?}"
    );

    // Resume: exactly one chain.
    app.post("/jobs/chain/resume", None).await;
    let after_resume = collect(&mut received, Duration::from_secs(5)).await;
    assert!(
        after_resume.len() >= 3,
        "{} cycles after resume",
        after_resume.len()
    );
    assert_eq!(
        chains(&after_resume).len(),
        1,
        "one chain after resume: {after_resume:?}"
    );
    assert!(
        !chains(&cycles).contains(&chains(&after_resume)[0]),
        "a new chain"
    );

    // Kill the worker in the middle of a run; a new worker picks the chain up again.
    let in_progress = received.recv().await.expect("a run in progress");
    worker.kill().await;
    let (worker, mut received) = start_worker(&app, &queue, Duration::from_millis(100), None);
    let resumed = collect(&mut received, Duration::from_secs(5)).await;
    assert!(
        resumed.len() >= 2,
        "the chain came back: {} runs",
        resumed.len()
    );
    assert_eq!(
        resumed[0].run_id, in_progress.run_id,
        "the unacknowledged run is delivered again"
    );
    assert_eq!(chains(&resumed).len(), 1, "still one chain");
    worker.stop().await;
    delete_queues(&queue).await;
}
crate::on_both_backends!(queue_mode_chain_runs_pauses_resumes_and_survives_a_killed_worker);

#[actix_web::test]
async fn the_watchdog_restarts_a_broken_chain_and_the_old_one_stops() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let queue = unique_queue("real");
    // No worker yet: the bootstrap waits in the queue and nobody reports.
    app.post_job(&json!({"job_id": "watched", "queue": queue, "reschedule_mode": "queue", "interval_seconds": 1,
        "timeout_sec": 1}))
        .await;
    tokio::time::sleep(Duration::from_millis(2_600)).await;

    let (worker, mut received) = start_worker(&app, &queue, Duration::ZERO, None);
    let messages = collect(&mut received, Duration::from_secs(5)).await;
    let bootstraps = messages
        .iter()
        .filter(|m| m.trigger_source.as_str() == "scheduler")
        .count();
    let later: Vec<JobMessage> = messages.into_iter().skip(3).collect();

    assert!(
        bootstraps >= 2,
        "the watchdog started a new chain: {bootstraps} bootstraps"
    );
    assert!(!later.is_empty());
    assert_eq!(
        chains(&later).len(),
        1,
        "only the newest chain goes on: {later:?}"
    );
    worker.stop().await;
    delete_queues(&queue).await;
}

#[actix_web::test]
async fn editing_or_deleting_a_queue_mode_job_reaches_the_chain() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let queue = unique_queue("real");
    let (worker, mut received) = start_worker(&app, &queue, Duration::ZERO, None);
    app.post_job(&json!({"job_id": "edited-chain", "queue": queue, "reschedule_mode": "queue", "interval_seconds": 1,
        "default_params": {"v": 1}}))
        .await;
    assert!(
        collect(&mut received, Duration::from_millis(2_500))
            .await
            .len()
            >= 2
    );

    // A PUT of a setting the messages carry starts a new chain with the new settings.
    app.put_job("edited-chain", &json!({"default_params": {"v": 2}}))
        .await;
    collect(&mut received, Duration::from_millis(1_500)).await;
    let edited = collect(&mut received, Duration::from_secs(3)).await;
    assert!(!edited.is_empty());
    assert!(edited.iter().all(|m| m.params["v"] == 2), "{edited:?}");
    assert_eq!(chains(&edited).len(), 1);

    // DELETE: the worker is told the job is gone and the chain ends.
    assert_eq!(
        app.delete_job("edited-chain").await.status,
        StatusCode::NO_CONTENT
    );
    collect(&mut received, Duration::from_millis(2_500)).await;
    let after_delete = collect(&mut received, Duration::from_secs(3)).await;
    assert!(
        after_delete.is_empty(),
        "the chain of a deleted job went on: {after_delete:?}"
    );
    worker.stop().await;
    delete_queues(&queue).await;
}

/// The type RabbitMQ reports for `queue`.
fn queue_type_of(queue: &str) -> String {
    let output = std::process::Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "name", "type", "--no-table-headers"])
        .output()
        .expect("rabbitmqctl list_queues (is rabbitmqctl installed?)");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .find(|(name, _)| *name == queue)
        .map(|(_, kind)| kind.trim().to_string())
        .unwrap_or_default()
}

#[actix_web::test]
async fn with_quorum_queues_fires_and_delayed_reschedules_still_flow() {
    let database = std::sync::Arc::new(crate::helpers::TestDatabase::new(Backend::Sqlite).await);
    let mut settings = crate::helpers::test_settings(Scope::Mock, &database);
    settings.queue_type = worker::QueueType::Quorum;
    let app = crate::helpers::spawn_app_with(settings, database).await;
    let queue = unique_queue("mock");
    let (worker, mut received) = start_worker_on(
        &app,
        &queue,
        Duration::from_millis(50),
        None,
        worker::QueueType::Quorum,
    );
    let created = app
        .post_job(
            &json!({"job_id": "quorum-chain", "queue": queue, "reschedule_mode": "queue",
            "interval_seconds": 1, "timeout_sec": 5}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);

    let cycles = collect(&mut received, Duration::from_millis(4_800)).await;
    let job_queue = queue_type_of(&queue);
    let delay_queue = queue_type_of(&worker::delay_queue_name(&queue, 1000));
    worker.stop().await;
    delete_queues(&queue).await;

    assert!(
        cycles.len() >= 3,
        "{} cycles in 4.8 s through a quorum delay queue",
        cycles.len()
    );
    assert_eq!(job_queue, "quorum");
    assert_eq!(delay_queue, "quorum");
}
