//! Live control of a job: run-now, pause, resume, the worker's completion report, and the
//! run history.

use actix_web::{web, HttpRequest, HttpResponse};
use actors::engine::reports::{self, ReportError};
use actors::engine::{NoSuchJob, RunJobNow, RunNow, Supervisor, Upsert};
use actors::{Job, RunRecord, ValidationError};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{CompletionAnswer, CompletionReport};

use super::body::json_body;
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

/// The query of `run-now`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunNowQuery {
    #[serde(default)]
    force: bool,
}

/// The query of `runs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    limit: Option<u64>,
}

fn query<T: serde::de::DeserializeOwned>(request: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .map_err(|error| {
            ValidationError::new("invalid_query", format!("bad query string: {error}"), None).into()
        })
}

/// Asks the engine about job `job_id`. A job the engine does not know (created behind its
/// back and not reconciled yet) is read from the table (404 when it is not there), handed over,
/// and asked again. `job` is the row when the caller has read it already.
async fn ask_engine<M, R>(
    state: &AppState,
    job_id: &str,
    job: Option<Job>,
    ask: impl Fn() -> M,
) -> Result<R, ApiError>
where
    M: actix::Message<Result = Result<R, NoSuchJob>> + Send + 'static,
    R: Send + 'static,
    Supervisor: actix::Handler<M>,
    <Supervisor as actix::Actor>::Context: actix::dev::ToEnvelope<Supervisor, M>,
{
    match state.engine.supervisor.send(ask()).await? {
        Ok(answer) => Ok(answer),
        Err(NoSuchJob) => {
            let job = match job {
                Some(job) => job,
                None => existing_job(state, job_id).await?,
            };
            state.engine.supervisor.send::<Upsert>(Upsert(job)).await?;
            state
                .engine
                .supervisor
                .send(ask())
                .await?
                .map_err(|error| ApiError::EngineUnavailable(error.to_string()))
        }
    }
}

async fn existing_job(state: &AppState, job_id: &str) -> Result<Job, ApiError> {
    state
        .store
        .get_job(state.scope, job_id)
        .await?
        .ok_or_else(|| ApiError::JobNotFound(job_id.to_string()))
}

/// The optional body of `run-now`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RunNowRequest {
    /// Overlaid on the job's default_params.
    #[schema(value_type = Option<Object>)]
    params: Option<Value>,
}

/// The answer of `run-now`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RunNowAccepted {
    job_id: String,
    run_id: uuid::Uuid,
    /// Always `manual`.
    trigger_source: String,
    /// Always `pending`: the run is recorded and on its way to the broker.
    status: String,
}

