//! `/health` (the process answers) and `/ready` (its database and broker answer).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::startup::AppState;

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
    /// `{mode: "single"}` on SQLite; on MariaDB `{mode: "cluster", instance_id, partitions,
    /// owned: [partition numbers held here], peers: [{instance_id, partitions,
    /// heartbeat_age_ms}], last_error, control}` (`control`: `up` once peers can reach this
    /// instance; not ready before).
    #[schema(value_type = Object)]
    cluster: serde_json::Value,
}

impl Readiness {
    /// The answer of a readiness check, with the accepted risks.
    pub fn of(readiness: &actors::service::Readiness, warning: Option<&String>) -> Readiness {
        let writes = match &readiness.state_writes {
            Some(status) => {
                json!({"healthy": status.healthy, "buffered": status.buffered, "last_error": status.last_error})
            }
            None => json!({"healthy": false}),
        };
        Readiness {
            status: if readiness.ready() {
                "ready"
            } else {
                "not_ready"
            }
            .into(),
            database: readiness.database.to_string(),
            broker: readiness.broker.to_string(),
            outbox: readiness.outbox,
            state_writes: writes,
            warnings: warning.into_iter().cloned().collect(),
            cluster: match &readiness.cluster {
                None => json!({"mode": "single"}),
                Some(view) => json!({
                    "mode": "cluster",
                    "instance_id": view.instance_id,
                    "partitions": view.partitions,
                    "owned": view.owned.iter().map(|(partition, _)| partition).collect::<Vec<_>>(),
                    "peers": view.peers,
                    "last_error": view.last_error,
                    "control": if readiness.control == Some(true) { "up" } else { "down: connecting" },
                }),
            },
        }
    }
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
    let readiness = state.jobs.readiness().await;
    if let Some(warning) = &state.exposure_warning {
        tracing::warn!("{warning}");
    }
    let body = Readiness::of(&readiness, state.exposure_warning.as_ref());
    if readiness.ready() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
