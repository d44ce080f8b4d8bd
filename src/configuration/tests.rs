use super::*;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn environment_wins_over_files_and_scope_picks_its_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("default.toml"),
        "scheduler_tick_seconds = 7\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("mock.toml"),
        "scheduler_timezone = \"UTC\"\nscheduler_tick_seconds = 9\n",
    )
    .unwrap();
    let settings =
        Settings::from_sources(dir.path(), &pairs(&[("scheduler_scope", "mock")])).unwrap();
    assert_eq!(settings.scope, Scope::Mock);
    assert_eq!(settings.tick_seconds, 9);
    assert_eq!(settings.timezone, chrono_tz::UTC);
    assert_eq!(settings.http_addr, default_http_addr(Scope::Mock));
    assert_eq!(settings.reports_queue, "mock.jobs.reports");
    assert_eq!(
        settings.database,
        DatabaseTarget::Sqlite {
            path: "data/scheduler-mock.db".into()
        }
    );

    let settings = Settings::from_sources(
        dir.path(),
        &pairs(&[
            ("scheduler_tick_seconds", "3"),
            ("db_type", "MARIADB"),
            ("database_url", "mysql://u@h/d"),
            ("scheduler_api_token", "12345"),
        ]),
    )
    .unwrap();
    assert_eq!(settings.scope, Scope::Real);
    assert_eq!(settings.tick_seconds, 3);
    assert_eq!(settings.http_addr.port(), 8095);
    assert_eq!(settings.api_token.as_deref(), Some("12345"));
    assert!(matches!(settings.database, DatabaseTarget::MariaDb { .. }));
}

#[test]
fn bad_values_are_refused_naming_the_variable_and_the_value() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (key, value, said) in [
        ("scheduler_scope", "paper", "'paper'"),
        ("scheduler_tick_seconds", "0", "'0'"),
        ("scheduler_tick_seconds", "five", "'five'"),
        ("scheduler_timezone", "Mars/Base", "'Mars/Base'"),
        ("db_type", "ORACLE", "'ORACLE'"),
        ("db_type", "MARIADB", "DATABASE_URL"),
        ("scheduler_http_addr", "nowhere", "'nowhere'"),
        ("scheduler_api_token", "", "empty"),
        ("scheduler_api_token", "   ", "empty"),
        ("scheduler_api_token", " padded", "spaces"),
        ("scheduler_allow_unauthenticated", "maybe", "'maybe'"),
        ("scheduler_cors_origins", "*", "'*'"),
        (
            "scheduler_cors_origins",
            "https://ok.example, ftp://x",
            "'ftp://x'",
        ),
        (
            "scheduler_reports_queue",
            "mock.jobs.reports",
            "'mock.jobs.reports'",
        ),
        ("scheduler_misfire_grace_seconds", "-1", "'-1'"),
        ("scheduler_http_workers", "0", "'0'"),
        ("log_format", "xml", "'xml'"),
    ] {
        let error = Settings::from_sources(dir.path(), &pairs(&[(key, value)]))
            .expect_err(&format!("{key}={value} is refused"))
            .to_string();
        let variable = key.to_uppercase();
        assert!(
            error.contains(&variable) || (key == "db_type" && error.contains("DB_TYPE")),
            "{key}={value}: {error}"
        );
        assert!(error.contains(said), "{key}={value}: {error}");
    }
}

#[test]
fn a_bad_value_in_a_file_names_the_file_and_an_unknown_key_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("real.toml"), "scheduler_tick_seconds = 0\n").unwrap();
    let error = Settings::from_sources(dir.path(), &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("SCHEDULER_TICK_SECONDS"), "{error}");
    assert!(error.contains("real.toml"), "{error}");

    std::fs::write(dir.path().join("real.toml"), "scheduler_tick_secs = 3\n").unwrap();
    let error = Settings::from_sources(dir.path(), &[])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("SCHEDULER_TICK_SECS is not a setting"),
        "{error}"
    );
}

