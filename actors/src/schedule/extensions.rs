//! Day forms beyond Unix cron, for the monthly events of a trading calendar. Each stands alone
//! in its field (no lists or ranges around it); an expression without them is Unix cron,
//! evaluated exactly as before.
//!
//! | field | form | fires on |
//! |---|---|---|
//! | day-of-month | `L` | the last day of the month |
//! | day-of-month | `LW` | the last weekday (Monday–Friday) of the month |
//! | day-of-month | `nW` | the weekday nearest day n, within the month (n = 1–31) |
//! | day-of-week | `d#n` | the n-th weekday d of the month (d = 0–7 or a name, n = 1–5) |
//! | day-of-week | `dL` | the last weekday d of the month |
//!
//! `nW`: a Saturday moves to the Friday before and a Sunday to the Monday after, unless that
//! leaves the month (day 1 on a Saturday fires on Monday the 3rd; the last day on a Sunday on
//! the Friday before); a day the month does not have never fires. The day fields combine as in
//! Vixie cron (see the module above).

use chrono::{Datelike, NaiveDate, Weekday};

use super::describe::DAYS;
use super::{CronError, DAY_NAMES};

/// Whether `date` is the weekday nearest day `day` of its month, within the month (the `nW`
/// rule above); never in a month without that day.
pub fn is_nearest_weekday(date: NaiveDate, day: u32) -> bool {
    let Some(target) = date.with_day(day) else {
        return false;
    };
    let last = (28..=31)
        .rev()
        .find(|last| date.with_day(*last).is_some())
        .unwrap_or(28);
    let nearest = match target.weekday() {
        Weekday::Sat if day == 1 => 3,
        Weekday::Sat => day - 1,
        Weekday::Sun if day == last => day - 2,
        Weekday::Sun => day + 1,
        _ => day,
    };
    date.day() == nearest
}

/// A day-of-month extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOfMonth {
    Last,
    LastWeekday,
    NearestWeekday(u32),
}

/// A day-of-week extension; days numbered from Sunday = 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOfWeek {
    Last(u32),
    Nth(u32, u32),
}

fn refused(name: &str, field: &str, why: &str) -> CronError {
    CronError(format!("cron_expr {name} field '{field}': {why}"))
}

impl DayOfMonth {
    /// The field's extension; `None` when it is Unix cron (or not valid at all).
    pub fn parse(field: &str) -> Option<Result<DayOfMonth, CronError>> {
        let upper = field.to_ascii_uppercase();
        if !upper.contains(['L', 'W']) {
            return None;
        }
        let invalid = |why: &str| Some(Err(refused("day-of-month", field, why)));
        match upper.as_str() {
            "L" => Some(Ok(DayOfMonth::Last)),
            "LW" => Some(Ok(DayOfMonth::LastWeekday)),
            _ => match upper.strip_suffix('W').map(str::parse::<u32>) {
                Some(Ok(day)) if (1..=31).contains(&day) => {
                    Some(Ok(DayOfMonth::NearestWeekday(day)))
                }
                Some(Ok(_)) => invalid("nW takes a day from 1 to 31"),
                _ => invalid(
                    "'L' and 'W' stand alone in the field: L (last day), LW (last weekday) or \
                     nW (weekday nearest day n)",
                ),
            },
        }
    }

    /// As saffron reads it.
    pub fn saffron(self) -> String {
        match self {
            DayOfMonth::Last => "L".into(),
            DayOfMonth::LastWeekday => "LW".into(),
            DayOfMonth::NearestWeekday(day) => format!("{day}W"),
        }
    }

    pub fn words(self) -> String {
        match self {
            DayOfMonth::Last => "on the last day of the month".into(),
            DayOfMonth::LastWeekday => "on the last weekday of the month".into(),
            DayOfMonth::NearestWeekday(day) => {
                format!("on the weekday nearest day {day} of the month")
            }
        }
    }
}

/// A day of the week as written (0–7, 7 = Sunday, or a three-letter name): 0–6 from Sunday.
fn day(text: &str) -> Option<u32> {
    if let Ok(number) = text.parse::<u32>() {
        return (number <= 7).then_some(number % 7);
    }
    DAY_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .map(|index| index as u32)
}

impl DayOfWeek {
    /// The field's extension; `None` when it is Unix cron (or not valid at all).
    pub fn parse(field: &str) -> Option<Result<DayOfWeek, CronError>> {
        let invalid = |why: &str| Some(Err(refused("day-of-week", field, why)));
        if let Some((weekday, nth)) = field.split_once('#') {
            return match (day(weekday), nth.parse::<u32>()) {
                (Some(weekday), Ok(nth)) if (1..=5).contains(&nth) => {
                    Some(Ok(DayOfWeek::Nth(weekday, nth)))
                }
                (Some(_), _) => invalid("d#n takes n from 1 to 5"),
                _ => invalid("'#' stands alone in the field: d#n, a day 0-7 or a name, then n"),
            };
        }
        let weekday = field
            .strip_suffix('L')
            .or_else(|| field.strip_suffix('l'))?;
        match day(weekday) {
            Some(weekday) => Some(Ok(DayOfWeek::Last(weekday))),
            None => invalid("'L' stands alone in the field: dL, a day 0-7 or a name, then L"),
        }
    }

    /// As saffron reads it (days by name: saffron numbers them from 1).
    pub fn saffron(self) -> String {
        match self {
            DayOfWeek::Last(weekday) => format!("{}L", DAY_NAMES[weekday as usize]),
            DayOfWeek::Nth(weekday, nth) => format!("{}#{nth}", DAY_NAMES[weekday as usize]),
        }
    }

    pub fn words(self) -> String {
        const NTH: [&str; 5] = ["first", "second", "third", "fourth", "fifth"];
        match self {
            DayOfWeek::Last(weekday) => {
                format!("on the last {} of the month", DAYS[weekday as usize])
            }
            DayOfWeek::Nth(weekday, nth) => format!(
                "on the {} {} of the month",
                NTH[nth as usize - 1],
                DAYS[weekday as usize]
            ),
        }
    }
}
