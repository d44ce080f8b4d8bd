//! Schema migrations of jennie-scheduler. Migrations never import entities, so an old migration
//! never changes when the entities do.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_jobs_table;
mod m20261128_000002_create_job_runs_table;
mod m20261128_000003_add_chain_to_jobs;
mod m20261129_000004_create_audit_log;
mod m20261129_000005_add_notify_to_jobs;
mod m20261205_000006_cluster;
mod m20261205_000007_trading_time_fields;
mod m20261205_000008_calendars;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_jobs_table::Migration),
            Box::new(m20261128_000002_create_job_runs_table::Migration),
            Box::new(m20261128_000003_add_chain_to_jobs::Migration),
            Box::new(m20261129_000004_create_audit_log::Migration),
            Box::new(m20261129_000005_add_notify_to_jobs::Migration),
            Box::new(m20261205_000006_cluster::Migration),
            Box::new(m20261205_000007_trading_time_fields::Migration),
            Box::new(m20261205_000008_calendars::Migration),
        ]
    }
}
