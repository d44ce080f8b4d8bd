//! `job_runs`: one row per fire of a job, kept bounded per job by the engine.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    Id,
    RunId,
    JobId,
    Scope,
    TriggerSource,
    Attempt,
    DueAt,
    QueuedAt,
    StartedAt,
    FinishedAt,
    Status,
    Error,
    Params,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mysql = manager.get_database_backend() == sea_orm::DatabaseBackend::MySql;
        // Run instants keep milliseconds: DATETIME(3) on MariaDB (SQLite stores text).
        let instant = |column: JobRuns| {
            let mut def = ColumnDef::new(column);
            if mysql {
                def.custom(Alias::new("DATETIME(3)"));
            } else {
                def.date_time();
            }
            def
        };
        let mut id = ColumnDef::new(JobRuns::Id);
        if mysql {
            id.big_integer();
        } else {
            // SQLite only auto-increments an INTEGER PRIMARY KEY (which is 64-bit).
            id.integer();
        }
        id.not_null().auto_increment().primary_key();
        let mut job_id = ColumnDef::new(JobRuns::JobId);
        job_id.string_len(100).not_null();
        if mysql {
            job_id.extra("COLLATE utf8mb4_bin");
        }
        manager
            .create_table(
                Table::create()
                    .table(JobRuns::Table)
                    .if_not_exists()
                    .col(id)
                    .col(
                        ColumnDef::new(JobRuns::RunId)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    .col(job_id)
                    .col(ColumnDef::new(JobRuns::Scope).string_len(50).not_null())
                    .col(
                        ColumnDef::new(JobRuns::TriggerSource)
                            .string_len(50)
                            .not_null(),
                    )
                    .col(ColumnDef::new(JobRuns::Attempt).integer().not_null())
                    .col(instant(JobRuns::DueAt).not_null())
                    .col(instant(JobRuns::QueuedAt).not_null())
                    .col(instant(JobRuns::StartedAt).null())
                    .col(instant(JobRuns::FinishedAt).null())
                    .col(ColumnDef::new(JobRuns::Status).string_len(20).not_null())
                    .col(ColumnDef::new(JobRuns::Error).text().null())
                    .col(ColumnDef::new(JobRuns::Params).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_runs_job_id_id")
                    .table(JobRuns::Table)
                    .col(JobRuns::JobId)
                    .col(JobRuns::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_runs_status")
                    .table(JobRuns::Table)
                    .col(JobRuns::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobRuns::Table).to_owned())
            .await
    }
}
