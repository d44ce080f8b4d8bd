//! `/jobs` and `/jobs/{job_id}`: list, create, read, edit and delete job definitions.

use actix_web::{web, HttpResponse};
use actors::engine::{Remove, Upsert};
use actors::{Job, JobConfig, JobInput};
use chrono::Utc;

use super::body::required_json_body;
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

#[utoipa::path(get, path = "/jobs", tag = "jobs", security(("bearer" = [])),
    responses((status = 200, description = "Every job of this instance's scope", body = [Job]),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // From the engine's read model: no database read.
    Ok(state
        .engine
        .read_model
        .with_jobs(|jobs| HttpResponse::Ok().json(jobs)))
}

#[utoipa::path(post, path = "/jobs", tag = "jobs", security(("bearer" = [])),
    request_body(content = JobInput, description = "job_id and queue required; every other field optional"),
    responses((status = 201, description = "The stored job, with its armed next_due_at", body = Job),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = required_json_body(payload).await?;
    let config = JobConfig::from_create_body(&body, state.scope)?;
    let mut job = state.store.insert_job(&config, Utc::now()).await?;
    job.state.next_due_at = state.engine.supervisor.send(Upsert(job.clone())).await?;
    tracing::info!(job_id = %job.config.job_id, scope = %state.scope, "job created");
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/jobs/{}", job.config.job_id)))
        .json(job))
}

#[utoipa::path(get, path = "/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    responses((status = 200, body = Job), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job_id = path.into_inner();
    // From the engine's read model: no database read.
    state
        .engine
        .read_model
        .with_job(&job_id, |job| HttpResponse::Ok().json(job))
        .ok_or(ApiError::JobNotFound(job_id))
}

#[utoipa::path(put, path = "/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    request_body(content = JobInput, description = "The fields to change; the schedule reloads at once"),
    responses((status = 200, body = Job), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let job_id = path.into_inner();
    let body = required_json_body(payload).await?;
    let existing = state
        .store
        .get_job(state.scope, &job_id)
        .await?
        .ok_or_else(|| ApiError::JobNotFound(job_id.clone()))?;
    let config = existing.config.with_update_body(&body)?;
    let fields: Vec<&str> = body
        .as_object()
        .map(|fields| fields.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut job = state
        .store
        .update_job_config(&config, &fields, Utc::now())
        .await?
        .ok_or(ApiError::JobNotFound(job_id))?;
    job.state.next_due_at = state.engine.supervisor.send(Upsert(job.clone())).await?;
    tracing::info!(job_id = %job.config.job_id, scope = %state.scope, "job updated");
    Ok(HttpResponse::Ok().json(job))
}

#[utoipa::path(delete, path = "/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    responses((status = 204, description = "Stopped and deleted, with its run history"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job_id = path.into_inner();
    if state.store.get_job(state.scope, &job_id).await?.is_none() {
        return Err(ApiError::JobNotFound(job_id));
    }
    // Stop the schedule first, then delete the row (and its run history).
    state.engine.supervisor.send(Remove(job_id.clone())).await?;
    if !state.store.delete_job(state.scope, &job_id).await? {
        return Err(ApiError::JobNotFound(job_id));
    }
    tracing::info!(job_id = %job_id, scope = %state.scope, "job deleted");
    Ok(HttpResponse::NoContent().finish())
}
