//! Building and running the application: database, migrations, HTTP server.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use actors::engine::cluster::ClusterSettings;
use actors::engine::{Engine, EngineSettings};
use actors::{DatabaseTarget, JobService, Scope, Store};
use anyhow::Context;

use crate::configuration::Settings;
use crate::routes::{self, ApiToken};

/// What every handler can reach.
pub struct AppState {
    /// Every use case; the routes call nothing else.
    pub jobs: JobService,
    /// Said at start and on every `/ready` while it holds (an API served open off loopback).
    pub exposure_warning: Option<String>,
}

/// A built, not yet running, service: its listener is bound, so `port()` is known.
pub struct Application {
    port: u16,
    server: Server,
    engine: Engine,
    /// The alerts and the Telegram bot; they stop with the application.
    _notifications: crate::telegram::Notifications,
    /// SQLite: the lock that keeps a second instance off the database file.
    _sqlite_lock: Option<std::fs::File>,
}

impl Application {
    /// Connects to and migrates the database, then binds the HTTP listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let exposure_warning = settings.exposure_warning()?;
        if let Some(warning) = &exposure_warning {
            tracing::warn!(address = %settings.http_addr, "{warning}");
        }
        let sqlite_lock = lock_sqlite(&settings.database, settings.scope)?;
        // Before anything records a metric.
        let metrics = web::Data::new(crate::telemetry::prometheus());
        let store = Store::connect(&settings.database)
            .await
            .with_context(|| format!("connecting to {}", settings.database))?;
        store.migrate_up().await.context("running migrations")?;
        let engine = Engine::start(engine_settings(&settings), store.clone())
            .await
            .context("loading jobs for the engine")?;
        let listener = TcpListener::bind(settings.http_addr)
            .with_context(|| format!("binding {}", settings.http_addr))?;
        let port = listener.local_addr()?.port();
        tracing::info!(
            scope = %settings.scope,
            address = %listener.local_addr()?,
            database = %settings.database,
            "jennie-scheduler listening"
        );
        let jobs = JobService::new(store, engine.clone(), settings.scope);
        let files = crate::calendar_files::read(&settings.calendars_dir);
        let seeded = (jobs.seed_calendars(files).await)
            .map_err(|error| anyhow::anyhow!("loading the calendar files: {error}"))?;
        if !seeded.is_empty() {
            tracing::info!(calendars = ?seeded, dir = %settings.calendars_dir, "calendars written from their files");
        }
        let notifications = crate::telegram::start(jobs.clone(), &settings)
            .context("starting the alerts and the Telegram bot")?;
        let state = web::Data::new(AppState {
            jobs,
            exposure_warning,
        });
        let cors_origins = settings.cors_origins.clone();
        let token = web::Data::new(ApiToken(settings.api_token.clone()));
        let sessions = web::Data::new(crate::ui::sessions::Sessions::new(settings.scope));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(cors(&cors_origins))
                .wrap(actix_web::middleware::from_fn(crate::telemetry::access_log))
                .app_data(state.clone())
                .app_data(token.clone())
                .app_data(sessions.clone())
                .app_data(metrics.clone())
                .app_data(web::PathConfig::default().error_handler(|_, request| {
                    crate::error::ApiError::NoRoute(request.path().chars().take(200).collect())
                        .into()
                }))
                .configure(routes::configure)
        })
        .workers(settings.http_workers)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            engine,
            _notifications: notifications,
            _sqlite_lock: sqlite_lock,
        })
    }

    /// The port the HTTP listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The running engine (to stop it with the server).
    pub fn engine(&self) -> Engine {
        self.engine.clone()
    }

    /// Serves until the process is told to stop (SIGINT / SIGTERM), then stops the engine.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.engine.shutdown().await;
        tracing::info!("jennie-scheduler stopped");
        served
    }
}

/// CORS for the listed origins only; with none listed no CORS header is ever sent, so a
/// browser keeps every other site's script from reading or sending anything but simple
/// requests (which the JSON content-type rule refuses).
fn cors(origins: &[String]) -> actix_web::middleware::Condition<actix_cors::Cors> {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderName::from_static("x-csrf-token"),
        ])
        .max_age(600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    actix_web::middleware::Condition::new(!origins.is_empty(), cors)
}

fn engine_settings(settings: &Settings) -> EngineSettings {
    EngineSettings {
        scope: settings.scope,
        timezone: settings.timezone,
        tick: std::time::Duration::from_secs(settings.tick_seconds),
        misfire_grace: chrono::Duration::seconds(settings.misfire_grace_seconds as i64),
        rabbitmq_url: settings.rabbitmq_url.clone(),
        history_limit: settings.run_history_limit,
        metrics_per_job: settings.metrics_per_job,
        reports_queue: settings.reports_queue.clone(),
        stage_ahead: chrono::Duration::seconds(settings.stage_ahead_seconds as i64),
        alert_skipped_in_a_row: settings.alert_skipped_in_a_row,
        queue_type: settings.queue_type,
        cluster: matches!(settings.database, DatabaseTarget::MariaDb { .. }).then(|| {
            ClusterSettings {
                instance_id: settings.instance_id(),
                partitions: settings.partitions as u32,
                lease_ttl: std::time::Duration::from_secs(settings.lease_ttl_seconds),
            }
        }),
    }
}

/// SQLite serves one instance per scope: a second one of the same scope on the same file is
/// refused at start-up. The lock is the operating system's on `{file}.{scope}.lock`, released
/// when the process ends, even by `kill -9`.
fn lock_sqlite(target: &DatabaseTarget, scope: Scope) -> anyhow::Result<Option<std::fs::File>> {
    let DatabaseTarget::Sqlite { path } = target else {
        return Ok(None);
    };
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the directory of {}", path.display()))?;
    }
    let mut lock_path = path.clone().into_os_string();
    lock_path.push(format!(".{scope}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", std::path::Path::new(&lock_path).display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another jennie-scheduler instance of scope {scope} is using the SQLite database {} \
             (SQLite serves one instance per scope; run several instances on MariaDB, \
             DB_TYPE=MARIADB)",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => Err(error)
            .with_context(|| format!("locking {}", std::path::Path::new(&lock_path).display())),
    }
}
