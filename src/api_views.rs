//! Schema-only types of the views for people (the admin UI and the CLI): a job's schedule
//! preview, the audit log, a page of the job list, the overview and the UI session. The
//! routes send the service's own types; tests check every answer against these.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::JobBody;

/// One upcoming due instant.
#[derive(utoipa::ToSchema)]
#[schema(as = ScheduleInstant)]
#[allow(dead_code)]
pub struct ScheduleInstantBody {
    utc: DateTime<Utc>,
    /// The same instant in the schedule's zone, with its offset (RFC 3339).
    local: String,
    /// On a closed day of the calendar in `skip` mode: not published, recorded `skipped`.
    skipped: bool,
    /// Present when its day is closed: why it is skipped, or why it was moved.
    holiday: Option<String>,
    /// Present in `next_open_day` mode: the instant on a closed day this one replaces.
    moved_from: Option<DateTime<Utc>>,
}

/// A job's schedule as written, in words, and its next instants.
#[derive(utoipa::ToSchema)]
#[schema(as = SchedulePreview)]
#[allow(dead_code)]
pub struct SchedulePreviewBody {
    job_id: String,
    /// `cron_expr`, or `every N s` for an interval.
    expression: String,
    /// The schedule in words, e.g. `at 08:30, Monday to Friday`.
    description: String,
    /// The zone its cron expression is read in (IANA name): its own, else SCHEDULER_TIMEZONE.
    timezone: String,
    /// Its stable offset (`jitter_seconds`) in milliseconds, included in every instant.
    jitter_ms: i64,
    /// The zone's next clock change in the coming year and how cron times in it fire; null
    /// for a zone without one.
    dst: Option<String>,
    /// The exchange calendar whose closed days it does not fire on; null: none.
    calendar: Option<String>,
    /// `skip` or `next_open_day`.
    calendar_mode: String,
    /// Empty while paused, and in queue mode (the worker reschedules).
    instants: Vec<ScheduleInstantBody>,
}

/// A schedule to preview (`POST /schedule/preview`): a cron expression or an interval, as a
/// job's fields are written. Any other field is refused by name.
#[derive(utoipa::ToSchema)]
#[schema(as = SchedulePreviewInput)]
#[allow(dead_code)]
pub struct SchedulePreviewInput {
    /// 5-field cron with the day extensions (`L`, `LW`, `nW`, `d#n`, `dL`).
    cron_expr: Option<String>,
    /// ≥ 1, when there is no cron.
    interval_seconds: Option<i64>,
    /// IANA zone; default SCHEDULER_TIMEZONE.
    timezone: Option<String>,
    /// 0–86 400: the offset is taken from `job_id`'s hash.
    jitter_seconds: Option<i64>,
    /// The job the jitter's offset is for (default `preview`).
    job_id: Option<String>,
    /// An existing calendar: instants on its closed days are marked.
    calendar: Option<String>,
    /// `skip` (default) or `next_open_day`.
    calendar_mode: Option<String>,
}

/// An exchange calendar: its closed weekdays and dates, and the jobs on it.
#[derive(utoipa::ToSchema)]
#[schema(as = Calendar)]
#[allow(dead_code)]
pub struct CalendarBody {
    name: String,
    description: Option<String>,
    /// Closed weekdays, among `mon` … `sun`.
    weekend: Vec<String>,
    /// Other closed days, `YYYY-MM-DD`, ascending.
    dates: Vec<String>,
    /// Bumped by every change.
    revision: i64,
    updated_at: Option<DateTime<Utc>>,
    /// The jobs of the scope on this calendar.
    used_by: Vec<String>,
}

/// A whole calendar (`PUT /calendars/{name}`).
#[derive(utoipa::ToSchema)]
#[schema(as = CalendarInput)]
#[allow(dead_code)]
pub struct CalendarInput {
    /// Closed days besides the weekend, `YYYY-MM-DD` (at most 5 000; may be empty).
    dates: Vec<String>,
    /// At most 1 000 bytes.
    description: Option<String>,
    /// Closed weekdays among `mon` … `sun` (not all seven); default `["sat", "sun"]`.
    weekend: Option<Vec<String>>,
}

