//! Exchange calendars: list, read, write whole, add and remove dates, delete. Every change
//! writes the row first (over the revision it read, retried when another edit landed between),
//! then the engine's registry, then tells the other instances; and it is audited (job_id
//! `calendar:<name>`).

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

use super::{Actor, JobService, ServiceError};
use crate::calendar::{input, Calendar};
use crate::job::{JobConfig, ValidationError};
use crate::store::CalendarWrite;

/// Edits tried again at most when other edits keep landing between read and write.
const EDIT_ATTEMPTS: usize = 5;

/// A calendar and the jobs on it.
#[derive(Debug, Clone, Serialize)]
pub struct CalendarView {
    #[serde(flatten)]
    pub calendar: Calendar,
    /// The jobs of the scope whose `calendar` is this one, by job_id.
    pub used_by: Vec<String>,
}

impl JobService {
    /// Refuses a job configuration naming a calendar the scope does not have (checked when
    /// it names one other than `before`'s: a job keeps working on a calendar deleted by hand).
    /// The engine's registry answers first, the table when it does not know the name (one
    /// created through another instance a moment ago).
    pub(super) async fn check_calendar(
        &self,
        config: &JobConfig,
        before: Option<&JobConfig>,
    ) -> Result<(), ServiceError> {
        let Some(name) = &config.calendar else {
            return Ok(());
        };
        if before.is_some_and(|before| before.calendar == config.calendar)
            || self.engine.calendars().contains(name)
        {
            return Ok(());
        }
        if let Some(stored) = self.store.get_calendar(self.scope, name).await? {
            self.engine.calendars().set(stored);
            return Ok(());
        }
        Err(ValidationError::new(
            "invalid_field",
            format!(
                "calendar '{name}' does not exist in scope {}; create it with PUT /calendars/{name}",
                self.scope
            ),
            Some("calendar"),
        )
        .into())
    }

    fn view(&self, calendar: Calendar) -> CalendarView {
        let used_by = self.with_jobs(|jobs| {
            (jobs.iter())
                .filter(|job| job.config.calendar.as_deref() == Some(calendar.name.as_str()))
                .map(|job| job.config.job_id.clone())
                .collect()
        });
        CalendarView { calendar, used_by }
    }

    /// Every calendar of the scope, by name.
    pub async fn calendars(&self) -> Result<Vec<CalendarView>, ServiceError> {
        let calendars = self.store.list_calendars(self.scope).await?;
        Ok(calendars.into_iter().map(|c| self.view(c)).collect())
    }

    /// One calendar (404 when the scope has none of that name).
    pub async fn calendar(&self, name: &str) -> Result<CalendarView, ServiceError> {
        Ok(self.view(self.stored_calendar(name).await?))
    }

    async fn stored_calendar(&self, name: &str) -> Result<Calendar, ServiceError> {
        let name = input::name("name", name)?;
        self.store
            .get_calendar(self.scope, &name)
            .await?
            .ok_or(ServiceError::CalendarNotFound(name))
    }

    /// Creates or replaces a calendar from a `PUT` body; answers it and whether it is new.
    pub async fn put_calendar(
        &self,
        actor: &Actor,
        name: &str,
        body: &Value,
    ) -> Result<(CalendarView, bool), ServiceError> {
        let wanted = Calendar::from_body(name, body)?;
        let (before, saved) = self
            .edit(&wanted.name.clone(), |existing| {
                Ok(Calendar {
                    revision: existing.map_or(0, |calendar| calendar.revision),
                    ..wanted.clone()
                })
            })
            .await?;
        let created = before.is_none();
        self.audit_calendar(actor, "calendar_put", before, &saved)
            .await;
        Ok((self.view(saved), created))
    }

    /// Adds the dates of a `{"dates": [...]}` body (those listed already stay).
    pub async fn add_calendar_dates(
        &self,
        actor: &Actor,
        name: &str,
        body: &Value,
    ) -> Result<CalendarView, ServiceError> {
        let name = input::name("name", name)?;
        let added = Calendar::dates_of(body)?;
        let (before, saved) = self
            .edit(&name, |existing| match existing {
                Some(calendar) => Ok(calendar.with_dates(&added)?),
                None => Err(ServiceError::CalendarNotFound(name.clone())),
            })
            .await?;
        self.audit_calendar(actor, "calendar_add_dates", before, &saved)
            .await;
        Ok(self.view(saved))
    }