#[utoipa::path(post, path = "/jobs/{job_id}/run-now", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path), ("force" = Option<bool>, Query, description = "run even when max_parallel runs are in flight")),
    request_body(content = Option<RunNowRequest>),
    responses((status = 202, body = RunNowAccepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "max_parallel reached", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn run_now(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let job_id = path.into_inner();
    let RunNowQuery { force } = query(&request)?;
    let params = match json_body(payload).await? {
        None | Some(Value::Null) => None,
        Some(Value::Object(mut body)) => {
            let params = body.remove("params");
            if let Some(unknown) = body.keys().next() {
                return Err(ValidationError::new(
                    "unknown_field",
                    format!("unknown field '{unknown}'"),
                    Some(unknown),
                )
                .into());
            }
            match params {
                None | Some(Value::Null) => None,
                Some(Value::Object(params))
                    if Value::Object(params.clone()).to_string().len() <= 60_000 =>
                {
                    Some(params)
                }
                Some(Value::Object(_)) => {
                    return Err(ValidationError::new(
                        "invalid_field",
                        "params must be at most 60000 bytes of JSON",
                        Some("params"),
                    )
                    .into())
                }
                Some(_) => {
                    return Err(ValidationError::new(
                        "invalid_field",
                        "params must be a JSON object",
                        Some("params"),
                    )
                    .into())
                }
            }
        }
        Some(_) => {
            return Err(ValidationError::new(
                "invalid_body",
                "the request body must be a JSON object",
                None,
            )
            .into())
        }
    };
    let job = existing_job(&state, &job_id).await?;
    let ask = || RunJobNow {
        job_id: job_id.clone(),
        run_now: RunNow {
            params: params.clone(),
            force,
        },
    };
    let answer = ask_engine(&state, &job_id, Some(job), ask).await?;
    let run_id = answer.map_err(|rejected| ApiError::MaxParallelReached {
        in_flight: rejected.in_flight,
        max_parallel: rejected.max_parallel,
    })?;
    Ok(HttpResponse::Accepted().json(json!({
        "job_id": job_id,
        "run_id": run_id,
        "trigger_source": "manual",
        "status": "pending",
    })))
}

async fn set_enabled(
    state: &AppState,
    job_id: String,
    enabled: bool,
) -> Result<HttpResponse, ApiError> {
    let mut job = state
        .store
        .set_enabled(state.scope, &job_id, enabled, Utc::now())
        .await?
        .ok_or(ApiError::JobNotFound(job_id))?;
    job.state.next_due_at = state.engine.supervisor.send(Upsert(job.clone())).await?;
    tracing::info!(job_id = %job.config.job_id, scope = %state.scope, enabled, "job {}", if enabled { "resumed" } else { "paused" });
    Ok(HttpResponse::Ok().json(job))
}

#[utoipa::path(post, path = "/jobs/{job_id}/pause", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    responses((status = 200, body = Job), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn pause(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, path.into_inner(), false).await
}

#[utoipa::path(post, path = "/jobs/{job_id}/resume", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    responses((status = 200, body = Job), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn resume(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, path.into_inner(), true).await
}

#[utoipa::path(post, path = "/jobs/{job_id}/last-run", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path)),
    request_body(content = Option<CompletionReport>, description = "No body: success of the oldest run in flight"),
    responses((status = 200, body = CompletionAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such job, or the run named is not one this job issued", body = ErrorBody),
        (status = 409, description = "No run named and none in flight (`no_run_in_flight`)", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn last_run(
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let job_id = path.into_inner();
    let report = reports::report_of_body(json_body(payload).await?)?;
    let completion = reports::settle(
        &state.engine.supervisor,
        &state.store,
        state.scope,
        &job_id,
        report,
    )
    .await
    .map_err(|error| match error {
        ReportError::JobNotFound(job_id) => ApiError::JobNotFound(job_id),
        ReportError::RunNotFound(run_id) => ApiError::RunNotFound(run_id.to_string()),
        ReportError::NoRunInFlight => ApiError::NoRunInFlight,
        ReportError::EngineUnavailable(why) => ApiError::EngineUnavailable(why),
        ReportError::Database(error) => ApiError::from(error),
    })?;
    Ok(HttpResponse::Ok().json(reports::answer(&job_id, &completion)))
}

/// A run as the history endpoint shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    run: RunRecord,
    duration_seconds: Option<f64>,
}

#[utoipa::path(get, path = "/jobs/{job_id}/runs", tag = "control", security(("bearer" = [])),
    params(("job_id" = String, Path), ("limit" = Option<u64>, Query, minimum = 1, maximum = 10000, description = "1 to 10000, default 100")),
    responses((status = 200, description = "Newest first", body = [RunView]), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(job_id = %path))]
pub async fn runs(
    state: web::Data<AppState>,
    path: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let job_id = path.into_inner();
    let RunsQuery { limit } = query(&request)?;
    let limit = limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ValidationError::new(
            "invalid_query",
            "limit must be 1 to 10000",
            Some("limit"),
        )
        .into());
    }
    existing_job(&state, &job_id).await?;
    let runs: Vec<RunView> = state
        .store
        .list_runs(state.scope, &job_id, limit)
        .await?
        .into_iter()
        .map(|run| RunView {
            duration_seconds: run.duration_seconds(),
            run,
        })
        .collect();
    Ok(HttpResponse::Ok().json(runs))
}
