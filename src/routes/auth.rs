//! Who is asking, in front of `/jobs`, `/audit` and the UI's data: the bearer token, or a UI
//! session cookie whose changes carry the session's CSRF token. The request goes on with the
//! [`Actor`] the audit log names.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{http::header, http::Method, web, Error, HttpMessage};
use actors::service::Actor;

use crate::error::ApiError;
use crate::ui::sessions::{Sessions, CSRF_HEADER};

/// The token `/jobs` requires, if any.
#[derive(Debug, Clone)]
pub struct ApiToken(pub Option<String>);

impl ApiToken {
    /// Whether `presented` is the token, compared without an early exit.
    pub fn accepts(&self, presented: &str) -> bool {
        match &self.0 {
            Some(expected) => {
                constant_time_eq::constant_time_eq(presented.as_bytes(), expected.as_bytes())
            }
            None => true,
        }
    }
}

/// The credentials of an `Authorization: Bearer <token>` value; the scheme is matched in any
/// case (RFC 7235), the token exactly.
pub fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

/// Whether a method only reads.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Who the request comes from:
/// - `Authorization: Bearer <token>`: the token (compared in constant time), actor `token`;
/// - else a live UI session cookie: actor `ui:<name>`, and a change must carry the session's
///   CSRF token (403 otherwise);
/// - else, with no token configured, actor `open`; with one, 401.
pub fn actor_of(request: &ServiceRequest) -> Result<Actor, ApiError> {
    let token = request
        .app_data::<web::Data<ApiToken>>()
        .map(|token| token.get_ref().clone())
        .unwrap_or(ApiToken(None));
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let presented = value
            .to_str()
            .ok()
            .and_then(bearer_credentials)
            .unwrap_or("");
        return match &token.0 {
            Some(_) if token.accepts(presented) => Ok(Actor::new("token")),
            Some(_) => Err(ApiError::Unauthorized),
            None => Ok(Actor::new("open")),
        };
    }
    if let Some(sessions) = request.app_data::<web::Data<Sessions>>() {
        if let Some(cookie) = request.cookie(sessions.cookie_name()) {
            let session = sessions.get(cookie.value(), chrono::Utc::now());
            if let Some(session) = session {
                if !is_safe(request.method()) {
                    let presented = request
                        .headers()
                        .get(CSRF_HEADER)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or("");
                    if !constant_time_eq::constant_time_eq(
                        presented.as_bytes(),
                        session.csrf_token.as_bytes(),
                    ) {
                        return Err(ApiError::CsrfRejected);
                    }
                }
                return Ok(Actor::new(format!("ui:{}", session.name)));
            }
        }
    }
    match token.0 {
        Some(_) => Err(ApiError::Unauthorized),
        None => Ok(Actor::new("open")),
    }
}

/// Rejects the request with 401 (no or wrong credentials) or 403 (a session change without
/// its CSRF token); otherwise passes it on with its [`Actor`].
pub async fn require_token(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let actor = actor_of(&request)?;
    request.extensions_mut().insert(actor);
    next.call(request).await
}

#[cfg(test)]
mod tests {
    use super::bearer_credentials;

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_is_not_changed() {
        assert_eq!(bearer_credentials("Bearer abc"), Some("abc"));
        assert_eq!(bearer_credentials("bearer abc"), Some("abc"));
        assert_eq!(bearer_credentials("BEARER  AbC "), Some("AbC"));
        assert_eq!(bearer_credentials("Basic abc"), None);
        assert_eq!(bearer_credentials("Bearer"), None);
        assert_eq!(bearer_credentials("Bearerabc"), None);
    }
}
