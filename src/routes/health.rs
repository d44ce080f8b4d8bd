//! `/health` (the process answers) and `/ready` (its dependencies answer).

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::startup::AppState;

pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => "up".to_string(),
        Ok(Err(error)) => format!("down: {error}"),
        Err(_) => "down: no answer within 2 s".to_string(),
    };
    let ready = database == "up";
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": database,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
