//! Metrics, JSON logs, the OpenAPI document, and the compose stack's files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use actors::Scope;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::amqp::TestQueue;
use crate::helpers::{spawn_app, Backend};

/// The samples of `name` in a Prometheus text exposition, as (labels, value).
fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    Some((key.to_string(), value.trim_matches('"').to_string()))
                })
                .collect();
            Some((labels, value.parse().ok()?))
        })
        .collect()
}

fn value_of(text: &str, name: &str, wanted: &[(&str, &str)]) -> Option<f64> {
    samples(text, name)
        .into_iter()
        .find(|(labels, _)| {
            wanted
                .iter()
                .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, value)| value)
}

#[actix_web::test]
async fn metrics_count_the_runs_performed() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;
    let queue = TestQueue::new("real").await;
    let job_id = format!("metered-{}", uuid::Uuid::new_v4().simple());
    app.post_job(&json!({"job_id": job_id, "queue": queue.name, "interval_seconds": 3600, "max_parallel": 5, "retry_limit": 0}))
        .await;
    let mut run_ids = Vec::new();
    for _ in 0..3 {
        run_ids.push(
            app.post(&format!("/jobs/{job_id}/run-now"), None)
                .await
                .body["run_id"]
                .clone(),
        );
    }
    let started = (chrono::Utc::now() - chrono::Duration::milliseconds(700)).to_rfc3339();
    for (run_id, status) in run_ids.iter().zip(["success", "success", "failed"]) {
        let report = json!({"run_id": run_id, "status": status, "started_at": started});
        assert_eq!(
            app.post(&format!("/jobs/{job_id}/last-run"), Some(&report))
                .await
                .status,
            StatusCode::OK
        );
    }

    // Publishes are confirmed asynchronously: wait for the three acks.
    let mut text = String::new();
    for _ in 0..30 {
        let reply = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .expect("metrics");
        assert_eq!(reply.status(), StatusCode::OK);
        assert!(reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        text = reply.text().await.unwrap();
        if value_of(&text, "jennie_publish_total", &[("result", "ack")])
            .is_some_and(|acks| acks >= 3.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let labels = |status| {
        [
            ("job_id", job_id.as_str()),
            ("scope", "real"),
            ("status", status),
            ("trigger_source", "manual"),
        ]
    };

    assert_eq!(
        value_of(&text, "jennie_job_runs_total", &labels("success")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value_of(&text, "jennie_job_runs_total", &labels("failed")),
        Some(1.0)
    );
    let job = [("job_id", job_id.as_str()), ("scope", "real")];
    assert_eq!(
        value_of(&text, "jennie_job_duration_seconds_count", &job),
        Some(3.0)
    );
    let sum = value_of(&text, "jennie_job_duration_seconds_sum", &job).unwrap();
    assert!(
        (1.5..10.0).contains(&sum),
        "three runs of about 0.7 s: {sum}"
    );
    assert_eq!(value_of(&text, "jennie_runs_in_flight", &job), Some(0.0));
    assert!(
        value_of(&text, "jennie_broker_connected", &[]).is_some(),
        "the broker gauge is exported"
    );
    assert!(value_of(&text, "jennie_publish_total", &[("result", "ack")]).unwrap() >= 3.0);
    assert!(
        value_of(
            &text,
            "jennie_jobs",
            &[("scope", "real"), ("state", "enabled")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        text.contains("jennie_job_duration_seconds_bucket{"),
        "a histogram with buckets"
    );
    queue.delete().await;
}

#[actix_web::test]
async fn json_logs_are_json_and_carry_the_run_fields() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jennie-scheduler"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("SCHEDULER_CONFIG_DIR", dir.path())
        .env("SCHEDULER_DB_PATH", dir.path().join("scheduler.db"))
        .env("SCHEDULER_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("{base}/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let queue = TestQueue::new("real").await;
    let created = client
        .post(format!("{base}/jobs"))
        .json(&json!({"job_id": "logged", "queue": queue.name, "interval_seconds": 3600}))
        .send()
        .await
        .unwrap();
    let run = client
        .post(format!("{base}/jobs/logged/run-now"))
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = child.kill();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    let _ = child.wait();

    assert!(up, "the binary became ready");
    assert_eq!(created.status(), StatusCode::CREATED);
    let run_id = run.json::<Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let events: Vec<Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))
        })
        .collect();
    let firing = events
        .iter()
        .find(|event| event["message"] == "firing" && event["run_id"] == run_id.as_str())
        .unwrap_or_else(|| panic!("no firing event for {run_id}: {lines:#?}"));
    // The job's fields come from the span every line of a job actor runs in.
    assert_eq!(firing["span"]["name"], "job");
    assert_eq!(firing["span"]["job_id"], "logged");
    assert_eq!(firing["span"]["scope"], "real");
    assert_eq!(firing["trigger_source"], "manual");
    assert!(
        events.iter().any(|event| event["target"] == "http"
            && event["route"] == "/jobs/{job_id}/run-now"
            && event["status"] == 202),
        "an access log line per request"
    );
    queue.delete().await;
}

#[actix_web::test]
async fn the_openapi_document_lists_every_endpoint() {
    let app = spawn_app(Scope::Real, Backend::Sqlite).await;

    let reply = app.send(Method::GET, "/openapi.json", None).await;
    let docs = app
        .client
        .get(format!("{}/docs/", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    let document: oas3::OpenApiV3Spec =
        serde_json::from_value(reply.body.clone()).expect("valid OpenAPI 3.1");
    assert!(document.openapi.starts_with("3."), "{}", document.openapi);
    let mut listed = BTreeSet::new();
    for (path, item) in document.paths.as_ref().expect("paths") {
        for (method, operation) in item.methods() {
            assert!(
                !operation.responses.as_ref().is_none_or(|r| r.is_empty()),
                "{method} {path} documents its responses"
            );
            listed.insert(format!("{} {path}", method.as_str().to_uppercase()));
        }
    }
    for endpoint in [
        "GET /jobs",
        "POST /jobs",
        "GET /jobs/{job_id}",
        "PUT /jobs/{job_id}",
        "DELETE /jobs/{job_id}",
        "POST /jobs/{job_id}/run-now",
        "POST /jobs/{job_id}/pause",
        "POST /jobs/{job_id}/resume",
        "POST /jobs/{job_id}/last-run",
        "GET /jobs/{job_id}/runs",
        "GET /health",
        "GET /ready",
        "GET /metrics",
    ] {
        assert!(
            listed.contains(endpoint),
            "{endpoint} missing from {listed:?}"
        );
    }
    // The documented job body is exactly what the parser accepts.
    let properties: BTreeSet<String> = reply.body["components"]["schemas"]["JobInput"]
        ["properties"]
        .as_object()
        .expect("JobInput schema")
        .keys()
        .cloned()
        .collect();
    let accepted: BTreeSet<String> = actors::job::CONFIG_FIELDS
        .iter()
        .chain(actors::job::MANAGED_FIELDS.iter())
        .map(|field| field.to_string())
        .collect();
    assert_eq!(properties, accepted);
    assert_eq!(docs.status(), StatusCode::OK);
    let page = docs.text().await.unwrap();
    assert!(page.contains("swagger-ui"), "an interactive page");
    assert!(
        !page.contains("https://") && !page.contains("http://"),
        "served by the binary itself, no CDN"
    );
}

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|error| panic!("{}: {error}", full.display()))
}

fn yaml(path: &str) -> Value {
    let mut value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&repo_file(path)).expect("valid YAML");
    value.apply_merge().expect("merge keys");
    serde_json::to_value(value).expect("YAML as JSON")
}

