//! Turning client JSON into a valid [`JobConfig`], field by field, with errors that name the
//! field. Nothing here trusts the input: every value is type- and range-checked, and any field
//! not a job field is rejected by name.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{default_telemetry_label, JobConfig, MisfirePolicy, RescheduleMode, Scope};
use crate::calendar::CalendarMode;
use crate::schedule::CronSchedule;

/// The most bytes a TEXT column (`default_params`, `description`) holds on MariaDB.
const TEXT_COLUMN_BYTES: usize = 65_535;

/// The largest `jitter_seconds`: a day.
pub const MAX_JITTER_SECONDS: i64 = 86_400;

/// The configuration fields a client may send.
pub const CONFIG_FIELDS: [&str; 20] = [
    "job_id",
    "scope",
    "reschedule_mode",
    "cron_expr",
    "interval_seconds",
    "queue",
    "enabled",
    "max_parallel",
    "default_params",
    "timeout_sec",
    "retry_limit",
    "description",
    "telemetry_label",
    "notify",
    "timezone",
    "jitter_seconds",
    "misfire_policy",
    "misfire_grace_seconds",
    "calendar",
    "calendar_mode",
];

/// Fields managed by the service: accepted on input and ignored.
pub const MANAGED_FIELDS: [&str; 6] = [
    "next_due_at",
    "last_run_at",
    "last_status",
    "last_error",
    "created_at",
    "updated_at",
];

/// A rejected input: becomes the 4xx JSON body `{error, message, field}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    /// A stable machine-readable code, e.g. `invalid_field`.
    pub error: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ValidationError {
    pub fn new(error: &'static str, message: impl Into<String>, field: Option<&str>) -> Self {
        ValidationError {
            error,
            message: message.into(),
            field: field.map(str::to_string),
        }
    }

    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new("invalid_field", message, Some(field))
    }
}

impl JobConfig {
    /// Builds the configuration of a new job from a `POST /jobs` body, on an instance serving
    /// `scope`.
    pub fn from_create_body(body: &Value, scope: Scope) -> Result<JobConfig, ValidationError> {
        let fields = as_object(body)?;
        for required in ["job_id", "queue"] {
            if !fields.contains_key(required) {
                return Err(ValidationError::new(
                    "missing_field",
                    format!("{required} is required"),
                    Some(required),
                ));
            }
        }
        let mut config = JobConfig {
            job_id: String::new(),
            scope,
            reschedule_mode: RescheduleMode::Scheduler,
            cron_expr: String::new(),
            interval_seconds: None,
            queue: String::new(),
            enabled: true,
            max_parallel: 1,
            default_params: Map::new(),
            timeout_sec: 120,
            retry_limit: 3,
            description: None,
            telemetry_label: String::new(),
            notify: true,
            timezone: None,
            jitter_seconds: 0,
            misfire_policy: MisfirePolicy::CatchUpOnce,
            misfire_grace_seconds: None,
            calendar: None,
            calendar_mode: CalendarMode::Skip,
        };
        let label_given = apply_fields(&mut config, fields, true)?;
        if !label_given {
            config.telemetry_label = default_telemetry_label(&config.job_id);
        }
        config.check_whole()?;
        Ok(config)
    }

    /// A schedule to preview, from a `POST /schedule/preview` body: `cron_expr` and/or
    /// `interval_seconds`, and optionally `timezone`, `jitter_seconds` and `job_id` (whose
    /// hash gives the jitter's offset). Any other field is refused by name.
    pub fn for_preview(body: &Value, scope: Scope) -> Result<JobConfig, ValidationError> {
        const PREVIEW_FIELDS: [&str; 7] = [
            "cron_expr",
            "interval_seconds",
            "timezone",
            "jitter_seconds",
            "job_id",
            "calendar",
            "calendar_mode",
        ];
        let fields = as_object(body)?;
        if let Some(other) = fields
            .keys()
            .find(|key| !PREVIEW_FIELDS.contains(&key.as_str()))
        {
            return Err(ValidationError::new(
                "unknown_field",
                format!(
                    "unknown field '{}'; a preview takes {}",
                    truncate(other, 100),
                    PREVIEW_FIELDS.join(", ")
                ),
                Some(&truncate(other, 100)),
            ));
        }
        let mut preview = fields.clone();
        preview
            .entry("job_id")
            .or_insert_with(|| Value::String("preview".into()));
        preview.insert(
            "queue".into(),
            Value::String(format!("{}preview", worker::queue_prefix(scope.as_str()))),
        );
        Self::from_create_body(&Value::Object(preview), scope)
    }

    /// This configuration with the fields of a `PUT /jobs/{id}` body changed.
    pub fn with_update_body(&self, body: &Value) -> Result<JobConfig, ValidationError> {
        let fields = as_object(body)?;
        let mut config = self.clone();
        apply_fields(&mut config, fields, false)?;
        config.check_whole()?;
        Ok(config)
    }

