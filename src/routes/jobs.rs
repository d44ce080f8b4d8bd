//! `/jobs` and `/jobs/{job_id}`: list, create, read, edit and delete job definitions.

use actix_web::{web, HttpResponse};
use actors::service::Actor;

use super::body::required_json_body;
use crate::api::{JobBody, JobInput};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

#[utoipa::path(get, path = "/jobs", tag = "jobs", security(("bearer" = [])),
    responses((status = 200, description = "Every job of this instance's scope", body = [JobBody]),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(state.jobs.with_jobs(|jobs| HttpResponse::Ok().json(jobs)))
}

#[utoipa::path(post, path = "/jobs", tag = "jobs", security(("bearer" = [])),
    request_body(content = JobInput, description = "job_id and queue required; every other field optional"),
    responses((status = 201, description = "The stored job, with its armed next_due_at", body = JobBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = required_json_body(payload).await?;
    let job = state.jobs.create(&actor, &body).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/jobs/{}", job.config.job_id)))
        .json(job))
}

#[utoipa::path(get, path = "/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    responses((status = 200, body = JobBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(state
        .jobs
        .with_job(&path, |job| HttpResponse::Ok().json(job))?)
}

#[utoipa::path(put, path = "/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    request_body(content = JobInput, description = "The fields to change; the schedule reloads at once"),
    responses((status = 200, body = JobBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn update(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = required_json_body(payload).await?;
    let job = state.jobs.update(&actor, &path, &body).await?;
    Ok(HttpResponse::Ok().json(job))
}

#[utoipa::path(delete, path = "/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    responses((status = 204, description = "Stopped and deleted, with its run history"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn delete(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.jobs.delete(&actor, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}
