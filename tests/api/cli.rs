//! The command line against a live instance: `job …` verbs (tables, `--json`, the API's
//! errors with a non-zero exit) and `jobs apply` (dry run, create, update, prune, and a file
//! of the other scope refused).

use std::path::Path;

use actors::Scope;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, test_settings, Backend, TestApp, TestDatabase};

const TOKEN: &str = "cli-test-token";

async fn app() -> TestApp {
    let database = std::sync::Arc::new(TestDatabase::new(Backend::Sqlite).await);
    let mut settings = test_settings(Scope::Real, &database);
    settings.api_token = Some(TOKEN.into());
    spawn_app_with(settings, database).await
}

/// What a run of the binary printed, and whether it succeeded.
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `jennie-scheduler <args>` against `app` (off the test's thread, which runs the engine).
async fn cli(app: &TestApp, token: Option<&str>, args: &[&str]) -> Output {
    cli_in_scope(app, token, None, args).await
}

/// [`cli`] in a shell whose `SCHEDULER_SCOPE` is `scope`.
async fn cli_in_scope(
    app: &TestApp,
    token: Option<&str>,
    scope: Option<&str>,
    args: &[&str],
) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_jennie-scheduler"));
    command
        .args(args)
        .env("SCHEDULER_URL", &app.address)
        .env_remove("SCHEDULER_API_TOKEN")
        .env_remove("SCHEDULER_SCOPE");
    if let Some(token) = token {
        command.env("SCHEDULER_API_TOKEN", token);
    }
    if let Some(scope) = scope {
        command.env("SCHEDULER_SCOPE", scope);
    }
    let output = actix_web::rt::task::spawn_blocking(move || command.output())
        .await
        .expect("the command ran")
        .expect("the binary starts");
    Output {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("written");
    path.to_string_lossy().into_owned()
}

#[actix_web::test]
async fn the_job_verbs_steer_a_live_instance_and_fail_loudly() {
    let app = app().await;
    let dir = tempfile::tempdir().expect("a directory");
    let t = Some(TOKEN);

    // No token: the API's 401, said on stderr, exit status non-zero.
    let out = cli(&app, None, &["job", "list"]).await;
    assert!(
        !out.ok && out.stderr.contains("401") && out.stderr.contains("SCHEDULER_API_TOKEN"),
        "{}",
        out.stderr
    );

    // A bad file: the API's message names the field, nothing is stored.
    let bad = write(
        dir.path(),
        "bad.toml",
        "job_id = \"cli-job\"\nqueue = \"real.jobs.cli-job\"\ncron_expr = \"61 * * * *\"\n",
    );
    let out = cli(&app, t, &["job", "create", "-f", &bad]).await;
    assert!(
        !out.ok && out.stderr.contains("field: cron_expr"),
        "{}",
        out.stderr
    );
    assert_eq!(app.get_job("cli-job").await.status, StatusCode::NOT_FOUND);

    let good = write(dir.path(), "good.toml", "job_id = \"cli-job\"\nqueue = \"real.jobs.cli-job\"\ncron_expr = \"30 8 * * 1-5\"\ndescription = \"from the shell\"\n");
    let out = cli(&app, t, &["job", "create", "-f", &good]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.starts_with("scope: REAL"), "{}", out.stdout);

    let out = cli(&app, t, &["job", "list"]).await;
    assert!(out.stdout.starts_with("scope: REAL"), "{}", out.stdout);
    assert!(
        out.stdout.contains("cli-job") && out.stdout.contains("at 08:30, Monday to Friday"),
        "{}",
        out.stdout
    );
    let out = cli(&app, t, &["job", "list", "--json"]).await;
    let listed: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(listed[0]["job_id"], "cli-job");

    let out = cli(&app, t, &["job", "status", "cli-job"]).await;
    assert!(
        out.stdout.contains("from the shell") && out.stdout.contains("+09:00"),
        "{}",
        out.stdout
    );

    let out = cli(
        &app,
        t,
        &[
            "job",
            "run",
            "cli-job",
            "--params",
            r#"{"symbol": "005930"}"#,
        ],
    )
    .await;
    assert!(
        out.ok && out.stdout.contains("is on its way"),
        "{}",
        out.stderr
    );
    let out = cli(&app, t, &["job", "runs", "cli-job", "--json"]).await;
    let runs: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let manual = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["trigger_source"] == "manual")
        .expect("the manual run");
    assert_eq!(manual["params"]["symbol"], "005930");
    for params in ["[1]", "null", "nope"] {
        let out = cli(&app, t, &["job", "run", "cli-job", "--params", params]).await;
        assert!(
            !out.ok && out.stderr.contains("--params must be a JSON object"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(
        app.all_runs("cli-job")
            .await
            .iter()
            .filter(|run| run["trigger_source"] == "manual")
            .count(),
        1,
        "a refused --params ran nothing"
    );

    // A shell set up for the mock stack does nothing to a real instance.
    let out = cli_in_scope(&app, t, Some("mock"), &["job", "pause", "cli-job"]).await;
    assert!(
        !out.ok && out.stderr.contains("SCHEDULER_SCOPE is mock"),
        "{}",
        out.stderr
    );
    assert_eq!(app.get_job("cli-job").await.body["enabled"], true);

    let out = cli(&app, t, &["job", "pause", "cli-job"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(app.get_job("cli-job").await.body["enabled"], false);
    let out = cli(&app, t, &["job", "resume", "cli-job"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(app.get_job("cli-job").await.body["enabled"], true);

    let edit = write(dir.path(), "edit.json", r#"{"max_parallel": 3}"#);
    let out = cli(&app, t, &["job", "edit", "cli-job", "-f", &edit]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(app.get_job("cli-job").await.body["max_parallel"], 3);

    let out = cli(&app, t, &["job", "delete", "cli-job"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(app.get_job("cli-job").await.status, StatusCode::NOT_FOUND);
    let out = cli(&app, t, &["job", "delete", "cli-job"]).await;
    assert!(!out.ok && out.stderr.contains("404"), "{}", out.stderr);

    // Every change is in the audit log as the token's.
    let audit = app
        .send(reqwest::Method::GET, "/audit?job_id=cli-job", None)
        .await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["delete", "update", "resume", "pause", "run_now", "create"]
    );
}

#[actix_web::test]
async fn jobs_apply_makes_the_scope_match_a_file() {
    let app = app().await;
    let t = Some(TOKEN);
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/jobs/real.toml");

    let out = cli(&app, t, &["jobs", "apply", "-f", shipped, "--dry-run"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("+ create buy-scanner") && out.stdout.contains("dry run"),
        "{}",
        out.stdout
    );
    assert!(
        app.list_jobs().await.is_empty(),
        "a dry run changed something"
    );

    let out = cli(&app, t, &["jobs", "apply", "-f", shipped]).await;
    assert!(
        out.ok && out.stdout.contains("applied: 5 change(s)"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(app.list_jobs().await.len(), 5);
    let out = cli(&app, t, &["jobs", "apply", "-f", shipped]).await;
    assert!(
        out.stdout.contains("= buy-scanner unchanged") && out.stdout.contains("applied: 0"),
        "{}",
        out.stdout
    );

    // A job made by hand, a changed cron and a job left out of the file.
    app.post_job(&serde_json::json!({"job_id": "by-hand", "queue": "real.jobs.by-hand", "interval_seconds": 60})).await;
    let dir = tempfile::tempdir().expect("a directory");
    let text = std::fs::read_to_string(shipped)
        .unwrap()
        .replace("*/10 * * * *", "*/15 * * * *");
    let start = text
        .find("[[jobs]]\njob_id = \"scout-daily\"")
        .expect("scout-daily in the file");
    let edited = write(dir.path(), "jobs.toml", &text[..start]);
    let out = cli(&app, t, &["jobs", "apply", "-f", &edited]).await;
    assert!(
        out.stdout
            .contains("~ update news-crawler: cron_expr: \"*/10 * * * *\" → \"*/15 * * * *\""),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("delete"),
        "no delete without --prune: {}",
        out.stdout
    );
    assert_eq!(
        app.get_job("news-crawler").await.body["cron_expr"],
        "*/15 * * * *"
    );
    let out = cli(
        &app,
        t,
        &["jobs", "apply", "-f", &edited, "--prune", "--dry-run"],
    )
    .await;
    assert!(
        out.stdout.contains("- delete by-hand") && out.stdout.contains("- delete scout-daily"),
        "{}",
        out.stdout
    );
    assert_eq!(
        app.list_jobs().await.len(),
        6,
        "a dry run deleted something"
    );
    let out = cli(&app, t, &["jobs", "apply", "-f", &edited, "--prune"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert_eq!(app.list_jobs().await.len(), 4);

    // A file of the other stack is refused before anything is read or written.
    let mock = concat!(env!("CARGO_MANIFEST_DIR"), "/config/jobs/mock.toml");
    let out = cli(&app, t, &["jobs", "apply", "-f", mock, "--prune"]).await;
    assert!(
        !out.ok && out.stderr.contains("is for scope MOCK") && out.stderr.contains("serves REAL"),
        "{}",
        out.stderr
    );
    assert_eq!(app.list_jobs().await.len(), 4);
}

#[actix_web::test]
async fn the_calendar_verbs_read_and_edit_the_calendars_and_preview_marks_closed_days() {
    let app = app().await;
    let t = Some(TOKEN);
    let out = cli(&app, t, &["calendar", "list"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("scope: REAL") && out.stdout.contains("krx"),
        "{}",
        out.stdout
    );
    let out = cli(&app, t, &["calendar", "add", "krx", "2027-12-30"]).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.stdout.contains("12-30 12-31"), "{}", out.stdout);
    let out = cli(&app, t, &["calendar", "add", "krx", "2027-13-01"]).await;
    assert!(!out.ok && out.stderr.contains("dates"), "{}", out.stderr);
    let out = cli(&app, t, &["calendar", "remove", "krx", "2027-12-30"]).await;
    assert!(out.ok, "{}", out.stderr);
    let out = cli(&app, t, &["calendar", "show", "krx", "--json"]).await;
    let krx: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert!(!krx["dates"]
        .as_array()
        .unwrap()
        .contains(&json!("2027-12-30")));
    let out = cli(
        &app,
        t,
        &[
            "job",
            "preview",
            "--cron",
            "0 9 * * 6",
            "--calendar",
            "krx",
            "--count",
            "2",
        ],
    )
    .await;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stdout.contains("calendar: krx (skip on a closed day)")
            && out.stdout.matches("SKIPPED (holiday: ").count() == 2,
        "{}",
        out.stdout
    );
}
