//! Property test: the cron evaluator against a brute-force one that walks every UTC minute,
//! over random expressions and zones. The brute force knows the rules and nothing of the
//! evaluator: a wall-clock minute matches when its minute, hour and month are in their sets
//! and its day passes Vixie cron's day rule (both day fields restricted: either may match; a
//! day field starting with `*`: both must); a matching wall-clock time that occurs twice (DST
//! repeat) fires at its first occurrence only; one skipped by a DST gap fires at the first
//! instant after the gap.

use std::collections::BTreeSet;

use chrono::{Datelike, DurationRound, Timelike};
use proptest::prelude::*;

use super::*;

/// The evaluator's fires in `(after, until]`.
fn evaluated(
    schedule: &CronSchedule,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    zone: Tz,
) -> Vec<DateTime<Utc>> {
    let mut fires = Vec::new();
    let mut cursor = after;
    while let Some(next) = schedule
        .next_after(cursor, zone)
        .filter(|next| *next <= until)
    {
        fires.push(next);
        cursor = next;
    }
    fires
}

/// A field as written and the values it stands for.
#[derive(Debug, Clone)]
struct Field {
    text: String,
    values: BTreeSet<u32>,
}

fn field(lo: u32, hi: u32) -> impl Strategy<Value = Field> {
    let all = move || (lo..=hi).collect::<BTreeSet<u32>>();
    prop_oneof![
        4 => Just(Field { text: "*".into(), values: all() }),
        1 => (1..=(hi - lo).max(1)).prop_map(move |step| Field {
            text: format!("*/{step}"),
            values: (lo..=hi).step_by(step as usize).collect(),
        }),
        2 => (lo..=hi).prop_map(|value| Field {
            text: value.to_string(),
            values: BTreeSet::from([value]),
        }),
        1 => (lo..=hi, lo..=hi, 1..4u32).prop_map(|(a, b, step)| {
            let (a, b) = (a.min(b), a.max(b));
            Field {
                text: format!("{a}-{b}/{step}"),
                values: (a..=b).step_by(step as usize).collect(),
            }
        }),
        1 => prop::collection::btree_set(lo..=hi, 1..4).prop_map(|values| Field {
            text: values.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
            values,
        }),
    ]
}

/// A five-field expression and its brute-force matcher.
#[derive(Debug, Clone)]
struct Expression {
    minute: Field,
    hour: Field,
    day_of_month: Field,
    month: Field,
    day_of_week: Field,
}

impl Expression {
    fn text(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.minute.text,
            self.hour.text,
            self.day_of_month.text,
            self.month.text,
            self.day_of_week.text
        )
    }

    fn matches(&self, wall: NaiveDateTime) -> bool {
        let weekday = wall.weekday().num_days_from_sunday();
        let dom = self.day_of_month.values.contains(&wall.day());
        // 0 and 7 are both Sunday.
        let dow = self.day_of_week.values.contains(&weekday)
            || (weekday == 0 && self.day_of_week.values.contains(&7));
        let day =
            if self.day_of_month.text.starts_with('*') || self.day_of_week.text.starts_with('*') {
                dom && dow
            } else {
                dom || dow
            };
        self.minute.values.contains(&wall.minute())
            && self.hour.values.contains(&wall.hour())
            && self.month.values.contains(&wall.month())
            && day
    }

    /// Every fire in `(after, until]`, walking UTC minute by minute.
    fn fires(&self, after: DateTime<Utc>, until: DateTime<Utc>, zone: Tz) -> Vec<DateTime<Utc>> {
        let minute = Duration::minutes(1);
        let first = after.duration_trunc(minute).expect("truncates") + minute;
        let mut fires = Vec::new();
        let mut instant = first;
        while instant <= until {
            let wall = instant.with_timezone(&zone).naive_local();
            let previous = (instant - minute).with_timezone(&zone).naive_local();
            let first_occurrence = match zone.from_local_datetime(&wall) {
                LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc) == instant,
                _ => true,
            };
            let mut skipped = previous + minute;
            let mut gap_match = false;
            while skipped < wall {
                gap_match |= self.matches(skipped);
                skipped += minute;
            }
            if (self.matches(wall) && first_occurrence) || gap_match {
                fires.push(instant);
            }
            instant += minute;
        }
        fires
    }
}

fn expression() -> impl Strategy<Value = Expression> {
    (
        field(0, 59),
        field(0, 23),
        field(1, 31),
        field(1, 12),
        field(0, 7),
    )
        .prop_map(
            |(minute, hour, day_of_month, month, day_of_week)| Expression {
                minute,
                hour,
                day_of_month,
                month,
                day_of_week,
            },
        )
}

