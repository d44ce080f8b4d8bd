//! `jennie-scheduler migrate up|down|status` against a test database.

use actors::{Scope, Store};
use sea_orm::ConnectionTrait;

use crate::helpers::{test_settings, Backend, TestDatabase};

async fn tables(database: &TestDatabase) -> Vec<String> {
    let connection = database.connection().await;
    let sql = match connection.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('jobs', 'job_runs', 'audit_log', 'scheduler_leases', 'scheduler_instances', 'calendars') ORDER BY name",
        _ => "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('jobs', 'job_runs', 'audit_log', 'scheduler_leases', 'scheduler_instances', 'calendars') ORDER BY table_name",
    };
    let mut names: Vec<String> = connection
        .query_all_raw(sea_orm::Statement::from_string(
            connection.get_database_backend(),
            sql,
        ))
        .await
        .expect("list tables")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a name"))
        .collect();
    names.sort();
    names
}

async fn migrate_down_and_up_again(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let settings = test_settings(Scope::Real, &database);
    let migrate = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let settings = settings.clone();
        async move { jennie_scheduler::cli::migrate(&settings, &args).await }
    };

    migrate(&["up"]).await.expect("up");
    let after_up = tables(&database).await;
    migrate(&["status"]).await.expect("status");
    migrate(&["down", "8"]).await.expect("down 8");
    let after_down = tables(&database).await;
    migrate(&["up", "1"]).await.expect("up 1");
    let after_one = tables(&database).await;
    let bad = migrate(&["sideways"]).await;
    Store::connect(&database.target)
        .await
        .expect("connect")
        .migrate_up()
        .await
        .expect("start-up migration");

    let all = vec![
        "audit_log",
        "calendars",
        "job_runs",
        "jobs",
        "scheduler_instances",
        "scheduler_leases",
    ];
    assert_eq!(after_up, all);
    assert!(after_down.is_empty(), "{after_down:?}");
    assert_eq!(after_one, vec!["jobs"]);
    assert!(bad.is_err());
    assert_eq!(tables(&database).await, all);
}
crate::on_both_backends!(migrate_down_and_up_again);
