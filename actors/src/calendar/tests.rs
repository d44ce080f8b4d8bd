use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Chuseok 2026 closes the exchange Thursday 24 and Friday 25 September.
fn krx() -> Calendar {
    Calendar::from_body(
        "krx",
        &json!({"dates": ["2026-09-24", "2026-09-25", "2026-10-05"]}),
    )
    .unwrap()
}

const SEOUL: Tz = chrono_tz::Asia::Seoul;

#[test]
fn weekends_and_listed_dates_are_closed() {
    let krx = krx();
    assert_eq!(krx.closed_on(day("2026-09-23")), None);
    assert!(krx
        .closed_on(day("2026-09-24"))
        .unwrap()
        .starts_with("holiday: 2026-09-24 (Thu) is a closed day of calendar krx"));
    assert!(krx
        .closed_on(day("2026-09-26"))
        .unwrap()
        .contains("weekend day"));
    // Thursday and Friday listed, then the weekend: Monday 28 September opens.
    assert_eq!(krx.next_open(day("2026-09-23")), Some(day("2026-09-28")));
    assert_eq!(krx.next_open(day("2026-09-24")), Some(day("2026-09-28")));
}

#[test]
fn skip_mode_skips_the_instants_of_closed_days_in_the_job_s_zone() {
    let krx = krx();
    // 08:00 in Seoul on 24 September is 23:00Z on the 23rd: its day is the 24th.
    let due = at("2026-09-23T23:00:00Z");
    let gate = gate(&krx, CalendarMode::Skip, due, Duration::zero(), SEOUL);
    assert!(
        matches!(&gate, Gate::Skip(why) if why.starts_with("holiday: 2026-09-24")),
        "{gate:?}"
    );
    // The same instant read in UTC is on the 23rd, an open day.
    assert_eq!(
        super::gate(
            &krx,
            CalendarMode::Skip,
            due,
            Duration::zero(),
            chrono_tz::UTC
        ),
        Gate::Open
    );
}

#[test]
fn next_open_day_moves_to_the_same_local_time_on_the_next_open_day() {
    let krx = krx();
    let due = at("2026-09-23T23:00:00Z");
    assert_eq!(
        gate(
            &krx,
            CalendarMode::NextOpenDay,
            due,
            Duration::zero(),
            SEOUL
        ),
        Gate::Move {
            to: at("2026-09-27T23:00:00Z"),
            day_start: at("2026-09-27T15:00:00Z"),
            why: krx.closed_on(day("2026-09-24")).unwrap()
        }
    );
    // The jitter moves the instant, not its day: a slot at 23:59:50 on the open 23rd fires
    // at 00:00:20 on the closed 24th, and fires.
    let jitter = Duration::seconds(30);
    let open_slot = at("2026-09-23T14:59:50Z") + jitter;
    assert_eq!(
        gate(&krx, CalendarMode::NextOpenDay, open_slot, jitter, SEOUL),
        Gate::Open
    );
    // A slot on the closed 25th keeps its offset when moved to Monday the 28th.
    let closed_slot = at("2026-09-25T14:59:50Z") + jitter;
    assert!(matches!(
        gate(&krx, CalendarMode::NextOpenDay, closed_slot, jitter, SEOUL),
        Gate::Move { to, .. } if to == at("2026-09-28T14:59:50Z") + jitter
    ));
}

#[test]
fn a_move_into_a_clock_change_gap_lands_when_the_gap_ends() {
    let calendar =
        Calendar::from_body("us", &json!({"dates": ["2026-03-06"], "weekend": []})).unwrap();
    let new_york = chrono_tz::America::New_York;
    // 02:30 on Friday 6 March (EST, 07:30Z) moves to Saturday 7 March; the weekend is open here.
    assert!(matches!(
        gate(&calendar, CalendarMode::NextOpenDay, at("2026-03-06T07:30:00Z"), Duration::zero(), new_york),
        Gate::Move { to, .. } if to == at("2026-03-07T07:30:00Z")
    ));
    let gap = Calendar::from_body("us", &json!({"dates": ["2026-03-07"], "weekend": []})).unwrap();
    // 02:30 on Sunday 8 March does not exist: it lands at 03:00 EDT (07:00Z).
    assert!(matches!(
        gate(&gap, CalendarMode::NextOpenDay, at("2026-03-07T07:30:00Z"), Duration::zero(), new_york),
        Gate::Move { to, .. } if to == at("2026-03-08T07:00:00Z")
    ));
}

