//! Exchange calendars: managed over the API (validated, audited), loaded from
//! `config/calendars/`, and obeyed by the engine: a due instant on a closed day is skipped
//! with reason `holiday`, or fires on the next open day; an edit reaches armed jobs at once.

use std::time::Duration;

use actors::Scope;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::restart::restart_with_fire_missed_at;

fn instant(text: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text.as_str().expect("an instant"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

async fn put_calendar(app: &TestApp, name: &str, body: &Value) -> crate::helpers::Reply {
    let path = format!("/calendars/{name}");
    app.send(Method::PUT, &path, Some(&body.to_string())).await
}

async fn calendars_are_managed_over_the_api_validated_and_audited(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    // krx ships in config/calendars and is written at start-up.
    let krx = app.send(Method::GET, "/calendars/krx", None).await;
    assert_eq!(krx.status, StatusCode::OK, "{}", krx.body);
    assert_eq!(krx.body["weekend"], json!(["sat", "sun"]));
    let dates = krx.body["dates"].as_array().expect("dates");
    for closed in ["2025-06-03", "2026-09-24", "2026-12-31", "2027-09-15"] {
        assert!(dates.contains(&json!(closed)), "{closed}");
    }
    let listed = app.send(Method::GET, "/calendars", None).await;
    assert_eq!(listed.body[0]["name"], "krx", "{}", listed.body);

    let created = put_calendar(
        &app,
        "desk",
        &json!({"dates": ["2027-01-04"], "description": "trading desk days off"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["weekend"], json!(["sat", "sun"]));
    let replaced = put_calendar(&app, "desk", &json!({"dates": [], "weekend": ["fri"]})).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["dates"], json!([]));
    assert_eq!(replaced.body["description"], Value::Null);
    let added = app
        .post(
            "/calendars/desk/dates",
            Some(&json!({"dates": ["2027-02-01", "2027-01-04"]})),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body["dates"], json!(["2027-01-04", "2027-02-01"]));
    let removed = app
        .send(Method::DELETE, "/calendars/desk/dates/2027-01-04", None)
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["dates"], json!(["2027-02-01"]));

    // Refused by field (or 404), changing nothing.
    let refusals = [
        (
            Method::PUT,
            "/calendars/Desk",
            Some(json!({"dates": []})),
            StatusCode::BAD_REQUEST,
            "name",
        ),
        (
            Method::PUT,
            "/calendars/desk",
            Some(json!({"dates": ["2027-02-30"]})),
            StatusCode::BAD_REQUEST,
            "dates",
        ),
        (
            Method::PUT,
            "/calendars/desk",
            Some(json!({"dates": [], "weekend": ["sunday"]})),
            StatusCode::BAD_REQUEST,
            "weekend",
        ),
        (
            Method::PUT,
            "/calendars/desk",
            Some(json!({"weekend": []})),
            StatusCode::BAD_REQUEST,
            "dates",
        ),
        (
            Method::POST,
            "/calendars/desk/dates",
            Some(json!({"dates": "2027-03-01"})),
            StatusCode::BAD_REQUEST,
            "dates",
        ),
        (
            Method::POST,
            "/calendars/nowhere/dates",
            Some(json!({"dates": ["2027-03-01"]})),
            StatusCode::NOT_FOUND,
            "",
        ),
        (
            Method::DELETE,
            "/calendars/desk/dates/2027-01-04",
            None,
            StatusCode::NOT_FOUND,
            "date",
        ),
        (
            Method::DELETE,
            "/calendars/desk/dates/tomorrow",
            None,
            StatusCode::BAD_REQUEST,
            "date",
        ),
        (
            Method::GET,
            "/calendars/nowhere",
            None,
            StatusCode::NOT_FOUND,
            "",
        ),
    ];
    for (method, path, body, status, field) in refusals {
        let body = body.map(|body| body.to_string());
        let refused = app.send(method.clone(), path, body.as_deref()).await;
        assert_eq!(refused.status, status, "{method} {path}: {}", refused.body);
        if !field.is_empty() {
            assert_eq!(
                refused.body["field"], field,
                "{method} {path}: {}",
                refused.body
            );
        }
    }
    let unchanged = app.send(Method::GET, "/calendars/desk", None).await;
    assert_eq!(unchanged.body["dates"], json!(["2027-02-01"]));
    assert_eq!(unchanged.body["weekend"], json!(["fri"]));
    let text = app
        .send_with(
            Method::PUT,
            "/calendars/desk",
            &[("content-type", "text/plain")],
            Some("{\"dates\": []}"),
        )
        .await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A percent-encoded path is the same path to the guard as to the router.
    for (method, path) in [
        (Method::PUT, "/%63alendars/desk"),
        (Method::POST, "/calendars/desk/%64ates"),
        (Method::POST, "/%6Aobs"),
    ] {
        let encoded = app
            .send_with(
                method.clone(),
                path,
                &[("content-type", "text/plain")],
                Some("{\"dates\": []}"),
            )
            .await;
        assert_eq!(
            encoded.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{method} {path}: {}",
            encoded.body
        );
    }
    let bad_name = app.send(Method::DELETE, "/calendars/KRX", None).await;
    assert_eq!(
        bad_name.status,
        StatusCode::BAD_REQUEST,
        "{}",
        bad_name.body
    );

    // A job names an existing calendar, or is refused by field.
    let missing = app
        .post_job(
            &json!({"job_id": "open-scan", "queue": "real.jobs.open-scan",
            "cron_expr": "0 8 * * 1-5", "calendar": "nyse"}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);
    assert_eq!(missing.body["field"], "calendar");
    let bad_mode = app
        .post_job(
            &json!({"job_id": "open-scan", "queue": "real.jobs.open-scan",
            "cron_expr": "0 8 * * 1-5", "calendar": "krx", "calendar_mode": "later"}),
        )
        .await;
    assert_eq!(bad_mode.body["field"], "calendar_mode", "{}", bad_mode.body);
    let queue_mode = app
        .post_job(
            &json!({"job_id": "open-scan", "queue": "real.jobs.open-scan",
            "reschedule_mode": "queue", "interval_seconds": 60, "calendar": "krx"}),
        )
        .await;
    assert_eq!(queue_mode.body["field"], "calendar", "{}", queue_mode.body);
    let job = app
        .post_job(
            &json!({"job_id": "open-scan", "queue": "real.jobs.open-scan",
            "cron_expr": "0 8 * * 1-5", "calendar": "krx"}),
        )
        .await;
    assert_eq!(job.status, StatusCode::CREATED, "{}", job.body);
    assert_eq!(job.body["calendar"], "krx");
    assert_eq!(job.body["calendar_mode"], "skip");
    let schedule = app
        .send(Method::GET, "/jobs/open-scan/schedule?count=3", None)
        .await;
    assert_eq!(schedule.body["calendar"], "krx", "{}", schedule.body);

    // A calendar in use is not deleted; an unused one is.
    let in_use = app.send(Method::DELETE, "/calendars/krx", None).await;
    assert_eq!(in_use.status, StatusCode::CONFLICT, "{}", in_use.body);
    assert_eq!(in_use.body["error"], "calendar_in_use");
    assert!(in_use.body["message"]
        .as_str()
        .unwrap()
        .contains("open-scan"));
    let used = app.send(Method::GET, "/calendars/krx", None).await;
    assert_eq!(used.body["used_by"], json!(["open-scan"]));
    let deleted = app.send(Method::DELETE, "/calendars/desk", None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app.send(Method::GET, "/calendars/desk", None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Every change is audited under calendar:<name>.
    let audit = app
        .send(Method::GET, "/audit?job_id=calendar:desk", None)
        .await;
    let actions: Vec<&str> = (audit.body.as_array().expect("entries").iter())
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "calendar_delete",
            "calendar_remove_date",
            "calendar_add_dates",
            "calendar_put",
            "calendar_put"
        ]
    );
}
crate::on_both_backends!(calendars_are_managed_over_the_api_validated_and_audited);

/// Today and tomorrow in UTC, as `YYYY-MM-DD` (a test near midnight covers both).
pub(crate) fn today_and_tomorrow() -> Vec<String> {
    let today = Utc::now().date_naive();
    vec![
        today.to_string(),
        today.succ_opt().expect("a day").to_string(),
    ]
}

async fn an_edit_reaches_an_armed_job_at_once_and_closed_days_are_skipped_as_holidays(
    backend: Backend,
) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = TestQueue::new("real").await;
    // Every weekday open, nothing listed yet.
    let open = put_calendar(&app, "desk", &json!({"dates": [], "weekend": []})).await;
    assert_eq!(open.status, StatusCode::CREATED, "{}", open.body);
    let created = app
        .post_job(
            &json!({"job_id": "ticker", "queue": queue.name, "interval_seconds": 1,
            "timezone": "UTC", "calendar": "desk", "max_parallel": 100}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let fired = queue.collect_for(Duration::from_secs(3)).await;
    assert!(fired.len() >= 2, "an open day fires: {fired:?}");

    // Today becomes a holiday: the armed job stops publishing at once.
    let closed = app
        .post(
            "/calendars/desk/dates",
            Some(&json!({"dates": today_and_tomorrow()})),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    let closing = Utc::now();
    // A fire already on its way when the edit landed may still arrive.
    queue.collect_for(Duration::from_millis(1500)).await;
    let during = queue.collect_for(Duration::from_secs(3)).await;
    assert!(during.is_empty(), "nothing on a closed day: {during:?}");
    let runs = app.all_runs("ticker").await;
    let holidays: Vec<&Value> = (runs.iter())
        .filter(|run| run["status"] == "skipped" && instant(&run["due_at"]) > closing)
        .collect();
    assert!(holidays.len() >= 2, "{runs:?}");
    for run in &holidays {
        let error = run["error"].as_str().expect("a reason");
        assert!(
            error.starts_with("holiday: ") && error.contains("is a closed day of calendar desk"),
            "{error}"
        );
    }
    // The preview marks them.
    let schedule = app
        .send(Method::GET, "/jobs/ticker/schedule?count=3", None)
        .await;
    for listed in schedule.body["instants"].as_array().expect("instants") {
        assert_eq!(listed["skipped"], true, "{listed}");
        assert!(listed["holiday"].as_str().unwrap().starts_with("holiday: "));
    }

    // Opened again: it fires again at once.
    for date in today_and_tomorrow() {
        let path = format!("/calendars/desk/dates/{date}");
        let reopened = app.send(Method::DELETE, &path, None).await;
        assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.body);
    }
    let again = queue.collect_for(Duration::from_secs(3)).await;
    assert!(again.len() >= 2, "open again: {again:?}");
    queue.delete().await;
}
crate::on_both_backends!(
    an_edit_reaches_an_armed_job_at_once_and_closed_days_are_skipped_as_holidays
);

/// 09:00 in Seoul on Friday 9 October 2026: Hangul Day, a listed closed day of `krx`.
const HANGUL_DAY_0900_KST: &str = "2026-10-09T00:00:00Z";
/// 09:00 in Seoul on Monday 12 October 2026, the next open day.
const NEXT_OPEN_0900_KST: &str = "2026-10-12T00:00:00Z";

/// A daily 09:00 Seoul job on `krx` whose instant on Hangul Day was missed while the service
/// was down, caught up within its grace (a long one, so the day is still within it).
async fn missed_on_hangul_day(app: TestApp, mode: &str, queue: &TestQueue) -> TestApp {
    let created = app
        .post_job(
            &json!({"job_id": "open-bell", "queue": queue.name, "cron_expr": "0 9 * * *",
            "timezone": "Asia/Seoul", "calendar": "krx", "calendar_mode": mode,
            "misfire_grace_seconds": 20_000_000}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let missed = instant(&json!(HANGUL_DAY_0900_KST));
    restart_with_fire_missed_at(app, "open-bell", missed, 300).await
}

async fn a_krx_holiday_is_skipped_with_reason_holiday(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = TestQueue::new("real").await;
    let app = missed_on_hangul_day(app, "skip", &queue).await;
    let received = queue.collect_for(Duration::from_secs(3)).await;
    assert!(received.is_empty(), "nothing on a holiday: {received:?}");
    let runs = app.all_runs("open-bell").await;
    let hangul_day = (runs.iter())
        .find(|run| instant(&run["due_at"]) == instant(&json!(HANGUL_DAY_0900_KST)))
        .unwrap_or_else(|| panic!("a run for Hangul Day: {runs:?}"));
    assert_eq!(hangul_day["status"], "skipped");
    assert_eq!(
        hangul_day["error"],
        "holiday: 2026-10-09 (Fri) is a closed day of calendar krx"
    );
    let job = app.get_job("open-bell").await.body;
    assert!(instant(&job["next_due_at"]) > Utc::now(), "{job}");
    queue.delete().await;
}
crate::on_both_backends!(a_krx_holiday_is_skipped_with_reason_holiday);

async fn next_open_day_fires_a_krx_holiday_s_instant_on_the_next_open_day(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = TestQueue::new("real").await;
    let app = missed_on_hangul_day(app, "next_open_day", &queue).await;
    let received = queue.collect_for(Duration::from_secs(3)).await;
    let dues: Vec<DateTime<Utc>> = (received.iter())
        .map(|message| instant(&message.body["due_at"]))
        .collect();
    // Friday's 09:00 moves past the weekend to Monday's 09:00, and fires once.
    assert_eq!(
        dues,
        vec![instant(&json!(NEXT_OPEN_0900_KST))],
        "{received:?}"
    );
    let runs = app.all_runs("open-bell").await;
    assert!(
        !(runs.iter()).any(|run| run["status"] == "skipped"),
        "moved, not skipped: {runs:?}"
    );
    queue.delete().await;
}
crate::on_both_backends!(next_open_day_fires_a_krx_holiday_s_instant_on_the_next_open_day);

async fn a_day_opened_again_fires_at_once_in_next_open_day_mode(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = TestQueue::new("real").await;
    let closed = put_calendar(
        &app,
        "desk",
        &json!({"dates": today_and_tomorrow(), "weekend": []}),
    )
    .await;
    assert_eq!(closed.status, StatusCode::CREATED, "{}", closed.body);
    let created = app
        .post_job(
            &json!({"job_id": "ticker", "queue": queue.name, "interval_seconds": 1,
            "timezone": "UTC", "calendar": "desk", "calendar_mode": "next_open_day",
            "max_parallel": 100}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let during = queue.collect_for(Duration::from_secs(3)).await;
    assert!(during.is_empty(), "nothing on a closed day: {during:?}");
    // The fire moves to the first instant of the day after tomorrow, and says so.
    let schedule = app
        .send(Method::GET, "/jobs/ticker/schedule?count=2", None)
        .await;
    let first = &schedule.body["instants"][0];
    assert!(first["moved_from"].is_string(), "{}", schedule.body);
    let moved_to = instant(&first["utc"]).date_naive();
    let after_tomorrow = Utc::now().date_naive() + chrono::Days::new(2);
    assert!(
        moved_to == after_tomorrow || moved_to == after_tomorrow + chrono::Days::new(1),
        "{}",
        schedule.body
    );
    let runs = app.all_runs("ticker").await;
    assert!(
        !(runs.iter()).any(|run| run["status"] == "skipped"),
        "moved, not skipped: {runs:?}"
    );

    // Today is opened again: its remaining instants fire at once.
    for date in today_and_tomorrow() {
        let path = format!("/calendars/desk/dates/{date}");
        let reopened = app.send(Method::DELETE, &path, None).await;
        assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.body);
    }
    let again = queue.collect_for(Duration::from_secs(3)).await;
    assert!(again.len() >= 2, "open again: {again:?}");
    queue.delete().await;
}
crate::on_both_backends!(a_day_opened_again_fires_at_once_in_next_open_day_mode);

async fn a_restart_keeps_a_fire_moved_to_a_day_still_ahead(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let queue = TestQueue::new("real").await;
    let missed = chrono::SubsecRound::trunc_subsecs(Utc::now() - chrono::Duration::seconds(60), 0);
    let closed = put_calendar(
        &app,
        "desk",
        &json!({"dates": [missed.date_naive().to_string()], "weekend": []}),
    )
    .await;
    assert_eq!(closed.status, StatusCode::CREATED, "{}", closed.body);
    // Every two days, not caught up after a restart (`skip`).
    let created = app
        .post_job(&json!({"job_id": "every-2-days", "queue": queue.name,
            "interval_seconds": 172_800, "timezone": "UTC", "misfire_policy": "skip",
            "calendar": "desk", "calendar_mode": "next_open_day"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // Down over its instant on a closed day: that fire moved to the same time on the next
    // day, still ahead and before the schedule's next instant; the restart keeps it.
    let app = restart_with_fire_missed_at(app, "every-2-days", missed, 300).await;
    let job = app.get_job_settled("every-2-days").await.body;
    assert_eq!(
        instant(&job["next_due_at"]),
        missed + chrono::Duration::days(1),
        "{job}"
    );
    queue.delete().await;
}
crate::on_both_backends!(a_restart_keeps_a_fire_moved_to_a_day_still_ahead);
