//! The trading-time fields of a job: `timezone` (an IANA zone; NULL: the service's),
//! `jitter_seconds` (0), `misfire_policy` (`catch_up_once`) and `misfire_grace_seconds`
//! (NULL: the service's grace). Existing jobs keep today's behaviour.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    Timezone,
    JitterSeconds,
    MisfirePolicy,
    MisfireGraceSeconds,
}

/// One column per statement: SQLite alters one at a time.
fn columns() -> [ColumnDef; 4] {
    [
        ColumnDef::new(Jobs::Timezone)
            .string_len(64)
            .null()
            .to_owned(),
        ColumnDef::new(Jobs::JitterSeconds)
            .integer()
            .null()
            .default(0)
            .to_owned(),
        ColumnDef::new(Jobs::MisfirePolicy)
            .string_len(16)
            .null()
            .default("catch_up_once")
            .to_owned(),
        ColumnDef::new(Jobs::MisfireGraceSeconds)
            .integer()
            .null()
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Jobs::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Jobs::Timezone,
            Jobs::JitterSeconds,
            Jobs::MisfirePolicy,
            Jobs::MisfireGraceSeconds,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Jobs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
