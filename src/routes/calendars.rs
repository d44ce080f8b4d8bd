//! `/calendars`: the scope's exchange calendars, read and written whole, dates added and
//! removed. Behind the same token and JSON guard as `/jobs`; every change is audited.

use actix_web::{web, HttpResponse};
use actors::service::Actor;

use super::body::required_json_body;
use crate::api_views::{CalendarBody, CalendarDatesInput, CalendarInput};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

#[utoipa::path(get, path = "/calendars", tag = "calendars", security(("bearer" = [])),
    responses((status = 200, description = "Every calendar of this instance's scope, by name", body = [CalendarBody]),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.jobs.calendars().await?))
}

#[utoipa::path(get, path = "/calendars/{name}", tag = "calendars", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = CalendarBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(calendar = %path))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.jobs.calendar(&path).await?))
}

#[utoipa::path(put, path = "/calendars/{name}", tag = "calendars", security(("bearer" = [])),
    params(("name" = String, Path, description = "1 to 64 of a-z, 0-9, '.', '_', '-'")),
    request_body(content = CalendarInput, description = "The whole calendar; the jobs on it follow from their next instant"),
    responses((status = 200, description = "Replaced", body = CalendarBody),
        (status = 201, description = "Created", body = CalendarBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, description = "Other edits kept landing", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(calendar = %path))]
pub async fn put(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = required_json_body(payload).await?;
    let (calendar, created) = state.jobs.put_calendar(&actor, &path, &body).await?;
    Ok(match created {
        true => HttpResponse::Created()
            .insert_header(("Location", format!("/calendars/{}", calendar.calendar.name)))
            .json(calendar),
        false => HttpResponse::Ok().json(calendar),
    })
}

#[utoipa::path(delete, path = "/calendars/{name}", tag = "calendars", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 400, description = "Not a calendar name", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Jobs use it (`calendar_in_use`)", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(calendar = %path))]
pub async fn delete(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.jobs.delete_calendar(&actor, &path).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/calendars/{name}/dates", tag = "calendars", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body(content = CalendarDatesInput),
    responses((status = 200, description = "The calendar with the dates added", body = CalendarBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Other edits kept landing (`edit_conflict`)", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(calendar = %path))]
pub async fn add_dates(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = required_json_body(payload).await?;
    let calendar = state.jobs.add_calendar_dates(&actor, &path, &body).await?;
    Ok(HttpResponse::Ok().json(calendar))
}

#[utoipa::path(delete, path = "/calendars/{name}/dates/{date}", tag = "calendars", security(("bearer" = [])),
    params(("name" = String, Path), ("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 200, description = "The calendar without the date", body = CalendarBody),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "No such calendar, or the date is not listed", body = ErrorBody),
        (status = 409, description = "Other edits kept landing (`edit_conflict`)", body = ErrorBody)))]
#[tracing::instrument(skip_all, fields(calendar = %path.0, date = %path.1))]
pub async fn remove_date(
    state: web::Data<AppState>,
    actor: web::ReqData<Actor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, date) = path.into_inner();
    let calendar = state
        .jobs
        .remove_calendar_date(&actor, &name, &date)
        .await?;
    Ok(HttpResponse::Ok().json(calendar))
}
