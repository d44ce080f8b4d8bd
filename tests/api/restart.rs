use actors::Scope;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, test_settings, Backend};

async fn jobs_survive_a_restart(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let created = app
        .post_job(
            &json!({"job_id": "news-crawler", "queue": "real.jobs.news-crawler",
            "cron_expr": "0 0 1 1 *", "interval_seconds": 600, "default_params": {"pages": 3}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);

    let database = app.stop().await;
    let restarted = spawn_app_with(test_settings(Scope::Real, &database), database.clone()).await;

    let fetched = restarted.get_job_settled("news-crawler").await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, created.body);
}
crate::on_both_backends!(jobs_survive_a_restart);

/// Stops the app, moves the stored next_due_at of `job_id` and its staged run to `late` ago,
/// restarts with `grace_seconds`, and returns the restarted app.
pub(crate) async fn restart_with_missed_fire(
    app: crate::helpers::TestApp,
    job_id: &str,
    late: chrono::Duration,
    grace_seconds: u64,
) -> (crate::helpers::TestApp, chrono::DateTime<chrono::Utc>) {
    let missed = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now() - late, 0);
    let app = restart_with_fire_missed_at(app, job_id, missed, grace_seconds).await;
    (app, missed)
}

/// Stops the app, moves the stored next_due_at of `job_id` and its staged run to `missed`,
/// restarts with `grace_seconds`, and returns the restarted app.
pub(crate) async fn restart_with_fire_missed_at(
    app: crate::helpers::TestApp,
    job_id: &str,
    missed: chrono::DateTime<chrono::Utc>,
    grace_seconds: u64,
) -> crate::helpers::TestApp {
    use sea_orm::{ConnectionTrait, Statement};
    app.staged_run(job_id).await;
    let database = app.stop().await;
    let connection = database.connection().await;
    let backend = connection.get_database_backend();
    connection
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE jobs SET next_due_at = ? WHERE job_id = ?",
            [missed.naive_utc().into(), job_id.into()],
        ))
        .await
        .expect("move next_due_at into the past");
    // The staged run of that instant was due then too.
    let moved = connection
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE job_runs SET due_at = ?, queued_at = ? WHERE job_id = ? AND status = 'scheduled'",
            [missed.naive_utc().into(), missed.naive_utc().into(), job_id.into()],
        ))
        .await
        .expect("move the staged run into the past");
    assert_eq!(
        moved.rows_affected(),
        1,
        "one staged run of {job_id} to move"
    );
    let mut settings = test_settings(Scope::Real, &database);
    settings.misfire_grace_seconds = grace_seconds;
    spawn_app_with(settings, database.clone()).await
}

async fn a_fire_missed_while_down_is_caught_up_once_within_grace(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = crate::amqp::TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "missed", "queue": queue.name, "interval_seconds": 3600}))
        .await;

    let (app, missed) =
        restart_with_missed_fire(app, "missed", chrono::Duration::seconds(60), 300).await;
    let received = queue.collect_for(std::time::Duration::from_secs(3)).await;
    let job = app.get_job("missed").await.body;

    assert_eq!(received.len(), 1, "exactly one catch-up fire: {received:?}");
    assert_eq!(received[0].body["trigger_source"], "scheduler");
    assert_eq!(received[0].instant("due_at"), missed);
    let next = chrono::DateTime::parse_from_rfc3339(job["next_due_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        next.with_timezone(&chrono::Utc),
        missed + chrono::Duration::seconds(3600),
        "anchored on the missed instant"
    );
    queue.delete().await;
}
crate::on_both_backends!(a_fire_missed_while_down_is_caught_up_once_within_grace);

async fn a_fire_missed_by_more_than_the_grace_period_is_skipped(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = crate::amqp::TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "too-late", "queue": queue.name, "interval_seconds": 3600}))
        .await;

    let (app, missed) =
        restart_with_missed_fire(app, "too-late", chrono::Duration::seconds(120), 30).await;
    let received = queue.collect_for(std::time::Duration::from_secs(3)).await;
    let job = app.get_job("too-late").await.body;

    assert!(
        received.is_empty(),
        "no fire outside the grace period: {received:?}"
    );
    let next = chrono::DateTime::parse_from_rfc3339(job["next_due_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        next.with_timezone(&chrono::Utc),
        missed + chrono::Duration::seconds(3600)
    );
    queue.delete().await;
}
crate::on_both_backends!(a_fire_missed_by_more_than_the_grace_period_is_skipped);

/// The previous process fired an instant but died before storing the next one, and the next
/// one passed too while it was down: that next one is caught up (not lost with the first).
#[actix_web::test]
async fn the_instant_after_one_already_fired_is_caught_up_when_it_passed_while_down() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let mut queue = crate::amqp::TestQueue::new("real").await;
    app.post_job(
        &json!({"job_id": "fired-then-down", "queue": queue.name, "interval_seconds": 60,
        "max_parallel": 5, "timeout_sec": 3600, "retry_limit": 0}),
    )
    .await;
    app.staged_run("fired-then-down").await;
    let database = app.stop().await;
    let fired =
        chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 0) - chrono::Duration::seconds(150);
    let connection = database.connection().await;
    let backend = connection.get_database_backend();
    for (sql, values) in [
        (
            "UPDATE jobs SET next_due_at = ? WHERE job_id = 'fired-then-down'",
            vec![fired.naive_utc().into()],
        ),
        (
            "UPDATE job_runs SET due_at = ?, queued_at = ?, status = 'queued' WHERE job_id = 'fired-then-down' AND status = 'scheduled'",
            vec![fired.naive_utc().into(), fired.naive_utc().into()],
        ),
    ] {
        let changed = connection
            .execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .expect("arrange the state of a process killed after a fire");
        assert_eq!(changed.rows_affected(), 1, "{sql}");
    }
    let app = spawn_app_with(test_settings(Scope::Real, &database), database.clone()).await;
    let received = queue.collect_for(std::time::Duration::from_secs(3)).await;

    let dues: Vec<_> = received.iter().map(|r| r.instant("due_at")).collect();
    assert_eq!(
        dues,
        vec![fired + chrono::Duration::seconds(60)],
        "the instant after the fired one is caught up once, the fired one is not repeated"
    );
    drop(app);
    queue.delete().await;
}
