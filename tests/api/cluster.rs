//! Cluster mode: several instances of one scope on one MariaDB database, each a real process.
//! Every due instant is published under one run_id, however instances die, freeze or lose the
//! database; the partitions of a killed instance fire again within the lease TTL + 2 s.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actors::engine::cluster::partition_of;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::amqp::{Received, TestQueue};
use crate::crash::{free_port, wait_ready};
use crate::helpers::{Backend, TestDatabase};

/// The lease TTL the cluster tests run with (short, to keep them short).
pub const TTL_SECONDS: u64 = 3;
pub const PARTITIONS: u32 = 12;

/// One instance: a service process of scope `real` on the cluster's database.
pub struct Instance {
    pub id: String,
    pub base: String,
    child: Child,
}

impl Instance {
    /// Sends a signal to the process (`KILL`, `STOP`, `CONT`, `TERM`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.id);
    }

    /// `/ready` of this instance.
    pub async fn ready(&self, client: &reqwest::Client) -> Option<Value> {
        let reply = client
            .get(format!("{}/ready", self.base))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .ok()?;
        reply.json().await.ok()
    }

    /// The partitions this instance says it holds.
    pub async fn owned(&self, client: &reqwest::Client) -> Vec<u32> {
        let Some(ready) = self.ready(client).await else {
            return Vec::new();
        };
        (ready["cluster"]["owned"]
            .as_array()
            .cloned()
            .unwrap_or_default())
        .iter()
        .filter_map(|partition| partition.as_u64().map(|p| p as u32))
        .collect()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cluster of instances on one MariaDB database.
pub struct Cluster {
    pub database: TestDatabase,
    pub instances: Vec<Instance>,
    pub client: reqwest::Client,
    config_dir: tempfile::TempDir,
}

impl Cluster {
    /// `count` instances named `i0`, `i1`, … all ready.
    pub async fn start(count: usize) -> Cluster {
        let database = TestDatabase::new(Backend::MariaDb).await;
        let mut cluster = Cluster {
            database,
            instances: Vec::new(),
            client: reqwest::Client::new(),
            config_dir: tempfile::tempdir().expect("a config directory"),
        };
        for n in 0..count {
            cluster.add(&format!("i{n}"));
        }
        for instance in &cluster.instances {
            wait_ready(&cluster.client, &instance.base).await;
        }
        cluster
    }

    /// Starts one more instance (not waited for).
    pub fn add(&mut self, id: &str) {
        let actors::DatabaseTarget::MariaDb { url } = &self.database.target else {
            unreachable!("a MariaDB database");
        };
        let port = free_port();
        let ttl = TTL_SECONDS.to_string();
        let partitions = PARTITIONS.to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_jennie-scheduler"))
            .env("SCHEDULER_CONFIG_DIR", self.config_dir.path())
            .env("DB_TYPE", "MARIADB")
            .env("DATABASE_URL", url)
            .env("SCHEDULER_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("SCHEDULER_INSTANCE_ID", id)
            .env("SCHEDULER_LEASE_TTL_SECONDS", &ttl)
            .env("SCHEDULER_PARTITIONS", &partitions)
            .env("SCHEDULER_MISFIRE_GRACE_SECONDS", "300")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the service binary");
        self.instances.push(Instance {
            id: id.to_string(),
            base: format!("http://127.0.0.1:{port}"),
            child,
        });
    }

    /// Waits until the live instances hold every partition between them, each its share
    /// (give or take one), and answers who holds what.
    pub async fn balanced(&self, live: &[usize], within: Duration) -> HashMap<usize, Vec<u32>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut owned = HashMap::new();
            for index in live {
                owned.insert(*index, self.instances[*index].owned(&self.client).await);
            }
            let total: usize = owned.values().map(Vec::len).sum();
            let share = PARTITIONS as usize / live.len();
            let even = owned.values().all(|held| held.len() >= share);
            if total == PARTITIONS as usize && even {
                return owned;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the partitions were not shared out within {within:?}: {owned:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates `count` jobs firing every second into `queue`, through instance 0.
    pub async fn create_jobs(&self, count: usize, queue: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for n in 0..count {
            let job_id = format!("ha-{n:04}");
            let body = json!({"job_id": job_id, "queue": queue, "interval_seconds": 1,
                "max_parallel": 100, "timeout_sec": 600});
            let reply = self
                .client
                .post(format!("{}/jobs", self.instances[0].base))
                .json(&body)
                .send()
                .await
                .expect("POST /jobs");
            assert_eq!(reply.status(), 201, "{:?}", reply.text().await);
            ids.push(job_id);
        }
        ids
    }
}

/// The run_ids each due instant of each job was published under.
pub fn run_ids_by_due(received: &[Received]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut by_due: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for message in received {
        let job_id = message.body["job_id"].as_str().unwrap_or("").to_string();
        let due_at = message.body["due_at"].as_str().unwrap_or("").to_string();
        let run_id = message.body["run_id"].as_str().unwrap_or("").to_string();
        by_due.entry((job_id, due_at)).or_default().insert(run_id);
    }
    by_due
}

/// Asserts that no due instant went out under two run_ids. A run whose publish was not yet
/// recorded `queued` when its instance died or froze goes out again under the same run_id
/// (at least once; workers drop repeats by `message_id`): answers how many did.
pub fn assert_no_double_fire(received: &[Received]) -> usize {
    let doubled: Vec<_> = run_ids_by_due(received)
        .into_iter()
        .filter(|(_, run_ids)| run_ids.len() > 1)
        .collect();
    assert!(
        doubled.is_empty(),
        "{} due instants published under two run_ids, e.g. {:?}",
        doubled.len(),
        doubled.iter().take(3).collect::<Vec<_>>()
    );
    let mut seen = BTreeSet::new();
    (received.iter())
        .filter_map(|message| message.body["run_id"].as_str())
        .filter(|run_id| !seen.insert(*run_id))
        .count()
}

/// The jobs of `partitions`.
fn jobs_in(jobs: &[String], partitions: &[u32]) -> Vec<String> {
    (jobs.iter())
        .filter(|job_id| partitions.contains(&partition_of(job_id, PARTITIONS)))
        .cloned()
        .collect()
}

#[actix_web::test]
async fn a_killed_owner_s_partitions_fire_again_within_the_ttl_and_no_instant_fires_twice() {
    let cluster = Cluster::start(3).await;
    let mut queue = TestQueue::new("real").await;
    cluster.balanced(&[0, 1, 2], Duration::from_secs(20)).await;
    let jobs = cluster.create_jobs(150, &queue.name).await;
    let mut received = queue.collect_for(Duration::from_secs(5)).await;

    let owned = cluster.balanced(&[0, 1, 2], Duration::from_secs(5)).await;
    let victim_partitions = owned[&1].clone();
    let victims = jobs_in(&jobs, &victim_partitions);
    assert!(!victims.is_empty(), "instance i1 runs jobs");
    let killed_at: DateTime<Utc> = Utc::now();
    cluster.instances[1].signal("KILL");
    received.extend(
        queue
            .collect_for(Duration::from_secs(TTL_SECONDS + 2 + 5))
            .await,
    );
    let survivors = cluster.balanced(&[0, 2], Duration::from_secs(10)).await;

    let repeats = assert_no_double_fire(&received);
    let mut failover_ms = Vec::new();
    for job_id in &victims {
        let of_job: Vec<&Received> = (received.iter())
            .filter(|message| message.body["job_id"] == json!(job_id))
            .collect();
        // Messages in flight at the kill arrive within milliseconds; later ones are the new
        // owner's.
        let settled = killed_at + chrono::Duration::milliseconds(500);
        let first_after = (of_job.iter())
            .filter(|message| message.received_at > settled)
            .map(|message| message.received_at)
            .min()
            .unwrap_or_else(|| panic!("{job_id} never fired again after its owner was killed"));
        failover_ms.push((first_after - killed_at).num_milliseconds());
        // A due instant after the kill that went out late: caught up by the new owner.
        let caught_up = of_job.iter().any(|message| {
            let due = message.instant("due_at");
            due > killed_at && due < first_after - chrono::Duration::milliseconds(900)
        });
        let dues: Vec<String> = (of_job.iter())
            .map(|message| format!("{} at {}", message.body["due_at"], message.received_at))
            .collect();
        assert!(
            caught_up,
            "{job_id}: no fire due during the gap was caught up (killed at {killed_at}): {dues:?}"
        );
    }
    failover_ms.sort_unstable();
    println!(
        "failover after kill -9 of i1 ({} jobs in partitions {victim_partitions:?}), ms: min {} median {} max {}; survivors hold {survivors:?}; runs published again under their run_id: {repeats}",
        victims.len(),
        failover_ms[0],
        failover_ms[failover_ms.len() / 2],
        failover_ms[failover_ms.len() - 1]
    );
    let limit = (TTL_SECONDS as i64 + 2) * 1000;
    assert!(
        failover_ms.iter().all(|ms| *ms <= limit),
        "some partitions fired again later than TTL + 2 s: {failover_ms:?}"
    );
    queue.delete().await;
}

#[actix_web::test]
async fn a_frozen_owner_fires_nothing_for_the_partitions_it_lost_and_rejoins() {
    let cluster = Cluster::start(3).await;
    let mut queue = TestQueue::new("real").await;
    cluster.balanced(&[0, 1, 2], Duration::from_secs(20)).await;
    let jobs = cluster.create_jobs(90, &queue.name).await;
    let mut received = queue.collect_for(Duration::from_secs(4)).await;

    let owned = cluster.balanced(&[0, 1, 2], Duration::from_secs(5)).await;
    let frozen_partitions = owned[&1].clone();
    cluster.instances[1].signal("STOP");
    received.extend(
        queue
            .collect_for(Duration::from_secs(2 * TTL_SECONDS))
            .await,
    );
    let while_frozen = cluster.balanced(&[0, 2], Duration::from_secs(10)).await;
    cluster.instances[1].signal("CONT");
    received.extend(queue.collect_for(Duration::from_secs(8)).await);
    let rejoined = cluster.balanced(&[0, 1, 2], Duration::from_secs(15)).await;
    received.extend(queue.collect_for(Duration::from_secs(2)).await);

    let repeats = assert_no_double_fire(&received);
    let frozen_jobs = jobs_in(&jobs, &frozen_partitions);
    for job_id in &frozen_jobs {
        assert!(
            received
                .iter()
                .any(|message| message.body["job_id"] == json!(job_id)
                    && message.received_at > Utc::now() - chrono::Duration::seconds(5)),
            "{job_id} fires after the rebalance"
        );
    }
    println!(
        "frozen i1 held {frozen_partitions:?}; while frozen: {while_frozen:?}; after it came back: {rejoined:?}; runs published again under their run_id: {repeats}"
    );
    assert!(!rejoined[&1].is_empty(), "i1 holds partitions again");
    queue.delete().await;
}

#[actix_web::test]
async fn a_second_instance_on_one_sqlite_file_is_refused_at_start_up() {
    let dir = tempfile::tempdir().expect("a directory");
    let db = dir.path().join("scheduler.db");
    let config = tempfile::tempdir().expect("a config directory");
    let client = reqwest::Client::new();
    let port = free_port();
    let mut first = crate::crash::start_with(&db, config.path(), port, &[]);
    wait_ready(&client, &format!("http://127.0.0.1:{port}")).await;

    let second = Command::new(env!("CARGO_BIN_EXE_jennie-scheduler"))
        .env("SCHEDULER_CONFIG_DIR", config.path())
        .env("SCHEDULER_DB_PATH", &db)
        .env("SCHEDULER_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .output()
        .expect("run a second instance");
    let _ = first.kill();
    let _ = first.wait();

    assert!(
        !second.status.success(),
        "the second instance must not start"
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(
            "another jennie-scheduler instance of scope real is using the SQLite database"
        ),
        "{stderr}"
    );
}

#[actix_web::test]
async fn any_instance_answers_for_every_job_and_a_change_reaches_its_owner_within_a_second() {
    let cluster = Cluster::start(2).await;
    let mut queue = TestQueue::new("real").await;
    let owned = cluster.balanced(&[0, 1], Duration::from_secs(20)).await;
    let jobs = cluster.create_jobs(24, &queue.name).await;
    // A job whose partition i1 holds, asked through i0.
    let job_id = jobs_in(&jobs, &owned[&1])
        .into_iter()
        .next()
        .expect("a job of i1");
    let i0 = &cluster.instances[0].base;
    let client = &cluster.client;
    let post = |path: String, body: Value| client.post(format!("{i0}{path}")).json(&body).send();

    let run_now = post(
        format!("/jobs/{job_id}/run-now"),
        json!({"params": {"from": "i0"}}),
    )
    .await
    .expect("run-now through i0");
    assert_eq!(run_now.status(), 202, "{:?}", run_now.text().await);
    let run_id = run_now.json::<Value>().await.expect("json")["run_id"]
        .as_str()
        .expect("a run_id")
        .to_string();
    let mut manual = None;
    for message in queue.collect_for(Duration::from_secs(3)).await {
        if message.body["run_id"] == json!(run_id) {
            manual = Some(message);
        }
    }
    let manual = manual.expect("the run-now through a peer was published by the owner");
    assert_eq!(manual.body["trigger_source"], "manual");
    assert_eq!(manual.body["params"]["from"], "i0");
    let report = post(
        format!("/jobs/{job_id}/last-run"),
        json!({"run_id": run_id, "status": "success"}),
    )
    .await
    .expect("report through i0");
    assert_eq!(report.status(), 200, "{:?}", report.text().await);
    let receipt: Value = report.json().await.expect("json");
    assert_eq!(receipt["counted"], true, "{receipt}");

    // Paused through i0: i1 stops firing it within a second (plus the fire in progress).
    let paused = post(format!("/jobs/{job_id}/pause"), json!({}))
        .await
        .expect("pause through i0");
    assert_eq!(paused.status(), 200);
    let paused_at = Utc::now();
    let after = queue.collect_for(Duration::from_secs(4)).await;
    let late: Vec<String> = (after.iter())
        .filter(|message| message.body["job_id"] == json!(job_id))
        .filter(|message| message.instant("due_at") > paused_at + chrono::Duration::seconds(1))
        .map(|message| message.body["due_at"].to_string())
        .collect();
    assert!(
        late.is_empty(),
        "fired after the pause through a peer: {late:?}"
    );

    // The owner dies: while its lease still names it, a request through i0 is refused at
    // once (its control queue is gone), not after waiting for an answer that cannot come.
    let other = jobs_in(&jobs, &owned[&1])
        .into_iter()
        .find(|other| *other != job_id)
        .expect("a second job of i1");
    cluster.instances[1].signal("KILL");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = post(format!("/jobs/{other}/run-now"), json!({}))
        .await
        .expect("run-now through i0");
    let status = refused.status();
    let body = refused.text().await.unwrap_or_default();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("i1 is gone"),
        "a request for a dead owner waited for its answer instead: {body}"
    );
    queue.delete().await;
}

#[actix_web::test]
async fn the_overview_shows_this_instance_its_partitions_and_its_peers() {
    let cluster = Cluster::start(2).await;
    let owned = cluster.balanced(&[0, 1], Duration::from_secs(20)).await;
    let browser = crate::browser::Browser::start(1280, 900).await;
    browser
        .goto(&format!("{}/ui/", cluster.instances[0].base))
        .await;

    let peers = browser
        .wait_text("#peers", 15, |peers| {
            peers.contains("i0 (this one)") && peers.contains("i1")
        })
        .await;
    let held = browser
        .wait_text("#owned", 10, |owned| {
            owned.ends_with(&format!("of {PARTITIONS}"))
        })
        .await;
    browser.quit().await;
    let metrics = (cluster.client)
        .get(format!("{}/metrics", cluster.instances[0].base))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("a page");

    assert_eq!(
        held,
        format!("{} of {PARTITIONS}", owned[&0].len()),
        "{peers}"
    );
    let sample = |name: &str| {
        (metrics.lines())
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
    };
    assert_eq!(
        sample("jennie_cluster_partitions_owned"),
        Some(owned[&0].len() as f64),
        "{metrics}"
    );
    assert_eq!(sample("jennie_cluster_instances"), Some(2.0));
}

#[actix_web::test]
async fn with_several_broker_urls_a_node_that_is_down_is_passed_over() {
    let database = std::sync::Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = crate::helpers::test_settings(actors::Scope::Real, &database);
    // The first node listed refuses connections (nothing listens on its port).
    let down = format!("amqp://guest:guest@127.0.0.1:{}/%2f", free_port());
    settings.rabbitmq_url = format!("{down},{}", crate::amqp::rabbitmq_url());
    let app = crate::helpers::spawn_app_with(settings, database).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "two-nodes", "queue": queue.name, "interval_seconds": 1}))
        .await;

    let fired = queue.next(Duration::from_secs(5)).await;
    queue.delete().await;
    assert!(fired.is_some(), "fires go out through the node that is up");
}

#[actix_web::test]
async fn a_clean_stop_hands_its_partitions_over_before_its_leases_could_run_out() {
    let cluster = Cluster::start(2).await;
    cluster.balanced(&[0, 1], Duration::from_secs(20)).await;

    cluster.instances[1].signal("TERM");
    let stopped_at = std::time::Instant::now();
    // Released at once: i0 takes them at its next round (every TTL / 3), well before a lease
    // left to run out would let it.
    let owned = cluster
        .balanced(&[0], Duration::from_millis(TTL_SECONDS * 1000 - 200))
        .await;
    println!(
        "i0 held all {} partitions {} ms after i1 was told to stop",
        owned[&0].len(),
        stopped_at.elapsed().as_millis()
    );
}

#[actix_web::test]
async fn a_calendar_edited_through_one_instance_reaches_the_jobs_another_runs_at_once() {
    let cluster = Cluster::start(2).await;
    let mut queue = TestQueue::new("real").await;
    let owned = cluster.balanced(&[0, 1], Duration::from_secs(20)).await;
    let i0 = &cluster.instances[0].base;
    let client = &cluster.client;
    let open = client
        .put(format!("{i0}/calendars/desk"))
        .json(&json!({"dates": [], "weekend": []}))
        .send()
        .await
        .expect("PUT /calendars/desk");
    assert_eq!(open.status(), 201, "{:?}", open.text().await);
    let mut jobs = Vec::new();
    for n in 0..12 {
        let job_id = format!("cal-{n:02}");
        let body = json!({"job_id": job_id, "queue": queue.name, "interval_seconds": 1,
            "timezone": "UTC", "calendar": "desk", "max_parallel": 100});
        let created = (client.post(format!("{i0}/jobs")).json(&body).send())
            .await
            .expect("POST /jobs");
        assert_eq!(created.status(), 201, "{:?}", created.text().await);
        jobs.push(job_id);
    }
    let on_i1 = jobs_in(&jobs, &owned[&1]);
    assert!(!on_i1.is_empty(), "12 jobs, none in i1's partitions");
    let fired = queue.collect_for(Duration::from_secs(3)).await;
    assert!(
        (fired.iter())
            .any(|message| on_i1.contains(&message.body["job_id"].as_str().unwrap().to_string())),
        "i1 fires its jobs on an open day"
    );

    // Today closes through i0: i1 hears of it and its jobs stop at once too.
    let closed = client
        .post(format!("{i0}/calendars/desk/dates"))
        .json(&json!({"dates": crate::calendars::today_and_tomorrow()}))
        .send()
        .await
        .expect("POST dates");
    assert_eq!(closed.status(), 200, "{:?}", closed.text().await);
    queue.collect_for(Duration::from_millis(1500)).await;
    let during = queue.collect_for(Duration::from_secs(3)).await;
    let fired_by: BTreeSet<String> = (during.iter())
        .map(|message| message.body["job_id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        fired_by.is_empty(),
        "fired on a closed day (i1 holds {on_i1:?}): {fired_by:?}"
    );
    queue.delete().await;
}
