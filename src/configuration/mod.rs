//! Settings: the environment variables of the service, layered over files in `config/`
//! (`default.toml`, then `{scope}.toml`); the environment wins.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use actors::{DatabaseTarget, Scope};
use anyhow::{anyhow, bail, Context};
use chrono_tz::Tz;
use serde::Deserialize;

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `SCHEDULER_SCOPE`: the only scope this instance serves.
    pub scope: Scope,
    /// `SCHEDULER_TICK_SECONDS`: how often the jobs table is re-read.
    pub tick_seconds: u64,
    /// `SCHEDULER_TIMEZONE`: where cron expressions are evaluated.
    pub timezone: Tz,
    /// `DB_TYPE` with `SCHEDULER_DB_PATH` or `DATABASE_URL`.
    pub database: DatabaseTarget,
    /// `RABBITMQ_URL`.
    pub rabbitmq_url: String,
    /// `SCHEDULER_HTTP_ADDR`: loopback by default.
    pub http_addr: SocketAddr,
    /// `SCHEDULER_API_TOKEN`: when set, `/jobs` requires `Authorization: Bearer <token>`. Set
    /// but empty (or blank) is a start-up error, never "no auth".
    pub api_token: Option<String>,
    /// `SCHEDULER_ALLOW_UNAUTHENTICATED`: serve `/jobs` without a token on an address other
    /// than loopback (refused at start-up otherwise).
    pub allow_unauthenticated: bool,
    /// `SCHEDULER_CORS_ORIGINS`: comma-separated origins allowed to call the API from a
    /// browser; none by default (no CORS headers are sent).
    pub cors_origins: Vec<String>,
    /// `SCHEDULER_STAGE_AHEAD_SECONDS`: how long before its due instant a job's next run is
    /// staged (written as `scheduled`, so the fire itself is only a publish).
    pub stage_ahead_seconds: u64,
    /// `SCHEDULER_REPORTS_QUEUE`: the queue completion reports may be published to (default
    /// `{scope}.jobs.reports`; refused ones go to `{queue}.dead`).
    pub reports_queue: String,
    /// `SCHEDULER_MISFIRE_GRACE_SECONDS`: how late a missed fire may still be caught up.
    pub misfire_grace_seconds: u64,
    /// `SCHEDULER_RUN_HISTORY_LIMIT`: runs kept per job.
    pub run_history_limit: u64,
    /// `LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `SCHEDULER_HTTP_WORKERS`: HTTP worker threads (default: one per core).
    pub http_workers: usize,
    /// `SCHEDULER_METRICS_PER_JOB`: per-job `job_id` metric labels (default true; `false` for
    /// very large job counts: every job is then counted under `job_id="_all"`).
    pub metrics_per_job: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings keys as they appear in files and (upper-cased) in the environment.
#[derive(Debug, Default, Deserialize)]
struct RawSettings {
    scheduler_scope: Option<String>,
    scheduler_tick_seconds: Option<String>,
    scheduler_timezone: Option<String>,
    scheduler_db_path: Option<String>,
    db_type: Option<String>,
    database_url: Option<String>,
    rabbitmq_url: Option<String>,
    scheduler_http_addr: Option<String>,
    scheduler_api_token: Option<String>,
    scheduler_misfire_grace_seconds: Option<String>,
    scheduler_run_history_limit: Option<String>,
    log_format: Option<String>,
    scheduler_http_workers: Option<String>,
    scheduler_metrics_per_job: Option<String>,
    scheduler_allow_unauthenticated: Option<String>,
    scheduler_cors_origins: Option<String>,
    scheduler_reports_queue: Option<String>,
    scheduler_stage_ahead_seconds: Option<String>,
}

/// The keys this service reads from the environment.
const KEYS: [&str; 18] = [
    "SCHEDULER_SCOPE",
    "SCHEDULER_TICK_SECONDS",
    "SCHEDULER_TIMEZONE",
    "SCHEDULER_DB_PATH",
    "DB_TYPE",
    "DATABASE_URL",
    "RABBITMQ_URL",
    "SCHEDULER_HTTP_ADDR",
    "SCHEDULER_API_TOKEN",
    "SCHEDULER_MISFIRE_GRACE_SECONDS",
    "SCHEDULER_RUN_HISTORY_LIMIT",
    "LOG_FORMAT",
    "SCHEDULER_HTTP_WORKERS",
    "SCHEDULER_METRICS_PER_JOB",
    "SCHEDULER_ALLOW_UNAUTHENTICATED",
    "SCHEDULER_CORS_ORIGINS",
    "SCHEDULER_REPORTS_QUEUE",
    "SCHEDULER_STAGE_AHEAD_SECONDS",
];

