//! Exchange calendars: named lists of the days an exchange is closed, and the rule a job on
//! one follows when its due instant falls on such a day.
//!
//! A day is closed when it is one of the calendar's weekend days (Saturday and Sunday unless
//! it names others) or one of its listed dates. The day of an instant is its local date in the
//! job's zone, before the job's jitter: a slot belongs to the day it was written for.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

pub(crate) mod input;

pub use input::{valid_name, MAX_CALENDAR_DATES, MAX_DESCRIPTION_BYTES};

/// How far ahead the next open day is looked for: a calendar closed for longer moves nothing.
const MAX_CLOSED_DAYS: u32 = 366;

/// A named calendar of closed days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Calendar {
    pub name: String,
    pub description: Option<String>,
    /// The weekdays the exchange never opens, as `mon` … `sun`.
    #[serde(serialize_with = "weekday_names")]
    pub weekend: BTreeSet<u8>,
    /// The other closed days (holidays, substitute holidays, election days, year-end closing).
    pub dates: BTreeSet<NaiveDate>,
    /// Bumped by every change: an edit applies to the revision it read, or is tried again.
    pub revision: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Weekday numbers from Monday (0) to Sunday (6), with the names the API uses.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn weekday_names<S: serde::Serializer>(days: &BTreeSet<u8>, out: S) -> Result<S::Ok, S::Error> {
    out.collect_seq(days.iter().map(|day| WEEKDAYS[usize::from(*day)]))
}

fn weekday_number(day: Weekday) -> u8 {
    day.num_days_from_monday() as u8
}

impl Calendar {
    /// A calendar with no listed dates, closed on Saturday and Sunday.
    pub fn weekends_only(name: &str) -> Calendar {
        Calendar {
            name: name.to_string(),
            description: None,
            weekend: [5, 6].into(),
            dates: BTreeSet::new(),
            revision: 0,
            updated_at: None,
        }
    }

    /// Why `date` is closed, or `None` when the exchange is open that day.
    pub fn closed_on(&self, date: NaiveDate) -> Option<String> {
        let day = date.weekday();
        if self.weekend.contains(&weekday_number(day)) {
            Some(format!(
                "holiday: {date} ({day}) is a weekend day of calendar {}",
                self.name
            ))
        } else if self.dates.contains(&date) {
            Some(format!(
                "holiday: {date} ({day}) is a closed day of calendar {}",
                self.name
            ))
        } else {
            None
        }
    }

    /// The first open day after `date`, within a year.
    pub fn next_open(&self, date: NaiveDate) -> Option<NaiveDate> {
        (date.iter_days().skip(1))
            .take(MAX_CLOSED_DAYS as usize)
            .find(|day| self.closed_on(*day).is_none())
    }
}

/// What a job on a calendar does on a closed day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarMode {
    /// The instant is not published: its run is recorded `skipped` with the reason, and the
    /// schedule goes on (the default).
    #[default]
    Skip,
    /// The instant moves to the same local time on the next open day, and the schedule goes on
    /// from there (the instants of the closed days between fold into it).
    NextOpenDay,
}

impl CalendarMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarMode::Skip => "skip",
            CalendarMode::NextOpenDay => "next_open_day",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "skip" => Some(CalendarMode::Skip),
            "next_open_day" => Some(CalendarMode::NextOpenDay),
            _ => None,
        }
    }
}

/// What happens to one due instant of a job on a calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// The exchange is open that day: the instant fires.
    Open,
    /// Closed: the instant is skipped for this reason.
    Skip(String),
    /// Closed: the instant moves to `to` (same local time, next open day, whose first
    /// instant is `day_start`; the schedule's first instant that day may come before `to`).
    Move {
        to: DateTime<Utc>,
        day_start: DateTime<Utc>,
        why: String,
    },
}

