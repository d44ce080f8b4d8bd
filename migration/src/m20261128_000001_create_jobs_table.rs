//! The `jobs` table with exactly the columns, types and defaults of the seed design.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    JobId,
    Scope,
    RescheduleMode,
    IntervalSeconds,
    CronExpr,
    Queue,
    Enabled,
    MaxParallel,
    DefaultParams,
    TimeoutSec,
    RetryLimit,
    Description,
    TelemetryLabel,
    NextDueAt,
    LastRunAt,
    LastStatus,
    LastError,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut job_id = ColumnDef::new(Jobs::JobId);
        job_id.string_len(100).not_null().primary_key();
        if manager.get_database_backend() == sea_orm::DatabaseBackend::MySql {
            // job_id is exact: `Buy-Scanner` and `buy-scanner` are two jobs on every backend.
            job_id.extra("COLLATE utf8mb4_bin");
        }
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .if_not_exists()
                    .col(job_id)
                    .col(
                        ColumnDef::new(Jobs::Scope)
                            .string_len(50)
                            .not_null()
                            .default("real"),
                    )
                    .col(
                        ColumnDef::new(Jobs::RescheduleMode)
                            .string_len(50)
                            .not_null()
                            .default("scheduler"),
                    )
                    .col(ColumnDef::new(Jobs::IntervalSeconds).integer().null())
                    .col(ColumnDef::new(Jobs::CronExpr).string_len(100).not_null())
                    .col(ColumnDef::new(Jobs::Queue).string_len(200).not_null())
                    .col(ColumnDef::new(Jobs::Enabled).boolean().default(true))
                    .col(ColumnDef::new(Jobs::MaxParallel).integer().default(1))
                    .col(ColumnDef::new(Jobs::DefaultParams).text().null())
                    .col(ColumnDef::new(Jobs::TimeoutSec).integer().default(120))
                    .col(ColumnDef::new(Jobs::RetryLimit).integer().default(3))
                    .col(ColumnDef::new(Jobs::Description).text().null())
                    .col(ColumnDef::new(Jobs::TelemetryLabel).string_len(100).null())
                    .col(ColumnDef::new(Jobs::NextDueAt).date_time().null())
                    .col(ColumnDef::new(Jobs::LastRunAt).date_time().null())
                    .col(ColumnDef::new(Jobs::LastStatus).string_len(50).null())
                    .col(ColumnDef::new(Jobs::LastError).text().null())
                    .col(
                        ColumnDef::new(Jobs::CreatedAt)
                            .date_time()
                            .default(Expr::current_timestamp()),
                    )
                    .col(
                        ColumnDef::new(Jobs::UpdatedAt)
                            .date_time()
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Jobs::Table).to_owned())
            .await
    }
}