/// Dates to add to a calendar (`POST /calendars/{name}/dates`).
#[derive(utoipa::ToSchema)]
#[schema(as = CalendarDates)]
#[allow(dead_code)]
pub struct CalendarDatesInput {
    /// `YYYY-MM-DD`; those listed already stay listed.
    dates: Vec<String>,
}

/// One operator action.
#[derive(utoipa::ToSchema)]
#[schema(as = AuditEntry)]
#[allow(dead_code)]
pub struct AuditEntryBody {
    id: i64,
    at: DateTime<Utc>,
    /// `token` (the API token), `ui:<name>` (a UI session) or `open` (no token configured).
    actor: String,
    /// `create`, `update`, `pause`, `resume`, `delete` or `run_now`.
    action: String,
    job_id: String,
    /// Before: the job's configuration (update, delete), `{enabled}` (pause, resume); null for
    /// a create or a run-now.
    #[schema(value_type = Option<Object>)]
    before: Option<serde_json::Value>,
    /// After: the configuration (create, update), `{enabled}` (pause, resume), `{run_id,
    /// params, force}` (run-now); null for a delete.
    #[schema(value_type = Option<Object>)]
    after: Option<serde_json::Value>,
}

/// A job as the list shows it.
#[derive(utoipa::ToSchema)]
#[schema(as = JobSummary)]
#[allow(dead_code)]
pub struct JobSummaryBody {
    #[serde(flatten)]
    job: JobBody,
    /// Runs published and not finished (`pending` or `queued`).
    in_flight: u64,
    /// The schedule in words.
    schedule_text: String,
}

/// Jobs of the scope by state.
#[derive(utoipa::ToSchema)]
#[schema(as = StateCounts)]
#[allow(dead_code)]
pub struct StateCountsBody {
    all: u64,
    enabled: u64,
    paused: u64,
    /// The last run ended `failed` or `timeout`.
    failing: u64,
    /// At least one run in flight.
    running: u64,
}

/// One page of the job list.
#[derive(utoipa::ToSchema)]
#[schema(as = JobPage)]
#[allow(dead_code)]
pub struct JobPageBody {
    /// Jobs matching the filter.
    total: u64,
    offset: u64,
    limit: u64,
    counts: StateCountsBody,
    jobs: Vec<JobSummaryBody>,
}

/// Runs that reached each status recently.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecentRuns {
    /// An hour ago, or the process start when that is later.
    pub since: DateTime<Utc>,
    /// Runs by status (every status, zero included).
    #[schema(value_type = Object)]
    pub counts: serde_json::Map<String, serde_json::Value>,
}

/// The scope at a glance.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// `real` or `mock`.
    pub scope: String,
    pub readiness: crate::routes::health::Readiness,
    #[schema(value_type = StateCountsBody)]
    pub counts: actors::service::StateCounts,
    pub runs_last_hour: RecentRuns,
    /// Failing jobs, the most recently run first (at most 20).
    #[schema(value_type = Vec<JobSummaryBody>)]
    pub failing: Vec<actors::service::JobSummary>,
}

/// The UI session of this browser.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// `real` or `mock`.
    pub scope: String,
    /// The zone cron expressions are read in (IANA name); the UI shows times in it.
    pub timezone: String,
    /// Whether a token is configured (then the UI asks for it once).
    pub auth_required: bool,
    pub logged_in: bool,
    /// The name given at login (the audit log shows `ui:<name>`).
    pub name: Option<String>,
    /// Send it as `X-CSRF-Token` with every change.
    pub csrf_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Accepted risks: no token configured, or the API served open off loopback.
    pub warnings: Vec<String>,
}

/// A login: the API token, and a name for the audit log.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// The API token (ignored when none is configured).
    pub token: Option<String>,
    /// Who is logging in, for the audit log (default `operator`, at most 40 characters).
    pub name: Option<String>,
}