/// The gate of `due` (an instant `jitter` after its slot; zero for an interval, whose
/// instants are their own slots) for a job on `calendar` whose schedule is read in `zone`.
pub fn gate(
    calendar: &Calendar,
    mode: CalendarMode,
    due: DateTime<Utc>,
    jitter: Duration,
    zone: Tz,
) -> Gate {
    let slot = (due - jitter).with_timezone(&zone);
    let date = slot.date_naive();
    let Some(why) = calendar.closed_on(date) else {
        return Gate::Open;
    };
    match mode {
        CalendarMode::Skip => Gate::Skip(why),
        CalendarMode::NextOpenDay => {
            let moved = calendar.next_open(date).and_then(|day| {
                let to = local_instant(zone, day.and_time(slot.time()))?;
                let day_start = local_instant(zone, day.and_time(chrono::NaiveTime::MIN))?;
                Some((to, day_start))
            });
            match moved {
                Some((to, day_start)) => Gate::Move {
                    to: to + jitter,
                    day_start: day_start + jitter,
                    why,
                },
                None => Gate::Skip(format!(
                    "{why}; it has no open day in the {MAX_CLOSED_DAYS} days after"
                )),
            }
        }
    }
}

/// The first instant of the local day in `zone` after the day of `slot`.
pub fn start_of_day_after(slot: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
    let day = slot.with_timezone(&zone).date_naive().succ_opt()?;
    local_instant(zone, day.and_time(chrono::NaiveTime::MIN))
}

/// A local time in `zone` as an instant: the first of a time that occurs twice, and the end
/// of the gap for a time a clock change skips (the cron rule).
fn local_instant(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::LocalResult;
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => Some(at.with_timezone(&Utc)),
        LocalResult::None => (1..=24 * 60)
            .map(|minutes| local + Duration::minutes(minutes))
            .find_map(|later| zone.from_local_datetime(&later).earliest())
            .map(|at| at.with_timezone(&Utc)),
    }
}

/// The engine's calendars of its scope by name: every fire of a job on a calendar reads it
/// here, so an edit applies to the next instant of every job at once.
#[derive(Debug, Default)]
pub struct Calendars(RwLock<HashMap<String, Arc<Calendar>>>);

impl Calendars {
    pub fn get(&self, name: &str) -> Option<Arc<Calendar>> {
        let calendars = self.0.read().unwrap_or_else(|poison| poison.into_inner());
        calendars.get(name).cloned()
    }

    /// Adds or replaces one calendar, unless a later revision of it is held already (two
    /// edits landing out of order).
    pub fn set(&self, calendar: Calendar) {
        let mut calendars = self.0.write().unwrap_or_else(|poison| poison.into_inner());
        let held = (calendars.get(&calendar.name)).map_or(0, |held| held.revision);
        if calendar.revision >= held {
            calendars.insert(calendar.name.clone(), Arc::new(calendar));
        }
    }

    /// Replaces every calendar by `calendars`, a read of the table that began at `read_at`,
    /// keeping what was written meanwhile (a later revision, or a calendar new since).
    pub fn replace_all(&self, calendars: Vec<Calendar>, read_at: DateTime<Utc>) {
        let mut held = self.0.write().unwrap_or_else(|poison| poison.into_inner());
        let mut fresh: HashMap<String, Arc<Calendar>> = (calendars.into_iter())
            .map(|calendar| match held.get(&calendar.name) {
                Some(newer) if newer.revision > calendar.revision => (calendar.name, newer.clone()),
                _ => (calendar.name.clone(), Arc::new(calendar)),
            })
            .collect();
        // The column keeps whole seconds: a second of margin.
        let since = read_at - Duration::seconds(1);
        for (name, calendar) in held.drain() {
            if calendar.updated_at.is_some_and(|at| at >= since) {
                fresh.entry(name).or_insert(calendar);
            }
        }
        *held = fresh;
    }

    pub fn remove(&self, name: &str) {
        let mut calendars = self.0.write().unwrap_or_else(|poison| poison.into_inner());
        calendars.remove(name);
    }

    pub fn contains(&self, name: &str) -> bool {
        let calendars = self.0.read().unwrap_or_else(|poison| poison.into_inner());
        calendars.contains_key(name)
    }
}

#[cfg(test)]
mod tests;
