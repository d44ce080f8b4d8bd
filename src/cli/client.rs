//! The CLI's HTTP client: one running instance, its token, and the API's errors as text.

use anyhow::{anyhow, Context};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A running instance, reached over its REST API.
pub struct Remote {
    pub url: String,
    token: Option<String>,
    http: reqwest::Client,
}

/// The instance to talk to: `--url`, else `SCHEDULER_URL`, else the default address of
/// `SCHEDULER_SCOPE` (real: port 8095, mock: 9095).
pub fn default_url() -> String {
    if let Ok(url) = std::env::var("SCHEDULER_URL") {
        return url;
    }
    match std::env::var("SCHEDULER_SCOPE").as_deref() {
        Ok("mock") => "http://127.0.0.1:9095".into(),
        _ => "http://127.0.0.1:8095".into(),
    }
}

impl Remote {
    /// `url` without a trailing slash; the token from `SCHEDULER_API_TOKEN`, when set.
    pub fn new(url: &str) -> Remote {
        let token = std::env::var("SCHEDULER_API_TOKEN")
            .ok()
            .filter(|token| !token.trim().is_empty());
        Remote {
            url: url.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::new(),
        }
    }

    /// Sends a request; answers the JSON body of a 2xx (Null when empty). Any other answer is
    /// an error carrying the API's message (and the field it names).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{}", self.url, path))
            .header("Accept", "application/json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if matches!(method, Method::POST | Method::PUT) {
            request = request.header("Content-Type", "application/json");
            if let Some(body) = body {
                request = request.body(body.to_string());
            }
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the scheduler at {}", self.url))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(json);
        }
        Err(anyhow!(api_error(status, &json, &text)))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }
}

/// An API error as one line: `404 not_found: job 'x' not found (field: job_id)`.
pub fn api_error(status: StatusCode, json: &Value, text: &str) -> String {
    let message = json["message"].as_str().unwrap_or(text.trim());
    let mut line = format!(
        "{} {}: {message}",
        status.as_u16(),
        json["error"].as_str().unwrap_or("error")
    );
    if let Some(field) = json["field"].as_str() {
        line.push_str(&format!(" (field: {field})"));
    }
    if status == StatusCode::UNAUTHORIZED {
        line.push_str("; set SCHEDULER_API_TOKEN to the instance's token");
    }
    line
}

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
