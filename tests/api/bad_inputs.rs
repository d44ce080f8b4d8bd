//! A table of bad requests: each gets its documented 4xx JSON error and changes nothing.

use std::sync::Arc;

use actors::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, test_settings, Backend, TestDatabase};

struct Case {
    name: &'static str,
    method: Method,
    path: &'static str,
    body: String,
    status: u16,
    error: &'static str,
    field: Option<&'static str>,
    with_token: bool,
}

/// A POST /jobs body: a valid job with `change` applied (a Null value removes the field).
fn job_with(change: Value) -> String {
    let mut job =
        json!({"job_id": "new-job", "queue": "real.jobs.new-job", "cron_expr": "*/5 * * * *"});
    for (field, value) in change.as_object().expect("object") {
        if value.is_null() {
            job.as_object_mut().unwrap().remove(field);
        } else {
            job[field] = value.clone();
        }
    }
    job.to_string()
}

fn cases() -> Vec<Case> {
    let post = |name, body: String, status, error, field| Case {
        name,
        method: Method::POST,
        path: "/jobs",
        body,
        status,
        error,
        field,
        with_token: true,
    };
    let bad_field = |name, change: Value, field: &'static str| {
        post(name, job_with(change), 400, "invalid_field", Some(field))
    };
    let put = |name, body: &str, status, error, field| Case {
        name,
        method: Method::PUT,
        path: "/jobs/existing",
        body: body.to_string(),
        status,
        error,
        field,
        with_token: true,
    };
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    vec![
        post(
            "malformed JSON",
            "{\"job_id\": ".into(),
            400,
            "invalid_json",
            None,
        ),
        post("empty body", String::new(), 400, "invalid_json", None),
        post("deeply nested JSON", deep, 400, "invalid_json", None),
        post(
            "number out of range",
            "{\"job_id\": 1e400}".into(),
            400,
            "invalid_json",
            None,
        ),
        post("array body", "[]".into(), 400, "invalid_body", None),
        post("string body", "\"job\"".into(), 400, "invalid_body", None),
        post("null body", "null".into(), 400, "invalid_body", None),
        post(
            "missing job_id",
            job_with(json!({"job_id": null})),
            400,
            "missing_field",
            Some("job_id"),
        ),
        post(
            "missing queue",
            job_with(json!({"queue": null})),
            400,
            "missing_field",
            Some("queue"),
        ),
        bad_field("job_id a number", json!({"job_id": 123}), "job_id"),
        bad_field("job_id empty", json!({"job_id": ""}), "job_id"),
        bad_field(
            "job_id path traversal",
            json!({"job_id": "../etc/passwd"}),
            "job_id",
        ),
        bad_field("job_id dots only", json!({"job_id": ".."}), "job_id"),
        bad_field("job_id single quote", json!({"job_id": "it's"}), "job_id"),
        bad_field(
            "job_id SQL fragment",
            json!({"job_id": "x\"; DROP TABLE jobs; --"}),
            "job_id",
        ),
        bad_field(
            "job_id SQL tautology",
            json!({"job_id": "x' OR '1'='1"}),
            "job_id",
        ),
        bad_field(
            "job_id with space",
            json!({"job_id": "buy scanner"}),
            "job_id",
        ),
        bad_field("job_id NUL byte", json!({"job_id": "a\u{0}b"}), "job_id"),
        bad_field("job_id non-ASCII", json!({"job_id": "매수"}), "job_id"),
        bad_field(
            "job_id 101 chars",
            json!({"job_id": "a".repeat(101)}),
            "job_id",
        ),
        bad_field(
            "queue of the other scope",
            json!({"queue": "mock.jobs.new-job"}),
            "queue",
        ),
        bad_field("queue prefix only", json!({"queue": "real.jobs."}), "queue"),
        bad_field(
            "queue without prefix",
            json!({"queue": "jobs.new-job"}),
            "queue",
        ),
        bad_field("queue a number", json!({"queue": 42}), "queue"),
        bad_field(
            "queue with slash",
            json!({"queue": "real.jobs.a/b"}),
            "queue",
        ),
        bad_field(
            "queue like a delay queue",
            json!({"queue": "real.jobs.a.delay.1000"}),
            "queue",
        ),
        bad_field(
            "cron six fields",
            json!({"cron_expr": "0 8 * * 1-5 *"}),
            "cron_expr",
        ),
        bad_field(
            "cron minute 61",
            json!({"cron_expr": "61 * * * *"}),
            "cron_expr",
        ),
        bad_field(
            "cron day of week 8",
            json!({"cron_expr": "* * * * 8"}),
            "cron_expr",
        ),
        bad_field(
            "cron L in a list (not one of the day forms)",
            json!({"cron_expr": "0 0 1,L * *"}),
            "cron_expr",
        ),
        bad_field(
            "cron question mark",
            json!({"cron_expr": "0 0 ? * *"}),
            "cron_expr",
        ),
        bad_field(
            "cron fifth-week nth beyond 5",
            json!({"cron_expr": "0 9 * * 4#6"}),
            "cron_expr",
        ),
        bad_field("timezone not IANA", json!({"timezone": "KST"}), "timezone"),
        bad_field(
            "jitter above a day",
            json!({"jitter_seconds": 86_401}),
            "jitter_seconds",
        ),
        bad_field(
            "misfire policy unknown",
            json!({"misfire_policy": "fire_all"}),
            "misfire_policy",
        ),
        bad_field(
            "misfire grace negative",
            json!({"misfire_grace_seconds": -1}),
            "misfire_grace_seconds",
        ),
        bad_field(
            "cron never matches",
            json!({"cron_expr": "0 0 31 2 *"}),
            "cron_expr",
        ),
        bad_field("cron a number", json!({"cron_expr": 5}), "cron_expr"),
        bad_field(
            "interval zero",
            json!({"interval_seconds": 0}),
            "interval_seconds",
        ),
        bad_field(
            "interval negative",
            json!({"interval_seconds": -5}),
            "interval_seconds",
        ),
        bad_field(
            "interval fractional",
            json!({"interval_seconds": 1.5}),
            "interval_seconds",
        ),
        bad_field(
            "interval a string",
            json!({"interval_seconds": "60"}),
            "interval_seconds",
        ),
        bad_field(
            "interval too large",
            json!({"interval_seconds": 99_999_999_999i64}),
            "interval_seconds",
        ),
        bad_field(
            "max_parallel zero",
            json!({"max_parallel": 0}),
            "max_parallel",
        ),
        bad_field("timeout zero", json!({"timeout_sec": 0}), "timeout_sec"),
        bad_field(
            "retry_limit negative",
            json!({"retry_limit": -1}),
            "retry_limit",
        ),
        bad_field("enabled a string", json!({"enabled": "yes"}), "enabled"),
        bad_field(
            "default_params an array",
            json!({"default_params": [1, 2]}),
            "default_params",
        ),
        bad_field(
            "default_params a string",
            json!({"default_params": "{}"}),
            "default_params",
        ),
        bad_field(
            "scope of the other stack",
            json!({"scope": "mock"}),
            "scope",
        ),
        bad_field("scope unknown", json!({"scope": "paper"}), "scope"),
        bad_field(
            "reschedule_mode unknown",
            json!({"reschedule_mode": "cron"}),
            "reschedule_mode",
        ),
        bad_field(
            "telemetry_label empty",
            json!({"telemetry_label": ""}),
            "telemetry_label",
        ),
        bad_field(
            "description too long",
            json!({"description": "x".repeat(70_000)}),
            "description",
        ),
        bad_field("no schedule", json!({"cron_expr": null}), "cron_expr"),
        bad_field(
            "queue mode without interval",
            json!({"reschedule_mode": "queue"}),
            "interval_seconds",
        ),
        post(
            "unknown field",
            job_with(json!({"priority": 5})),
            400,
            "unknown_field",
            Some("priority"),
        ),
        post(
            "oversized body",
            job_with(json!({"description": "x".repeat(300_000)})),
            413,
            "payload_too_large",
            None,
        ),
        post(
            "duplicate job_id",
            job_with(json!({"job_id": "existing"})),
            409,
            "job_exists",
            Some("job_id"),
        ),
        Case {
            with_token: false,
            ..post(
                "missing token",
                job_with(json!({})),
                401,
                "unauthorized",
                None,
            )
        },
        put(
            "rename via PUT",
            r#"{"job_id": "renamed"}"#,
            400,
            "invalid_field",
            Some("job_id"),
        ),
        put(
            "PUT wrong type",
            r#"{"max_parallel": "2"}"#,
            400,
            "invalid_field",
            Some("max_parallel"),
        ),
        put(
            "PUT other scope queue",
            r#"{"queue": "mock.jobs.existing"}"#,
            400,
            "invalid_field",
            Some("queue"),
        ),
        put(
            "PUT unknown field",
            r#"{"nonsense": 1}"#,
            400,
            "unknown_field",
            Some("nonsense"),
        ),
        put("PUT malformed", "not json", 400, "invalid_json", None),
        put(
            "PUT removes the schedule",
            r#"{"cron_expr": ""}"#,
            400,
            "invalid_field",
            Some("cron_expr"),
        ),
        Case {
            path: "/jobs/missing",
            ..put(
                "PUT unknown job",
                r#"{"enabled": false}"#,
                404,
                "not_found",
                None,
            )
        },
        Case {
            method: Method::DELETE,
            path: "/jobs/missing",
            ..put("DELETE unknown job", "", 404, "not_found", None)
        },
        Case {
            with_token: false,
            method: Method::DELETE,
            ..put("DELETE without token", "", 401, "unauthorized", None)
        },
    ]
}