    /// The rules that span fields: queue prefix, schedule per mode, cron syntax.
    fn check_whole(&self) -> Result<(), ValidationError> {
        let prefix = worker::queue_prefix(self.scope.as_str());
        if !self.queue.starts_with(&prefix) || self.queue.len() == prefix.len() {
            return Err(ValidationError::invalid(
                "queue",
                format!(
                    "queue must start with '{prefix}' followed by a service name (a {} job may only \
                     publish into {} queues)",
                    self.scope, self.scope
                ),
            ));
        }
        if !self.cron_expr.is_empty() {
            CronSchedule::parse(&self.cron_expr)
                .map_err(|error| ValidationError::invalid("cron_expr", error.to_string()))?;
        }
        match self.reschedule_mode {
            RescheduleMode::Scheduler
                if self.cron_expr.is_empty() && self.interval_seconds.is_none() =>
            {
                Err(ValidationError::invalid(
                    "cron_expr",
                    "a scheduler-mode job needs a cron_expr or an interval_seconds",
                ))
            }
            RescheduleMode::Queue if self.interval_seconds.is_none() => {
                Err(ValidationError::invalid(
                    "interval_seconds",
                    "a queue-mode job needs interval_seconds (the delay before its next run)",
                ))
            }
            RescheduleMode::Queue if self.calendar.is_some() => Err(ValidationError::invalid(
                "calendar",
                "a queue-mode job is rescheduled by its worker; a calendar applies to \
                 scheduler-mode jobs",
            )),
            _ => Ok(()),
        }
    }
}

/// The request body as a JSON object (every job and calendar body is one).
pub(crate) fn as_object(body: &Value) -> Result<&Map<String, Value>, ValidationError> {
    body.as_object().ok_or_else(|| {
        ValidationError::new(
            "invalid_body",
            "the request body must be a JSON object",
            None,
        )
    })
}

/// Applies each given field to `config`; returns whether `telemetry_label` was given.
fn apply_fields(
    config: &mut JobConfig,
    fields: &Map<String, Value>,
    creating: bool,
) -> Result<bool, ValidationError> {
    if let Some(unknown) = fields.keys().find(|key| {
        !CONFIG_FIELDS.contains(&key.as_str()) && !MANAGED_FIELDS.contains(&key.as_str())
    }) {
        return Err(ValidationError::new(
            "unknown_field",
            format!("unknown field '{}'", truncate(unknown, 100)),
            Some(&truncate(unknown, 100)),
        ));
    }
    let mut label_given = false;
    for (name, value) in fields {
        let field = name.as_str();
        match field {
            "job_id" => {
                let job_id = job_id(value)?;
                if !creating && job_id != config.job_id {
                    return Err(ValidationError::invalid(
                        "job_id",
                        "job_id cannot be changed",
                    ));
                }
                config.job_id = job_id;
            }
            "scope" => {
                let text = string(field, value)?;
                let scope = Scope::parse(text).ok_or_else(|| {
                    ValidationError::invalid("scope", "scope must be 'real' or 'mock'")
                })?;
                if scope != config.scope {
                    return Err(ValidationError::invalid(
                        "scope",
                        format!(
                            "this instance serves scope '{}'; a '{scope}' job belongs to the {scope} stack",
                            config.scope
                        ),
                    ));
                }
            }
            "reschedule_mode" => {
                config.reschedule_mode =
                    RescheduleMode::parse(string(field, value)?).ok_or_else(|| {
                        ValidationError::invalid(
                            "reschedule_mode",
                            "reschedule_mode must be 'scheduler' or 'queue'",
                        )
                    })?;
            }
            "cron_expr" => {
                let text = if value.is_null() {
                    ""
                } else {
                    string(field, value)?
                };
                config.cron_expr = bounded_string(field, text.trim(), 0, 100)?.to_string();
            }
            "interval_seconds" => {
                config.interval_seconds = if value.is_null() {
                    None
                } else {
                    Some(integer(field, value, 1)?)
                };
            }
            "queue" => config.queue = queue_name(value)?,
            "enabled" => {
                config.enabled = value.as_bool().ok_or_else(|| {
                    ValidationError::invalid(field, "enabled must be true or false")
                })?;
            }
            "notify" => {
                config.notify = value.as_bool().ok_or_else(|| {
                    ValidationError::invalid(field, "notify must be true or false")
                })?;
            }
            "timezone" => {
                config.timezone = if value.is_null() {
                    None
                } else {
                    let name = string(field, value)?;
                    if name.parse::<chrono_tz::Tz>().is_err() {
                        return Err(ValidationError::invalid(
                            field,
                            format!(
                                "timezone must be an IANA zone name such as 'Asia/Seoul' or 'UTC', not '{}'",
                                truncate(name, 100)
                            ),
                        ));
                    }
                    Some(name.to_string())
                };
            }
            "jitter_seconds" => {
                config.jitter_seconds = match value {
                    Value::Null => 0,
                    _ => value
                        .as_i64()
                        .filter(|seconds| (0..=MAX_JITTER_SECONDS).contains(seconds))
                        .ok_or_else(|| {
                            ValidationError::invalid(
                                field,
                                format!(
                                    "jitter_seconds must be an integer from 0 to {MAX_JITTER_SECONDS}"
                                ),
                            )
                        })?,
                };
            }
            "misfire_policy" => {
                config.misfire_policy = if value.is_null() {
                    MisfirePolicy::CatchUpOnce
                } else {
                    MisfirePolicy::parse(string(field, value)?).ok_or_else(|| {
                        ValidationError::invalid(
                            field,
                            "misfire_policy must be 'catch_up_once', 'skip' or 'catch_up_all'",
                        )
                    })?
                };
            }
            "misfire_grace_seconds" => {
                config.misfire_grace_seconds = if value.is_null() {
                    None
                } else {
                    Some(integer(field, value, 0)?)
                };
            }
            "calendar" => {
                config.calendar = if value.is_null() {
                    None
                } else {
                    Some(crate::calendar::input::name(field, string(field, value)?)?)
                };
            }
            "calendar_mode" => {
                config.calendar_mode = if value.is_null() {
                    CalendarMode::Skip
                } else {
                    CalendarMode::parse(string(field, value)?).ok_or_else(|| {
                        ValidationError::invalid(
                            field,
                            "calendar_mode must be 'skip' or 'next_open_day'",
                        )
                    })?
                };
            }
            "max_parallel" => config.max_parallel = integer(field, value, 1)?,
            "timeout_sec" => config.timeout_sec = integer(field, value, 1)?,
            "retry_limit" => config.retry_limit = integer(field, value, 0)?,
            "default_params" => {
                config.default_params = match value {
                    Value::Null => Map::new(),
                    Value::Object(params) if value.to_string().len() <= TEXT_COLUMN_BYTES => {
                        params.clone()
                    }
                    Value::Object(_) => {
                        return Err(ValidationError::invalid(
                            field,
                            format!(
                                "default_params must be at most {TEXT_COLUMN_BYTES} bytes of JSON"
                            ),
                        ))
                    }
                    _ => {
                        return Err(ValidationError::invalid(
                            field,
                            "default_params must be a JSON object",
                        ))
                    }
                };
            }
            "description" => {
                config.description = if value.is_null() {
                    None
                } else {
                    let text = string(field, value)?;
                    if text.len() > TEXT_COLUMN_BYTES {
                        return Err(ValidationError::invalid(
                            field,
                            format!("description must be at most {TEXT_COLUMN_BYTES} bytes"),
                        ));
                    }
                    Some(text.to_string())
                };
            }
            "telemetry_label" => {
                label_given = !value.is_null();
                config.telemetry_label = if value.is_null() {
                    default_telemetry_label(&config.job_id)
                } else {
                    bounded_string(field, string(field, value)?, 1, 100)?.to_string()
                };
            }
            _ => {} // a managed field: ignored
        }
    }
    Ok(label_given)
}

