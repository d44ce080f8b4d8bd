//! How each kind of setting is read and written. Every reader takes the value as text (the
//! environment) or as the TOML type, and refuses a bad one with a message that quotes it.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value as given: text from the environment, or a TOML scalar.
#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Text(String),
    Whole(u64),
    Signed(i64),
    Real(f64),
    Flag(bool),
}

impl std::fmt::Display for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raw::Text(text) => f.write_str(text),
            Raw::Whole(number) => write!(f, "{number}"),
            Raw::Signed(number) => write!(f, "{number}"),
            Raw::Real(number) => write!(f, "{number}"),
            Raw::Flag(flag) => write!(f, "{flag}"),
        }
    }
}

/// Reads a value as text, whatever its TOML type.
fn raw_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Raw::deserialize(deserializer)
        .map(|raw| raw.to_string())
        .map_err(|_| D::Error::custom("must be a single value (text or a number)"))
}

fn whole_number<'de, D: Deserializer<'de>>(deserializer: D, least: u64) -> Result<u64, D::Error> {
    let text = raw_text(deserializer)?;
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|number| *number >= least)
        .ok_or_else(|| D::Error::custom(format!("must be a whole number ≥ {least}, not '{text}'")))
}

pub mod text {
    use super::*;

    pub fn serialize<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        raw_text(deserializer)
    }
}

pub mod positive {
    use super::*;

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(*value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        whole_number(deserializer, 1)
    }
}

/// A number of seconds, 0 allowed.
pub mod seconds {
    use super::*;

    pub use super::positive::serialize;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        whole_number(deserializer, 0)
    }
}

/// Seconds ≥ 1, capped at a year (a longer horizon stages nothing more).
pub mod stage_ahead {
    use super::*;

    pub use super::positive::serialize;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        Ok(whole_number(deserializer, 1)?.min(366 * 86_400))
    }
}

pub mod workers {
    use super::*;

    pub fn serialize<S: Serializer>(value: &usize, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(*value as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
        let number = whole_number(deserializer, 1)?;
        usize::try_from(number).map_err(D::Error::custom)
    }
}

pub mod flag {
    use super::*;

    pub fn serialize<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(*value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        let text = raw_text(deserializer)?;
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(D::Error::custom(format!(
                "must be true or false, not '{text}'"
            ))),
        }
    }
}

pub mod scope {
    use super::*;
    use actors::Scope;

    pub fn serialize<S: Serializer>(value: &Scope, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Scope, D::Error> {
        let text = raw_text(deserializer)?;
        Scope::parse(&text)
            .ok_or_else(|| D::Error::custom(format!("must be 'real' or 'mock', not '{text}'")))
    }
}

pub mod optional_scope {
    use super::*;
    use actors::Scope;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Scope>, D::Error> {
        super::scope::deserialize(deserializer).map(Some)
    }
}

pub mod zone {
    use super::*;
    use chrono_tz::Tz;

    pub fn serialize<S: Serializer>(value: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
        let text = raw_text(deserializer)?;
        text.parse().map_err(|_| {
            D::Error::custom(format!(
                "must be an IANA time zone (Asia/Seoul, UTC), not '{text}'"
            ))
        })
    }
}

pub mod address {
    use super::*;
    use std::net::SocketAddr;

    pub fn serialize<S: Serializer>(value: &SocketAddr, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
        let text = raw_text(deserializer)?;
        text.trim().parse().map_err(|_| {
            D::Error::custom(format!("must be host:port (127.0.0.1:8095), not '{text}'"))
        })
    }
}

/// The API token: unset, or a non-blank token without surrounding spaces.
pub mod token {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(token) => serializer.serialize_some(token),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        let Some(raw) = Option::<Raw>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let token = raw.to_string();
        if token.trim().is_empty() {
            return Err(D::Error::custom(
                "is set but empty: set a token, or unset the variable to serve the API without \
                 one on loopback",
            ));
        }
        if token.trim() != token || token.chars().any(char::is_control) {
            return Err(D::Error::custom(
                "must not start or end with spaces or hold control characters",
            ));
        }
        Ok(Some(token))
    }
}

/// Origins as a comma-separated list, each `http(s)://host[:port]`.
pub mod origins {
    use super::*;

    pub fn serialize<S: Serializer>(value: &[String], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.join(","))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        let text = raw_text(deserializer)?;
        text.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let host = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"));
                match host {
                    Some(host) if !host.is_empty() && !host.contains(['/', ' ', '*']) => {
                        Ok(origin.to_string())
                    }
                    _ => Err(D::Error::custom(format!(
                        "'{origin}' is not an origin like https://host[:port]"
                    ))),
                }
            })
            .collect()
    }
}