#[test]
fn numbers_and_flags_may_be_written_as_toml_values_or_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("default.toml"),
        "scheduler_metrics_per_job = false\nscheduler_run_history_limit = \"20\"\n",
    )
    .unwrap();
    let settings = Settings::from_sources(dir.path(), &[]).unwrap();
    assert!(!settings.metrics_per_job);
    assert_eq!(settings.run_history_limit, 20);
}

#[test]
fn the_shipped_config_files_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for scope in ["real", "mock"] {
        let settings = Settings::from_sources(&dir, &pairs(&[("scheduler_scope", scope)]))
            .unwrap_or_else(|error| panic!("config/ for {scope}: {error}"));
        assert_eq!(settings.scope.as_str(), scope);
    }
}

#[test]
fn an_open_api_off_loopback_needs_a_token_or_an_explicit_yes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let load = |list: &[(&str, &str)]| Settings::from_sources(dir.path(), &pairs(list));
    let open = load(&[("scheduler_http_addr", "0.0.0.0:8000")]).unwrap();
    let refusal = open.exposure_warning().unwrap_err().to_string();
    assert!(refusal.contains("SCHEDULER_API_TOKEN"), "{refusal}");
    let allowed = load(&[
        ("scheduler_http_addr", "0.0.0.0:8000"),
        ("scheduler_allow_unauthenticated", "true"),
    ])
    .unwrap();
    assert!(allowed.exposure_warning().unwrap().is_some());
    let token = load(&[
        ("scheduler_http_addr", "0.0.0.0:8000"),
        ("scheduler_api_token", "s3cret"),
    ])
    .unwrap();
    assert_eq!(token.exposure_warning().unwrap(), None);
    assert_eq!(load(&[]).unwrap().exposure_warning().unwrap(), None);
    let cors = load(&[(
        "scheduler_cors_origins",
        "https://a.example, http://localhost:3000",
    )])
    .unwrap();
    assert_eq!(
        cors.cors_origins,
        ["https://a.example", "http://localhost:3000"]
    );
}

/// The README's settings table: `| `VARIABLE` | default | meaning |` rows.
fn readme_table() -> Vec<(String, String)> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("| Variable | Default | Meaning |")
        .expect("README has the settings table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect()
}

#[test]
fn the_readme_lists_every_setting_with_its_default() {
    let table = readme_table();
    let listed: Vec<String> = table.iter().map(|(key, _)| key.to_lowercase()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        Settings::keys(),
        "README rows against the Settings struct"
    );
    let defaults = |scope: Scope| -> serde_json::Map<String, serde_json::Value> {
        let value = serde_json::to_value(Settings::defaults(scope)).expect("serializes");
        value.as_object().expect("an object").clone()
    };
    let (real, mock) = (defaults(Scope::Real), defaults(Scope::Mock));
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    for (variable, cell) in &table {
        let key = variable.to_lowercase();
        for (scope, defaults) in [("real", &real), ("mock", &mock)] {
            if key == "scheduler_scope" && scope == "mock" {
                continue; // the scope's own default is `real`, not a per-scope value
            }
            let shown = cell.replace("{scope}", scope);
            let ok = match &defaults[&key] {
                serde_json::Value::Null => shown == "unset" || shown == "—",
                serde_json::Value::String(text) if text.is_empty() => shown == "unset",
                serde_json::Value::Number(number)
                    if key == "scheduler_http_workers" && number.as_u64() == Some(cores as u64) =>
                {
                    shown == "one per core"
                }
                // A default that differs between the scopes is written per scope.
                value
                    if real[&key] != mock[&key]
                        && !cell.contains("{scope}")
                        && key != "scheduler_scope" =>
                {
                    let text = value.as_str().map_or(value.to_string(), str::to_string);
                    shown.contains(&format!("`{text}` ({scope})"))
                }
                serde_json::Value::String(text) => shown.contains(&format!("`{text}`")),
                other => shown.contains(&format!("`{other}`")),
            };
            assert!(
                ok,
                "README default of {variable} ({scope}): '{cell}' against {}",
                defaults[&key]
            );
        }
    }
}
