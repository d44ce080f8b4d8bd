use super::*;
use chrono::{Datelike, Timelike, Weekday};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn next(expr: &str, after: &str, zone: Tz) -> DateTime<Utc> {
    CronSchedule::parse(expr)
        .expect("valid expression")
        .next_after(utc(after), zone)
        .expect("a next instant")
}

/// The first `count` fire instants after `after`.
fn fires(expr: &str, after: &str, zone: Tz, count: usize) -> Vec<DateTime<Utc>> {
    let schedule = CronSchedule::parse(expr).expect("valid expression");
    let mut cursor = utc(after);
    (0..count)
        .map(|_| {
            cursor = schedule.next_after(cursor, zone).expect("a next instant");
            cursor
        })
        .collect()
}

#[test]
fn next_fire_table() {
    use chrono_tz::{America::New_York, Asia::Seoul, UTC};
    // (expression, after, zone, expected next fire)
    let table: &[(&str, &str, Tz, &str)] = &[
        // 2026-11-28 is a Saturday: weekday 08:00 KST jumps to Monday 2026-11-30.
        (
            "0 8 * * 1-5",
            "2026-11-28T00:00:00Z",
            Seoul,
            "2026-11-29T23:00:00Z",
        ),
        (
            "0 8 * * MON-FRI",
            "2026-11-28T00:00:00Z",
            Seoul,
            "2026-11-29T23:00:00Z",
        ),
        // Friday 07:59 KST: same day 08:00 KST.
        (
            "0 8 * * 1-5",
            "2026-11-26T22:59:00Z",
            Seoul,
            "2026-11-26T23:00:00Z",
        ),
        (
            "0 0 * * 0",
            "2026-11-28T00:00:00Z",
            UTC,
            "2026-11-29T00:00:00Z",
        ),
        (
            "0 0 * * 7",
            "2026-11-28T00:00:00Z",
            UTC,
            "2026-11-29T00:00:00Z",
        ),
        (
            "0 0 * * SUN",
            "2026-11-28T00:00:00Z",
            UTC,
            "2026-11-29T00:00:00Z",
        ),
        (
            "0 0 * * 5-7",
            "2026-11-28T00:00:00Z",
            UTC,
            "2026-11-29T00:00:00Z",
        ),
        (
            "*/5 * * * *",
            "2026-11-28T10:02:30Z",
            UTC,
            "2026-11-28T10:05:00Z",
        ),
        (
            "30 15 * * 1-5",
            "2026-11-27T06:31:00Z",
            Seoul,
            "2026-11-30T06:30:00Z",
        ),
        (
            "0 0 1 JAN *",
            "2026-11-28T00:00:00Z",
            UTC,
            "2027-01-01T00:00:00Z",
        ),
        (
            "0 12 1-7/3 * *",
            "2026-11-28T00:00:00Z",
            UTC,
            "2026-12-01T12:00:00Z",
        ),
        // Both day fields restricted: either matches (13th, or any Friday).
        (
            "0 0 13 * 5",
            "2026-11-28T00:00:00Z",
            UTC,
            "2026-12-04T00:00:00Z",
        ),
        // A day field starting with '*' makes it an AND: odd days that are Mondays.
        (
            "0 0 */2 * 1",
            "2026-11-28T00:00:00Z",
            UTC,
            "2026-12-07T00:00:00Z",
        ),
        (
            "0 9 * * *",
            "2026-11-28T13:59:00Z",
            New_York,
            "2026-11-28T14:00:00Z",
        ),
    ];
    for (expr, after, zone, expected) in table {
        assert_eq!(
            next(expr, after, *zone),
            utc(expected),
            "{expr} after {after} in {zone}"
        );
    }
}

#[test]
fn weekdays_in_seoul_land_on_monday_to_friday_at_eight() {
    let zone = chrono_tz::Asia::Seoul;
    for fire in fires("0 8 * * 1-5", "2026-11-28T00:00:00Z", zone, 20) {
        let local = fire.with_timezone(&zone);
        assert!(
            !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
            "{local}"
        );
        assert_eq!((local.hour(), local.minute()), (8, 0), "{local}");
    }
}

#[test]
fn sunday_is_zero_and_seven() {
    let zone = chrono_tz::UTC;
    for expr in ["0 0 * * 0", "0 0 * * 7", "0 0 * * sun"] {
        for fire in fires(expr, "2026-01-01T00:00:00Z", zone, 10) {
            assert_eq!(fire.weekday(), Weekday::Sun, "{expr}: {fire}");
        }
    }
}

