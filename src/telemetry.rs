//! Logging (human-readable by default, JSON with `LOG_FORMAT=json`; level from `RUST_LOG`),
//! the HTTP access log, and the Prometheus exporter behind `/metrics`.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::Error;
use actors::metrics as names;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::configuration::LogFormat;

/// Installs the global subscriber; a second call is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // lapin warns, with the whole message, of every message the broker returns. In cluster
    // mode that is an ask to an instance that just died, which the control plane handles.
    let filter = match "lapin::returned_messages=error".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::JOB_DURATION_SECONDS.into()),
                    &names::DURATION_BUCKETS,
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full(names::FIRE_LATENESS_SECONDS.into()),
                        &names::LATENESS_BUCKETS,
                    )
                })
                .expect("histogram buckets are valid")
                .install_recorder()
                .expect("the Prometheus recorder is installed once");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(names::JOB_RUNS_TOTAL, "Runs that reached a final status");
    describe_histogram!(
        names::JOB_DURATION_SECONDS,
        Unit::Seconds,
        "Run duration, start to completion report"
    );
    describe_histogram!(
        names::FIRE_LATENESS_SECONDS,
        Unit::Seconds,
        "Broker confirmation minus due instant of scheduled fires"
    );
    describe_gauge!(
        names::RUNS_IN_FLIGHT,
        "Runs published and not yet finished or timed out"
    );
    describe_counter!(
        names::MISSED_FIRES_TOTAL,
        "Fires missed while down or asleep, by outcome"
    );
    describe_counter!(names::PUBLISH_TOTAL, "Publish outcomes");
    describe_gauge!(
        names::BROKER_CONNECTED,
        "1 while the RabbitMQ connection is up"
    );
    describe_gauge!(
        names::BROKER_OUTBOX,
        "Messages waiting for the RabbitMQ connection"
    );
    describe_gauge!(names::JOBS, "Jobs by state");
    describe_gauge!(
        names::STATE_WRITES_BUFFERED,
        "Engine state writes waiting for the database"
    );
    describe_counter!(
        names::STATE_WRITE_FAILURES_TOTAL,
        "Failed batches of engine state writes"
    );
    describe_counter!(names::HTTP_REQUESTS_TOTAL, "HTTP requests served");
    describe_counter!(names::ALERTS_TOTAL, "Alerts raised, by kind");
    describe_counter!(
        names::AUDIT_WRITE_FAILURES,
        "Operator actions whose audit entry could not be written"
    );
}

/// Logs every request (method, route, status, latency) and counts it.
pub async fn access_log(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.path().to_string();
    let response = next.call(request).await;
    let status = match &response {
        Ok(response) => response.status().as_u16(),
        Err(error) => error.as_response_error().status_code().as_u16(),
    };
    let route = response
        .as_ref()
        .ok()
        .and_then(|response| response.request().match_pattern())
        .unwrap_or_else(|| "unmatched".to_string());
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(target: "http", %method, %path, %route, status, latency_ms, "request");
    metrics::counter!(names::HTTP_REQUESTS_TOTAL, "method" => method, "route" => route, "status" => status.to_string())
        .increment(1);
    response
}
