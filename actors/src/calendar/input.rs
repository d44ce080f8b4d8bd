//! Client input for calendars: names, dates and bodies, checked with errors that name the
//! field (the same `{error, message, field}` as the job fields).

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value};

use super::{Calendar, WEEKDAYS};
use crate::job::input::as_object;
use crate::job::ValidationError;

/// The most dates one calendar lists.
pub const MAX_CALENDAR_DATES: usize = 5_000;
/// The longest description.
pub const MAX_DESCRIPTION_BYTES: usize = 1_000;

/// Whether `name` can name a calendar: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or
/// digit.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars
            .next()
            .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

fn invalid(field: &str, message: impl Into<String>) -> ValidationError {
    ValidationError::new("invalid_field", message, Some(field))
}

/// A calendar name from a path or a job field.
pub fn name(field: &str, text: &str) -> Result<String, ValidationError> {
    if valid_name(text) {
        return Ok(text.to_string());
    }
    let shown: String = text.chars().take(100).collect();
    Err(invalid(
        field,
        format!(
            "{field} must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a \
             letter or digit, not '{shown}'"
        ),
    ))
}

/// A date as `YYYY-MM-DD` (years 1970 to 2999).
pub fn date(field: &str, text: &str) -> Result<NaiveDate, ValidationError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|day| (1970..=2999).contains(&day.year()) && text.len() == 10)
        .ok_or_else(|| {
            let shown: String = text.chars().take(40).collect();
            invalid(
                field,
                format!("{field} must hold dates as YYYY-MM-DD (1970 to 2999), not '{shown}'"),
            )
        })
}

fn only(fields: &Map<String, Value>, allowed: &[&str]) -> Result<(), ValidationError> {
    match fields.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(other) => {
            let shown: String = other.chars().take(100).collect();
            Err(ValidationError::new(
                "unknown_field",
                format!(
                    "unknown field '{shown}'; a calendar takes {}",
                    allowed.join(", ")
                ),
                Some(&shown),
            ))
        }
        None => Ok(()),
    }
}

/// The `dates` field: an array of `YYYY-MM-DD` strings.
fn dates(value: Option<&Value>) -> Result<BTreeSet<NaiveDate>, ValidationError> {
    let Some(value) = value else {
        return Err(ValidationError::new(
            "missing_field",
            "dates is required (an array of YYYY-MM-DD, may be empty)",
            Some("dates"),
        ));
    };
    let items = value
        .as_array()
        .ok_or_else(|| invalid("dates", "dates must be an array of YYYY-MM-DD strings"))?;
    if items.len() > MAX_CALENDAR_DATES {
        return Err(invalid(
            "dates",
            format!("dates may list at most {MAX_CALENDAR_DATES} days"),
        ));
    }
    (items.iter())
        .map(|item| {
            let text = item
                .as_str()
                .ok_or_else(|| invalid("dates", "dates must be an array of YYYY-MM-DD strings"))?;
            date("dates", text)
        })
        .collect()
}

impl Calendar {
    /// A whole calendar from a `PUT /calendars/{name}` body (or a calendar file):
    /// `dates` (required), `description`, and `weekend` (default `["sat", "sun"]`).
    pub fn from_body(name: &str, body: &Value) -> Result<Calendar, ValidationError> {
        let name = self::name("name", name)?;
        let fields = as_object(body)?;
        only(fields, &["dates", "description", "weekend"])?;
        let description = match fields.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.len() <= MAX_DESCRIPTION_BYTES => Some(text.clone()),
            Some(_) => {
                return Err(invalid(
                    "description",
                    format!(
                        "description must be a string of at most {MAX_DESCRIPTION_BYTES} bytes"
                    ),
                ))
            }
        };
        let weekend: BTreeSet<u8> = match fields.get("weekend") {
            None | Some(Value::Null) => [5, 6].into(),
            Some(Value::Array(days)) => (days.iter())
                .map(|day| {
                    (day.as_str())
                        .and_then(|day| WEEKDAYS.iter().position(|name| *name == day))
                        .map(|number| number as u8)
                        .ok_or_else(|| {
                            invalid(
                                "weekend",
                                format!("weekend must list days among {}", WEEKDAYS.join(", ")),
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(invalid(
                    "weekend",
                    format!(
                        "weekend must be an array of days among {}",
                        WEEKDAYS.join(", ")
                    ),
                ))
            }
        };
        if weekend.len() == 7 {
            return Err(invalid(
                "weekend",
                "weekend cannot hold all seven days: the exchange would never open",
            ));
        }
        Ok(Calendar {
            name,
            description,
            weekend,
            dates: dates(fields.get("dates"))?,
            revision: 0,
            updated_at: None,
        })
    }

    /// The dates of a `POST /calendars/{name}/dates` body: `{"dates": [...]}`.
    pub fn dates_of(body: &Value) -> Result<BTreeSet<NaiveDate>, ValidationError> {
        let fields = as_object(body)?;
        only(fields, &["dates"])?;
        dates(fields.get("dates"))
    }

    /// This calendar with `added` listed too; refused past [`MAX_CALENDAR_DATES`].
    pub fn with_dates(&self, added: &BTreeSet<NaiveDate>) -> Result<Calendar, ValidationError> {
        let mut changed = self.clone();
        changed.dates.extend(added.iter().copied());
        if changed.dates.len() > MAX_CALENDAR_DATES {
            return Err(invalid(
                "dates",
                format!("a calendar lists at most {MAX_CALENDAR_DATES} days"),
            ));
        }
        Ok(changed)
    }
}
