//! `/audit`: what operators did, newest first.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::control::query;
use crate::api_views::AuditEntryBody;
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

/// The query of `audit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    job_id: Option<String>,
    limit: Option<u64>,
}

#[utoipa::path(get, path = "/audit", tag = "audit", security(("bearer" = [])),
    params(("job_id" = Option<String>, Query, description = "only this job's actions"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "1 to 1000, default 100")),
    responses((status = 200, description = "Operator actions (create, update, pause, resume, delete, run_now; calendar_put, calendar_add_dates, calendar_remove_date, calendar_delete under job_id calendar:<name>), newest first", body = [AuditEntryBody]),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn audit(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let AuditQuery { job_id, limit } = query(&request)?;
    let entries = state.jobs.audit_log(job_id.as_deref(), limit).await?;
    Ok(HttpResponse::Ok().json(entries))
}
