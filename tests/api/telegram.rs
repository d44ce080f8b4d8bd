//! The Telegram bot and the alerts against a fake Bot API server: every command from an
//! allowed chat, a refused chat, a change from a chat that is not an admin, a Bot API that
//! answers 429 and then 500 (firing goes on), and the failure and skipped-fires alerts.

use std::time::Duration;

use actors::Scope;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::fake_telegram::{FakeBotApi, BOT_TOKEN};
use crate::helpers::{spawn_app_with, test_settings, Backend, TestApp, TestDatabase};

pub const ADMIN: i64 = 100;
const READER: i64 = 200;
const STRANGER: i64 = 999;

pub async fn app_with_bot(fake: &FakeBotApi, outage_seconds: u64) -> TestApp {
    let database = std::sync::Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.telegram_bot_token = Some(BOT_TOKEN.into());
    settings.telegram_api_url = fake.url.clone();
    settings.telegram_allowed_chat_ids = vec![ADMIN, READER];
    settings.telegram_admin_chat_ids = vec![ADMIN];
    settings.alert_outage_seconds = outage_seconds;
    settings.alert_skipped_in_a_row = 3;
    spawn_app_with(settings, database).await
}

/// The reply to `text` from `chat`: the next message the bot sends to it.
async fn ask(fake: &FakeBotApi, chat: i64, text: &str) -> String {
    let before = fake.sent().len();
    fake.say(chat, text);
    let sent = fake.wait_for_sent(before + 1, 10).await;
    let (to, reply) = sent
        .get(before)
        .cloned()
        .unwrap_or_else(|| panic!("no reply to '{text}'"));
    assert_eq!(to, chat, "the reply to '{text}' went to the wrong chat");
    assert!(
        reply.starts_with("[REAL]"),
        "every reply starts with the scope: {reply}"
    );
    reply
}

#[actix_web::test]
async fn the_bot_answers_the_job_commands_of_allowed_chats_only() {
    let fake = FakeBotApi::start().await;
    let app = app_with_bot(&fake, 60).await;
    let job = json!({"job_id": "buy-scanner", "queue": "real.jobs.buy-scanner", "cron_expr": "*/5 * * * *"});
    assert_eq!(app.post_job(&job).await.status, StatusCode::CREATED);

    let list = ask(&fake, ADMIN, "/job list").await;
    assert!(
        list.contains("1 jobs") && list.contains("buy-scanner: every 5 minutes"),
        "{list}"
    );
    let status = ask(&fake, ADMIN, "/job status buy-scanner").await;
    assert!(
        status.contains("schedule: every 5 minutes (Asia/Seoul)")
            && status.contains("enabled: yes"),
        "{status}"
    );
    let run = ask(&fake, ADMIN, r#"/job run buy-scanner {"symbol": "005930"}"#).await;
    assert!(run.contains("is on its way"), "{run}");
    let runs = ask(&fake, ADMIN, "/job runs buy-scanner").await;
    assert!(runs.contains("manual"), "{runs}");
    assert_eq!(
        ask(&fake, ADMIN, "/job pause buy-scanner").await,
        "[REAL]\nbuy-scanner paused"
    );
    assert_eq!(app.get_job("buy-scanner").await.body["enabled"], false);
    let resumed = ask(&fake, ADMIN, "/job resume buy-scanner").await;
    assert!(
        resumed.starts_with("[REAL]\nbuy-scanner resumed, next "),
        "{resumed}"
    );
    assert!(ask(&fake, ADMIN, "/job help")
        .await
        .contains("/job run <id>"));
    assert!(ask(&fake, ADMIN, "/job status nope")
        .await
        .contains("job 'nope' not found"));
    assert!(ask(&fake, ADMIN, "/job run buy-scanner [1]")
        .await
        .contains("JSON object"));

    // A chat that may read but not change; a chat that may do nothing.
    assert!(ask(&fake, READER, "/job status buy-scanner")
        .await
        .contains("enabled: yes"));
    let refused = ask(&fake, READER, "/job pause buy-scanner").await;
    assert!(refused.contains("admin chats only"), "{refused}");
    assert_eq!(app.get_job("buy-scanner").await.body["enabled"], true);
    let stranger = ask(&fake, STRANGER, "/job list").await;
    assert!(stranger.contains("may not use"), "{stranger}");
    assert!(!stranger.contains("buy-scanner"));

    // Not answered, not run: chatter, a command for another bot (the other stack's may share
    // the group), and a command sent ten minutes ago while the service was away.
    let before = fake.sent().len();
    fake.say(STRANGER, "hello there");
    fake.say(ADMIN, "/job@JennieMockBot pause buy-scanner");
    fake.say_at(
        ADMIN,
        "/job pause buy-scanner",
        chrono::Utc::now().timestamp() - 600,
    );
    let named = ask(
        &fake,
        ADMIN,
        &format!(
            "/job@{} status buy-scanner",
            crate::fake_telegram::BOT_USERNAME
        ),
    )
    .await;
    assert!(named.contains("enabled: yes"), "{named}");
    assert_eq!(
        fake.sent().len(),
        before + 1,
        "{:#?}",
        &fake.sent()[before..]
    );
    assert_eq!(app.get_job("buy-scanner").await.body["enabled"], true);

    // The run carried its params; the audit log names the chat.
    let runs = app.all_runs("buy-scanner").await;
    let manual = runs
        .iter()
        .find(|run| run["trigger_source"] == "manual")
        .expect("the manual run");
    assert_eq!(manual["params"]["symbol"], "005930");
    let audit = app
        .send(Method::GET, "/audit?job_id=buy-scanner", None)
        .await;
    let by: Vec<(&str, &str)> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        by,
        [
            ("resume", "telegram:100:op100"),
            ("pause", "telegram:100:op100"),
            ("run_now", "telegram:100:op100"),
            ("create", "open")
        ]
    );
    fake.stop().await;
}

