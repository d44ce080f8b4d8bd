//! Trading time: a job's own zone, its jitter and its misfire policy, through the API and
//! across restarts.

use std::time::Duration;

use actors::Scope;
use chrono::{DateTime, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, spawn_app_with, test_settings, Backend};
use crate::restart::restart_with_missed_fire;

fn instant(text: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text.as_str().expect("an instant"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

async fn a_job_s_zone_jitter_and_misfire_policy_are_kept_validated_and_previewed(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let created = app
        .post_job(&json!({"job_id": "us-open", "queue": "real.jobs.us-open",
            "cron_expr": "30 9 * * 1-5", "timezone": "America/New_York", "jitter_seconds": 30,
            "misfire_policy": "catch_up_all", "misfire_grace_seconds": 120}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    for (field, value) in [
        ("timezone", json!("America/New_York")),
        ("jitter_seconds", json!(30)),
        ("misfire_policy", json!("catch_up_all")),
        ("misfire_grace_seconds", json!(120)),
    ] {
        assert_eq!(created.body[field], value, "{field}");
    }

    let preview = app
        .send(reqwest::Method::GET, "/jobs/us-open/schedule?count=3", None)
        .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(preview.body["timezone"], "America/New_York");
    let jitter_ms = preview.body["jitter_ms"].as_i64().expect("jitter_ms");
    assert!((0..30_000).contains(&jitter_ms), "{jitter_ms}");
    for listed in preview.body["instants"].as_array().expect("instants") {
        let utc = instant(&listed["utc"]) - chrono::Duration::milliseconds(jitter_ms);
        let local = utc.with_timezone(&chrono_tz::America::New_York);
        assert_eq!(
            (local.hour(), local.minute(), local.second()),
            (9, 30, 0),
            "{listed}"
        );
        assert!(
            listed["local"].as_str().unwrap().contains("-05:00")
                || listed["local"].as_str().unwrap().contains("-04:00"),
            "{listed}"
        );
    }

    // Invalid values are refused by field, and change nothing.
    for (field, value) in [
        ("timezone", json!("Asia/Narnia")),
        ("jitter_seconds", json!(-3)),
        ("misfire_policy", json!("always")),
        ("misfire_grace_seconds", json!(1.5)),
    ] {
        let refused = app.put_job("us-open", &json!({ field: value })).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(refused.body["field"], field, "{}", refused.body);
    }
    let unchanged = app.get_job("us-open").await;
    assert_eq!(unchanged.body["timezone"], "America/New_York");

    // The same job after a restart: the same fields, the same jittered instants.
    let before = preview.body["instants"].clone();
    let database = app.stop().await;
    let restarted = spawn_app_with(test_settings(Scope::Real, &database), database.clone()).await;
    let fetched = restarted.get_job_settled("us-open").await;
    assert_eq!(fetched.body["misfire_policy"], "catch_up_all");
    assert_eq!(fetched.body["misfire_grace_seconds"], 120);
    let again = restarted
        .send(reqwest::Method::GET, "/jobs/us-open/schedule?count=3", None)
        .await;
    assert_eq!(
        again.body["instants"], before,
        "jitter is stable across restarts"
    );

    // null puts the service's zone and grace back.
    let cleared = restarted
        .put_job(
            "us-open",
            &json!({"timezone": null, "misfire_grace_seconds": null}),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    assert_eq!(cleared.body["timezone"], serde_json::Value::Null);
    let preview = restarted
        .send(reqwest::Method::GET, "/jobs/us-open/schedule", None)
        .await;
    assert_eq!(preview.body["timezone"], "Asia/Seoul");
}
crate::on_both_backends!(a_job_s_zone_jitter_and_misfire_policy_are_kept_validated_and_previewed);

async fn catch_up_all_fires_every_missed_instant_one_slot_at_a_time(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "every-minute", "queue": queue.name,
        "interval_seconds": 60, "misfire_policy": "catch_up_all", "max_parallel": 1}))
        .await;
    // Missed 150 s ago with a grace of 300 s: that instant and the two after it are missed.
    let (app, missed) =
        restart_with_missed_fire(app, "every-minute", chrono::Duration::seconds(150), 300).await;
    let mut dues = Vec::new();
    for _ in 0..3 {
        let received = queue.collect_for(Duration::from_secs(2)).await;
        assert_eq!(
            received.len(),
            1,
            "one run at a time (max_parallel 1), the next once it is reported: {received:?}"
        );
        let run = &received[0].body;
        dues.push(instant(&run["due_at"]));
        let report = json!({"run_id": run["run_id"], "status": "success"});
        let answer = app.post("/jobs/every-minute/last-run", Some(&report)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
    let minute = chrono::Duration::seconds(60);
    assert_eq!(dues, vec![missed, missed + minute, missed + minute * 2]);
    let after = queue.collect_for(Duration::from_secs(2)).await;
    assert!(after.is_empty(), "the next instant is ahead: {after:?}");
    let job = app.get_job("every-minute").await.body;
    assert_eq!(instant(&job["next_due_at"]), missed + minute * 3);
    queue.delete().await;
}
crate::on_both_backends!(catch_up_all_fires_every_missed_instant_one_slot_at_a_time);

async fn the_skip_policy_fires_nothing_missed_and_records_the_staged_run_skipped(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let mut queue = TestQueue::new("real").await;
    app.post_job(&json!({"job_id": "no-catch-up", "queue": queue.name,
        "interval_seconds": 3600, "misfire_policy": "skip"}))
        .await;
    let (app, missed) =
        restart_with_missed_fire(app, "no-catch-up", chrono::Duration::seconds(60), 300).await;
    let received = queue.collect_for(Duration::from_secs(3)).await;
    assert!(received.is_empty(), "nothing caught up: {received:?}");
    let runs = app.all_runs("no-catch-up").await;
    assert!(
        runs.iter()
            .any(|run| run["status"] == "skipped" && instant(&run["due_at"]) == missed),
        "{runs:?}"
    );
    let job = app.get_job("no-catch-up").await.body;
    assert_eq!(
        instant(&job["next_due_at"]),
        missed + chrono::Duration::seconds(3600)
    );
    queue.delete().await;
}
crate::on_both_backends!(the_skip_policy_fires_nothing_missed_and_records_the_staged_run_skipped);

async fn any_schedule_is_previewed_with_its_zone_s_clock_changes(backend: Backend) {
    let app = spawn_app(Scope::Real, backend).await;
    let preview = |body: serde_json::Value, count: u64| {
        let app = &app;
        async move {
            app.send(
                reqwest::Method::POST,
                &format!("/schedule/preview?count={count}"),
                Some(&body.to_string()),
            )
            .await
        }
    };
    // Option expiry: the second Thursday of the month, in Seoul.
    let expiry = preview(json!({"cron_expr": "0 9 * * 4#2"}), 3).await;
    assert_eq!(expiry.status, StatusCode::OK, "{}", expiry.body);
    assert_eq!(
        expiry.body["description"],
        "at 09:00, on the second Thursday of the month"
    );
    assert_eq!(expiry.body["timezone"], "Asia/Seoul");
    assert_eq!(expiry.body["dst"], serde_json::Value::Null);
    for listed in expiry.body["instants"].as_array().expect("instants") {
        let local =
            chrono::DateTime::parse_from_rfc3339(listed["local"].as_str().unwrap()).expect("local");
        use chrono::Datelike;
        assert_eq!(local.weekday(), chrono::Weekday::Thu, "{listed}");
        assert!((8..=14).contains(&local.day()), "{listed}");
    }
    // New York changes its clocks: the preview says how cron times in the change fire.
    let new_york = preview(
        json!({"cron_expr": "30 2 * * *", "timezone": "America/New_York"}),
        2,
    )
    .await;
    let dst = new_york.body["dst"].as_str().expect("a clock-change note");
    assert!(
        dst.contains("America/New_York") && dst.contains("gap"),
        "{dst}"
    );
    // An interval with jitter: the offset comes from the job_id.
    let jittered = preview(
        json!({"interval_seconds": 300, "jitter_seconds": 60, "job_id": "spread-me"}),
        1,
    )
    .await;
    let jitter_ms = jittered.body["jitter_ms"].as_i64().expect("jitter_ms");
    assert!((0..60_000).contains(&jitter_ms));
    let again = preview(
        json!({"interval_seconds": 300, "jitter_seconds": 60, "job_id": "spread-me"}),
        1,
    )
    .await;
    assert_eq!(again.body["jitter_ms"], jitter_ms);

    // Refused by field, with a 400.
    for (body, count, field) in [
        (json!({"cron_expr": "0 9 * * 4#9"}), 3, "cron_expr"),
        (
            json!({"cron_expr": "0 9 * * *", "queue": "real.jobs.x"}),
            3,
            "queue",
        ),
        (
            json!({"cron_expr": "0 9 * * *", "timezone": "Seoul"}),
            3,
            "timezone",
        ),
        (json!({}), 3, "cron_expr"),
        (json!({"cron_expr": "0 9 * * *"}), 0, "count"),
    ] {
        let refused = preview(body.clone(), count).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(refused.body["field"], field, "{body}: {}", refused.body);
    }
}
crate::on_both_backends!(any_schedule_is_previewed_with_its_zone_s_clock_changes);
