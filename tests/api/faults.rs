//! Tests that stop a service the other tests need. They run on their own, one at a time
//! (`scripts/test` runs `faults::` first with one thread, then skips it), and always restart
//! what they stopped, even when they fail.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use actors::Scope;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, Backend, TestApp};

fn rabbitmqctl(action: &str) {
    let status = Command::new("rabbitmqctl")
        .arg(action)
        .status()
        .unwrap_or_else(|error| {
            panic!("rabbitmqctl {action}: {error} (is rabbitmqctl installed?)")
        });
    assert!(status.success(), "rabbitmqctl {action} failed: {status}");
}

/// Stops the RabbitMQ app; starts it again when dropped, also on a failed assertion.
struct BrokerStopped;

impl BrokerStopped {
    fn now() -> BrokerStopped {
        rabbitmqctl("stop_app");
        BrokerStopped
    }
}

impl Drop for BrokerStopped {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").status();
        let _ = Command::new("rabbitmqctl")
            .args(["await_startup", "--timeout", "60"])
            .status();
    }
}

async fn wait_for_ready(app: &TestApp, ready: bool, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let reply = app.send(Method::GET, "/ready", None).await;
        if (reply.status == StatusCode::OK) == ready || Instant::now() > deadline {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn broker_outage_loses_no_fire() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    // Consume after the outage: the queue is durable, the messages persistent.
    let queue_name = TestQueue::new("real").await.close().await;
    app.post_job(
        &json!({"job_id": "through-outage", "queue": queue_name, "interval_seconds": 1,
        "max_parallel": 1000, "timeout_sec": 600}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let outage = BrokerStopped::now();
    let outage_started = chrono::Utc::now();
    let down = wait_for_ready(&app, false, Duration::from_secs(10)).await;
    let api_during_outage = app.get_job("through-outage").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pending_during_outage = app
        .runs("through-outage")
        .await
        .iter()
        .filter(|run| run["status"] == "pending")
        .count();
    drop(outage);
    let outage_ended = chrono::Utc::now();
    let up = wait_for_ready(&app, true, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    app.post("/jobs/through-outage/pause", None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(down["status"], "not_ready", "{down}");
    assert!(
        down["broker"].as_str().unwrap().starts_with("down"),
        "{down}"
    );
    assert_eq!(
        api_during_outage.status,
        StatusCode::OK,
        "the API answers during the outage"
    );
    assert!(
        pending_during_outage >= 2,
        "fires during the outage wait as pending: {pending_during_outage}"
    );
    assert_eq!(up["status"], "ready", "{up}");
    let runs = app
        .runs_until("through-outage", 10, |runs| {
            runs.iter().all(|run| run["status"] != "pending")
        })
        .await;
    let during: Vec<_> = runs
        .iter()
        .filter(|run| {
            let due =
                chrono::DateTime::parse_from_rfc3339(run["due_at"].as_str().unwrap()).unwrap();
            due > outage_started && due < outage_ended
        })
        .collect();
    assert!(
        during.len() >= 2,
        "fires were due during the outage: {runs:?}"
    );
    let mut consumer = TestQueue::consume(queue_name).await;
    let delivered: HashSet<String> = consumer
        .collect_for(Duration::from_secs(2))
        .await
        .iter()
        .map(|m| m.body["run_id"].as_str().unwrap().to_string())
        .collect();
    for run in &runs {
        let run_id = run["run_id"].as_str().unwrap();
        match run["status"].as_str().unwrap() {
            "queued" => assert!(
                delivered.contains(run_id),
                "queued run {run_id} was not delivered"
            ),
            "skipped" => assert!(
                run["error"].as_str().unwrap().contains("coalesced"),
                "{run}"
            ),
            other => panic!("run {run_id} ended {other} after the outage: {run}"),
        }
    }
    println!(
        "broker outage: {} runs, {} due during the outage, {} delivered, none lost",
        runs.len(),
        during.len(),
        delivered.len()
    );
    consumer.delete().await;
}

/// A kill -9 while a fire waits for the broker (published into the outbox, no confirm): after
/// the restart the instant is published under its staged run_id and no other.
#[actix_web::test]
async fn a_kill_9_while_publishing_republishes_under_the_same_run_id() {
    use crate::crash::{create, free_port, run_ids_for_due, staged_run, start_with, wait_ready};
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("scheduler.db");
    let queue_name = TestQueue::new("real").await.close().await;
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [("SCHEDULER_STAGE_AHEAD_SECONDS", "60")];

    let mut first = start_with(&db, dir.path(), port, &env);
    wait_ready(&client, &base).await;
    create(&client, &base, json!({"job_id": "outboxed", "queue": queue_name, "interval_seconds": 10, "max_parallel": 10})).await;
    let staged = staged_run(&client, &base, "outboxed").await;
    let due: chrono::DateTime<chrono::Utc> = staged["due_at"].as_str().unwrap().parse().unwrap();
    let outage = BrokerStopped::now();
    let stopped_before_due = chrono::Utc::now() < due;
    let wait = (due + chrono::Duration::milliseconds(800) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    drop(outage);
    let mut second = start_with(&db, dir.path(), port, &env);
    wait_ready(&client, &base).await;
    let mut consumer = TestQueue::consume(queue_name).await;
    let received = consumer.collect_for(Duration::from_secs(3)).await;
    second.kill().expect("SIGKILL");
    second.wait().expect("reaped");
    consumer.delete().await;

    assert!(
        stopped_before_due,
        "the broker was stopped before the instant (slow rabbitmqctl?)"
    );
    assert_eq!(
        run_ids_for_due(&received, &staged),
        std::collections::BTreeSet::from([staged["run_id"].as_str().unwrap().to_string()]),
        "the instant is delivered under its staged run_id only: {received:?}"
    );
}

/// What the bot sent to the admin chat.
fn to_admin(fake: &crate::fake_telegram::FakeBotApi) -> Vec<String> {
    fake.sent()
        .into_iter()
        .filter(|(chat, _)| *chat == crate::telegram::ADMIN)
        .map(|(_, text)| text)
        .collect()
}

#[actix_web::test]
async fn a_broker_outage_is_one_alert_and_its_recovery_another() {
    let fake = crate::fake_telegram::FakeBotApi::start().await;
    let app = crate::telegram::app_with_bot(&fake, 2).await;
    let outage = |text: &String| text.contains("broker (RabbitMQ) unavailable");
    let recovery = |text: &String| text.contains("broker (RabbitMQ) is back");
    {
        let _stopped = BrokerStopped::now();
        fake.wait_for_text("broker (RabbitMQ) unavailable for", 20)
            .await;
        // Still down well past the threshold: no second alert.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let to_admin = to_admin(&fake);
        assert_eq!(
            to_admin.iter().filter(|text| outage(text)).count(),
            1,
            "{to_admin:#?}"
        );
    }
    fake.wait_for_text("broker (RabbitMQ) is back", 60).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let to_admin = to_admin(&fake);
    assert_eq!(
        to_admin.iter().filter(|text| outage(text)).count(),
        1,
        "{to_admin:#?}"
    );
    assert_eq!(
        to_admin.iter().filter(|text| recovery(text)).count(),
        1,
        "{to_admin:#?}"
    );
    assert!(
        to_admin.iter().all(|text| text.starts_with("[REAL] ")),
        "{to_admin:#?}"
    );
    drop(app);
    fake.stop().await;
}

/// Stops MariaDB; starts it again when dropped, also on a failed assertion.
struct DatabaseStopped;

impl DatabaseStopped {
    fn now() -> DatabaseStopped {
        let status = Command::new("mysqladmin")
            .args(["-uroot", "shutdown"])
            .status()
            .unwrap_or_else(|error| panic!("mysqladmin shutdown: {error} (is MariaDB installed?)"));
        assert!(status.success(), "mysqladmin shutdown failed: {status}");
        DatabaseStopped
    }
}

impl Drop for DatabaseStopped {
    fn drop(&mut self) {
        let _ = Command::new("install")
            .args(["-d", "-o", "mysql", "-g", "mysql", "/run/mysqld"])
            .status();
        let _ = Command::new("start-stop-daemon")
            .args([
                "--start",
                "--oknodo",
                "--background",
                "--exec",
                "/usr/sbin/mariadbd",
            ])
            .status();
        for _ in 0..120 {
            let up = Command::new("mysqladmin")
                .args(["-uroot", "ping"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

#[actix_web::test]
async fn a_mariadb_restart_under_a_cluster_fires_nothing_twice_and_loses_no_run_row() {
    use crate::cluster::{assert_no_double_fire, Cluster, TTL_SECONDS};
    use sea_orm::ConnectionTrait;

    let cluster = Cluster::start(2).await;
    let mut queue = TestQueue::new("real").await;
    cluster.balanced(&[0, 1], Duration::from_secs(20)).await;
    let jobs = cluster.create_jobs(30, &queue.name).await;
    let mut received = queue.collect_for(Duration::from_secs(3)).await;

    let stopped = DatabaseStopped::now();
    received.extend(
        queue
            .collect_for(Duration::from_secs(2 * TTL_SECONDS))
            .await,
    );
    drop(stopped);
    let back_at = chrono::Utc::now();
    cluster.balanced(&[0, 1], Duration::from_secs(30)).await;
    received.extend(queue.collect_for(Duration::from_secs(6)).await);

    let repeats = assert_no_double_fire(&received);
    for job_id in &jobs {
        assert!(
            received
                .iter()
                .any(|message| message.body["job_id"] == json!(job_id)
                    && message.received_at > back_at),
            "{job_id} fires again once the database is back"
        );
    }
    // Every run that went out has its row once the writes landed.
    let connection = cluster.database.connection().await;
    let published: HashSet<String> = (received.iter())
        .filter_map(|message| message.body["run_id"].as_str().map(str::to_string))
        .collect();
    let mut missing = published.clone();
    for _ in 0..40 {
        let rows = connection
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::MySql,
                "SELECT run_id FROM job_runs".to_string(),
            ))
            .await
            .expect("read the run rows");
        let recorded: HashSet<String> = rows
            .iter()
            .filter_map(|row| row.try_get::<String>("", "run_id").ok())
            .collect();
        missing = published.difference(&recorded).cloned().collect();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "{} runs published around a MariaDB restart, {repeats} again under their run_id",
        published.len()
    );
    assert!(
        missing.is_empty(),
        "{} published runs have no row: {:?}",
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>()
    );
    queue.delete().await;
}
