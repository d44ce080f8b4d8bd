//! Cluster mode on MariaDB: `scheduler_leases` (one row per partition of a scope's jobs: its
//! owner, its epoch, and when the lease ends by the database's clock), `scheduler_instances`
//! (the instances of a scope and their heartbeats), and `job_runs.scheduled_fire` with a unique
//! key on (job_id, due_at, attempt, scheduled_fire): a scheduled due instant can have one run
//! row, so two owners can never both record (and publish) it. The column is 1 for scheduled
//! fires and NULL otherwise (a NULL never collides).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    JobId,
    DueAt,
    Attempt,
    ScheduledFire,
}

#[derive(DeriveIden)]
enum SchedulerLeases {
    Table,
    Scope,
    PartitionNo,
    Owner,
    Epoch,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SchedulerInstances {
    Table,
    Scope,
    InstanceId,
    StartedAt,
    HeartbeatAt,
    ExpiresAt,
    Partitions,
    Address,
}

const UNIQUE_FIRE: &str = "ux_job_runs_scheduled_fire";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mysql = manager.get_database_backend() == sea_orm::DatabaseBackend::MySql;
        let instant = |column: DynIden| {
            let mut def = ColumnDef::new(column);
            if mysql {
                def.custom(Alias::new("DATETIME(3)"));
            } else {
                def.date_time();
            }
            def
        };
        let text_id = |column: DynIden, len: u32| {
            let mut def = ColumnDef::new(column);
            def.string_len(len).not_null();
            if mysql {
                def.extra("COLLATE utf8mb4_bin");
            }
            def
        };
        manager
            .alter_table(
                Table::alter()
                    .table(JobRuns::Table)
                    .add_column(
                        ColumnDef::new(JobRuns::ScheduledFire)
                            .small_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(UNIQUE_FIRE)
                    .table(JobRuns::Table)
                    .col(JobRuns::JobId)
                    .col(JobRuns::DueAt)
                    .col(JobRuns::Attempt)
                    .col(JobRuns::ScheduledFire)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SchedulerLeases::Table)
                    .if_not_exists()
                    .col(text_id(SchedulerLeases::Scope.into_iden(), 16))
                    .col(
                        ColumnDef::new(SchedulerLeases::PartitionNo)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SchedulerLeases::Owner)
                            .string_len(255)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(SchedulerLeases::Epoch)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        instant(SchedulerLeases::ExpiresAt.into_iden())
                            .null()
                            .to_owned(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SchedulerLeases::Scope)
                            .col(SchedulerLeases::PartitionNo),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SchedulerInstances::Table)
                    .if_not_exists()
                    .col(text_id(SchedulerInstances::Scope.into_iden(), 16))
                    .col(text_id(SchedulerInstances::InstanceId.into_iden(), 255))
                    .col(
                        instant(SchedulerInstances::StartedAt.into_iden())
                            .not_null()
                            .to_owned(),
                    )
                    .col(
                        instant(SchedulerInstances::HeartbeatAt.into_iden())
                            .not_null()
                            .to_owned(),
                    )
                    .col(
                        instant(SchedulerInstances::ExpiresAt.into_iden())
                            .not_null()
                            .to_owned(),
                    )
                    .col(
                        ColumnDef::new(SchedulerInstances::Partitions)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(SchedulerInstances::Address)
                            .string_len(255)
                            .null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SchedulerInstances::Scope)
                            .col(SchedulerInstances::InstanceId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SchedulerInstances::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SchedulerLeases::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(UNIQUE_FIRE)
                    .table(JobRuns::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(JobRuns::Table)
                    .drop_column(JobRuns::ScheduledFire)
                    .to_owned(),
            )
            .await
    }
}
