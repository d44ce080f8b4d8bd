//! `spawn_app`: a real service on port 0 with a fresh database of its own, SQLite or MariaDB.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actors::{DatabaseTarget, Scope};
use jennie_scheduler::configuration::{LogFormat, Settings};
use jennie_scheduler::startup::Application;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

/// The MariaDB server the tests use; each test gets its own database on it.
fn mariadb_server_url() -> String {
    std::env::var("TEST_MARIADB_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
}

/// Which database a test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

/// A database that lives as long as the test: a temporary SQLite file, or a uniquely named
/// MariaDB database that is dropped when the test ends.
pub struct TestDatabase {
    pub target: DatabaseTarget,
    _dir: Option<tempfile::TempDir>,
    mariadb_name: Option<String>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path: PathBuf = dir.path().join("nested/dir/scheduler.db");
                TestDatabase {
                    target: DatabaseTarget::Sqlite { path },
                    _dir: Some(dir),
                    mariadb_name: None,
                }
            }
            Backend::MariaDb => {
                let server = mariadb_server_url();
                let name = format!("jennie_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(server.as_str()).await.unwrap_or_else(|error| {
                    panic!(
                        "MariaDB is not reachable at {server} ({error}). Start it \
                         (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) \
                         or set TEST_MARIADB_URL."
                    )
                });
                admin
                    .execute_unprepared(&format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    ))
                    .await
                    .expect("create the test database");
                TestDatabase {
                    target: DatabaseTarget::MariaDb {
                        url: format!("{server}/{name}"),
                    },
                    _dir: None,
                    mariadb_name: Some(name),
                }
            }
        }
    }
}

impl TestDatabase {
    /// A direct connection, for arranging rows the API cannot write (engine state).
    pub async fn connection(&self) -> sea_orm::DatabaseConnection {
        let url = match &self.target {
            DatabaseTarget::Sqlite { path } => format!("sqlite://{}?mode=rwc", path.display()),
            DatabaseTarget::MariaDb { url } => url.clone(),
        };
        Database::connect(url.as_str())
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.mariadb_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime; do the async clean-up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(mariadb_server_url().as_str()).await {
                    // The test's service is dropped, not shut down: a connection it left open
                    // inside a transaction holds a metadata lock DROP DATABASE would wait for
                    // (a year by default). End those sessions first, and never wait long.
                    let _ = admin
                        .execute_unprepared("SET SESSION lock_wait_timeout = 10")
                        .await;
                    let sessions = admin
                        .query_all_raw(sea_orm::Statement::from_string(
                            sea_orm::DbBackend::MySql,
                            format!(
                                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{name}'"
                            ),
                        ))
                        .await
                        .unwrap_or_default();
                    for session in sessions {
                        if let Ok(id) = session.try_get::<u64>("", "ID") {
                            let _ = admin.execute_unprepared(&format!("KILL {id}")).await;
                        }
                    }
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Settings for a test instance: port 0, loopback, one HTTP worker.
pub fn test_settings(scope: Scope, database: &TestDatabase) -> Settings {
    let mut settings = Settings::defaults(scope);
    settings.database = database.target.clone();
    settings.http_addr = "127.0.0.1:0".parse().expect("address");
    settings.http_workers = 1;
    // Stage every next run at once, so tests see it; `staged.rs` tests the horizon itself.
    settings.stage_ahead_seconds = 2 * 86_400;
    settings.log_format = LogFormat::Text;
    settings
}

/// A running service and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub token: Option<String>,
    handle: ServerHandle,
    engine: actors::engine::Engine,
    /// The application's task: it ends once the server and the engine stopped and the
    /// application (with its SQLite lock) is dropped.
    served: actix_web::rt::task::JoinHandle<std::io::Result<()>>,
    // Keeps the database alive as long as the app; shared with a restarted app.
    pub database: Arc<TestDatabase>,
}

fn init_test_logging() {
    if std::env::var("TEST_LOG").is_ok() {
        jennie_scheduler::telemetry::init(LogFormat::Text);
    }
}

/// Starts a service of `scope` on a fresh database of `backend`.
pub async fn spawn_app(scope: Scope, backend: Backend) -> TestApp {
    let database = Arc::new(TestDatabase::new(backend).await);
    spawn_app_with(test_settings(scope, &database), database).await
}

/// Starts a service with the given settings on `database` (which the settings must name).
pub async fn spawn_app_with(settings: Settings, database: Arc<TestDatabase>) -> TestApp {
    init_test_logging();
    let token = settings.api_token.clone();
    let application = Application::build(settings)
        .await
        .expect("the service builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let handle = application.handle();
    let engine = application.engine();
    let served = actix_web::rt::spawn(application.run_until_stopped());
    let app = TestApp {
        address,
        client: reqwest::Client::new(),
        token,
        handle,
        engine,
        served,
        database,
    };
    app.wait_until_ready().await;
    app
}

/// A response with its status and its JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl TestApp {
    /// Sends a request with an optional raw body as JSON; adds the bearer token when the app
    /// has one.
    pub async fn send(&self, method: Method, path: &str, body: Option<&str>) -> Reply {
        self.send_with(method, path, &[("Content-Type", "application/json")], body)
            .await
    }

    /// Sends a request with the given headers (and the bearer token when the app has one).
    /// Every answer is checked against the OpenAPI document.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{}", self.address, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("the service answers");
        let status = response.status();
        let response_headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        crate::conformance::check(&crate::conformance::Exchange {
            method: &method,
            path,
            request_body: body,
            status,
            headers: &response_headers,
            body: &text,
        });
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers: response_headers,
        }
    }

