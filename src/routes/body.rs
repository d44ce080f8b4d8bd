//! Reading request bodies as JSON with a size limit, so that no body can exhaust memory and
//! every bad body gets a JSON error.

use actix_web::web;
use futures_util::StreamExt;
use serde_json::Value;

use crate::error::ApiError;

/// The largest body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Reads the whole body (at most [`MAX_BODY_BYTES`]); `None` when it is empty.
pub async fn json_body(mut payload: web::Payload) -> Result<Option<Value>, ApiError> {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| match error {
            actix_web::error::PayloadError::Overflow => ApiError::PayloadTooLarge(MAX_BODY_BYTES),
            other => ApiError::InvalidJson(format!("could not read the body: {other}")),
        })?;
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| ApiError::InvalidJson(error.to_string()))
}

/// Like [`json_body`], but an empty body is an error.
pub async fn required_json_body(payload: web::Payload) -> Result<Value, ApiError> {
    json_body(payload).await?.ok_or_else(|| {
        ApiError::InvalidJson("the request body is empty; a JSON object is required".into())
    })
}
