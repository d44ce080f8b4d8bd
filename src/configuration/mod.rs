//! Settings: one typed struct, its defaults in one place ([`Settings::defaults`]), layered by
//! figment: the defaults, then `config/default.toml`, then `config/{scope}.toml`, then the
//! environment (which wins). File keys are the environment variables in lower case. A bad
//! value is refused at start-up with a message that names the variable and the value (and, for
//! a single value, where it was set).

mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use actors::{DatabaseTarget, Scope};
use anyhow::{anyhow, bail};
use chrono_tz::Tz;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

/// Everything the service needs to start. Each field's key is its serde name (the environment
/// variable in lower case).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// The only scope this instance serves (`real` or `mock`).
    #[serde(rename = "scheduler_scope", with = "values::scope")]
    pub scope: Scope,
    /// How often the jobs table is re-read.
    #[serde(rename = "scheduler_tick_seconds", with = "values::positive")]
    pub tick_seconds: u64,
    /// Where cron expressions are evaluated.
    #[serde(rename = "scheduler_timezone", with = "values::zone")]
    pub timezone: Tz,
    /// `DB_TYPE` with `SCHEDULER_DB_PATH` (SQLite) or `DATABASE_URL` (MariaDB).
    #[serde(flatten, with = "values::database")]
    pub database: DatabaseTarget,
    /// The broker; the nodes of a RabbitMQ cluster may be listed separated by commas (tried
    /// in turn).
    #[serde(with = "values::text")]
    pub rabbitmq_url: String,
    /// How job queues are declared: `classic` or `quorum` (replicated on a RabbitMQ cluster;
    /// workers read the same variable).
    #[serde(rename = "scheduler_queue_type", with = "values::queue_type")]
    pub queue_type: worker::QueueType,
    /// Loopback by default.
    #[serde(rename = "scheduler_http_addr", with = "values::address")]
    pub http_addr: SocketAddr,
    /// When set, `/jobs` requires `Authorization: Bearer <token>`. Set but empty (or blank)
    /// is a start-up error, never "no auth".
    #[serde(rename = "scheduler_api_token", with = "values::token")]
    pub api_token: Option<String>,
    /// Serve `/jobs` without a token on an address other than loopback (refused otherwise).
    #[serde(rename = "scheduler_allow_unauthenticated", with = "values::flag")]
    pub allow_unauthenticated: bool,
    /// Origins allowed to call the API from a browser (comma-separated); none by default.
    #[serde(rename = "scheduler_cors_origins", with = "values::origins")]
    pub cors_origins: Vec<String>,
    /// How long before its due instant a job's next run is staged (written as `scheduled`,
    /// so the fire itself is only a publish); at most a year.
    #[serde(rename = "scheduler_stage_ahead_seconds", with = "values::stage_ahead")]
    pub stage_ahead_seconds: u64,
    /// The queue completion reports may be published to (`{scope}.jobs.…`); refused ones go
    /// to `{queue}.dead`.
    #[serde(rename = "scheduler_reports_queue", with = "values::text")]
    pub reports_queue: String,
    /// Where the calendar files are (`{name}.toml`): each calendar the database does not have
    /// yet is written from its file at start-up. Empty: none.
    #[serde(rename = "scheduler_calendars_dir", with = "values::text")]
    pub calendars_dir: String,
    /// How late a missed fire may still be caught up.
    #[serde(rename = "scheduler_misfire_grace_seconds", with = "values::seconds")]
    pub misfire_grace_seconds: u64,
    /// Runs kept per job.
    #[serde(rename = "scheduler_run_history_limit", with = "values::positive")]
    pub run_history_limit: u64,
    /// `text` or `json`.
    #[serde(with = "values::log_format")]
    pub log_format: LogFormat,
    /// HTTP worker threads.
    #[serde(rename = "scheduler_http_workers", with = "values::workers")]
    pub http_workers: usize,
    /// Per-job `job_id` metric labels (`false` for very large job counts: every job is then
    /// counted under `job_id="_all"`).
    #[serde(rename = "scheduler_metrics_per_job", with = "values::flag")]
    pub metrics_per_job: bool,
    /// A fire skipped this many times in a row is an alert (0: never).
    #[serde(rename = "scheduler_alert_skipped_in_a_row", with = "values::seconds")]
    pub alert_skipped_in_a_row: u64,
    /// The broker or the database down this long is an alert (and its recovery another).
    #[serde(rename = "scheduler_alert_outage_seconds", with = "values::positive")]
    pub alert_outage_seconds: u64,
    /// The most alert messages sent per minute; the rest are counted in one summary.
    #[serde(rename = "scheduler_alerts_per_minute", with = "values::positive")]
    pub alerts_per_minute: u64,
    /// The Telegram bot's token; the bot runs only when it is set.
    #[serde(with = "values::secret")]
    pub telegram_bot_token: Option<String>,
    /// The Bot API's base URL (tests point it at a fake server).
    #[serde(with = "values::text")]
    pub telegram_api_url: String,
    /// Chats the bot serves and alerts (comma-separated ids); others are refused.
    #[serde(with = "values::chat_ids")]
    pub telegram_allowed_chat_ids: Vec<i64>,
    /// When set, only these chats may change anything (run, pause, resume).
    #[serde(with = "values::chat_ids")]
    pub telegram_admin_chat_ids: Vec<i64>,
    /// This instance's id among the instances of its scope on one MariaDB database (cluster
    /// mode); default `{host}-{pid}`. A fixed id (a pod name) lets a restarted instance take
    /// its partitions back at once instead of after their lease runs out.
    #[serde(rename = "scheduler_instance_id", with = "values::identifier")]
    pub instance_id: Option<String>,
    /// Cluster mode: how many partitions the scope's jobs are split into (the same on every
    /// instance of the scope).
    #[serde(rename = "scheduler_partitions", with = "values::positive")]
    pub partitions: u64,
    /// Cluster mode: how long a partition lease lasts without renewal (renewed every third).
    #[serde(rename = "scheduler_lease_ttl_seconds", with = "values::positive")]
    pub lease_ttl_seconds: u64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Settings {
    /// The defaults of an instance of `scope`: the one place they are written.
    pub fn defaults(scope: Scope) -> Settings {
        let (port, db_file) = match scope {
            Scope::Real => (8095, "data/scheduler.db"),
            Scope::Mock => (9095, "data/scheduler-mock.db"),
        };
        Settings {
            scope,
            tick_seconds: 5,
            timezone: chrono_tz::Asia::Seoul,
            database: DatabaseTarget::Sqlite {
                path: PathBuf::from(db_file),
            },
            rabbitmq_url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
            queue_type: worker::QueueType::Classic,
            http_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            api_token: None,
            allow_unauthenticated: false,
            cors_origins: Vec::new(),
            reports_queue: worker::reports_queue_name(scope.as_str()),
            stage_ahead_seconds: 5,
            calendars_dir: "config/calendars".to_string(),
            misfire_grace_seconds: 300,
            run_history_limit: 1000,
            log_format: LogFormat::Text,
            http_workers: std::thread::available_parallelism().map_or(2, usize::from),
            metrics_per_job: true,
            alert_skipped_in_a_row: 3,
            alert_outage_seconds: 60,
            alerts_per_minute: 20,
            telegram_bot_token: None,
            telegram_api_url: "https://api.telegram.org".to_string(),
            telegram_allowed_chat_ids: Vec::new(),
            telegram_admin_chat_ids: Vec::new(),
            instance_id: None,
            partitions: 32,
            lease_ttl_seconds: 10,
        }
    }

    /// This instance's id: `SCHEDULER_INSTANCE_ID`, else the host name and the process id.
    pub fn instance_id(&self) -> String {
        self.instance_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .map(|host| host.trim().to_string())
                .filter(|host| !host.is_empty())
                .unwrap_or_else(|| "host".to_string());
            format!("{host}-{}", std::process::id())
        })
    }

    /// Loads settings from `SCHEDULER_CONFIG_DIR` (default `config`) and the environment.
    pub fn load() -> anyhow::Result<Settings> {
        let config_dir = std::env::var("SCHEDULER_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        let environment: Vec<(String, String)> = Self::keys()
            .into_iter()
            .filter_map(|key| {
                std::env::var(key.to_uppercase())
                    .ok()
                    .map(|value| (key, value))
            })
            .collect();
        Self::from_sources(Path::new(&config_dir), &environment)
    }

    /// Every settings key (lower case), as the struct names them.
    pub fn keys() -> Vec<String> {
        let defaults = Serialized::defaults(Settings::defaults(Scope::Real));
        let mut keys: Vec<String> = defaults
            .data()
            .ok()
            .and_then(|mut data| data.remove(&Profile::Default))
            .map(|dict| dict.into_keys().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// Layers the defaults, `default.toml` and `{scope}.toml` of `config_dir` (both optional)
    /// and the given environment pairs (lower-case keys); checks every value.
    pub fn from_sources(
        config_dir: &Path,
        environment: &[(String, String)],
    ) -> anyhow::Result<Settings> {
        // Each file is optional, and read only where it is named (figment's `Toml::file` would
        // also search the parent directories).
        let file = |figment: Figment, name: String| {
            let path = config_dir.join(name);
            if path.exists() {
                figment.merge(Toml::file_exact(path))
            } else {
                figment
            }
        };
        let files = |scope: Option<Scope>| {
            let figment = file(Figment::new(), "default.toml".into());
            match scope {
                Some(scope) => file(figment, format!("{scope}.toml")),
                None => figment,
            }
        };
        let environment = Environment(environment.to_vec());
        #[derive(Deserialize)]
        struct ScopeOnly {
            #[serde(default, rename = "scheduler_scope", with = "values::optional_scope")]
            scope: Option<Scope>,
        }
        let ScopeOnly { scope } = files(None).merge(&environment).extract().map_err(explain)?;
        let scope = scope.unwrap_or(Scope::Real);
        let layered = Figment::from(Serialized::defaults(Settings::defaults(scope)))
            .merge(files(Some(scope)))
            .merge(&environment);
        let known = Self::keys();
        for (key, metadata) in layered_keys(&layered) {
            if !known.contains(&key) {
                bail!(
                    "{} is not a setting{} (the settings are listed in README.md)",
                    key.to_uppercase(),
                    source_of(metadata.as_ref())
                );
            }
        }
        let settings: Settings = layered.extract().map_err(explain)?;
        if settings.scope != scope {
            bail!(
                "SCHEDULER_SCOPE in {scope}.toml says '{}': a scope's file cannot change the scope",
                settings.scope
            );
        }
        settings.check()?;
        Ok(settings)
    }

    /// The rules between values.
    fn check(&self) -> anyhow::Result<()> {
        let prefix = worker::queue_prefix(self.scope.as_str());
        if !self.reports_queue.starts_with(&prefix) || self.reports_queue.len() == prefix.len() {
            bail!(
                "SCHEDULER_REPORTS_QUEUE must start with '{prefix}', not '{}'",
                self.reports_queue
            );
        }
        for url in self.rabbitmq_url.split(',').map(str::trim) {
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                bail!(
                    "RABBITMQ_URL must list amqp:// or amqps:// URLs separated by commas, not '{url}'"
                );
            }
        }
        if self.partitions > 4096 {
            bail!(
                "SCHEDULER_PARTITIONS must be at most 4096, not {}",
                self.partitions
            );
        }
        if !(2..=600).contains(&self.lease_ttl_seconds) {
            bail!(
                "SCHEDULER_LEASE_TTL_SECONDS must be between 2 and 600, not {}",
                self.lease_ttl_seconds
            );
        }
        Ok(())
    }

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

/// 127.0.0.1:8095 for real, 127.0.0.1:9095 for mock (the port pair of the design, on
/// loopback).
pub fn default_http_addr(scope: Scope) -> SocketAddr {
    Settings::defaults(scope).http_addr
}

/// The environment as a figment provider: every value a string, exactly as set (figment's own
/// `Env` would guess types, and a token like `[x]` would become a list).
struct Environment(Vec<(String, String)>);

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        Metadata::named("the environment")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let values: std::collections::BTreeMap<&str, &str> = self
            .0
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        Serialized::defaults(values).data()
    }
}

