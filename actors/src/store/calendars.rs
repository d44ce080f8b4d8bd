//! The `calendars` table: one row per scope and name. An edit applies to the revision it read
//! (compare and swap), so two operators adding dates at once both land.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{entity::prelude::*, ActiveValue::Set, QueryOrder, SqlErr};

use super::{Store, StoreError};
use crate::calendar::{Calendar, WEEKDAYS};
use crate::instant::{from_utc_column, to_seconds_column};
use crate::job::Scope;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "calendars")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub scope: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub description: Option<String>,
        /// Comma-separated weekday names (`sat,sun`).
        pub weekend: String,
        /// A JSON array of `YYYY-MM-DD`.
        #[sea_orm(column_type = "Text")]
        pub dates: String,
        pub revision: i64,
        pub updated_at: Option<DateTime>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{ActiveModel, Column, Entity as Calendars, Model};

/// Why an edit of a calendar did not land.
#[derive(Debug, thiserror::Error)]
pub enum CalendarWrite {
    /// Another edit landed since the calendar was read: read it again and retry.
    #[error("the calendar changed meanwhile")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn corrupt(name: &str, reason: String) -> StoreError {
    StoreError::CorruptRow {
        job_id: format!("calendar {name}"),
        reason,
    }
}

impl TryFrom<Model> for Calendar {
    type Error = StoreError;

    fn try_from(row: Model) -> Result<Calendar, StoreError> {
        let dates: Vec<NaiveDate> = serde_json::from_str(&row.dates)
            .map_err(|error| corrupt(&row.name, format!("dates: {error}")))?;
        let weekend = (row.weekend.split(',').filter(|day| !day.is_empty()))
            .map(|day| {
                (WEEKDAYS.iter().position(|name| *name == day))
                    .map(|number| number as u8)
                    .ok_or_else(|| corrupt(&row.name, format!("weekend day '{day}'")))
            })
            .collect::<Result<BTreeSet<u8>, _>>()?;
        Ok(Calendar {
            description: row.description,
            weekend,
            dates: dates.into_iter().collect(),
            revision: row.revision,
            updated_at: row.updated_at.map(from_utc_column),
            name: row.name,
        })
    }
}

fn columns(scope: Scope, calendar: &Calendar, now: DateTime<Utc>) -> ActiveModel {
    let weekend: Vec<&str> = (calendar.weekend.iter())
        .map(|day| WEEKDAYS[usize::from(*day)])
        .collect();
    ActiveModel {
        scope: Set(scope.as_str().to_string()),
        name: Set(calendar.name.clone()),
        description: Set(calendar.description.clone()),
        weekend: Set(weekend.join(",")),
        dates: Set(serde_json::to_string(&calendar.dates).unwrap_or_else(|_| "[]".into())),
        revision: Set(calendar.revision),
        updated_at: Set(Some(to_seconds_column(now))),
    }
}

impl Store {
    /// Every calendar of `scope`, by name. Unreadable rows are logged and left out.
    pub async fn list_calendars(&self, scope: Scope) -> Result<Vec<Calendar>, StoreError> {
        let rows = Calendars::find()
            .filter(Column::Scope.eq(scope.as_str()))
            .order_by_asc(Column::Name)
            .all(&self.db)
            .await?;
        Ok((rows.into_iter())
            .filter_map(|row| match Calendar::try_from(row) {
                Ok(calendar) => Some(calendar),
                Err(error) => {
                    tracing::warn!(%error, "skipping unreadable calendar row");
                    None
                }
            })
            .collect())
    }

    pub async fn get_calendar(
        &self,
        scope: Scope,
        name: &str,
    ) -> Result<Option<Calendar>, StoreError> {
        Calendars::find_by_id((scope.as_str().to_string(), name.to_string()))
            .one(&self.db)
            .await?
            .map(Calendar::try_from)
            .transpose()
    }

    /// Writes `calendar` over the revision it was read at (`revision` 0: a new one). Answers
    /// it as stored.
    pub async fn save_calendar(
        &self,
        scope: Scope,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Result<Calendar, CalendarWrite> {
        let mut row = columns(scope, calendar, now);
        // A new calendar's revision is the clock's milliseconds, never one of a deleted
        // calendar of that name (an instance that missed the deletion takes the new one).
        let revision = match calendar.revision {
            0 => now.timestamp_millis().max(1),
            read => read + 1,
        };
        row.revision = Set(revision);
        if calendar.revision == 0 {
            match Calendars::insert(row)
                .exec_without_returning(&self.db)
                .await
            {
                Ok(_) => {}
                Err(error)
                    if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                {
                    return Err(CalendarWrite::Conflict)
                }
                Err(error) => return Err(StoreError::from(error).into()),
            }
        } else {
            let updated = Calendars::update_many()
                .set(row)
                .filter(Column::Scope.eq(scope.as_str()))
                .filter(Column::Name.eq(calendar.name.as_str()))
                .filter(Column::Revision.eq(calendar.revision))
                .exec(&self.db)
                .await
                .map_err(StoreError::from)?;
            if updated.rows_affected == 0 {
                return Err(CalendarWrite::Conflict);
            }
        }
        // As written (a read now could return a later edit's revision).
        Ok(Calendar {
            revision,
            updated_at: Some(crate::instant::to_seconds(now)),
            ..calendar.clone()
        })
    }

    /// The jobs of `scope` whose calendar is `name`, by job_id.
    pub async fn jobs_on_calendar(
        &self,
        scope: Scope,
        name: &str,
    ) -> Result<Vec<String>, StoreError> {
        use super::jobs::entity::{Column as JobColumn, Entity as Jobs};
        use sea_orm::QuerySelect;
        Ok(Jobs::find()
            .select_only()
            .column(JobColumn::JobId)
            .filter(JobColumn::Scope.eq(scope.as_str()))
            .filter(JobColumn::Calendar.eq(name))
            .order_by_asc(JobColumn::JobId)
            .into_tuple::<String>()
            .all(&self.db)
            .await?)
    }

    /// Deletes a calendar; whether it existed.
    pub async fn delete_calendar(&self, scope: Scope, name: &str) -> Result<bool, StoreError> {
        let deleted = Calendars::delete_many()
            .filter(Column::Scope.eq(scope.as_str()))
            .filter(Column::Name.eq(name))
            .exec(&self.db)
            .await?;
        Ok(deleted.rows_affected > 0)
    }
}