fn string<'a>(field: &str, value: &'a Value) -> Result<&'a str, ValidationError> {
    value
        .as_str()
        .ok_or_else(|| ValidationError::invalid(field, format!("{field} must be a string")))
}

fn bounded_string<'a>(
    field: &str,
    text: &'a str,
    min: usize,
    max: usize,
) -> Result<&'a str, ValidationError> {
    let length = text.chars().count();
    if length < min || length > max {
        return Err(ValidationError::invalid(
            field,
            format!("{field} must be {min} to {max} characters long"),
        ));
    }
    Ok(text)
}

/// An integer in `min..=i32::MAX` (the columns are INTEGER).
fn integer(field: &str, value: &Value, min: i64) -> Result<i64, ValidationError> {
    let max = i64::from(i32::MAX);
    value
        .as_i64()
        .filter(|number| (min..=max).contains(number))
        .ok_or_else(|| {
            ValidationError::invalid(
                field,
                format!("{field} must be an integer from {min} to {max}"),
            )
        })
}

/// Whether `text` is a valid job_id: 1–100 of `[A-Za-z0-9._-]`, and not only dots.
pub fn is_valid_job_id(text: &str) -> bool {
    (1..=100).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !text.bytes().all(|b| b == b'.')
}

fn job_id(value: &Value) -> Result<String, ValidationError> {
    let text = string("job_id", value)?;
    if !is_valid_job_id(text) {
        return Err(ValidationError::invalid(
            "job_id",
            "job_id must be 1 to 100 characters of A-Z, a-z, 0-9, '.', '_' and '-' (not only dots)",
        ));
    }
    Ok(text.to_string())
}

fn queue_name(value: &Value) -> Result<String, ValidationError> {
    let text = string("queue", value)?;
    let valid_chars = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if text.contains(".delay.") {
        return Err(ValidationError::invalid(
            "queue",
            "queue must not contain '.delay.' (reserved for the queue-mode delay queues)",
        ));
    }
    if !valid_chars || text.is_empty() || text.len() > 200 {
        return Err(ValidationError::invalid(
            "queue",
            "queue must be 1 to 200 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        ));
    }
    Ok(text.to_string())
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}
