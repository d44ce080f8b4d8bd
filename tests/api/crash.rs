//! A crash (SIGKILL, no shutdown) with publishes in flight loses no fire and publishes no due
//! instant under two run_ids after the restart; no run is left `pending`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{json, Value};

use crate::amqp::{Received, TestQueue};

const JOBS: usize = 40;

/// The service binary on `db`, listening on `port`.
fn start(db: &std::path::Path, config_dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_jennie-scheduler"))
        .env("SCHEDULER_CONFIG_DIR", config_dir)
        .env("SCHEDULER_DB_PATH", db)
        .env("SCHEDULER_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SCHEDULER_MISFIRE_GRACE_SECONDS", "300")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the service binary")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..150 {
        if client
            .get(format!("{base}/ready"))
            .send()
            .await
            .is_ok_and(|reply| reply.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the service at {base} did not become ready in 15 s (is RabbitMQ up?)");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

#[actix_web::test]
async fn a_kill_9_with_publishes_in_flight_loses_no_fire_and_fires_none_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("scheduler.db");
    let mut queue = TestQueue::new("real").await;
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let mut first = start(&db, dir.path(), port);
    wait_ready(&client, &base).await;
    for index in 0..JOBS {
        let created = client
            .post(format!("{base}/jobs"))
            .json(
                &json!({"job_id": format!("crash-{index}"), "queue": queue.name,
                "interval_seconds": 1, "max_parallel": 100, "timeout_sec": 600}),
            )
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    }
    let mut received: Vec<Received> = queue.collect_for(Duration::from_millis(3_300)).await;
    first.kill().expect("SIGKILL");
    let killed_at = Utc::now();
    first.wait().expect("reaped");
    received.extend(queue.collect_for(Duration::from_millis(1_000)).await);

    let mut second = start(&db, dir.path(), port);
    wait_ready(&client, &base).await;
    received.extend(queue.collect_for(Duration::from_secs(4)).await);
    let mut stuck = Vec::new();
    let mut recorded = HashMap::new();
    for index in 0..JOBS {
        let runs: Vec<Value> = client
            .get(format!("{base}/jobs/crash-{index}/runs?limit=1000"))
            .send()
            .await
            .expect("runs")
            .json()
            .await
            .expect("runs JSON");
        for run in runs {
            let queued_at: DateTime<Utc> = run["queued_at"].as_str().unwrap().parse().unwrap();
            if run["status"] == "pending" && Utc::now() - queued_at > chrono::Duration::seconds(2) {
                stuck.push(run.clone());
            }
            recorded.insert(run["run_id"].as_str().unwrap().to_string(), run);
        }
    }
    second.kill().expect("SIGKILL");
    second.wait().expect("reaped");
    queue.delete().await;

    assert!(stuck.is_empty(), "runs left pending: {stuck:?}");
    // Per job, per due second: the run_ids it was delivered under.
    let mut fires: BTreeMap<String, BTreeMap<DateTime<Utc>, BTreeSet<String>>> = BTreeMap::new();
    for delivery in &received {
        let job_id = delivery.body["job_id"]
            .as_str()
            .expect("job_id")
            .to_string();
        let run_id = delivery.body["run_id"]
            .as_str()
            .expect("run_id")
            .to_string();
        assert!(
            recorded.contains_key(&run_id),
            "published without a run row: {}",
            delivery.body
        );
        fires
            .entry(job_id)
            .or_default()
            .entry(delivery.instant("due_at").trunc_subsecs(0))
            .or_default()
            .insert(run_id);
    }
    assert_eq!(fires.len(), JOBS, "every job fired");
    for (job_id, dues) in &fires {
        for (due, run_ids) in dues {
            assert_eq!(
                run_ids.len(),
                1,
                "{job_id} due {due} published under {run_ids:?}"
            );
        }
        let before_kill: Vec<DateTime<Utc>> = dues
            .keys()
            .copied()
            .filter(|due| *due <= killed_at)
            .collect();
        for pair in before_kill.windows(2) {
            assert!(
                pair[1] - pair[0] <= chrono::Duration::seconds(1),
                "{job_id}: the fires between {} and {} are lost",
                pair[0],
                pair[1]
            );
        }
        let last = before_kill.last().expect("fired before the kill");
        assert!(
            killed_at.trunc_subsecs(0) - *last <= chrono::Duration::seconds(1),
            "{job_id}: the fires due between {last} and the kill at {killed_at} are lost"
        );
    }
}
