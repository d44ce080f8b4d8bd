//! The admin UI in a real browser (headless Chromium over WebDriver): log in, create a job
//! from the form (a bad cron is shown beside its field and stores nothing), see it fire live,
//! run it now with params, pause, resume, edit, delete. Also the session's guards (wrong token,
//! a change without the CSRF token) and the views' data.

use std::time::Duration;

use actors::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{spawn_app, spawn_app_with, test_settings, Backend, TestApp, TestDatabase};

const TOKEN: &str = "ui-test-token";

async fn app_with_token(scope: Scope) -> TestApp {
    let database = std::sync::Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(scope, &database);
    settings.api_token = Some(TOKEN.into());
    spawn_app_with(settings, database).await
}

/// Runs of the job with this trigger source, through the API.
async fn runs_by(app: &TestApp, job_id: &str, trigger: &str) -> Vec<Value> {
    app.all_runs(job_id)
        .await
        .into_iter()
        .filter(|run| run["trigger_source"] == trigger)
        .collect()
}

#[actix_web::test]
async fn an_operator_steers_a_job_from_the_browser_from_log_in_to_delete() {
    let app = app_with_token(Scope::Real).await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/ui/", app.address)).await;

    // The scope is on the page before anything else; a wrong token is refused.
    browser
        .wait_text("#scope", 10, |scope| scope == "REAL")
        .await;
    browser.fill("#login-token", "not-the-token").await;
    browser.click("#login-submit").await;
    browser
        .wait_text("#login-error", 10, |text| text.contains("Wrong token"))
        .await;
    browser.fill("#login-token", TOKEN).await;
    browser.fill("#login-name", "kim").await;
    browser.click("#login-submit").await;
    browser
        .wait_text("#who", 10, |who| who.contains("kim"))
        .await;
    browser
        .wait_text("#health", 10, |health| health.contains("Broker"))
        .await;

    // A change sent from the page with the session cookie but without the CSRF token is
    // refused, and nothing is stored.
    let refused = browser
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               fetch("/jobs", {method: "POST", credentials: "same-origin",
                 headers: {"Content-Type": "application/json"},
                 body: JSON.stringify({job_id: "no-csrf", queue: "real.jobs.no-csrf", interval_seconds: 60})})
               .then(r => r.json().then(body => done([r.status, body.error])));"#,
            Vec::new(),
        )
        .await
        .expect("the script runs");
    assert_eq!(refused, json!([403, "csrf_token_invalid"]));
    assert_eq!(app.get_job("no-csrf").await.status, StatusCode::NOT_FOUND);

    // A bad cron: the API's message beside the cron field, and nothing stored.
    browser.goto(&format!("{}/ui/#/new", app.address)).await;
    browser.fill("#f-job_id", "ui-job").await;
    browser.fill("#f-queue", "real.jobs.ui-job").await;
    browser.fill("#f-cron_expr", "61 * * * *").await;
    browser.click("#save").await;
    let error = browser
        .wait_text("#err-cron_expr", 10, |text| !text.is_empty())
        .await;
    assert!(error.contains("cron"), "the error names the field: {error}");
    assert_eq!(app.get_job("ui-job").await.status, StatusCode::NOT_FOUND);
    let previewed = browser
        .wait_text("#form-preview", 10, |text| text.contains("61"))
        .await;
    assert!(
        previewed.contains("cron"),
        "the preview says why: {previewed}"
    );

    // The schedule as typed is previewed by the scheduler: in words, in its zone, with the
    // zone's clock changes.
    browser.fill("#f-cron_expr", "0 9 * * 4#2").await;
    browser.fill("#f-timezone", "America/New_York").await;
    let previewed = browser
        .wait_text("#form-preview", 10, |text| {
            text.contains("second Thursday") && text.contains("America/New_York")
        })
        .await;
    assert!(previewed.contains("moves its clocks"), "{previewed}");
    browser.fill("#f-cron_expr", "0 9 * * 1-5").await;
    browser.fill("#f-timezone", "Asia/Seoul").await;
    let previewed = browser
        .wait_text("#form-preview", 10, |text| {
            text.contains("Monday to Friday")
        })
        .await;
    assert!(
        !previewed.contains("null"),
        "nothing shown for a zone without clock changes: {previewed}"
    );
    // On the krx calendar, Saturdays are closed: the preview marks them skipped.
    browser.fill("#f-cron_expr", "0 9 * * 6").await;
    browser.fill("#f-calendar", "krx").await;
    let previewed = browser
        .wait_text("#form-preview", 10, |text| text.contains("skipped"))
        .await;
    assert!(
        previewed.contains("holiday: ") && previewed.contains("weekend day of calendar krx"),
        "{previewed}"
    );
    browser.fill("#f-calendar", "").await;
    browser.fill("#f-timezone", "").await;

    // Fixed: an interval of one second. The job fires and its runs appear without a reload.
    browser.fill("#f-cron_expr", "").await;
    browser.fill("#f-interval_seconds", "1").await;
    browser.fill("#f-timeout_sec", "600").await;
    browser.fill("#f-max_parallel", "100").await;
    browser.click("#save").await;
    browser
        .wait_text("h1", 10, |title| title == "Job ui-job")
        .await;
    let upcoming = browser
        .wait_text("#upcoming", 10, |text| text.contains("every second"))
        .await;
    assert!(!upcoming.contains("null"), "{upcoming}");
    assert_eq!(app.get_job("ui-job").await.status, StatusCode::OK);
    browser
        .wait_text("#runs", 15, |runs| runs.contains("scheduled"))
        .await;
    let first = browser.count("#runs tr[data-trigger='scheduler']").await;
    browser.wait_text("#runs", 15, |_| true).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while browser.count("#runs tr[data-trigger='scheduler']").await <= first {
        assert!(
            std::time::Instant::now() < deadline,
            "no new run appeared live"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Run now with params: the run carries them.
    browser.click("details summary").await;
    browser.fill("#run-params", r#"{"symbol": "005930"}"#).await;
    browser.click("#run-now-params").await;
    browser
        .wait_text("#action-message", 10, |text| text.contains("on its way"))
        .await;
    browser
        .wait_text("#runs", 10, |runs| runs.contains("manual"))
        .await;
    let manual = runs_by(&app, "ui-job", "manual").await;
    assert_eq!(manual.len(), 1, "{manual:?}");
    assert_eq!(manual[0]["params"]["symbol"], "005930");

    // Pause: the history stops growing.
    browser.click("#pause").await;
    browser
        .wait_text("#action-message", 10, |text| text == "Paused.")
        .await;
    browser
        .wait_text("#settings", 10, |s| s.contains("paused"))
        .await;
    let paused_runs = runs_by(&app, "ui-job", "scheduler").await.len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        runs_by(&app, "ui-job", "scheduler").await.len(),
        paused_runs,
        "a paused job fired"
    );
    // Resume: it fires again.
    browser.click("#resume").await;
    browser
        .wait_text("#action-message", 10, |text| text == "Resumed.")
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while runs_by(&app, "ui-job", "scheduler").await.len() <= paused_runs {
        assert!(
            std::time::Instant::now() < deadline,
            "a resumed job did not fire"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Edit: a bad value is shown beside its field; a good one is saved and audited.
    browser.click("#edit").await;
    browser.fill("#f-max_parallel", "0").await;
    browser.click("#save").await;
    browser
        .wait_text("#err-max_parallel", 10, |text| !text.is_empty())
        .await;
    browser.fill("#f-max_parallel", "100").await;
    browser
        .fill("#f-description", "edited in the browser")
        .await;
    browser.click("#save").await;
    browser
        .wait_text("#settings", 10, |s| s.contains("edited in the browser"))
        .await;
    assert_eq!(
        app.get_job("ui-job").await.body["description"],
        "edited in the browser"
    );
    browser
        .wait_text("#audit", 10, |audit| {
            audit.contains("ui:kim") && audit.contains("update")
        })
        .await;

    // The list filters as one types, and typing keeps the focus in the filter.
    let job_page = format!("{}/ui/#/job/ui-job", app.address);
    browser.goto(&format!("{}/ui/#/jobs", app.address)).await;
    browser
        .wait_text("#range", 10, |range| range.contains("of 1"))
        .await;
    browser
        .find("#filter-text")
        .await
        .send_keys("no-such")
        .await
        .expect("typed");
    browser
        .wait_text("main", 10, |text| text.contains("No job matches"))
        .await;
    let focused = browser.eval("return document.activeElement.id").await;
    assert_eq!(focused, json!("filter-text"));
    browser.goto(&job_page).await;

    // Delete needs the id typed; then the job is gone.
    browser.click("#delete").await;
    browser.fill("#delete-confirm", "wrong").await;
    browser.click("#delete-submit").await;
    browser
        .wait_text("#action-message", 10, |text| text.contains("exactly"))
        .await;
    assert_eq!(app.get_job("ui-job").await.status, StatusCode::OK);
    browser.fill("#delete-confirm", "ui-job").await;
    browser.click("#delete-submit").await;
    browser.wait_text("h1", 10, |title| title == "Jobs").await;
    assert_eq!(app.get_job("ui-job").await.status, StatusCode::NOT_FOUND);

    // Everything done is in the audit log, by the session's name.
    let audit = app.send(Method::GET, "/audit?job_id=ui-job", None).await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| entry["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        ["delete", "update", "resume", "pause", "run_now", "create"]
    );
    assert!(audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|entry| entry["actor"] == "ui:kim"));
    browser.quit().await;
}

/// Logs in through the UI's session route; answers the cookie header and the CSRF token.
async fn log_in(app: &TestApp, name: &str) -> (String, String) {
    let reply = app
        .send(
            Method::POST,
            "/ui/api/session",
            Some(&json!({"token": TOKEN, "name": name}).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let set_cookie = reply.headers["set-cookie"]
        .to_str()
        .expect("a cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=43200", "Path=/"] {
        assert!(
            set_cookie.contains(attribute),
            "{set_cookie} lacks {attribute}"
        );
    }
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    assert!(cookie.starts_with("jennie_session_real="), "{cookie}");
    (
        cookie,
        reply.body["csrf_token"]
            .as_str()
            .expect("a CSRF token")
            .to_string(),
    )
}

#[actix_web::test]
async fn a_session_change_without_its_csrf_token_is_refused_and_changes_nothing() {
    let mut app = app_with_token(Scope::Real).await;
    let (cookie, csrf) = log_in(&app, "lee").await;
    // From here on the requests carry only the cookie, as a browser would.
    app.token = None;
    let job =
        json!({"job_id": "csrf", "queue": "real.jobs.csrf", "interval_seconds": 60}).to_string();
    for headers in [
        vec![("Cookie", cookie.as_str())],
        vec![("Cookie", cookie.as_str()), ("X-CSRF-Token", "forged")],
    ] {
        let mut headers = headers;
        headers.push(("Content-Type", "application/json"));
        let reply = app
            .send_with(Method::POST, "/jobs", &headers, Some(&job))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{:?}", reply.body);
        assert_eq!(reply.body["error"], "csrf_token_invalid");
    }
    // Reads need no CSRF token; the job was not stored.
    let reply = app
        .send_with(
            Method::GET,
            "/jobs/csrf",
            &[("Cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // With it, the change is made and audited under the session's name.
    let headers = [
        ("Cookie", cookie.as_str()),
        ("X-CSRF-Token", csrf.as_str()),
        ("Content-Type", "application/json"),
    ];
    let reply = app
        .send_with(Method::POST, "/jobs", &headers, Some(&job))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let reply = app
        .send_with(
            Method::DELETE,
            "/jobs/csrf",
            &[("Cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let audit = app
        .send_with(
            Method::GET,
            "/audit?job_id=csrf",
            &[("Cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(audit.body.as_array().expect("entries").len(), 1);
    assert_eq!(audit.body[0]["actor"], "ui:lee");
    assert_eq!(audit.body[0]["action"], "create");
    // No cookie and no token: 401. A wrong token at login: 401. After logout the cookie is dead.
    let reply = app.send(Method::GET, "/ui/api/jobs", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = app
        .send(
            Method::POST,
            "/ui/api/session",
            Some(r#"{"token": "nope"}"#),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = app
        .send_with(
            Method::DELETE,
            "/ui/api/session",
            &[("Cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let reply = app
        .send_with(
            Method::GET,
            "/ui/api/jobs",
            &[("Cookie", cookie.as_str())],
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn without_a_token_the_ui_says_so_and_still_guards_changes_with_a_csrf_token() {
    let app = spawn_app(Scope::Mock, Backend::Sqlite).await;
    let session = app.send(Method::GET, "/ui/api/session", None).await;
    assert_eq!(session.body["auth_required"], false);
    assert_eq!(session.body["scope"], "mock");
    assert!(
        session.body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("No API token"),
        "{:?}",
        session.body
    );
    let reply = app.send(Method::POST, "/ui/api/session", Some("{}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cookie = reply.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("jennie_session_mock="));
    let job =
        json!({"job_id": "open", "queue": "mock.jobs.open", "interval_seconds": 60}).to_string();
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/json"),
    ];
    let reply = app
        .send_with(Method::POST, "/jobs", &headers, Some(&job))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{:?}", reply.body);
    // A client without the cookie acts as `open`.
    assert_eq!(
        app.post_job(&serde_json::from_str(&job).unwrap())
            .await
            .status,
        StatusCode::CREATED
    );
    let audit = app.send(Method::GET, "/audit", None).await;
    assert_eq!(audit.body[0]["actor"], "open");
}

#[actix_web::test]
async fn the_job_list_filters_sorts_and_pages_and_the_overview_counts() {
    let app = spawn_app(Scope::Real, Backend::MariaDb).await;
    for (id, extra) in [
        (
            "alpha",
            json!({"cron_expr": "30 8 * * 1-5", "description": "Buy scanner"}),
        ),
        ("bravo", json!({"interval_seconds": 3600, "enabled": false})),
        ("charlie", json!({"interval_seconds": 600})),
    ] {
        let mut body = json!({"job_id": id, "queue": format!("real.jobs.{id}")});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        assert_eq!(app.post_job(&body).await.status, StatusCode::CREATED);
    }
    let reply = app.send(Method::GET, "/ui/api/jobs?q=SCANNER", None).await;
    assert_eq!(reply.body["total"], 1);
    assert_eq!(
        reply.body["jobs"][0]["schedule_text"],
        "at 08:30, Monday to Friday"
    );
    let reply = app
        .send(Method::GET, "/ui/api/jobs?state=paused", None)
        .await;
    assert_eq!(reply.body["jobs"][0]["job_id"], "bravo");
    assert_eq!(reply.body["counts"]["all"], 3);
    let reply = app
        .send(
            Method::GET,
            "/ui/api/jobs?sort=job_id&order=desc&offset=1&limit=1",
            None,
        )
        .await;
    assert_eq!(
        (
            reply.body["total"].as_u64(),
            reply.body["jobs"][0]["job_id"].as_str()
        ),
        (Some(3), Some("bravo"))
    );
    for bad in [
        "state=odd",
        "limit=0",
        "limit=501",
        "sort=x",
        "order=up",
        "page=2",
    ] {
        let reply = app
            .send(Method::GET, &format!("/ui/api/jobs?{bad}"), None)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // A run now counts in the overview's last hour once the broker confirmed it.
    app.post("/jobs/charlie/run-now", None).await;
    let mut overview = Value::Null;
    for _ in 0..50 {
        overview = app.send(Method::GET, "/ui/api/overview", None).await.body;
        if overview["runs_last_hour"]["counts"]["queued"].as_u64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(overview["scope"], "real");
    assert_eq!(overview["readiness"]["database"], "up");
    assert!(
        overview["runs_last_hour"]["counts"]["queued"].as_u64() >= Some(1),
        "{overview}"
    );
    assert_eq!(overview["counts"]["paused"], 1);

    // The schedule preview follows the cron in the configured zone.
    let preview = app
        .send(Method::GET, "/jobs/alpha/schedule?count=3", None)
        .await;
    assert_eq!(preview.body["instants"].as_array().unwrap().len(), 3);
    assert_eq!(preview.body["timezone"], "Asia/Seoul");
    assert!(preview.body["instants"][0]["local"]
        .as_str()
        .unwrap()
        .contains("T08:30:00+09:00"));
    assert!(app
        .send(Method::GET, "/jobs/bravo/schedule", None)
        .await
        .body["instants"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        app.send(Method::GET, "/jobs/alpha/schedule?count=101", None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // The history filters by status.
    let runs = app
        .send(Method::GET, "/jobs/charlie/runs?status=scheduled", None)
        .await;
    assert!(runs
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|run| run["status"] == "scheduled"));
    let reply = app
        .send(Method::GET, "/jobs/charlie/runs?status=done", None)
        .await;
    assert_eq!(
        (reply.status, reply.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("status"))
    );
}

/// Where the screenshots go: `$SCREENSHOT_DIR`, else `target/ui-screenshots`.
fn screenshot_dir() -> std::path::PathBuf {
    std::env::var_os("SCREENSHOT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots")
        })
}

/// Every page at desktop and phone width, written as PNG files for review (`scripts/screenshots`
/// runs only this test). At phone width no page may scroll sideways.
#[actix_web::test]
async fn screenshots_of_every_page_at_desktop_and_phone_width() {
    let app = app_with_token(Scope::Real).await;
    for (id, extra) in [
        (
            "buy-scanner",
            json!({"cron_expr": "*/5 9-15 * * 1-5", "description": "Scans the buy list", "default_params": {"market": "KOSPI"}}),
        ),
        ("price-monitor", json!({"interval_seconds": 30})),
        (
            "token-refresh",
            json!({"cron_expr": "0 7 * * *", "enabled": false}),
        ),
        (
            "failing-report",
            json!({"interval_seconds": 3600, "retry_limit": 0}),
        ),
    ] {
        let mut body = json!({"job_id": id, "queue": format!("real.jobs.{id}")});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        assert_eq!(app.post_job(&body).await.status, StatusCode::CREATED);
    }
    let run = app.post("/jobs/failing-report/run-now", None).await;
    let report = json!({"run_id": run.body["run_id"], "status": "failed", "error": "broker account locked: KIS error 40310000"});
    assert_eq!(
        app.post("/jobs/failing-report/last-run", Some(&report))
            .await
            .status,
        StatusCode::OK
    );
    app.post(
        "/jobs/buy-scanner/run-now",
        Some(&json!({"params": {"symbol": "005930"}})),
    )
    .await;

    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    for (width, height, device) in [(1280, 900, "desktop"), (390, 844, "phone")] {
        let browser = Browser::start(width, height).await;
        browser.goto(&format!("{}/ui/", app.address)).await;
        browser.find("#login-token").await;
        let mut shots = vec![("login", String::new())];
        shots.extend(
            [
                ("overview", "#/"),
                ("jobs", "#/jobs"),
                ("job", "#/job/buy-scanner"),
                ("failing-job", "#/job/failing-report"),
                ("new", "#/new"),
                ("edit", "#/job/buy-scanner/edit"),
                ("audit", "#/audit"),
            ]
            .map(|(name, hash)| (name, hash.to_string())),
        );
        for (name, hash) in shots {
            if name == "overview" {
                browser.fill("#login-token", TOKEN).await;
                browser.fill("#login-name", "reviewer").await;
                browser.click("#login-submit").await;
            }
            if !hash.is_empty() {
                browser.goto(&format!("{}/ui/{hash}", app.address)).await;
            }
            // Wait for the page's data (its live indicator, or a form).
            browser
                .wait_text("main", 10, |text| !text.contains("Loading"))
                .await;
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert_eq!(
                browser.text("#scope").await,
                "REAL",
                "{name}: the scope is shown"
            );
            let overflow = browser
                .eval("return document.documentElement.scrollWidth - window.innerWidth")
                .await;
            assert!(
                overflow.as_i64().unwrap_or(0) <= 1,
                "{name} scrolls sideways by {overflow} px at {width} px"
            );
            // The whole page, not just the window.
            let full = browser
                .eval("return document.documentElement.scrollHeight")
                .await
                .as_u64()
                .unwrap_or(u64::from(height));
            let tall = (full as u32).clamp(height, 4_000);
            browser
                .client
                .set_window_size(width, tall)
                .await
                .expect("resized");
            let png = browser.client.screenshot().await.expect("a screenshot");
            browser
                .client
                .set_window_size(width, height)
                .await
                .expect("resized");
            assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
            std::fs::write(dir.join(format!("{name}-{device}.png")), png).expect("written");
        }
        browser.quit().await;
    }
}
