//! `/metrics`: the Prometheus text exposition.

use actix_web::{web, HttpResponse};
use actors::engine::CountJobs;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::startup::AppState;

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(
    state: web::Data<AppState>,
    handle: web::Data<PrometheusHandle>,
) -> HttpResponse {
    if let Ok((total, enabled)) = state.engine.supervisor.send(CountJobs).await {
        let scope = state.scope.as_str();
        metrics::gauge!(actors::metrics::JOBS, "scope" => scope, "state" => "enabled")
            .set(enabled as f64);
        metrics::gauge!(actors::metrics::JOBS, "scope" => scope, "state" => "paused")
            .set((total - enabled) as f64);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