#[test]
fn the_compose_stack_wires_both_scopes_to_rabbitmq_mariadb_prometheus_and_grafana() {
    let compose = yaml("compose/docker-compose.yml");
    let services = compose["services"].as_object().expect("services");
    for (service, variable) in [
        ("scheduler-service", "SCHEDULER_API_TOKEN"),
        ("scheduler-service-mock", "SCHEDULER_API_TOKEN_MOCK"),
    ] {
        let token = services[service]["environment"]["SCHEDULER_API_TOKEN"]
            .as_str()
            .unwrap_or_default();
        assert!(
            token.starts_with(&format!("${{{variable}:?")),
            "{service}: compose must refuse to start without {variable}, not default it: {token}"
        );
    }
    for service in [
        "rabbitmq",
        "mariadb",
        "scheduler-service",
        "scheduler-service-mock",
        "prometheus",
        "grafana",
    ] {
        assert!(services.contains_key(service), "{service} missing");
    }
    for (service, scope, port) in [
        ("scheduler-service", "real", "8095:8000"),
        ("scheduler-service-mock", "mock", "9095:8000"),
    ] {
        let s = &services[service];
        let env = &s["environment"];
        assert_eq!(env["SCHEDULER_SCOPE"], scope);
        assert_eq!(env["DB_TYPE"], "MARIADB");
        assert!(env["DATABASE_URL"]
            .as_str()
            .unwrap()
            .starts_with("mysql://"));
        assert!(
            env["DATABASE_URL"]
                .as_str()
                .unwrap()
                .ends_with(&format!("jennie_{scope}")),
            "a database per stack"
        );
        assert!(env["RABBITMQ_URL"]
            .as_str()
            .unwrap()
            .contains("@rabbitmq:5672"));
        assert_eq!(env["SCHEDULER_HTTP_ADDR"], "0.0.0.0:8000");
        assert_eq!(s["ports"], json!([port]));
        assert_eq!(s["build"]["dockerfile"], "compose/Dockerfile");
        assert!(s["depends_on"]["rabbitmq"].is_object() && s["depends_on"]["mariadb"].is_object());
    }
    assert!(
        services["rabbitmq"]["ports"]
            .as_array()
            .unwrap()
            .contains(&json!("15672:15672")),
        "management UI"
    );
    let prometheus = yaml("compose/prometheus.yml");
    let targets: Vec<Value> = prometheus["scrape_configs"][0]["static_configs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|config| config["targets"].as_array().unwrap().clone())
        .collect();
    assert_eq!(
        targets,
        vec![
            json!("scheduler-service:8000"),
            json!("scheduler-service-mock:8000"),
            json!("scheduler-service-2:8000"),
            json!("scheduler-service-mock-2:8000")
        ]
    );
    // The `ha` profile: a second instance per scope on the same database and broker settings
    // (another id), and two more RabbitMQ nodes in one cluster with the first.
    for (first, second, port) in [
        ("scheduler-service", "scheduler-service-2", "8096:8000"),
        (
            "scheduler-service-mock",
            "scheduler-service-mock-2",
            "9096:8000",
        ),
    ] {
        let (one, two) = (&services[first], &services[second]);
        assert_eq!(two["profiles"], json!(["ha"]), "{second}");
        assert_eq!(two["ports"], json!([port]));
        for variable in [
            "SCHEDULER_SCOPE",
            "DATABASE_URL",
            "RABBITMQ_URL",
            "SCHEDULER_QUEUE_TYPE",
            "SCHEDULER_API_TOKEN",
        ] {
            assert_eq!(
                one["environment"][variable], two["environment"][variable],
                "{second}: {variable}"
            );
        }
        assert_ne!(
            one["environment"]["SCHEDULER_INSTANCE_ID"],
            two["environment"]["SCHEDULER_INSTANCE_ID"]
        );
    }
    for node in ["rabbitmq-2", "rabbitmq-3"] {
        assert_eq!(services[node]["profiles"], json!(["ha"]), "{node}");
        assert_eq!(
            services[node]["environment"]["RABBITMQ_ERLANG_COOKIE"],
            services["rabbitmq"]["environment"]["RABBITMQ_ERLANG_COOKIE"]
        );
    }
    let cluster_conf = repo_file("compose/rabbitmq-cluster.conf");
    for node in ["rabbitmq", "rabbitmq-2", "rabbitmq-3"] {
        assert!(cluster_conf.contains(&format!("rabbit@{node}\n")), "{node}");
    }
    assert_eq!(prometheus["scrape_configs"][0]["metrics_path"], "/metrics");
    let datasource = yaml("compose/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(
        datasource["datasources"][0]["url"],
        "http://prometheus:9090"
    );
    let provider = yaml("compose/grafana/provisioning/dashboards/jennie.yml");
    assert_eq!(
        provider["providers"][0]["options"]["path"],
        "/var/lib/grafana/dashboards"
    );
    let dockerfile = repo_file("compose/Dockerfile");
    assert!(
        dockerfile.matches("\nFROM ").count() + usize::from(dockerfile.starts_with("FROM")) >= 2,
        "multi-stage"
    );
    assert!(repo_file("compose/mariadb-init.sql").contains("jennie_mock"));
}

#[test]
fn every_dashboard_panel_queries_metrics_the_service_exports() {
    let dashboard: Value = serde_json::from_str(&repo_file(
        "compose/grafana/dashboards/jennie-scheduler.json",
    ))
    .expect("JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let titles: Vec<&str> = panels
        .iter()
        .map(|panel| panel["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "Runs by status",
        "Success rate",
        "Failure rate",
        "Run duration percentiles",
        "Fire lateness",
        "Runs in flight",
        "Broker",
    ] {
        assert!(
            titles.iter().any(|title| title.starts_with(wanted)),
            "no panel '{wanted}' in {titles:?}"
        );
    }
    let exported: BTreeSet<&str> = actors::metrics::ALL.into_iter().collect();
    let mut used = BTreeSet::new();
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("jennie_") {
                    let base = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|suffix| word.strip_suffix(suffix))
                        .filter(|base| exported.contains(base))
                        .unwrap_or(word);
                    assert!(
                        exported.contains(base),
                        "panel '{}' queries {word}, which is not exported",
                        panel["title"]
                    );
                    used.insert(base.to_string());
                }
            }
        }
    }
    for seed_metric in ["jennie_job_runs_total", "jennie_job_duration_seconds"] {
        assert!(
            used.contains(seed_metric),
            "{seed_metric} is on the dashboard"
        );
    }
}