#[test]
fn dst_gap_in_new_york_fires_once_after_the_gap() {
    // 2026-03-08 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
    let zone = chrono_tz::America::New_York;
    let fires = fires("30 2 * * *", "2026-03-07T12:00:00Z", zone, 3);
    assert_eq!(
        fires,
        vec![
            utc("2026-03-08T07:00:00Z"), // 03:00 EDT, first instant after the gap
            utc("2026-03-09T06:30:00Z"),
            utc("2026-03-10T06:30:00Z"),
        ]
    );
    // Every-30-minutes across the gap: 01:30 EST, then 03:00 EDT once, then 03:30 EDT.
    let fires = self::fires("*/30 * * * *", "2026-03-08T06:15:00Z", zone, 3);
    assert_eq!(
        fires,
        vec![
            utc("2026-03-08T06:30:00Z"),
            utc("2026-03-08T07:00:00Z"),
            utc("2026-03-08T07:30:00Z"),
        ]
    );
}

#[test]
fn dst_repeat_in_new_york_fires_once() {
    // 2026-11-01 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    let zone = chrono_tz::America::New_York;
    let fires = fires("30 1 * * *", "2026-10-31T12:00:00Z", zone, 3);
    assert_eq!(
        fires,
        vec![
            utc("2026-11-01T05:30:00Z"), // 01:30 EDT; 01:30 EST (06:30Z) is skipped
            utc("2026-11-02T06:30:00Z"),
            utc("2026-11-03T06:30:00Z"),
        ]
    );
}

#[test]
fn rejects_what_is_not_unix_cron() {
    for expr in [
        "",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 32 * *",
        "* * * 13 *",
        "* * * * 8",
        "* * * * 5-1",
        "* * * * */0",
        "* * ? * *",
        "* * L-2 * *",
        "* * 1,L * *",
        "* * 32W * *",
        "* * 0W * *",
        "* * W * *",
        "* * * * 5#6",
        "* * * * 5#0",
        "* * * * 1,5L",
        "* * * * L",
        "* * * * 8L",
        "* * * * #2",
        "0 0 31W 2 *",
        "* * * * MONDAY",
        "* * * FOO *",
        "*/0 * * * *",
        "0 0 30 2 *",
        "* * 30 2 */1",
        "a b c d e",
        "0 0 * * 1; DROP TABLE jobs",
    ] {
        assert!(
            CronSchedule::parse(expr).is_err(),
            "'{expr}' should be rejected"
        );
    }
}

#[test]
fn the_day_extensions_name_the_field_they_are_refused_in() {
    for (expr, field) in [
        ("0 9 L-2 * *", "day-of-month"),
        ("0 9 40W * *", "day-of-month"),
        ("0 9 * * 4#9", "day-of-week"),
        ("0 9 * * MON,FRIL", "day-of-week"),
    ] {
        let error = CronSchedule::parse(expr).unwrap_err().to_string();
        assert!(error.contains(field), "{expr}: {error}");
    }
}

#[test]
fn the_day_extensions_fire_on_their_days() {
    use chrono_tz::{Asia::Seoul, UTC};
    let dates = |expr: &str, zone: Tz, count: usize| -> Vec<String> {
        fires(expr, "2026-01-01T00:00:00Z", zone, count)
            .iter()
            .map(|t| t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string())
            .collect()
    };
    // KOSPI 200 options expire on the second Thursday of the month.
    assert_eq!(
        dates("0 9 * * 4#2", Seoul, 3),
        ["2026-01-08 09:00", "2026-02-12 09:00", "2026-03-12 09:00"]
    );
    assert_eq!(dates("0 9 * * THU#2", Seoul, 1), ["2026-01-08 09:00"]);
    assert_eq!(
        dates("0 18 L * *", UTC, 3),
        ["2026-01-31 18:00", "2026-02-28 18:00", "2026-03-31 18:00"]
    );
    // 31 January 2026 is a Saturday, 28 February too, 31 May a Sunday.
    assert_eq!(
        dates("0 18 LW * *", UTC, 5),
        [
            "2026-01-30 18:00",
            "2026-02-27 18:00",
            "2026-03-31 18:00",
            "2026-04-30 18:00",
            "2026-05-29 18:00"
        ]
    );
    // 1 August 2026 is a Saturday: the nearest weekday within the month is Monday the 3rd.
    // 15 March 2026 is a Sunday: Monday the 16th.
    assert_eq!(dates("0 9 1W 8 *", UTC, 1), ["2026-08-03 09:00"]);
    assert_eq!(dates("0 9 15W 3 *", UTC, 1), ["2026-03-16 09:00"]);
    // The last Friday of the month; 7L and 0L are both Sunday.
    assert_eq!(
        dates("0 9 * * 5L", UTC, 2),
        ["2026-01-30 09:00", "2026-02-27 09:00"]
    );
    assert_eq!(dates("0 9 * * 7L", UTC, 1), dates("0 9 * * 0L", UTC, 1));
}