async fn bad_inputs_get_4xx_and_change_nothing(backend: Backend) {
    let database = Arc::new(TestDatabase::new(backend).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.api_token = Some("token".into());
    let mut app = spawn_app_with(settings, database).await;
    let existing = app
        .post_job(&json!({"job_id": "existing", "queue": "real.jobs.existing", "cron_expr": "0 8 * * 1-5"}))
        .await;
    assert_eq!(existing.status, StatusCode::CREATED);
    // The engine stores next_due_at just after the create; wait for it before the snapshot.
    let mut before = app.list_jobs().await;
    for _ in 0..50 {
        if !before[0]["next_due_at"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        before = app.list_jobs().await;
    }
    let cases = cases();
    assert!(cases.len() >= 30);

    for case in cases {
        app.token = case.with_token.then(|| "token".to_string());
        let body = (!case.body.is_empty()).then_some(case.body.as_str());
        let reply = app.send(case.method.clone(), case.path, body).await;

        assert_eq!(
            reply.status.as_u16(),
            case.status,
            "{}: {:?}",
            case.name,
            reply.body
        );
        assert_eq!(
            reply.body["error"], case.error,
            "{}: {:?}",
            case.name, reply.body
        );
        assert_eq!(
            reply.body["field"].as_str(),
            case.field,
            "{}: {:?}",
            case.name,
            reply.body
        );
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}: {:?}",
            case.name,
            reply.body
        );
    }
    app.token = Some("token".into());
    assert_eq!(app.list_jobs().await, before, "the table changed");
}
crate::on_both_backends!(bad_inputs_get_4xx_and_change_nothing);
