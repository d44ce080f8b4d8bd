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
    start_with(db, config_dir, port, &[])
}

/// The service binary on `db`, listening on `port`, with more environment variables.
pub fn start_with(
    db: &std::path::Path,
    config_dir: &std::path::Path,
    port: u16,
    env: &[(&str, &str)],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_jennie-scheduler"))
        .env("SCHEDULER_CONFIG_DIR", config_dir)
        .env("SCHEDULER_DB_PATH", db)
        .env("SCHEDULER_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SCHEDULER_MISFIRE_GRACE_SECONDS", "300")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the service binary")
}

pub async fn wait_ready(client: &reqwest::Client, base: &str) {
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

pub fn free_port() -> u16 {
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
    let restarted_at = Utc::now();
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
        assert!(
            dues.keys().any(|due| *due > restarted_at),
            "{job_id}: fires go on after the restart"
        );
        let last = before_kill.last().expect("fired before the kill");
        assert!(
            killed_at.trunc_subsecs(0) - *last <= chrono::Duration::seconds(1),
            "{job_id}: the fires due between {last} and the kill at {killed_at} are lost"
        );
    }
}

/// The staged run of `job_id` as the API lists it, once written.
pub async fn staged_run(client: &reqwest::Client, base: &str, job_id: &str) -> Value {
    for _ in 0..100 {
        let runs: Vec<Value> = client
            .get(format!("{base}/jobs/{job_id}/runs"))
            .send()
            .await
            .expect("runs")
            .json()
            .await
            .expect("runs JSON");
        if let Some(run) = runs.into_iter().find(|run| run["status"] == "scheduled") {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no staged run of {job_id}");
}

/// Creates an interval job through the API of the service at `base`.
pub async fn create(client: &reqwest::Client, base: &str, job: Value) {
    let created = client
        .post(format!("{base}/jobs"))
        .json(&job)
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
}

/// The run_ids `received` carries for the due second of `run` (a run row).
pub fn run_ids_for_due(received: &[Received], run: &Value) -> BTreeSet<String> {
    let due: DateTime<Utc> = run["due_at"].as_str().unwrap().parse().unwrap();
    received
        .iter()
        .filter(|delivery| delivery.instant("due_at").trunc_subsecs(0) == due.trunc_subsecs(0))
        .map(|delivery| delivery.body["run_id"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn a_kill_9_after_staging_fires_the_staged_run_once_under_its_run_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("scheduler.db");
    let mut queue = TestQueue::new("real").await;
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [("SCHEDULER_STAGE_AHEAD_SECONDS", "60")];

    let mut first = start_with(&db, dir.path(), port, &env);
    wait_ready(&client, &base).await;
    create(
        &client,
        &base,
        json!({"job_id": "staged-crash", "queue": queue.name, "interval_seconds": 6}),
    )
    .await;
    let staged = staged_run(&client, &base, "staged-crash").await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let mut second = start_with(&db, dir.path(), port, &env);
    wait_ready(&client, &base).await;
    let received = queue.collect_for(Duration::from_secs(8)).await;
    second.kill().expect("SIGKILL");
    second.wait().expect("reaped");
    queue.delete().await;

    let run_ids = run_ids_for_due(&received, &staged);
    assert_eq!(
        run_ids,
        BTreeSet::from([staged["run_id"].as_str().unwrap().to_string()]),
        "the staged instant fires once, under the staged run_id: {received:?}"
    );
}

#[actix_web::test]
async fn a_kill_9_after_the_confirm_before_its_write_republishes_under_the_same_run_id() {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("scheduler.db");
    let mut queue = TestQueue::new("real").await;
    let client = reqwest::Client::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [("SCHEDULER_STAGE_AHEAD_SECONDS", "60")];

    let mut first = start_with(&db, dir.path(), port, &env);
    wait_ready(&client, &base).await;
    create(&client, &base, json!({"job_id": "unrecorded", "queue": queue.name, "interval_seconds": 4, "max_parallel": 10})).await;
    let staged = staged_run(&client, &base, "unrecorded").await;
    // Hold the database's write lock over the fire: the publish needs no write (its row is
    // staged), the confirm's `queued` write and everything after it cannot land.
    let locker = Database::connect(format!("sqlite://{}", db.display()).as_str())
        .await
        .expect("connect to the service's database");
    let lock = locker.begin().await.expect("begin");
    lock.execute_unprepared("UPDATE jobs SET description = 'locked'")
        .await
        .expect("take the write lock");
    let fired = queue.next(Duration::from_secs(6)).await.expect("the fire");
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    lock.rollback().await.expect("release the lock");
    drop(locker);
    let mut second = start_with(&db, dir.path(), port, &env);
    wait_ready(&client, &base).await;
    let mut received = vec![fired];
    received.extend(queue.collect_for(Duration::from_secs(6)).await);
    let runs: Vec<Value> = client
        .get(format!("{base}/jobs/unrecorded/runs"))
        .send()
        .await
        .expect("runs")
        .json()
        .await
        .expect("runs JSON");
    second.kill().expect("SIGKILL");
    second.wait().expect("reaped");
    queue.delete().await;

    assert_eq!(
        received[0].body["run_id"], staged["run_id"],
        "the fire was the staged run"
    );
    let run_ids = run_ids_for_due(&received, &staged);
    assert_eq!(
        run_ids,
        BTreeSet::from([staged["run_id"].as_str().unwrap().to_string()]),
        "after the restart the instant is published again under the same run_id only: {received:?}"
    );
    let after: Vec<&Received> = received
        .iter()
        .filter(|delivery| delivery.instant("due_at") > received[0].instant("due_at"))
        .collect();
    assert!(
        !after.is_empty(),
        "the schedule goes on after the restart: {:?} {runs:?}",
        received
            .iter()
            .map(|r| (
                r.body["run_id"].clone(),
                r.body["due_at"].clone(),
                r.received_at
            ))
            .collect::<Vec<_>>()
    );
    let row = runs
        .iter()
        .find(|run| run["run_id"] == staged["run_id"])
        .expect("the run's row");
    assert_ne!(
        row["status"], "scheduled",
        "the restarted service took the run over: {row}"
    );
}
