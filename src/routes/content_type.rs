//! Requests that change something must say they carry JSON. A browser sends a cross-site
//! `POST` without asking first (no CORS preflight) only with `text/plain`, a form type or no
//! `Content-Type` at all; requiring `application/json` means a web page an operator has open
//! cannot create, edit or fire jobs on a scheduler it can reach.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{http::header, http::Method, Error};

use crate::error::ApiError;

/// Whether a `Content-Type` value is JSON (`application/json`, any parameters, any case).
pub fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether `method path` is one of the API's changes (`POST /jobs`, `PUT /jobs/{id}`,
/// `POST /jobs/{id}/run-now|pause|resume|last-run`). Anything else is routed as usual (404,
/// 405), so the content-type rule never hides a wrong path or method.
pub fn is_change(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["jobs"]) | (&Method::POST, ["ui", "api", "session"]) => true,
        (&Method::PUT, ["jobs", id]) | (&Method::PUT, ["calendars", id]) => !id.is_empty(),
        (&Method::POST, ["calendars", name, "dates"]) => !name.is_empty(),
        (&Method::POST, ["jobs", id, action]) => {
            !id.is_empty() && matches!(*action, "run-now" | "pause" | "resume" | "last-run")
        }
        _ => false,
    }
}

/// Refuses a change (see [`is_change`]) whose `Content-Type` is not JSON with 415, whether or
/// not it has a body. `DELETE` carries no body and always needs a CORS preflight, so it passes.
pub async fn require_json(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // The path as the router matched it (percent-decoded): `/%6Aobs` is `/jobs`.
    if is_change(request.method(), request.match_info().as_str()) {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        match content_type {
            Some(value) if is_json(&value) => {}
            Some(value) => {
                let shown: String = value.chars().take(100).collect();
                return Err(ApiError::UnsupportedMediaType(shown).into());
            }
            None => return Err(ApiError::UnsupportedMediaType("none".into()).into()),
        }
    }
    next.call(request).await
}

#[cfg(test)]
mod tests {
    use super::{is_change, is_json, Method};

    #[test]
    fn only_the_api_changes_need_json() {
        assert!(is_change(&Method::POST, "/jobs"));
        assert!(is_change(&Method::PUT, "/jobs/a"));
        assert!(is_change(&Method::POST, "/jobs/a/pause"));
        assert!(is_change(&Method::POST, "/jobs/a/last-run"));
        assert!(!is_change(&Method::PATCH, "/jobs/a"));
        assert!(!is_change(&Method::POST, "/jobs/a"));
        assert!(!is_change(&Method::POST, "/jobs/a/elsewhere"));
        assert!(!is_change(&Method::DELETE, "/jobs/a"));
        assert!(!is_change(&Method::GET, "/jobs"));
        assert!(is_change(&Method::PUT, "/calendars/krx"));
        assert!(is_change(&Method::POST, "/calendars/krx/dates"));
        assert!(!is_change(
            &Method::DELETE,
            "/calendars/krx/dates/2026-09-24"
        ));
    }

    #[test]
    fn json_is_recognised_with_parameters_and_in_any_case() {
        for yes in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "text/plain",
            "",
            "application/jsonp",
            "multipart/form-data",
            "application/x-www-form-urlencoded",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }
}
