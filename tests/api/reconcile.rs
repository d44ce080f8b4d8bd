//! Rows changed behind the API (another tool, another instance) reach the engine within a
//! tick; the run history stays bounded.

use std::sync::Arc;
use std::time::Duration;

use actors::Scope;
use sea_orm::{ConnectionTrait, Statement, Value as SqlValue};
use serde_json::json;

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app_with, test_settings, Backend, TestDatabase};

async fn execute(database: &TestDatabase, sql: &str, values: Vec<SqlValue>) {
    let connection = database.connection().await;
    let backend = connection.get_database_backend();
    connection
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Inserts an enabled scheduler-mode job of scope real straight into the table, as another
/// tool would (the engine does not hear of it).
async fn insert_behind_the_api(
    database: &TestDatabase,
    job_id: &str,
    queue: &str,
    interval_seconds: i64,
    max_parallel: i64,
) {
    let now = chrono::Utc::now().naive_utc();
    execute(
        database,
        "INSERT INTO jobs (job_id, scope, reschedule_mode, cron_expr, interval_seconds, queue, enabled, \
         max_parallel, default_params, timeout_sec, retry_limit, telemetry_label, created_at, updated_at) \
         VALUES (?, 'real', 'scheduler', '', ?, ?, ?, ?, '{}', 120, 3, ?, ?, ?)",
        vec![
            job_id.into(),
            interval_seconds.into(),
            queue.into(),
            true.into(),
            max_parallel.into(),
            format!("{}_job", job_id).into(),
            now.into(),
            now.into(),
        ],
    )
    .await;
}

async fn rows_changed_behind_the_api_reach_the_engine_within_a_tick(backend: Backend) {
    let database = Arc::new(TestDatabase::new(backend).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.tick_seconds = 1;
    let app = spawn_app_with(settings, database.clone()).await;
    let mut edited = TestQueue::new("real").await;
    let mut inserted = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "edited", "queue": edited.name, "interval_seconds": 1, "max_parallel": 100}))
        .await;
    assert!(edited.next(Duration::from_secs(3)).await.is_some());
    let now = chrono::Utc::now().naive_utc();

    execute(
        &database,
        "UPDATE jobs SET enabled = ?, updated_at = ? WHERE job_id = ?",
        vec![false.into(), now.into(), "edited".into()],
    )
    .await;
    insert_behind_the_api(&database, "inserted", &inserted.name, 1, 100).await;
    edited.collect_for(Duration::from_millis(2_500)).await;
    let edited_after = edited.collect_for(Duration::from_secs(2)).await;
    let inserted_fires = inserted.collect_for(Duration::from_secs(2)).await;

    assert!(
        edited_after.is_empty(),
        "a job disabled in the table stops firing"
    );
    assert!(
        !inserted_fires.is_empty(),
        "a job inserted into the table starts firing"
    );
    assert_eq!(inserted_fires[0].body["job_id"], "inserted");

    execute(
        &database,
        "DELETE FROM jobs WHERE job_id = ?",
        vec!["inserted".into()],
    )
    .await;
    inserted.collect_for(Duration::from_millis(2_500)).await;
    assert!(
        inserted
            .collect_for(Duration::from_secs(2))
            .await
            .is_empty(),
        "a job deleted from the table stops"
    );
    edited.delete().await;
    inserted.delete().await;
}
crate::on_both_backends!(rows_changed_behind_the_api_reach_the_engine_within_a_tick);

#[actix_web::test]
async fn the_run_history_is_kept_bounded() {
    let database = Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.run_history_limit = 3;
    let app = spawn_app_with(settings, database).await;
    let queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "chatty", "queue": queue.name, "interval_seconds": 3600, "max_parallel": 100}))
        .await;

    for _ in 0..10 {
        app.post("/jobs/chatty/run-now", None).await;
    }
    let runs = app.runs_until("chatty", 8, |runs| runs.len() <= 4).await;

    // The limit plus at most a tenth of it (at least one) of slack before the next trim.
    assert!(
        runs.len() <= 4,
        "{} runs kept with a limit of 3",
        runs.len()
    );
    assert!(runs.len() >= 3, "the newest runs are kept");
    queue.delete().await;
}

#[actix_web::test]
async fn run_now_and_reports_reach_a_job_inserted_behind_the_api_before_any_reconcile() {
    let database = Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.tick_seconds = 3_600;
    let app = spawn_app_with(settings, database.clone()).await;
    let mut queue = TestQueue::new("real").await;
    insert_behind_the_api(&database, "late", &queue.name, 3_600, 1).await;

    // The engine has not read the row (no tick for an hour): the run-now starts the job.
    let accepted = app.post("/jobs/late/run-now", None).await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    let message = queue
        .next(Duration::from_secs(5))
        .await
        .expect("the run-now is published");
    assert_eq!(message.body["run_id"], accepted.body["run_id"]);
    let report = app
        .post(
            "/jobs/late/last-run",
            Some(&json!({"run_id": accepted.body["run_id"], "status": "success"})),
        )
        .await;
    assert_eq!(report.status, 200, "{:?}", report.body);
    assert_eq!(report.body["counted"], true);

    // A row deleted behind the API is gone for run-now at once, not at the next reconcile.
    execute(
        &database,
        "DELETE FROM jobs WHERE job_id = ?",
        vec!["late".into()],
    )
    .await;
    let refused = app.post("/jobs/late/run-now", None).await;
    assert_eq!(refused.status, 404, "{:?}", refused.body);
    assert!(queue
        .collect_for(Duration::from_millis(500))
        .await
        .is_empty());
    queue.delete().await;
}
