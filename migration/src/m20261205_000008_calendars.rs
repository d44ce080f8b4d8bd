//! Exchange calendars: the `calendars` table (per scope and name: the closed weekdays, the
//! closed dates as a JSON array of `YYYY-MM-DD`, a description, a revision bumped by every
//! edit) and the job's `calendar` (NULL: none) and `calendar_mode` (`skip`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Calendars {
    Table,
    Scope,
    Name,
    Description,
    Weekend,
    Dates,
    Revision,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Jobs {
    Table,
    Calendar,
    CalendarMode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mysql = manager.get_database_backend() == sea_orm::DatabaseBackend::MySql;
        // 5 000 dates are about 65 KB of JSON: more than TEXT holds on MariaDB.
        let mut dates = ColumnDef::new(Calendars::Dates);
        if mysql {
            dates.custom(Alias::new("MEDIUMTEXT"));
        } else {
            dates.text();
        }
        manager
            .create_table(
                Table::create()
                    .table(Calendars::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Calendars::Scope).string_len(50).not_null())
                    .col(ColumnDef::new(Calendars::Name).string_len(64).not_null())
                    .col(ColumnDef::new(Calendars::Description).text().null())
                    .col(ColumnDef::new(Calendars::Weekend).string_len(32).not_null())
                    .col(dates.not_null())
                    .col(
                        ColumnDef::new(Calendars::Revision)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .col(ColumnDef::new(Calendars::UpdatedAt).date_time().null())
                    .primary_key(Index::create().col(Calendars::Scope).col(Calendars::Name))
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one at a time.
        for mut column in [
            ColumnDef::new(Jobs::Calendar)
                .string_len(64)
                .null()
                .to_owned(),
            ColumnDef::new(Jobs::CalendarMode)
                .string_len(16)
                .null()
                .default("skip")
                .to_owned(),
        ] {
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
        for column in [Jobs::Calendar, Jobs::CalendarMode] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Jobs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Calendars::Table).to_owned())
            .await
    }
}
