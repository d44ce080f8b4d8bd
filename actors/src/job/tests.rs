use super::*;
use serde_json::json;

#[test]
fn create_fills_defaults_of_the_seed() {
    let body = json!({
        "job_id": "buy-scanner",
        "queue": "real.jobs.buy-scanner",
        "cron_expr": "*/5 * * * *",
        "interval_seconds": 300,
    });
    let config = JobConfig::from_create_body(&body, Scope::Real).expect("valid");
    assert_eq!(config.scope, Scope::Real);
    assert_eq!(config.reschedule_mode, RescheduleMode::Scheduler);
    assert!(config.enabled);
    assert_eq!(
        (config.max_parallel, config.timeout_sec, config.retry_limit),
        (1, 120, 3)
    );
    assert_eq!(config.telemetry_label, "buy_scanner_job");
    assert!(config.default_params.is_empty());
}

#[test]
fn update_changes_only_the_given_fields() {
    let body = json!({"job_id": "scout", "queue": "mock.jobs.scout", "interval_seconds": 60});
    let config = JobConfig::from_create_body(&body, Scope::Mock).expect("valid");
    let updated = config
        .with_update_body(&json!({"interval_seconds": 5, "last_status": "ignored"}))
        .expect("valid update");
    assert_eq!(updated.interval_seconds, Some(5));
    assert_eq!(updated.queue, config.queue);
    let error = config
        .with_update_body(&json!({"job_id": "other"}))
        .unwrap_err();
    assert_eq!(error.field.as_deref(), Some("job_id"));
}

#[test]
fn rejections_name_the_field() {
    let base = json!({"job_id": "a", "queue": "real.jobs.a", "interval_seconds": 1});
    let cases: &[(&str, Value, &str)] = &[
        ("surprise", json!(1), "surprise"),
        ("queue", json!("mock.jobs.a"), "queue"),
        ("queue", json!("real.jobs."), "queue"),
        ("scope", json!("mock"), "scope"),
        ("interval_seconds", json!(0), "interval_seconds"),
        ("interval_seconds", json!(1.5), "interval_seconds"),
        ("max_parallel", json!(0), "max_parallel"),
        ("retry_limit", json!(-1), "retry_limit"),
        ("timeout_sec", json!("10"), "timeout_sec"),
        ("cron_expr", json!("0 8 * * 1-5 *"), "cron_expr"),
        ("default_params", json!([1]), "default_params"),
        ("job_id", json!("../etc"), "job_id"),
        ("job_id", json!(".."), "job_id"),
        ("enabled", json!("yes"), "enabled"),
        ("timezone", json!("Mars/Olympus"), "timezone"),
        ("timezone", json!("KST"), "timezone"),
        ("timezone", json!(9), "timezone"),
        ("jitter_seconds", json!(-1), "jitter_seconds"),
        ("jitter_seconds", json!(86_401), "jitter_seconds"),
        ("misfire_policy", json!("catch_up"), "misfire_policy"),
        ("jitter_seconds", json!(1.5), "jitter_seconds"),
        ("misfire_grace_seconds", json!(-5), "misfire_grace_seconds"),
        (
            "misfire_grace_seconds",
            json!("60"),
            "misfire_grace_seconds",
        ),
    ];
    for (field, value, named) in cases {
        let mut body = base.clone();
        body[*field] = value.clone();
        let error = JobConfig::from_create_body(&body, Scope::Real).unwrap_err();
        assert_eq!(error.field.as_deref(), Some(*named), "{field}={value}");
    }
}

#[test]
fn schedule_is_required_per_mode() {
    let no_schedule = json!({"job_id": "a", "queue": "real.jobs.a"});
    assert!(JobConfig::from_create_body(&no_schedule, Scope::Real).is_err());
    let queue_mode_cron_only = json!({"job_id": "a", "queue": "real.jobs.a",
        "reschedule_mode": "queue", "cron_expr": "* * * * *"});
    assert!(JobConfig::from_create_body(&queue_mode_cron_only, Scope::Real).is_err());
}

#[test]
fn trading_time_fields_default_to_today_s_behaviour_and_accept_valid_values() {
    let base = json!({"job_id": "a", "queue": "real.jobs.a", "cron_expr": "0 9 * * 1-5"});
    let config = JobConfig::from_create_body(&base, Scope::Real).expect("valid");
    assert_eq!(config.timezone, None);
    assert_eq!(config.jitter_seconds, 0);
    assert_eq!(config.misfire_policy, MisfirePolicy::CatchUpOnce);
    assert_eq!(config.misfire_grace_seconds, None);
    let updated = config
        .with_update_body(
            &json!({"timezone": "America/New_York", "jitter_seconds": 30,
            "misfire_policy": "catch_up_all", "misfire_grace_seconds": 0}),
        )
        .expect("valid update");
    assert_eq!(updated.timezone.as_deref(), Some("America/New_York"));
    assert_eq!(updated.zone(chrono_tz::UTC), chrono_tz::America::New_York);
    assert_eq!(
        (
            updated.jitter_seconds,
            updated.misfire_policy,
            updated.misfire_grace_seconds
        ),
        (30, MisfirePolicy::CatchUpAll, Some(0))
    );
    let cleared = updated
        .with_update_body(&json!({"timezone": null, "misfire_grace_seconds": null}))
        .expect("null clears");
    assert_eq!(
        (cleared.timezone, cleared.misfire_grace_seconds),
        (None, None)
    );
}
