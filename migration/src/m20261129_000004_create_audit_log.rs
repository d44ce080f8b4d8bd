//! `audit_log`: one row per operator action (create, edit, pause, resume, delete, run now):
//! who, what, when, and the job before and after.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    Scope,
    At,
    Actor,
    Action,
    JobId,
    Before,
    After,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mysql = manager.get_database_backend() == sea_orm::DatabaseBackend::MySql;
        let mut id = ColumnDef::new(AuditLog::Id);
        if mysql {
            id.big_integer();
        } else {
            id.integer();
        }
        id.not_null().auto_increment().primary_key();
        // A job's configuration can exceed TEXT's 64 KiB on MariaDB (params and description).
        let document = |column: AuditLog| {
            let mut def = ColumnDef::new(column);
            if mysql {
                def.custom(Alias::new("MEDIUMTEXT"));
            } else {
                def.text();
            }
            def.null();
            def
        };
        let mut at = ColumnDef::new(AuditLog::At);
        if mysql {
            at.custom(Alias::new("DATETIME(3)"));
        } else {
            at.date_time();
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(id)
                    .col(ColumnDef::new(AuditLog::Scope).string_len(50).not_null())
                    .col(at.not_null())
                    .col(ColumnDef::new(AuditLog::Actor).string_len(200).not_null())
                    .col(ColumnDef::new(AuditLog::Action).string_len(50).not_null())
                    .col(ColumnDef::new(AuditLog::JobId).string_len(100).not_null())
                    .col(document(AuditLog::Before))
                    .col(document(AuditLog::After))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_scope_id")
                    .table(AuditLog::Table)
                    .col(AuditLog::Scope)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_scope_job_id_id")
                    .table(AuditLog::Table)
                    .col(AuditLog::Scope)
                    .col(AuditLog::JobId)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await
    }
}
