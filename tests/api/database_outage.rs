//! A database that refuses writes for a while (its own SQLite file, locked by another
//! connection longer than the busy timeout): fires go on, state writes wait and land later.

use std::collections::HashSet;
use std::time::Duration;

use actors::Scope;
use reqwest::Method;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, Backend};

#[actix_web::test]
async fn a_database_outage_delays_state_writes_but_loses_no_fire() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "db-outage", "queue": queue.name, "interval_seconds": 1, "max_parallel": 100}))
        .await;
    queue
        .next(Duration::from_secs(3))
        .await
        .expect("a fire before the outage");

    // Hold the write lock for 8 s: the service's writes fail after its 5 s busy timeout.
    let locker = app.database.connection().await;
    let lock = locker.begin().await.expect("begin");
    lock.execute_unprepared("UPDATE jobs SET description = 'locked'")
        .await
        .expect("take the write lock");
    let during = queue.collect_for(Duration::from_secs(8)).await;
    let ready = app.send(Method::GET, "/ready", None).await;
    let api = app.get_job("db-outage").await;
    lock.rollback().await.expect("release the lock");
    let after = queue.collect_for(Duration::from_secs(2)).await;

    assert!(
        during.len() >= 6,
        "fires go on while writes fail: {} in 8 s",
        during.len()
    );
    let lateness: Vec<i64> = during.iter().map(|r| r.lateness_ms()).collect();
    println!("lateness during the database outage, ms: {lateness:?}");
    assert!(lateness.iter().all(|ms| *ms < 1_000), "{lateness:?}");
    assert_eq!(
        ready.body["state_writes"]["healthy"], false,
        "{:?}",
        ready.body
    );
    assert_eq!(api.status, reqwest::StatusCode::OK, "reads still answer");
    let delivered: HashSet<String> = during
        .iter()
        .chain(&after)
        .map(|r| r.body["run_id"].as_str().unwrap().to_string())
        .collect();
    let runs = app
        .runs_until("db-outage", 15, |runs| {
            let recorded: HashSet<&str> = runs
                .iter()
                .map(|run| run["run_id"].as_str().unwrap())
                .collect();
            delivered
                .iter()
                .all(|run_id| recorded.contains(run_id.as_str()))
                && runs.iter().all(|run| run["status"] != "pending")
        })
        .await;
    let recorded: HashSet<&str> = runs
        .iter()
        .map(|run| run["run_id"].as_str().unwrap())
        .collect();
    for run_id in &delivered {
        assert!(
            recorded.contains(run_id.as_str()),
            "run {run_id} was delivered but never recorded"
        );
    }
    assert!(
        runs.iter().all(|run| run["status"] != "pending"),
        "{runs:?}"
    );
    queue.delete().await;
}