#[actix_web::test]
async fn a_bot_api_that_answers_429_and_then_500_delays_the_reply_and_never_a_fire() {
    let fake = FakeBotApi::start().await;
    let app = app_with_bot(&fake, 60).await;
    let job = json!({"job_id": "ticker", "queue": "real.jobs.ticker", "interval_seconds": 1, "max_parallel": 100, "timeout_sec": 600});
    assert_eq!(app.post_job(&job).await.status, StatusCode::CREATED);
    fake.fail_sends(vec![
        (429, json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}})),
        (500, json!({"ok": false, "error_code": 500, "description": "Internal Server Error"})),
    ]);
    let started = std::time::Instant::now();
    fake.say(ADMIN, "/job list");
    let (_, reply) = fake.wait_for_text("ticker", 15).await;
    assert!(reply.starts_with("[REAL]"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the reply waited for retry_after"
    );
    // The job kept firing every second while the bot waited.
    let fired = app
        .all_runs("ticker")
        .await
        .iter()
        .filter(|run| run["trigger_source"] == "scheduler" && run["status"] != "scheduled")
        .count();
    assert!(
        fired as f64 >= started.elapsed().as_secs_f64() - 2.0,
        "{fired} fires in {:?}",
        started.elapsed()
    );
    fake.stop().await;
}

/// Reports the job's newest run of `attempt` as failed, once it is in flight.
async fn fail_attempt(app: &TestApp, job_id: &str, attempt: u64) {
    for _ in 0..100 {
        let runs = app.all_runs(job_id).await;
        if let Some(run) = runs.iter().find(|run| {
            run["attempt"] == attempt
                && matches!(run["status"].as_str(), Some("pending" | "queued"))
        }) {
            let report =
                json!({"run_id": run["run_id"], "status": "failed", "error": "KIS error 40310000"});
            assert_eq!(
                app.post(&format!("/jobs/{job_id}/last-run"), Some(&report))
                    .await
                    .status,
                StatusCode::OK
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("attempt {attempt} of {job_id} never ran");
}

#[actix_web::test]
async fn a_failure_with_its_retries_spent_and_a_skipped_streak_are_alerted_once() {
    let fake = FakeBotApi::start().await;
    let app = app_with_bot(&fake, 60).await;
    for (job_id, notify) in [("orders", true), ("quiet", false)] {
        let job = json!({"job_id": job_id, "queue": format!("real.jobs.{job_id}"), "interval_seconds": 3600, "retry_limit": 1, "notify": notify});
        assert_eq!(app.post_job(&job).await.status, StatusCode::CREATED);
        app.post(&format!("/jobs/{job_id}/run-now"), None).await;
        fail_attempt(&app, job_id, 1).await;
        // The first failure is retried: no alert yet.
        fail_attempt(&app, job_id, 2).await;
    }
    let (chat, alert) = fake.wait_for_text("❌ orders", 10).await;
    assert_eq!(chat, ADMIN);
    assert!(
        alert.starts_with(
            "[REAL] ❌ orders: run failed on attempt 2, no retry left: KIS error 40310000"
        ),
        "{alert}"
    );
    // Both allowed chats get it, and only once; the job with notify off sends nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = fake.sent();
    let alerts: Vec<&(i64, String)> = sent
        .iter()
        .filter(|(_, text)| text.contains("❌"))
        .collect();
    assert_eq!(
        alerts.iter().map(|(chat, _)| *chat).collect::<Vec<_>>(),
        [ADMIN, READER],
        "{sent:#?}"
    );
    assert!(
        !sent.iter().any(|(_, text)| text.contains("quiet")),
        "{sent:#?}"
    );

    // A job whose runs never end: its fires are skipped, and the third in a row is an alert.
    let job = json!({"job_id": "stuck", "queue": "real.jobs.stuck", "interval_seconds": 1, "timeout_sec": 600});
    assert_eq!(app.post_job(&job).await.status, StatusCode::CREATED);
    let (_, alert) = fake
        .wait_for_text("stuck: 3 fires in a row skipped", 15)
        .await;
    assert!(alert.starts_with("[REAL] ⚠️"), "{alert}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let streaks = fake
        .sent()
        .iter()
        .filter(|(_, text)| text.contains("stuck"))
        .count();
    assert_eq!(streaks, 2, "one alert per streak, to each allowed chat");
    // Each alert is also counted (the notify-off job's failure too).
    let metrics = reqwest::get(format!("{}/metrics", app.address))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for kind in ["run_failed", "skipped"] {
        assert!(
            metrics.contains(&format!("jennie_alerts_total{{kind=\"{kind}\"}}")),
            "no {kind} alerts counted"
        );
    }
    fake.stop().await;
}