    pub async fn post_job(&self, body: &Value) -> Reply {
        self.send(Method::POST, "/jobs", Some(&body.to_string()))
            .await
    }

    pub async fn get_job(&self, job_id: &str) -> Reply {
        self.send(Method::GET, &format!("/jobs/{job_id}"), None)
            .await
    }

    /// GET a job once the engine has stored its schedule (next_due_at is written just after
    /// a create or an edit).
    pub async fn get_job_settled(&self, job_id: &str) -> Reply {
        let mut reply = self.get_job(job_id).await;
        for _ in 0..50 {
            if reply.status != StatusCode::OK
                || !reply.body["next_due_at"].is_null()
                || reply.body["enabled"] == false
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            reply = self.get_job(job_id).await;
        }
        reply
    }

    pub async fn put_job(&self, job_id: &str, body: &Value) -> Reply {
        self.send(
            Method::PUT,
            &format!("/jobs/{job_id}"),
            Some(&body.to_string()),
        )
        .await
    }

    pub async fn delete_job(&self, job_id: &str) -> Reply {
        self.send(Method::DELETE, &format!("/jobs/{job_id}"), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(Value::to_string);
        self.send(Method::POST, path, body.as_deref()).await
    }

    /// The runs that happened (or are happening), newest first: the history without the
    /// staged next fire.
    pub async fn runs(&self, job_id: &str) -> Vec<Value> {
        let mut runs = self.all_runs(job_id).await;
        runs.retain(|run| run["status"] != "scheduled");
        runs
    }

    /// The whole history as `GET /jobs/{id}/runs` shows it, the staged next fire first.
    pub async fn all_runs(&self, job_id: &str) -> Vec<Value> {
        let reply = self
            .send(
                Method::GET,
                &format!("/jobs/{job_id}/runs?limit=1000"),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.body.as_array().expect("a JSON array").clone()
    }

    /// The staged next fire of `job_id` once its row is written (polls for up to 5 s).
    pub async fn staged_run(&self, job_id: &str) -> Value {
        for _ in 0..100 {
            if let Some(run) = self
                .all_runs(job_id)
                .await
                .into_iter()
                .find(|run| run["status"] == "scheduled")
            {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no staged run of {job_id} was written within 5 s");
    }

    /// Polls the run history until `done` holds for it (at most `seconds`).
    pub async fn runs_until(
        &self,
        job_id: &str,
        seconds: u64,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let runs = self.runs(job_id).await;
            if done(&runs) || std::time::Instant::now() > deadline {
                return runs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub async fn list_jobs(&self) -> Vec<Value> {
        let reply = self.send(Method::GET, "/jobs", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.body.as_array().expect("a JSON array").clone()
    }

    /// Waits (up to 15 s) until `/ready` says the database and RabbitMQ are up.
    pub async fn wait_until_ready(&self) {
        let mut last = None;
        for _ in 0..150 {
            let reply = self.send(Method::GET, "/ready", None).await;
            if reply.status == StatusCode::OK {
                return;
            }
            last = Some(reply.body);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the service did not become ready within 15 s: {last:?}. Is RabbitMQ running on \
             127.0.0.1:5672 (rabbitmq-server -detached) and MariaDB on 127.0.0.1:3306?"
        );
    }

    /// Stops the server and waits until it has stopped.
    pub async fn stop(self) -> Arc<TestDatabase> {
        self.handle.stop(true).await;
        self.engine.shutdown().await;
        // Released with the application: a restart on the same SQLite file needs its lock.
        let _ = self.served.await;
        self.database
    }
}

/// Runs an async test body once per backend, as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {

            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }

            #[actix_web::test]
            async fn mariadb() {
                super::$name($crate::helpers::Backend::MariaDb).await
            }
        }
    };
}