const ZONES: [Tz; 7] = [
    chrono_tz::UTC,
    chrono_tz::Asia::Seoul,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kathmandu,
    chrono_tz::America::Santiago,
];

/// DST changes of 2025: the zone and (about) the UTC instant its clocks moved. Lord Howe moves
/// by 30 minutes; Santiago at midnight.
const CHANGES: [(Tz, &str); 8] = [
    (chrono_tz::America::New_York, "2025-03-09T07:00:00Z"),
    (chrono_tz::America::New_York, "2025-11-02T06:00:00Z"),
    (chrono_tz::Europe::London, "2025-03-30T01:00:00Z"),
    (chrono_tz::Europe::London, "2025-10-26T01:00:00Z"),
    (chrono_tz::Australia::Lord_Howe, "2025-04-05T15:00:00Z"),
    (chrono_tz::Australia::Lord_Howe, "2025-10-04T15:30:00Z"),
    (chrono_tz::America::Santiago, "2025-04-06T03:00:00Z"),
    (chrono_tz::America::Santiago, "2025-09-07T04:00:00Z"),
];

/// A zone and a start instant: any zone anywhere in 2024–2027, or a zone up to 12 hours
/// before one of its DST changes (the 4-day window then holds the change).
fn zone_and_start() -> impl Strategy<Value = (Tz, DateTime<Utc>)> {
    let anywhere = (
        prop::sample::select(ZONES.to_vec()),
        1_704_067_200i64..1_830_297_600i64,
    )
        .prop_map(|(zone, seconds)| {
            let start = DateTime::from_timestamp(seconds, 0).expect("in range");
            (zone, start)
        });
    let near_change = (prop::sample::select(CHANGES.to_vec()), 0..43_200i64).prop_map(
        |((zone, change), before)| {
            let change = DateTime::parse_from_rfc3339(change).expect("an instant");
            (zone, change.with_timezone(&Utc) - Duration::seconds(before))
        },
    );
    prop_oneof![anywhere, near_change]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn next_after_agrees_with_a_minute_by_minute_walk(
        expression in expression(),
        (zone, after) in zone_and_start(),
    ) {
        let text = expression.text();
        let parsed = CronSchedule::parse(&text);
        // Expressions no day can satisfy (`0 0 31 2 *`) are refused: skip them.
        prop_assume!(parsed.is_ok());
        let schedule = parsed.expect("parsed");
        let until = after + Duration::days(4);
        let expected = expression.fires(after, until, zone);
        let actual = evaluated(&schedule, after, until, zone);
        prop_assert_eq!(actual, expected, "{} in {} after {}", text, zone, after);
    }
}

/// A day form beyond Unix cron, with its rule written out independently of the evaluator.
#[derive(Debug, Clone, Copy)]
enum DayRule {
    Last,
    LastWeekday,
    Nearest(u32),
    Nth(u32, u32),
    LastOf(u32),
}

