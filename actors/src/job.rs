//! The job: its configuration (what the API writes), its state (what the engine writes) and
//! the validation of client input against the job rules.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::calendar::CalendarMode;

pub(crate) mod input;

pub use input::{ValidationError, CONFIG_FIELDS, MANAGED_FIELDS, MAX_JITTER_SECONDS};

/// Which trading stack a job belongs to. An instance serves exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Real,
    Mock,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Real => "real",
            Scope::Mock => "mock",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "real" => Some(Scope::Real),
            "mock" => Some(Scope::Mock),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who schedules the next run: the engine (scheduler) or the worker (queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RescheduleMode {
    /// The scheduler fires the job on its cron or interval.
    Scheduler,
    /// The worker reschedules itself through a delay queue after each run.
    Queue,
}

impl RescheduleMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RescheduleMode::Scheduler => "scheduler",
            RescheduleMode::Queue => "queue",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "scheduler" => Some(RescheduleMode::Scheduler),
            "queue" => Some(RescheduleMode::Queue),
            _ => None,
        }
    }
}

/// What a restart or a takeover does with the instants a job missed while no process ran it
/// (within its grace period; later ones are always skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MisfirePolicy {
    /// One run for all of them, due at the oldest (the default).
    CatchUpOnce,
    /// None: they are skipped, and the schedule goes on from now.
    Skip,
    /// One run for each, in order.
    CatchUpAll,
}

impl MisfirePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MisfirePolicy::CatchUpOnce => "catch_up_once",
            MisfirePolicy::Skip => "skip",
            MisfirePolicy::CatchUpAll => "catch_up_all",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "catch_up_once" => Some(MisfirePolicy::CatchUpOnce),
            "skip" => Some(MisfirePolicy::Skip),
            "catch_up_all" => Some(MisfirePolicy::CatchUpAll),
            _ => None,
        }
    }
}

/// The configuration columns of a job: written by the API, read by the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobConfig {
    pub job_id: String,
    pub scope: Scope,
    pub reschedule_mode: RescheduleMode,
    /// Empty when the job runs on `interval_seconds` alone.
    pub cron_expr: String,
    pub interval_seconds: Option<i64>,
    pub queue: String,
    pub enabled: bool,
    pub max_parallel: i64,
    pub default_params: Map<String, Value>,
    pub timeout_sec: i64,
    pub retry_limit: i64,
    pub description: Option<String>,
    pub telemetry_label: String,
    /// Whether its alerts are sent to the Telegram chats (they are always logged and counted).
    pub notify: bool,
    /// The IANA zone its cron expression is read in; `None`: the service's zone.
    pub timezone: Option<String>,
    /// Spreads the job's instants: each is moved later by a stable offset below this many
    /// seconds, taken from a hash of the job_id. 0: no offset.
    pub jitter_seconds: i64,
    pub misfire_policy: MisfirePolicy,
    /// How late a missed instant may still be caught up; `None`: the service's grace.
    pub misfire_grace_seconds: Option<i64>,
    /// The exchange calendar whose closed days it does not fire on; `None`: every day.
    pub calendar: Option<String>,
    /// What it does with an instant on a closed day of its calendar.
    pub calendar_mode: CalendarMode,
}

impl JobConfig {
    /// The zone its cron expression is read in.
    pub fn zone(&self, service_zone: chrono_tz::Tz) -> chrono_tz::Tz {
        (self.timezone.as_deref())
            .and_then(|name| name.parse().ok())
            .unwrap_or(service_zone)
    }

    /// The stable offset its instants are moved by (under `jitter_seconds`, whole milliseconds).
    pub fn jitter(&self) -> chrono::Duration {
        jitter_of(&self.job_id, self.jitter_seconds)
    }
}

/// A stable offset in `[0, seconds)` for `job_id`, in whole milliseconds: FNV-1a of the id, so
/// it is the same on every instance and after every restart.
pub fn jitter_of(job_id: &str, seconds: i64) -> chrono::Duration {
    if seconds <= 0 {
        return chrono::Duration::zero();
    }
    let hash = job_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    chrono::Duration::milliseconds((hash % (seconds as u64 * 1000)) as i64)
}

/// The state columns of a job: written by the engine (and the store on insert), never by
/// clients.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobState {
    pub next_due_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Queue mode: the chain the engine considers current and the highest position it told a
    /// worker to reschedule (engine-internal, not shown by the API).
    #[serde(skip)]
    pub chain: Option<(uuid::Uuid, u64)>,
}

/// A stored job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    #[serde(flatten)]
    pub config: JobConfig,
    #[serde(flatten)]
    pub state: JobState,
}

/// A job as the API shows it, borrowed (the read model serializes it without a copy).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct JobView<'a> {
    #[serde(flatten)]
    pub config: &'a JobConfig,
    #[serde(flatten)]
    pub state: &'a JobState,
}

/// `telemetry_label` when none is given: `buy-scanner` → `buy_scanner_job`.
pub fn default_telemetry_label(job_id: &str) -> String {
    format!("{}_job", job_id.replace('-', "_"))
}

#[cfg(test)]
mod tests;
