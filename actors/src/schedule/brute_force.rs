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
        let mut actual = Vec::new();
        let mut cursor = after;
        while let Some(next) = schedule.next_after(cursor, zone) {
            if next > until {
                break;
            }
            actual.push(next);
            cursor = next;
        }
        prop_assert_eq!(actual, expected, "{} in {} after {}", text, zone, after);
    }
}