/// The top-level keys of `figment` with the source of each.
fn layered_keys(figment: &Figment) -> Vec<(String, Option<Metadata>)> {
    let Ok(dict) = figment
        .data()
        .map(|mut data| data.remove(&Profile::Default))
    else {
        return Vec::new();
    };
    dict.unwrap_or_default()
        .into_iter()
        .map(|(key, value)| {
            let metadata = figment.get_metadata(value.tag()).cloned();
            (key, metadata)
        })
        .collect()
}

/// ` (in <file>)` or ` (in the environment)`.
fn source_of(metadata: Option<&Metadata>) -> String {
    match metadata {
        Some(metadata) => match &metadata.source {
            Some(source) => format!(" (in {source})"),
            None => format!(" (in {})", metadata.name),
        },
        None => String::new(),
    }
}

/// A figment error as one line per bad value: `VARIABLE: what is wrong (where it was set)`.
fn explain(error: figment::Error) -> anyhow::Error {
    let lines: Vec<String> = error
        .into_iter()
        .map(|error| {
            let key = error.path.join(".").to_uppercase();
            if key.is_empty() {
                // A rule over several keys (the database ones): its message names them, and
                // figment cannot tell which source each came from.
                error.kind.to_string()
            } else {
                let source = source_of(error.metadata.as_ref());
                format!("{key}: {}{source}", error.kind)
            }
        })
        .collect();
    anyhow!("invalid settings: {}", lines.join("; "))
}

#[cfg(test)]
mod tests;