fn days_in_month(date: chrono::NaiveDate) -> u32 {
    let (year, month) = (date.year(), date.month());
    let next = if month == 12 {
        chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.expect("a date").pred_opt().expect("a date").day()
}

fn is_weekday(date: chrono::NaiveDate) -> bool {
    date.weekday().num_days_from_monday() < 5
}

impl DayRule {
    fn matches(self, date: chrono::NaiveDate) -> bool {
        let last = days_in_month(date);
        let on = |day: u32| date.with_day(day).expect("in the month");
        match self {
            DayRule::Last => date.day() == last,
            DayRule::LastWeekday => {
                let day = (1..=last).rev().find(|day| is_weekday(on(*day)));
                Some(date.day()) == day
            }
            DayRule::Nearest(n) => {
                if n > last {
                    return false;
                }
                let target = match on(n).weekday() {
                    chrono::Weekday::Sat if n == 1 => 3,
                    chrono::Weekday::Sat => n - 1,
                    chrono::Weekday::Sun if n == last => n - 2,
                    chrono::Weekday::Sun => n + 1,
                    _ => n,
                };
                date.day() == target
            }
            DayRule::Nth(weekday, nth) => {
                date.weekday().num_days_from_sunday() == weekday && (date.day() - 1) / 7 + 1 == nth
            }
            DayRule::LastOf(weekday) => {
                date.weekday().num_days_from_sunday() == weekday && date.day() + 7 > last
            }
        }
    }
}

/// A day field: as written, and whether a date passes it.
#[derive(Debug, Clone)]
enum DayField {
    Plain(Field),
    Extension(String, DayRule),
}

impl DayField {
    fn text(&self) -> &str {
        match self {
            DayField::Plain(field) => &field.text,
            DayField::Extension(text, _) => text,
        }
    }

    fn passes(&self, date: chrono::NaiveDate, value: u32, sunday_is_7: bool) -> bool {
        match self {
            DayField::Plain(field) => {
                field.values.contains(&value)
                    || (sunday_is_7 && value == 0 && field.values.contains(&7))
            }
            DayField::Extension(_, rule) => rule.matches(date),
        }
    }
}

fn dom_field() -> impl Strategy<Value = DayField> {
    prop_oneof![
        2 => field(1, 31).prop_map(DayField::Plain),
        1 => Just(DayField::Extension("L".into(), DayRule::Last)),
        1 => Just(DayField::Extension("LW".into(), DayRule::LastWeekday)),
        2 => (1..=31u32).prop_map(|n| DayField::Extension(format!("{n}W"), DayRule::Nearest(n))),
    ]
}

fn dow_field() -> impl Strategy<Value = DayField> {
    let name = |day: u32| ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"][day as usize % 7];
    prop_oneof![
        2 => field(0, 7).prop_map(DayField::Plain),
        2 => (0..=7u32, 1..=5u32, any::<bool>()).prop_map(move |(day, nth, named)| {
            let written = if named { name(day).to_string() } else { day.to_string() };
            DayField::Extension(format!("{written}#{nth}"), DayRule::Nth(day % 7, nth))
        }),
        2 => (0..=7u32, any::<bool>()).prop_map(move |(day, named)| {
            let written = if named { name(day).to_string() } else { day.to_string() };
            DayField::Extension(format!("{written}L"), DayRule::LastOf(day % 7))
        }),
    ]
}

/// Every fire in `(after, after + days]` of `minute hour dom month dow`, walking local dates:
/// a date passes by Vixie cron's day rule; its wall-clock time is then placed in the zone (a
/// repeated time at its first occurrence, a time in a DST gap at the gap's end).
fn day_walk(
    (minute, hour): (u32, u32),
    dom: &DayField,
    month: &Field,
    dow: &DayField,
    zone: Tz,
    after: DateTime<Utc>,
    days: i64,
) -> Vec<DateTime<Utc>> {
    let and = dom.text().starts_with('*') || dow.text().starts_with('*');
    let (dom_any, dow_any) = (dom.text() == "*", dow.text() == "*");
    let start = after.with_timezone(&zone).date_naive() - Duration::days(1);
    let until = after + Duration::days(days);
    let mut fires = Vec::new();
    for offset in 0..=days + 2 {
        let date = start + Duration::days(offset);
        let in_dom = dom.passes(date, date.day(), false);
        let in_dow = dow.passes(date, date.weekday().num_days_from_sunday(), true);
        let day = match (dom_any, dow_any) {
            (true, true) => true,
            (true, false) => in_dow,
            (false, true) => in_dom,
            (false, false) if and => in_dom && in_dow,
            (false, false) => in_dom || in_dow,
        };
        if !day || !month.values.contains(&date.month()) {
            continue;
        }
        let wall = date.and_hms_opt(hour, minute, 0).expect("a time");
        let instant = match zone.from_local_datetime(&wall) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
            LocalResult::None => {
                let mut probe = wall;
                loop {
                    probe += Duration::minutes(1);
                    if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                        break t.with_timezone(&Utc);
                    }
                }
            }
        };
        if instant > after && instant <= until {
            fires.push(instant);
        }
    }
    fires
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_day_extensions_agree_with_a_day_by_day_walk(
        time in (0..60u32, 0..24u32),
        dom in dom_field(),
        month in field(1, 12),
        dow in dow_field(),
        (zone, after) in zone_and_start(),
    ) {
        let text = format!("{} {} {} {} {}", time.0, time.1, dom.text(), month.text, dow.text());
        let parsed = CronSchedule::parse(&text);
        let days = 800;
        let expected = day_walk(time, &dom, &month, &dow, zone, after, days);
        // An expression that can never fire is refused; one that can is accepted.
        let Ok(schedule) = parsed else {
            prop_assert!(expected.is_empty(), "{} refused: {:?}; fires {:?}", text, parsed.err(), expected);
            return Ok(());
        };
        let until = after + Duration::days(days);
        let actual = evaluated(&schedule, after, until, zone);
        prop_assert_eq!(actual, expected, "{} in {} after {}", text, zone, after);
    }
}
