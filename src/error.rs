//! The API's one error type: every failure becomes a JSON body
//! `{"error": code, "message": text, "field": name-or-null}` with a fitting status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use actors::{ServiceError, StoreError, ValidationError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field or body that breaks a rule of the job fields.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("job '{0}' not found")]
    JobNotFound(String),
    #[error("no such endpoint: {0}")]
    NoRoute(String),
    /// The method used, and the methods the resource takes (the `Allow` header).
    #[error("method {0} is not allowed here; allowed: {1}")]
    MethodNotAllowed(String, &'static str),
    #[error("this request must be sent with Content-Type: application/json, not '{0}'")]
    UnsupportedMediaType(String),
    #[error("a job with job_id '{0}' already exists")]
    JobExists(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// A change made with a UI session cookie without the session's CSRF token.
    #[error("this change needs the session's CSRF token in the X-CSRF-Token header")]
    CsrfRejected,
    #[error("{in_flight} run(s) in flight and max_parallel is {max_parallel}; add ?force=true to run anyway")]
    MaxParallelReached { in_flight: usize, max_parallel: i64 },
    #[error("run {0} is not a run of this job")]
    RunNotFound(String),
    #[error("no run of this job is in flight; name the run with run_id")]
    NoRunInFlight,
    #[error("calendar '{0}' not found")]
    CalendarNotFound(String),
    /// A date removed that the calendar does not list (the message says which).
    #[error("{0}")]
    DateNotListed(String),
    /// A calendar deleted while jobs use it (the message lists them).
    #[error("{0}")]
    CalendarInUse(String),
    /// Other edits kept landing between the read and the write.
    #[error("{0}")]
    EditConflict(String),
    #[error("the scheduling engine did not answer: {0}")]
    EngineUnavailable(String),
    /// The database is unreachable or failed; nothing was changed.
    #[error("the database is unavailable, nothing was changed: {0}")]
    Database(StoreError),
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Invalid(error) => ApiError::Validation(error),
            ServiceError::JobNotFound(job_id) => ApiError::JobNotFound(job_id),
            ServiceError::JobExists(job_id) => ApiError::JobExists(job_id),
            ServiceError::MaxParallelReached {
                in_flight,
                max_parallel,
            } => ApiError::MaxParallelReached {
                in_flight,
                max_parallel,
            },
            ServiceError::RunNotFound(run_id) => ApiError::RunNotFound(run_id.to_string()),
            ServiceError::NoRunInFlight => ApiError::NoRunInFlight,
            ServiceError::CalendarNotFound(name) => ApiError::CalendarNotFound(name),
            error @ ServiceError::DateNotListed { .. } => {
                ApiError::DateNotListed(error.to_string())
            }
            error @ ServiceError::CalendarInUse { .. } => {
                ApiError::CalendarInUse(error.to_string())
            }
            ServiceError::EditConflict(why) => ApiError::EditConflict(why),
            ServiceError::EngineUnavailable(why) => ApiError::EngineUnavailable(why),
            ServiceError::Database(error) => ApiError::Database(error),
        }
    }
}

/// Every 4xx/5xx answer: `{"error": code, "message": text, "field": name-or-null}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// A stable code: `invalid_json`, `invalid_body`, `missing_field`, `invalid_field`,
    /// `unknown_field`, `invalid_query`, `unauthorized`, `csrf_token_invalid`, `not_found`, `run_not_found`,
    /// `method_not_allowed`, `unsupported_media_type`, `job_exists`, `max_parallel_reached`,
    /// `no_run_in_flight`, `payload_too_large`, `database_unavailable`, `engine_unavailable`,
    /// `calendar_in_use`, `edit_conflict`.
    pub error: &'a str,
    pub message: String,
    /// The offending field, when there is one.
    pub field: Option<&'a str>,
}

impl ApiError {
    fn code(&self) -> &str {
        match self {
            ApiError::Validation(error) => error.error,
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::JobNotFound(_)
            | ApiError::NoRoute(_)
            | ApiError::CalendarNotFound(_)
            | ApiError::DateNotListed(_) => "not_found",
            ApiError::CalendarInUse(_) => "calendar_in_use",
            ApiError::EditConflict(_) => "edit_conflict",
            ApiError::MethodNotAllowed(..) => "method_not_allowed",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::NoRunInFlight => "no_run_in_flight",
            ApiError::JobExists(_) => "job_exists",
            ApiError::Unauthorized => "unauthorized",
            ApiError::CsrfRejected => "csrf_token_invalid",
            ApiError::MaxParallelReached { .. } => "max_parallel_reached",
            ApiError::RunNotFound(_) => "run_not_found",
            ApiError::EngineUnavailable(_) => "engine_unavailable",
            ApiError::Database(_) => "database_unavailable",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::Validation(error) => error.field.as_deref(),
            ApiError::JobExists(_) => Some("job_id"),
            ApiError::RunNotFound(_) => Some("run_id"),
            ApiError::DateNotListed(_) => Some("date"),
            ApiError::CalendarInUse(_) => Some("calendar"),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::JobNotFound(_)
            | ApiError::NoRoute(_)
            | ApiError::CalendarNotFound(_)
            | ApiError::DateNotListed(_) => StatusCode::NOT_FOUND,
            ApiError::CalendarInUse(_) | ApiError::EditConflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(..) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::JobExists(_)
            | ApiError::MaxParallelReached { .. }
            | ApiError::NoRunInFlight => StatusCode::CONFLICT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::CsrfRejected => StatusCode::FORBIDDEN,
            ApiError::RunNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Database(_) | ApiError::EngineUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Database(cause) = self {
            tracing::error!(error = %cause, "database call failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthorized => {
                response.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::MethodNotAllowed(_, allow) => {
                response.insert_header(("Allow", *allow));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: self.code(),
            message: self.to_string(),
            field: self.field(),
        })
    }
}
