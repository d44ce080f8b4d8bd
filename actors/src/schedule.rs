//! Cron schedules with the semantics of Vixie cron, evaluated in a time zone.
//!
//! Parsing and matching of the minute, hour, day-of-month and month fields is saffron's. The
//! day-of-week field is ours: saffron numbers days 1–7 from Sunday, Unix cron 0–7 with 0 and 7
//! both Sunday, so we expand the field to a set of day names before saffron sees it. Vixie
//! cron also ANDs the two day fields when either of them starts with `*` (e.g. `*/2`) and ORs
//! them only when both are restricted lists; saffron always ORs, so the AND case is evaluated
//! here. Beyond Unix cron, only the day forms of `extensions.rs` are read (`L`, `LW`, `nW`,
//! `d#n`, `dL`, each alone in its field); anything else (`?`, lists around them) is refused
//! with a message naming the field.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use saffron::Cron;

mod describe;
mod extensions;

pub use describe::{describe_cron, describe_interval};

const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// How many candidate instants a single `next_after` may reject before giving up.
const MAX_CANDIDATES: usize = 100_000;

/// Why a cron expression was rejected; the text is shown to API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

/// A parsed five-field cron expression.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    /// The expression as saffron evaluates it (day of week translated).
    cron: Cron,
    /// Set when Vixie semantics AND the day fields: the day-of-month-only and
    /// day-of-week-only halves of the expression.
    and_days: Option<Box<(Cron, Cron)>>,
    /// `nW`: saffron only proposes the days, our rule decides (saffron carries a day the month
    /// does not have over into the next month and fires on the weekday nearest that).
    nearest: Option<Box<Nearest>>,
}

#[derive(Debug, Clone)]
struct Nearest {
    day: u32,
    /// When the day fields are ORed: the day-of-week half, which may match on its own.
    or_days: Option<Cron>,
}

impl CronSchedule {
    /// Parses a standard 5-field Unix cron expression.
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let [minute, hour, day_of_month, month, day_of_week] = fields[..] else {
            return Err(CronError(format!(
                "cron_expr must have 5 fields (minute hour day-of-month month day-of-week), got {}",
                fields.len()
            )));
        };
        for (name, field) in [("minute", minute), ("hour", hour)] {
            check_characters(name, field, &[])?;
        }
        let mut nearest_day = None;
        let day_of_month_text = match extensions::DayOfMonth::parse(day_of_month) {
            Some(extension) => {
                let extension = extension?;
                if let extensions::DayOfMonth::NearestWeekday(day) = extension {
                    nearest_day = Some(day);
                }
                extension.saffron()
            }
            None => {
                check_characters("day-of-month", day_of_month, &[])?;
                day_of_month.to_string()
            }
        };
        check_characters("month", month, &MONTH_NAMES)?;
        let days_of_week = match extensions::DayOfWeek::parse(day_of_week) {
            Some(extension) => extension?.saffron(),
            None => {
                check_characters("day-of-week", day_of_week, &DAY_NAMES)?;
                expand_day_of_week(day_of_week)?
            }
        };
        let day_of_month = day_of_month_text.as_str();