pub mod log_format {
    use super::*;
    use crate::configuration::LogFormat;

    pub fn serialize<S: Serializer>(value: &LogFormat, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match value {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<LogFormat, D::Error> {
        let text = raw_text(deserializer)?;
        match text.trim().to_ascii_lowercase().as_str() {
            "text" | "human" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(D::Error::custom(format!(
                "must be text or json, not '{text}'"
            ))),
        }
    }
}

/// `DB_TYPE`, `SCHEDULER_DB_PATH` and `DATABASE_URL` together.
pub mod database {
    use super::*;
    use actors::DatabaseTarget;
    use std::path::PathBuf;

    #[derive(Serialize)]
    struct Keys<'a> {
        db_type: &'a str,
        scheduler_db_path: Option<String>,
        database_url: Option<&'a str>,
    }

    #[derive(Deserialize)]
    struct Given {
        #[serde(default, with = "super::optional_text")]
        db_type: Option<String>,
        #[serde(default, with = "super::optional_text")]
        scheduler_db_path: Option<String>,
        #[serde(default, with = "super::optional_text")]
        database_url: Option<String>,
    }

    pub fn serialize<S: Serializer>(
        value: &DatabaseTarget,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            DatabaseTarget::Sqlite { path } => Keys {
                db_type: "SQLITE",
                scheduler_db_path: Some(path.display().to_string()),
                database_url: None,
            },
            DatabaseTarget::MariaDb { url } => Keys {
                db_type: "MARIADB",
                scheduler_db_path: None,
                database_url: Some(url),
            },
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DatabaseTarget, D::Error> {
        let given = Given::deserialize(deserializer)?;
        let db_type = given.db_type.unwrap_or_else(|| "SQLITE".into());
        match db_type.trim().to_ascii_uppercase().as_str() {
            "SQLITE" => Ok(DatabaseTarget::Sqlite {
                path: PathBuf::from(
                    given
                        .scheduler_db_path
                        .ok_or_else(|| D::Error::custom("SCHEDULER_DB_PATH is missing"))?,
                ),
            }),
            "MARIADB" | "MYSQL" => Ok(DatabaseTarget::MariaDb {
                url: given.database_url.ok_or_else(|| {
                    D::Error::custom("DB_TYPE=MARIADB needs DATABASE_URL (mysql://…)")
                })?,
            }),
            _ => Err(D::Error::custom(format!(
                "DB_TYPE must be SQLITE or MARIADB, not '{db_type}'"
            ))),
        }
    }
}

/// Optional text (absent or null: None).
pub mod optional_text {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        Ok(Option::<Raw>::deserialize(deserializer)?.map(|raw| raw.to_string()))
    }
}

/// `classic` or `quorum`.
pub mod queue_type {
    use super::*;
    use worker::QueueType;

    pub fn serialize<S: Serializer>(value: &QueueType, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<QueueType, D::Error> {
        let text = Raw::deserialize(deserializer)?.to_string();
        QueueType::parse(&text)
            .ok_or_else(|| D::Error::custom(format!("must be classic or quorum, not '{text}'")))
    }
}

/// An optional name (this instance's id): unset, or 1 to 200 characters without spaces (it
/// names the instance's control queue, and RabbitMQ names are at most 255 bytes).
pub mod identifier {
    use super::*;

    pub use super::token::serialize;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        let Some(raw) = Option::<Raw>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let name = raw.to_string();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_whitespace) {
            return Err(D::Error::custom(format!(
                "must be 1 to 200 characters without spaces, not '{name}'"
            )));
        }
        Ok(Some(name))
    }
}

/// A secret that is either unset or a real value (set but blank is an error).
pub mod secret {
    use super::*;

    pub use super::token::serialize;

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        let Some(raw) = Option::<Raw>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let secret = raw.to_string();
        if secret.trim().is_empty() || secret.trim() != secret {
            return Err(D::Error::custom(
                "is set but empty or padded with spaces: set the value, or unset the variable",
            ));
        }
        Ok(Some(secret))
    }
}

/// Telegram chat ids as a comma-separated list of whole numbers (groups are negative).
pub mod chat_ids {
    use super::*;

    pub fn serialize<S: Serializer>(value: &[i64], serializer: S) -> Result<S::Ok, S::Error> {
        let ids: Vec<String> = value.iter().map(i64::to_string).collect();
        serializer.serialize_str(&ids.join(","))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
        let text = raw_text(deserializer)?;
        text.split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| {
                id.parse::<i64>().map_err(|_| {
                    D::Error::custom(format!("'{id}' is not a chat id (a whole number)"))
                })
            })
            .collect()
    }
}