impl Settings {
    /// The defaults for an instance of `scope`, with a SQLite file at `db_path`.
    pub fn defaults(scope: Scope) -> Settings {
        Settings {
            scope,
            tick_seconds: 5,
            timezone: chrono_tz::Asia::Seoul,
            database: DatabaseTarget::Sqlite {
                path: PathBuf::from("data/scheduler.db"),
            },
            rabbitmq_url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
            http_addr: default_http_addr(scope),
            api_token: None,
            allow_unauthenticated: false,
            cors_origins: Vec::new(),
            reports_queue: worker::reports_queue_name(scope.as_str()),
            stage_ahead_seconds: 5,
            misfire_grace_seconds: 300,
            run_history_limit: 1000,
            log_format: LogFormat::Text,
            http_workers: std::thread::available_parallelism().map_or(2, usize::from),
            metrics_per_job: true,
        }
    }

    /// Loads settings from `config_dir` (`SCHEDULER_CONFIG_DIR`, default `config`) and the
    /// environment.
    pub fn load() -> anyhow::Result<Settings> {
        let config_dir = std::env::var("SCHEDULER_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        let environment: Vec<(String, String)> = KEYS
            .iter()
            .filter_map(|key| {
                std::env::var(key)
                    .ok()
                    .map(|value| (key.to_lowercase(), value))
            })
            .collect();
        Self::from_sources(Path::new(&config_dir), &environment)
    }

    /// Layers `default.toml`, `{scope}.toml` (both optional) and the given environment pairs
    /// (lower-case keys).
    pub fn from_sources(
        config_dir: &Path,
        environment: &[(String, String)],
    ) -> anyhow::Result<Settings> {
        let layered = |scope_file: Option<&str>| -> anyhow::Result<RawSettings> {
            let mut builder = config::Config::builder()
                .add_source(config::File::from(config_dir.join("default.toml")).required(false));
            if let Some(scope) = scope_file {
                builder = builder.add_source(
                    config::File::from(config_dir.join(format!("{scope}.toml"))).required(false),
                );
            }
            for (key, value) in environment {
                builder = builder.set_override(key.as_str(), value.as_str())?;
            }
            builder
                .build()
                .context("reading configuration files")?
                .try_deserialize()
                .context("configuration values must be strings or numbers")
        };
        let scope_name = layered(None)?
            .scheduler_scope
            .unwrap_or_else(|| "real".into());
        let scope = Scope::parse(&scope_name).ok_or_else(|| {
            anyhow!("SCHEDULER_SCOPE must be 'real' or 'mock', not '{scope_name}'")
        })?;
        let raw = layered(Some(scope.as_str()))?;
        Self::from_raw(scope, raw)
    }

    fn from_raw(scope: Scope, raw: RawSettings) -> anyhow::Result<Settings> {
        let mut settings = Settings::defaults(scope);
        if let Some(value) = raw.scheduler_tick_seconds {
            settings.tick_seconds = parse_positive("SCHEDULER_TICK_SECONDS", &value)?;
        }
        if let Some(value) = raw.scheduler_timezone {
            settings.timezone = value
                .parse()
                .map_err(|_| anyhow!("SCHEDULER_TIMEZONE '{value}' is not an IANA time zone"))?;
        }
        let db_type = raw.db_type.unwrap_or_else(|| "SQLITE".into());
        settings.database = match db_type.to_ascii_uppercase().as_str() {
            "SQLITE" => DatabaseTarget::Sqlite {
                path: raw
                    .scheduler_db_path
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("data/scheduler.db")),
            },
            "MARIADB" | "MYSQL" => DatabaseTarget::MariaDb {
                url: raw
                    .database_url
                    .ok_or_else(|| anyhow!("DB_TYPE=MARIADB needs DATABASE_URL (mysql://…)"))?,
            },
            other => bail!("DB_TYPE must be SQLITE or MARIADB, not '{other}'"),
        };
        if let Some(value) = raw.rabbitmq_url {
            settings.rabbitmq_url = value;
        }
        if let Some(value) = raw.scheduler_http_addr {
            settings.http_addr = value
                .parse()
                .map_err(|_| anyhow!("SCHEDULER_HTTP_ADDR '{value}' is not host:port"))?;
        }
        settings.api_token = match raw.scheduler_api_token {
            None => None,
            Some(token) if token.trim().is_empty() => bail!(
                "SCHEDULER_API_TOKEN is set but empty: set a token, or unset the variable to \
                 serve the API without one on loopback"
            ),
            Some(token) if token.trim() != token || token.chars().any(char::is_control) => bail!(
                "SCHEDULER_API_TOKEN must not start or end with spaces or hold control characters"
            ),
            Some(token) => Some(token),
        };
        if let Some(value) = raw.scheduler_allow_unauthenticated {
            settings.allow_unauthenticated = parse_bool("SCHEDULER_ALLOW_UNAUTHENTICATED", &value)?;
        }
        if let Some(value) = raw.scheduler_cors_origins {
            settings.cors_origins = parse_origins(&value)?;
        }
        if let Some(value) = raw.scheduler_stage_ahead_seconds {
            settings.stage_ahead_seconds =
                parse_positive("SCHEDULER_STAGE_AHEAD_SECONDS", &value)?.min(366 * 86_400);
        }
        if let Some(value) = raw.scheduler_reports_queue {
            let prefix = worker::queue_prefix(scope.as_str());
            if !value.starts_with(&prefix) || value.len() == prefix.len() {
                bail!("SCHEDULER_REPORTS_QUEUE must start with '{prefix}', not '{value}'");
            }
            settings.reports_queue = value;
        }
        if let Some(value) = raw.scheduler_misfire_grace_seconds {
            settings.misfire_grace_seconds = value.parse().map_err(|_| {
                anyhow!("SCHEDULER_MISFIRE_GRACE_SECONDS '{value}' is not a number of seconds")
            })?;
        }
        if let Some(value) = raw.scheduler_run_history_limit {
            settings.run_history_limit = parse_positive("SCHEDULER_RUN_HISTORY_LIMIT", &value)?;
        }
        if let Some(value) = raw.scheduler_http_workers {
            settings.http_workers = parse_positive("SCHEDULER_HTTP_WORKERS", &value)? as usize;
        }
        if let Some(value) = raw.scheduler_metrics_per_job {
            settings.metrics_per_job = parse_bool("SCHEDULER_METRICS_PER_JOB", &value)?;
        }
        settings.log_format = match raw
            .log_format
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("text") | Some("human") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("LOG_FORMAT must be text or json, not '{other}'"),
        };
        Ok(settings)
    }
}

