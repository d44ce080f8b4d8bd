//! The bearer-token check in front of `/jobs` (SPEC §7).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{http::header, web, Error};

use crate::error::ApiError;

/// The token `/jobs` requires, if any.
#[derive(Debug, Clone)]
pub struct ApiToken(pub Option<String>);

/// Rejects the request with 401 unless it carries `Authorization: Bearer <token>`; compares in
/// constant time.
pub async fn require_token(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let expected = request
        .app_data::<web::Data<ApiToken>>()
        .and_then(|token| token.0.clone());
    if let Some(expected) = expected {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !constant_time_eq::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::Unauthorized.into());
        }
    }
    next.call(request).await
}