        let cron = parse_saffron(&format!(
            "{minute} {hour} {day_of_month} {month} {days_of_week}"
        ))?;
        if !cron.any() {
            return Err(CronError(format!(
                "cron_expr '{expr}' never matches any time"
            )));
        }
        // Vixie cron: a day field that starts with '*' makes the day test an AND.
        let dom_star = day_of_month.starts_with('*');
        let dow_star = day_of_week.starts_with('*');
        let both_restricted = day_of_month != "*" && day_of_week != "*";
        let and_days = if both_restricted && (dom_star || dow_star) {
            let dom_only = parse_saffron(&format!("{minute} {hour} {day_of_month} {month} *"))?;
            let dow_only = parse_saffron(&format!("{minute} {hour} * {month} {days_of_week}"))?;
            Some(Box::new((dom_only, dow_only)))
        } else {
            None
        };
        let nearest = match nearest_day {
            Some(day) => {
                let or_days = if both_restricted && and_days.is_none() {
                    Some(parse_saffron(&format!(
                        "{minute} {hour} * {month} {days_of_week}"
                    ))?)
                } else {
                    None
                };
                Some(Box::new(Nearest { day, or_days }))
            }
            None => None,
        };
        let schedule = CronSchedule {
            cron,
            and_days,
            nearest,
        };
        // The AND of the day fields can be empty even when each half is not (`* * 30 2 */1`).
        let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .expect("a valid instant");
        if schedule.next_wall_clock(epoch).is_none() {
            return Err(CronError(format!(
                "cron_expr '{expr}' never matches any time"
            )));
        }
        Ok(schedule)
    }

    /// Whether a wall-clock time (minute resolution) matches the expression.
    fn matches_wall_clock(&self, wall: NaiveDateTime) -> bool {
        let as_utc = Utc.from_utc_datetime(&wall);
        let days = match &self.and_days {
            None => self.cron.contains(as_utc),
            Some(halves) => halves.0.contains(as_utc) && halves.1.contains(as_utc),
        };
        days && self.nearest_allows(wall)
    }

    /// `nW` by our rule: the day is the weekday nearest day n of its month (or, with the day
    /// fields ORed, the day-of-week half matches).
    fn nearest_allows(&self, wall: NaiveDateTime) -> bool {
        let Some(nearest) = &self.nearest else {
            return true;
        };
        extensions::is_nearest_weekday(wall.date(), nearest.day)
            || (nearest.or_days.as_ref())
                .is_some_and(|days| days.contains(Utc.from_utc_datetime(&wall)))
    }

    /// The first matching wall-clock time strictly after `wall`.
    fn next_wall_clock(&self, wall: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut cursor = Utc.from_utc_datetime(&wall);
        for _ in 0..MAX_CANDIDATES {
            let candidate = match &self.and_days {
                None => self.cron.next_after(cursor)?,
                Some(halves) => halves.0.next_after(cursor)?,
            };
            if self.matches_wall_clock(candidate.naive_utc()) {
                return Some(candidate.naive_utc());
            }
            cursor = candidate;
        }
        None
    }

    /// The first instant strictly after `after` at which the expression fires in `zone`.
    ///
    /// A wall-clock time that does not exist (DST gap) fires at the first instant after the
    /// gap; one that exists twice (DST repeat) fires once, at its first occurrence.
    pub fn next_after(&self, after: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let mut wall = after.with_timezone(&zone).naive_local();
        for _ in 0..MAX_CANDIDATES {
            wall = self.next_wall_clock(wall)?;
            let instant = match zone.from_local_datetime(&wall) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
                LocalResult::None => first_instant_after_gap(wall, zone)?,
            };
            if instant > after {
                return Some(instant);
            }
        }
        None
    }
}

/// The instant at which the DST gap containing the non-existent `wall` ends.
fn first_instant_after_gap(wall: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    let mut probe = wall;
    // Gaps start and end on whole minutes and last at most a few hours, and cron times are
    // whole minutes, so the first existing minute after `wall` is where the gap ends.
    for _ in 0..(24 * 60) {
        probe += Duration::minutes(1);
        if let Some(t) = zone.from_local_datetime(&probe).earliest() {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

fn parse_saffron(expr: &str) -> Result<Cron, CronError> {
    expr.parse::<Cron>()
        .map_err(|_| CronError(format!("cron_expr '{expr}' is not a valid cron expression")))
}

/// Allows digits, `*`, `,`, `-`, `/` and the given three-letter names, nothing else.
fn check_characters(field_name: &str, field: &str, names: &[&str]) -> Result<(), CronError> {
    let mut rest = field;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_digit() || "*,-/".contains(c) {
            rest = &rest[1..];
        } else if c.is_ascii_alphabetic() {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            if !names.iter().any(|name| name.eq_ignore_ascii_case(&word)) {
                return Err(CronError(format!(
                    "cron_expr {field_name} field '{field}': '{word}' is not allowed here"
                )));
            }
            rest = &rest[word.len()..];
        } else {
            return Err(CronError(format!(
                "cron_expr {field_name} field '{field}': character '{c}' is not allowed \
                 (standard Unix cron only)"
            )));
        }
    }
    Ok(())
}

/// Expands a Unix day-of-week field (0–7, 0 and 7 = Sunday, names, ranges, lists, steps) to
/// `*` or a comma list of day names, which saffron reads unambiguously.
fn expand_day_of_week(field: &str) -> Result<String, CronError> {
    if field == "*" {
        return Ok("*".to_string());
    }
    let invalid = |why: &str| CronError(format!("cron_expr day-of-week field '{field}': {why}"));
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| invalid("bad step"))?;
                if step == 0 || step > 7 {
                    return Err(invalid("step must be 1 to 7"));
                }
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = if range == "*" {
            (0, 7)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                day_number(a).ok_or_else(|| invalid("bad day"))?,
                day_number(b).ok_or_else(|| invalid("bad day"))?,
            )
        } else {
            let day = day_number(range).ok_or_else(|| invalid("bad day"))?;
            (day, if item.contains('/') { 7 } else { day })
        };
        if first > last {
            return Err(invalid("range start is after its end"));
        }
        for day in (first..=last).step_by(step as usize) {
            days[(day % 7) as usize] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|&d| days[d]).map(|d| DAY_NAMES[d]).collect();
    Ok(names.join(","))
}

/// A day of week as Unix cron numbers it (0–7, Sunday = 0 and 7), from a number or a name.
fn day_number(text: &str) -> Option<u32> {
    if let Ok(number) = text.parse::<u32>() {
        return (number <= 7).then_some(number);
    }
    DAY_NAMES
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .map(|index| index as u32)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod brute_force;
