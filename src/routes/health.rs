//! `/health` (the process answers) and `/ready` (its database and broker answer).

use std::time::Duration;

use actix_web::{web, HttpResponse};
use actors::engine::{GetBrokerStatus, GetPersistenceStatus};
use serde_json::json;

use crate::startup::AppState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer of `/health`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: String,
}

/// The answer of `/ready`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    status: String,
    /// `up`, or `down: <why>`.
    database: String,
    /// `up`, or `down: <why>`.
    broker: String,
    /// Messages waiting for the broker connection.
    outbox: usize,
    /// The engine's state writer: `{healthy, buffered, last_error}`.
    #[schema(value_type = Object)]
    state_writes: serde_json::Value,
    /// Configuration risks the operator accepted (an API served open off loopback).
    warnings: Vec<String>,
}

#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process answers", body = Health)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "Database and broker answer", body = Readiness),
        (status = 503, description = "Something is down", body = Readiness)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = match tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "up".to_string(),
        Ok(Err(error)) => format!("down: {error}"),
        Err(_) => "down: no answer within 2 s".to_string(),
    };
    let (broker, outbox) = match tokio::time::timeout(
        PROBE_TIMEOUT,
        state.engine.broker.send(GetBrokerStatus),
    )
    .await
    {
        Ok(Ok(status)) if status.connected => ("up".to_string(), status.outbox),
        Ok(Ok(status)) => (
            format!(
                "down: {}",
                status.last_error.unwrap_or_else(|| "connecting".into())
            ),
            status.outbox,
        ),
        _ => ("down: the broker actor did not answer".to_string(), 0),
    };
    let writes = match tokio::time::timeout(
        PROBE_TIMEOUT,
        state.engine.persistence.send(GetPersistenceStatus),
    )
    .await
    {
        Ok(Ok(status)) => {
            json!({"healthy": status.healthy, "buffered": status.buffered, "last_error": status.last_error})
        }
        _ => json!({"healthy": false}),
    };
    let ready = database == "up" && broker == "up";
    if let Some(warning) = &state.exposure_warning {
        tracing::warn!("{warning}");
    }
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" }.into(),
        database,
        broker,
        outbox,
        state_writes: writes,
        warnings: state.exposure_warning.iter().cloned().collect(),
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