    /// Removes one listed date (`YYYY-MM-DD`).
    pub async fn remove_calendar_date(
        &self,
        actor: &Actor,
        name: &str,
        date: &str,
    ) -> Result<CalendarView, ServiceError> {
        let name = input::name("name", name)?;
        let date = input::date("date", date)?;
        let (before, saved) = self
            .edit(&name, |existing| match existing {
                Some(calendar) if calendar.dates.contains(&date) => {
                    let mut changed = calendar.clone();
                    changed.dates.remove(&date);
                    Ok(changed)
                }
                Some(_) => Err(ServiceError::DateNotListed {
                    calendar: name.clone(),
                    date: date.to_string(),
                }),
                None => Err(ServiceError::CalendarNotFound(name.clone())),
            })
            .await?;
        self.audit_calendar(actor, "calendar_remove_date", before, &saved)
            .await;
        Ok(self.view(saved))
    }

    /// Deletes a calendar no job uses.
    pub async fn delete_calendar(&self, actor: &Actor, name: &str) -> Result<(), ServiceError> {
        let existing = self.stored_calendar(name).await?;
        let view = self.view(existing);
        // The table, not the read model: a job just created through another instance counts.
        let used_by = (self.store)
            .jobs_on_calendar(self.scope, &view.calendar.name)
            .await?;
        if !used_by.is_empty() {
            return Err(ServiceError::CalendarInUse {
                calendar: view.calendar.name,
                jobs: used_by,
            });
        }
        let name = view.calendar.name.clone();
        if !self.store.delete_calendar(self.scope, &name).await? {
            return Err(ServiceError::CalendarNotFound(name));
        }
        self.engine.calendars().remove(&name);
        self.engine.announce_calendar(&name);
        tracing::info!(calendar = %name, scope = %self.scope, "calendar deleted");
        let before = serde_json::to_value(&view.calendar).ok();
        self.audit(
            actor,
            "calendar_delete",
            &format!("calendar:{name}"),
            before,
            None,
        )
        .await;
        Ok(())
    }

    /// Reads the calendar, applies `change` to it (`None`: it does not exist yet) and writes
    /// the result over the revision read; again when another edit landed between. Answers the
    /// calendar before and as stored, once the engine uses it.
    async fn edit(
        &self,
        name: &str,
        change: impl Fn(Option<&Calendar>) -> Result<Calendar, ServiceError>,
    ) -> Result<(Option<Calendar>, Calendar), ServiceError> {
        for _ in 0..EDIT_ATTEMPTS {
            let existing = self.store.get_calendar(self.scope, name).await?;
            let changed = change(existing.as_ref())?;
            match self
                .store
                .save_calendar(self.scope, &changed, Utc::now())
                .await
            {
                Ok(saved) => {
                    self.engine.calendars().set(saved.clone());
                    self.engine.announce_calendar(name);
                    tracing::info!(calendar = %name, scope = %self.scope, dates = saved.dates.len(), "calendar written");
                    return Ok((existing, saved));
                }
                Err(CalendarWrite::Conflict) => continue,
                Err(CalendarWrite::Store(error)) => return Err(error.into()),
            }
        }
        Err(ServiceError::EditConflict(format!(
            "calendar '{name}' kept changing while this edit was applied; nothing was changed, try again"
        )))
    }

    async fn audit_calendar(
        &self,
        actor: &Actor,
        action: &str,
        before: Option<Calendar>,
        after: &Calendar,
    ) {
        let json = |calendar: &Calendar| serde_json::to_value(calendar).ok();
        let before = before.as_ref().and_then(json);
        let job_id = format!("calendar:{}", after.name);
        self.audit(actor, action, &job_id, before, json(after))
            .await;
    }

    /// Calendars from files (`name.toml` holding `dates`, and optionally `description` and
    /// `weekend`) that the scope does not have yet: written as given. Answers the names
    /// written. A calendar the database has is left as it is: the API's edits win. A file
    /// that breaks a rule is logged and left out; only a database failure is an error.
    pub async fn seed_calendars(
        &self,
        files: Vec<(String, Value)>,
    ) -> Result<Vec<String>, ServiceError> {
        let mut written = Vec::new();
        for (name, body) in files {
            let calendar = match Calendar::from_body(&name, &body) {
                Ok(calendar) => calendar,
                Err(error) => {
                    tracing::warn!(calendar = %name, field = ?error.field, %error, "calendar file left out");
                    continue;
                }
            };
            match self
                .store
                .save_calendar(self.scope, &calendar, Utc::now())
                .await
            {
                Ok(saved) => {
                    self.engine.calendars().set(saved.clone());
                    self.engine.announce_calendar(&name);
                    self.audit_calendar(&Actor::new("file"), "calendar_put", None, &saved)
                        .await;
                    written.push(name);
                }
                // The database has it: its version stays.
                Err(CalendarWrite::Conflict) => {}
                Err(CalendarWrite::Store(error)) => return Err(error.into()),
            }
        }
        Ok(written)
    }
}