#[test]
fn a_calendar_never_open_within_a_year_skips() {
    let every_day: Vec<String> = (0..400)
        .map(|n| (day("2026-01-01") + Duration::days(n)).to_string())
        .collect();
    let closed = Calendar::from_body("shut", &json!({"dates": every_day, "weekend": []})).unwrap();
    assert!(matches!(
        gate(&closed, CalendarMode::NextOpenDay, at("2026-01-02T00:00:00Z"), Duration::zero(), chrono_tz::UTC),
        Gate::Skip(why) if why.contains("no open day")
    ));
}

#[test]
fn bodies_are_checked_field_by_field() {
    let refused = |name: &str, body: serde_json::Value| {
        Calendar::from_body(name, &body)
            .unwrap_err()
            .field
            .unwrap_or_default()
    };
    assert_eq!(refused("KRX", json!({"dates": []})), "name");
    assert_eq!(refused("", json!({"dates": []})), "name");
    assert_eq!(refused("krx", json!({})), "dates");
    assert_eq!(refused("krx", json!({"dates": ["2026-13-01"]})), "dates");
    assert_eq!(refused("krx", json!({"dates": ["2026-9-24"]})), "dates");
    assert_eq!(refused("krx", json!({"dates": [20260924]})), "dates");
    assert_eq!(refused("krx", json!({"dates": "2026-09-24"})), "dates");
    assert_eq!(
        refused("krx", json!({"dates": [], "weekend": ["saturday"]})),
        "weekend"
    );
    assert_eq!(
        refused("krx", json!({"dates": [], "weekend": WEEKDAYS})),
        "weekend"
    );
    assert_eq!(
        refused("krx", json!({"dates": [], "description": 5})),
        "description"
    );
    assert_eq!(
        refused("krx", json!({"dates": [], "holidays": []})),
        "holidays"
    );
    let krx = Calendar::from_body(
        "krx",
        &json!({"dates": ["2026-09-25", "2026-09-24", "2026-09-24"], "weekend": ["fri", "sat"]}),
    )
    .unwrap();
    assert_eq!(krx.dates.len(), 2);
    assert_eq!(
        serde_json::to_value(&krx).unwrap()["weekend"],
        json!(["fri", "sat"])
    );
    assert_eq!(
        serde_json::to_value(&krx).unwrap()["dates"],
        json!(["2026-09-24", "2026-09-25"])
    );
    let too_many: Vec<String> = (0..=MAX_CALENDAR_DATES as i64)
        .map(|n| (day("2000-01-01") + Duration::days(n)).to_string())
        .collect();
    assert_eq!(
        Calendar::dates_of(&json!({"dates": too_many}))
            .unwrap_err()
            .field
            .as_deref(),
        Some("dates")
    );
}

#[test]
fn the_registry_never_goes_back_a_revision_and_keeps_what_is_new_since_a_read() {
    let registry = Calendars::default();
    let mut newer = krx();
    newer.revision = 3;
    let mut older = krx();
    older.revision = 2;
    older.dates.clear();
    registry.set(newer.clone());
    registry.set(older.clone());
    assert_eq!(registry.get("krx").unwrap().revision, 3);
    // A read that began before a calendar was created does not drop it.
    let read_at = at("2026-12-05T10:00:00Z");
    let mut created = Calendar::weekends_only("desk");
    created.updated_at = Some(read_at + Duration::seconds(2));
    created.revision = 1;
    registry.set(created);
    let mut gone = Calendar::weekends_only("old");
    gone.updated_at = Some(read_at - Duration::days(3));
    registry.set(gone);
    registry.replace_all(vec![older], read_at);
    assert_eq!(
        registry.get("krx").unwrap().revision,
        3,
        "the later revision stays"
    );
    assert!(registry.contains("desk"), "new since the read");
    assert!(!registry.contains("old"), "deleted before the read");
}