/// 127.0.0.1:8095 for real, 127.0.0.1:9095 for mock (the seed's port pair, on loopback).
pub fn default_http_addr(scope: Scope) -> SocketAddr {
    let port = match scope {
        Scope::Real => 8095,
        Scope::Mock => 9095,
    };
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Settings {
    /// Whether the API may be served as configured: without a token only on a loopback
    /// address, unless `SCHEDULER_ALLOW_UNAUTHENTICATED` says otherwise. Answers the warning
    /// to log (and show on `/ready`) when it is served open on another address.
    pub fn exposure_warning(&self) -> anyhow::Result<Option<String>> {
        if self.api_token.is_some() || self.http_addr.ip().is_loopback() {
            return Ok(None);
        }
        if !self.allow_unauthenticated {
            bail!(
                "refusing to serve the API on {} without SCHEDULER_API_TOKEN: anyone who reaches \
                 that address could create and fire jobs. Set SCHEDULER_API_TOKEN, bind a \
                 loopback address (SCHEDULER_HTTP_ADDR=127.0.0.1:port), or set \
                 SCHEDULER_ALLOW_UNAUTHENTICATED=true to accept the risk",
                self.http_addr
            );
        }
        Ok(Some(format!(
            "the API is served on {} without a token (SCHEDULER_ALLOW_UNAUTHENTICATED=true): \
             anyone who reaches that address can create and fire jobs",
            self.http_addr
        )))
    }
}

fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => bail!("{name} must be true or false, not '{value}'"),
    }
}

/// `https://ops.example.com, http://localhost:3000` → the origins, each `scheme://host[:port]`.
fn parse_origins(value: &str) -> anyhow::Result<Vec<String>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains(['/', ' ', '*']) => {
                    Ok(origin.to_string())
                }
                _ => bail!(
                    "SCHEDULER_CORS_ORIGINS: '{origin}' is not an origin like https://host[:port]"
                ),
            }
        })
        .collect()
}

fn parse_positive(name: &str, value: &str) -> anyhow::Result<u64> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|number| *number >= 1)
        .ok_or_else(|| anyhow!("{name} must be a whole number ≥ 1, not '{value}'"))
}

#[cfg(test)]
mod tests {
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

        let settings = Settings::from_sources(
            dir.path(),
            &pairs(&[
                ("scheduler_tick_seconds", "3"),
                ("db_type", "MARIADB"),
                ("database_url", "mysql://u@h/d"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.scope, Scope::Real);
        assert_eq!(settings.tick_seconds, 3);
        assert_eq!(settings.http_addr.port(), 8095);
        assert!(matches!(settings.database, DatabaseTarget::MariaDb { .. }));
    }

    #[test]
    fn bad_values_are_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (key, value) in [
            ("scheduler_scope", "paper"),
            ("scheduler_tick_seconds", "0"),
            ("scheduler_timezone", "Mars/Base"),
            ("db_type", "ORACLE"),
            ("db_type", "MARIADB"),
            ("scheduler_http_addr", "nowhere"),
            ("scheduler_api_token", ""),
            ("scheduler_api_token", "   "),
            ("scheduler_api_token", " padded"),
            ("scheduler_allow_unauthenticated", "maybe"),
            ("scheduler_cors_origins", "*"),
            ("scheduler_cors_origins", "https://ok.example, ftp://x"),
            ("scheduler_reports_queue", "mock.jobs.reports"),
        ] {
            assert!(
                Settings::from_sources(dir.path(), &pairs(&[(key, value)])).is_err(),
                "{key}={value}"
            );
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
}
