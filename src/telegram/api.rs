//! The two Bot API methods the bot needs, over HTTPS with reqwest: `getUpdates` (long
//! polling) and `sendMessage`. Errors never carry the URL (it holds the token).

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// Why a Bot API call did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BotError {
    /// 429: the flood limit; try again after this many seconds.
    #[error("flood limit: retry after {0} s")]
    RetryAfter(u64),
    /// The Bot API answered an error (5xx ones may pass; 4xx ones will not).
    #[error("Bot API error {code}: {description}")]
    Api { code: u16, description: String },
    /// No answer (refused, timed out, not HTTP).
    #[error("Bot API unreachable: {0}")]
    Network(String),
}

impl BotError {
    /// Whether the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            BotError::RetryAfter(_) | BotError::Network(_) => true,
            BotError::Api { code, .. } => *code >= 500,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    ok: bool,
    result: Option<T>,
    description: Option<String>,
    error_code: Option<u16>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

/// An incoming update; only messages are read.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: i64,
    pub message: Option<Message>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// When it was sent (Unix seconds).
    #[serde(default)]
    pub date: i64,
    pub chat: Chat,
    pub from: Option<User>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: Option<String>,
}

/// The bot itself, as `getMe` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    pub username: Option<String>,
}

/// A bot on a Bot API server.
#[derive(Clone)]
pub struct BotApi {
    /// `{api_url}/bot{token}`.
    base: String,
    /// Taken out of any text that reaches a log.
    token: String,
    http: reqwest::Client,
}

impl BotApi {
    pub fn new(api_url: &str, token: &str) -> BotApi {
        BotApi {
            base: format!("{}/bot{token}", api_url.trim_end_matches('/')),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: Value,
        timeout: Duration,
    ) -> Result<T, BotError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.base))
            .json(&body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| BotError::Network(error.without_url().to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|error| BotError::Network(error.without_url().to_string()))?;
        let envelope: Envelope<T> = serde_json::from_str(&text).map_err(|_| {
            // A proxy may echo the path, which holds the token.
            let shown: String = text.replace(&self.token, "***").chars().take(200).collect();
            BotError::Api {
                code: status,
                description: format!("not a Bot API answer: {shown}"),
            }
        })?;
        match envelope {
            Envelope {
                ok: true,
                result: Some(result),
                ..
            } => Ok(result),
            Envelope {
                parameters:
                    Some(Parameters {
                        retry_after: Some(seconds),
                    }),
                ..
            } => Err(BotError::RetryAfter(seconds)),
            Envelope {
                error_code,
                description,
                ..
            } => Err(BotError::Api {
                code: error_code.unwrap_or(status),
                description: description.unwrap_or_else(|| "no description".into()),
            }),
        }
    }

    /// The bot's own account (its username tells commands meant for it from others').
    pub async fn get_me(&self) -> Result<Me, BotError> {
        self.call("getMe", json!({}), Duration::from_secs(15)).await
    }

    /// The updates after `offset`, waiting up to `wait` for one (long polling).
    pub async fn get_updates(&self, offset: i64, wait: Duration) -> Result<Vec<Update>, BotError> {
        let body =
            json!({"offset": offset, "timeout": wait.as_secs(), "allowed_updates": ["message"]});
        self.call("getUpdates", body, wait + Duration::from_secs(10))
            .await
    }

    /// Sends `text` to a chat.
    pub async fn send_message(&self, chat_id: i64, text: &str) -> Result<(), BotError> {
        let body = json!({"chat_id": chat_id, "text": text, "disable_web_page_preview": true});
        self.call::<Value>("sendMessage", body, Duration::from_secs(15))
            .await
            .map(|_| ())
    }

    /// Sends `text`, trying again after a flood limit or a passing failure (at most three
    /// tries, waiting as the Bot API asks, at most a minute); answers the last error.
    pub async fn deliver(&self, chat_id: i64, text: &str) -> Result<(), BotError> {
        let mut last = None;
        for attempt in 0..3u32 {
            match self.send_message(chat_id, text).await {
                Ok(()) => return Ok(()),
                Err(error) if error.is_transient() => {
                    let wait = match &error {
                        BotError::RetryAfter(seconds) => Duration::from_secs((*seconds).min(60)),
                        _ => Duration::from_millis(500 << attempt),
                    };
                    tracing::warn!(%error, chat_id, attempt = attempt + 1, "Telegram message not sent; trying again");
                    last = Some(error);
                    tokio::time::sleep(wait).await;
                }
                Err(error) => return Err(error),
            }
        }
        Err(last.unwrap_or(BotError::Network("not sent".into())))
    }
}
