//! `/health` (the process answers) and `/ready` (its database and broker answer).

use std::time::Duration;

use actix_web::{web, HttpResponse};
use actors::engine::{GetBrokerStatus, GetPersistenceStatus};
use serde_json::json;

use crate::startup::AppState;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process answers: {\"status\": \"ok\"}")))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "Database and broker answer"),
        (status = 503, description = "Something is down: {status, database, broker, outbox, state_writes}")))]
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
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": database,
        "broker": broker,
        "outbox": outbox,
        "state_writes": writes,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
