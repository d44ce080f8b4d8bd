//! The UI's own data: its session (log in once with the API token), a page of the job list,
//! and the overview. Everything else the UI does goes through the API's own routes.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use actors::service::JobQuery;
use serde::Deserialize;

use super::sessions::{login_name, Sessions, SESSION_HOURS};
use crate::api_views::{JobPageBody, LoginBody, Overview, RecentRuns, SessionView};
use crate::error::{ApiError, ErrorBody};
use crate::routes::control::query;
use crate::routes::ApiToken;
use crate::startup::AppState;

/// Said on every page when no token is configured.
pub const NO_TOKEN_WARNING: &str =
    "No API token is set: anyone who can reach this address can steer every job of this scope.";

fn warnings(state: &AppState, token: &ApiToken) -> Vec<String> {
    let mut warnings = Vec::new();
    if token.0.is_none() {
        warnings.push(NO_TOKEN_WARNING.to_string());
    }
    warnings.extend(state.exposure_warning.iter().cloned());
    warnings
}

fn view(
    state: &AppState,
    token: &ApiToken,
    session: Option<&super::sessions::Session>,
) -> SessionView {
    SessionView {
        scope: state.jobs.scope().to_string(),
        timezone: state.jobs.timezone().name().to_string(),
        auth_required: token.0.is_some(),
        logged_in: session.is_some(),
        name: session.map(|session| session.name.clone()),
        csrf_token: session.map(|session| session.csrf_token.clone()),
        expires_at: session.map(|session| session.expires_at),
        warnings: warnings(state, token),
    }
}

#[utoipa::path(get, path = "/ui/api/session", tag = "ui",
    responses((status = 200, description = "This browser's session, if any, and what the UI must show", body = SessionView)))]
pub async fn session(
    state: web::Data<AppState>,
    token: web::Data<ApiToken>,
    sessions: web::Data<Sessions>,
    request: HttpRequest,
) -> HttpResponse {
    let session = request
        .cookie(sessions.cookie_name())
        .and_then(|cookie| sessions.get(cookie.value(), chrono::Utc::now()));
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(view(&state, &token, session.as_ref()))
}

#[utoipa::path(post, path = "/ui/api/session", tag = "ui",
    request_body(content = LoginBody),
    responses((status = 200, description = "Logged in: the session cookie is set (HttpOnly, SameSite=Strict, 12 h)", body = SessionView),
        (status = 400, body = ErrorBody), (status = 401, description = "Wrong token", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn log_in(
    state: web::Data<AppState>,
    token: web::Data<ApiToken>,
    sessions: web::Data<Sessions>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = crate::routes::required_json_body(payload).await?;
    let login: LoginBody = serde_json::from_value(body).map_err(|error| {
        actors::ValidationError::new("invalid_body", format!("bad login: {error}"), None)
    })?;
    if token.0.is_some() && !token.accepts(login.token.as_deref().unwrap_or("")) {
        // A wrong token costs a second: guessing is slow.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        tracing::warn!("UI login refused: wrong token");
        return Err(ApiError::Unauthorized);
    }
    let name = login_name(login.name.as_deref());
    // A new login ends the browser's previous session.
    if let Some(previous) = request.cookie(sessions.cookie_name()) {
        sessions.end(previous.value());
    }
    let (id, session) = sessions.start(&name, chrono::Utc::now());
    tracing::info!(name = %name, scope = %state.jobs.scope(), "UI session started");
    let cookie = Cookie::build(sessions.cookie_name().to_string(), id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::hours(SESSION_HOURS))
        .finish();
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .insert_header(("Cache-Control", "no-store"))
        .json(view(&state, &token, Some(&session))))
}

#[utoipa::path(delete, path = "/ui/api/session", tag = "ui",
    responses((status = 204, description = "Logged out; the cookie is cleared")))]
pub async fn log_out(sessions: web::Data<Sessions>, request: HttpRequest) -> HttpResponse {
    if let Some(cookie) = request.cookie(sessions.cookie_name()) {
        sessions.end(cookie.value());
    }
    let mut expired = Cookie::build(sessions.cookie_name().to_string(), "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    expired.make_removal();
    HttpResponse::NoContent().cookie(expired).finish()
}

/// The query of the job list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    q: Option<String>,
    state: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
}

#[utoipa::path(get, path = "/ui/api/jobs", tag = "ui", security(("bearer" = [])),
    params(("q" = Option<String>, Query, description = "text in job_id, queue, description or cron (any case)"),
        ("state" = Option<String>, Query, description = "`all` (default), `failing`, `paused`, `running` or `enabled`"),
        ("sort" = Option<String>, Query, description = "`job_id` (default), `next_due_at`, `last_run_at`, `last_status` or `queue`"),
        ("order" = Option<String>, Query, description = "`asc` (default) or `desc`"),
        ("offset" = Option<u64>, Query, description = "jobs to skip (default 0)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 500, description = "1 to 500, default 50")),
    responses((status = 200, description = "One page of the job list", body = JobPageBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn jobs(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params: PageQuery = query(&request)?;
    let page_query = JobQuery::from_params(
        params.q.as_deref(),
        params.state.as_deref(),
        params.sort.as_deref(),
        params.order.as_deref(),
        params.offset,
        params.limit,
    )?;
    let page = state.jobs.page(&page_query).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/ui/api/overview", tag = "ui", security(("bearer" = [])),
    responses((status = 200, description = "Broker and database, job counts, runs by status over the last hour, failing jobs", body = Overview),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn overview(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let overview = state.jobs.overview().await?;
    let counts = overview
        .recent_runs
        .counts
        .iter()
        .map(|(status, count)| (status.as_str().to_string(), (*count).into()))
        .collect();
    Ok(HttpResponse::Ok().json(Overview {
        scope: state.jobs.scope().to_string(),
        readiness: crate::routes::health::Readiness::of(
            &overview.readiness,
            state.exposure_warning.as_ref(),
        ),
        counts: overview.counts,
        runs_last_hour: RecentRuns {
            since: overview.recent_runs.since,
            counts,
        },
        failing: overview.failing,
    }))
}
