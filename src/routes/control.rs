//! Live control of a job: run-now, pause, resume, the worker's report, and the run history.

use actix_web::{web, HttpRequest, HttpResponse};
use actors::service::{Actor, RunNowRequest};
use actors::ValidationError;
use serde::Deserialize;
use worker::{ReportReceipt, RunReport};

use super::body::{json_body, required_json_body};
use crate::api::{JobBody, RunNowAccepted, RunNowBody, RunView};
use crate::api_views::{SchedulePreviewBody, SchedulePreviewInput};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

/// The query of `run-now`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunNowQuery {
    #[serde(default)]
    force: bool,
}

/// The query of `last-run`: the original worker client may name the scope.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LastRunQuery {
    scope: Option<String>,
}

/// The query of `runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    limit: Option<u64>,
    status: Option<String>,
}

/// The query of `schedule`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleQuery {
    count: Option<u64>,
}

pub(crate) fn query<T: serde::de::DeserializeOwned>(request: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .map_err(|error| {
            ValidationError::new("invalid_query", format!("bad query string: {error}"), None).into()
        })
}

#[utoipa::path(post, path = "/jobs/{job_id}/run-now", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path), ("force" = Option<bool>, Query, description = "run even when max_parallel runs are in flight")),
    request_body(content = Option<RunNowBody>),
    responses((status = 202, body = RunNowAccepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "max_parallel reached", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn run_now(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    path: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let RunNowQuery { force } = query(&request)?;
    let run_now = RunNowRequest::from_body(json_body(payload).await?, force)?;
    let run_id = state.jobs.run_now(&actor, &path, run_now).await?;
    Ok(HttpResponse::Accepted().json(RunNowAccepted::pending(path.into_inner(), run_id)))
}

#[utoipa::path(post, path = "/jobs/{job_id}/pause", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    responses((status = 200, body = JobBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn pause(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = state.jobs.set_enabled(&actor, &path, false).await?;
    Ok(HttpResponse::Ok().json(job))
}

#[utoipa::path(post, path = "/jobs/{job_id}/resume", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    responses((status = 200, body = JobBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn resume(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let job = state.jobs.set_enabled(&actor, &path, true).await?;
    Ok(HttpResponse::Ok().json(job))
}

#[utoipa::path(post, path = "/jobs/{job_id}/last-run", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path), ("scope" = Option<String>, Query, description = "when given, this instance's scope (`real` or `mock`)")),
    request_body(content = Option<RunReport>, description = "No body: success of the oldest run in flight. `job_id` and `scope` may be repeated in the body; they must name this job and this instance's scope"),
    responses((status = 200, body = ReportReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such job, or the run named is not one this job issued", body = ErrorBody),
        (status = 409, description = "No run named and none in flight (`no_run_in_flight`)", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn last_run(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let LastRunQuery { scope } = query(&request)?;
    let body = json_body(payload).await?;
    let settlement = state.jobs.report(&path, scope.as_deref(), body).await?;
    Ok(HttpResponse::Ok().json(settlement.receipt(&path)))
}

#[utoipa::path(get, path = "/jobs/{job_id}/runs", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path), ("limit" = Option<u64>, Query, minimum = 1, maximum = 10000, description = "1 to 10000, default 100"),
        ("status" = Option<String>, Query, description = "only runs of this status (`scheduled`, `pending`, `queued`, `success`, `failed`, `timeout`, `skipped`) or `all`")),
    responses((status = 200, description = "Newest first", body = [RunView]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn runs(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let RunsQuery { limit, status } = query(&request)?;
    let runs: Vec<RunView> = state
        .jobs
        .runs(&path, status.as_deref(), limit)
        .await?
        .into_iter()
        .map(RunView::from)
        .collect();
    Ok(HttpResponse::Ok().json(runs))
}

#[utoipa::path(get, path = "/jobs/{job_id}/schedule", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path), ("count" = Option<u64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 10")),
    responses((status = 200, description = "The schedule as written, in words, and its next instants (none while paused or in queue mode)", body = SchedulePreviewBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn schedule(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ScheduleQuery { count } = query(&request)?;
    let preview = state.jobs.schedule(&path, count)?;
    Ok(HttpResponse::Ok().json(preview))
}

#[utoipa::path(post, path = "/schedule/preview", tag = "control", security(("bearer" = [])),
    params(("count" = Option<u64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 10")),
    request_body(content = SchedulePreviewInput, description = "A schedule that need not be a job: its next instants, in words, with the zone's clock changes"),
    responses((status = 200, description = "The schedule in words and its next instants from now", body = SchedulePreviewBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn preview(
    state: web::Data<AppState>,
    payload: web::Payload,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ScheduleQuery { count } = query(&request)?;
    let body = required_json_body(payload).await?;
    let preview = state.jobs.preview(&body, count).await?;
    Ok(HttpResponse::Ok().json(preview))
}
