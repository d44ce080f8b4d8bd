//! Read-only views for people: a job's upcoming instants, and the overview of the scope.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::listing::{JobQuery, JobState, JobSummary, StateCounts};
use super::{JobService, Readiness, ServiceError};
use crate::engine::{RecentRunCounts, Upcoming};
use crate::job::ValidationError;

/// The most instants one preview answers.
pub const MAX_PREVIEW_COUNT: u64 = 100;
/// Failing jobs the overview lists.
const OVERVIEW_FAILING: u64 = 20;

/// One upcoming due instant, in UTC and in the zone the schedule is read in.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleInstant {
    pub utc: DateTime<Utc>,
    /// The same instant as local time with its offset (RFC 3339).
    pub local: String,
    /// On a closed day of the job's calendar in `skip` mode: not published, recorded `skipped`.
    pub skipped: bool,
    /// Why it is skipped or was moved (`holiday: …`), when its day is closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holiday: Option<String>,
    /// `next_open_day`: the instant on a closed day this one replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<DateTime<Utc>>,
}

/// A job's schedule: as written, in words, and its next instants.
#[derive(Debug, Clone, Serialize)]
pub struct SchedulePreview {
    pub job_id: String,
    /// `cron_expr`, or `every N s` for an interval.
    pub expression: String,
    /// The schedule in words.
    pub description: String,
    /// The zone its cron expression is read in (IANA name): its own, else the service's.
    pub timezone: String,
    /// Its stable offset in milliseconds (`jitter_seconds`), included in every instant.
    pub jitter_ms: i64,
    /// How the zone's clock changes are handled, when it has any in the coming year.
    pub dst: Option<String>,
    /// The exchange calendar whose closed days it does not fire on, if any.
    pub calendar: Option<String>,
    /// `skip` or `next_open_day`: what an instant on a closed day does.
    pub calendar_mode: &'static str,
    /// Empty for a paused job or a queue-mode job (its worker reschedules it).
    pub instants: Vec<ScheduleInstant>,
}

/// The zone's next clock change in the coming year and the rule for cron times it touches;
/// `None` for a zone without one.
pub fn dst_note(zone: chrono_tz::Tz, now: DateTime<Utc>) -> Option<String> {
    use chrono::Offset;
    let offset = |at: DateTime<Utc>| at.with_timezone(&zone).offset().fix().local_minus_utc();
    let hour = chrono::Duration::hours(1);
    let mut at = now;
    for _ in 0..(366 * 24) {
        let next = at + hour;
        let (before, after) = (offset(at), offset(next));
        if before != after {
            let minutes = (after - before) / 60;
            let change = if minutes > 0 {
                format!("forward by {minutes} min")
            } else {
                format!("back by {} min", -minutes)
            };
            return Some(format!(
                "{} moves its clocks {change} around {} (next change); a cron time that does not \
                 exist in a gap fires when the gap ends, one that occurs twice fires once, at its \
                 first occurrence",
                zone.name(),
                next.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z")
            ));
        }
        at = next;
    }
    None
}

/// `count` of a preview: 10 when not given, at most [`MAX_PREVIEW_COUNT`].
fn preview_count(count: Option<u64>) -> Result<u64, ValidationError> {
    let count = count.unwrap_or(10);
    if !(1..=MAX_PREVIEW_COUNT).contains(&count) {
        return Err(ValidationError::new(
            "invalid_query",
            format!("count must be 1 to {MAX_PREVIEW_COUNT}"),
            Some("count"),
        ));
    }
    Ok(count)
}

/// `cron_expr`, or `every N s` for an interval.
fn expression(config: &crate::job::JobConfig) -> String {
    if config.cron_expr.is_empty() {
        (config.interval_seconds).map_or_else(String::new, |s| format!("every {s} s"))
    } else {
        config.cron_expr.clone()
    }
}

fn in_zone(instants: Vec<Upcoming>, zone: chrono_tz::Tz) -> Vec<ScheduleInstant> {
    (instants.into_iter())
        .map(|instant| ScheduleInstant {
            utc: instant.at,
            local: instant.at.with_timezone(&zone).to_rfc3339(),
            skipped: instant.closed.is_some() && instant.moved_from.is_none(),
            holiday: instant.closed,
            moved_from: instant.moved_from,
        })
        .collect()
}

/// The scope at a glance.
#[derive(Debug, Clone)]
pub struct Overview {
    pub readiness: Readiness,
    pub counts: StateCounts,
    pub recent_runs: RecentRunCounts,
    /// Failing jobs, the most recently failed first.
    pub failing: Vec<JobSummary>,
}

impl JobService {
    /// The job's next `count` due instants (10 when not given, at most [`MAX_PREVIEW_COUNT`]).
    pub fn schedule(
        &self,
        job_id: &str,
        count: Option<u64>,
    ) -> Result<SchedulePreview, ServiceError> {
        let count = preview_count(count)?;
        let service_zone = self.engine.timezone();
        self.with_job(job_id, |job| {
            let config = job.config;
            let zone = config.zone(service_zone);
            let instants = if config.enabled {
                self.engine
                    .upcoming(config, job.state.next_due_at, count as usize)
            } else {
                Vec::new()
            };
            SchedulePreview {
                job_id: config.job_id.clone(),
                expression: expression(config),
                description: super::schedule_text(job),
                timezone: zone.name().to_string(),
                jitter_ms: config.jitter().num_milliseconds(),
                dst: dst_note(zone, Utc::now()),
                calendar: config.calendar.clone(),
                calendar_mode: config.calendar_mode.as_str(),
                instants: in_zone(instants, zone),
            }
        })
    }

    /// The next `count` instants of a schedule that is not a job (yet): a
    /// `POST /schedule/preview` body (see [`JobConfig::for_preview`]) and `count`.
    pub async fn preview(
        &self,
        body: &serde_json::Value,
        count: Option<u64>,
    ) -> Result<SchedulePreview, ServiceError> {
        let count = preview_count(count)?;
        let config = crate::job::JobConfig::for_preview(body, self.scope)?;
        self.check_calendar(&config, None).await?;
        let zone = config.zone(self.engine.timezone());
        let now = Utc::now();
        let instants = self.engine.upcoming(&config, None, count as usize);
        let job = crate::job::JobState::default();
        let view = crate::job::JobView {
            config: &config,
            state: &job,
        };
        Ok(SchedulePreview {
            job_id: config.job_id.clone(),
            expression: expression(&config),
            description: super::schedule_text(view),
            timezone: zone.name().to_string(),
            jitter_ms: config.jitter().num_milliseconds(),
            dst: dst_note(zone, now),
            calendar: config.calendar.clone(),
            calendar_mode: config.calendar_mode.as_str(),
            instants: in_zone(instants, zone),
        })
    }

    /// Readiness, job counts by state, runs by status over the last hour, failing jobs.
    pub async fn overview(&self) -> Result<Overview, ServiceError> {
        let readiness = self.readiness().await;
        let failing = self
            .page(&JobQuery {
                state: Some(JobState::Failing),
                sort: super::JobSort::LastRun,
                descending: true,
                limit: OVERVIEW_FAILING,
                ..JobQuery::default()
            })
            .await?;
        Ok(Overview {
            readiness,
            counts: failing.counts,
            recent_runs: self.engine.read_model().recent_runs(),
            failing: failing.jobs,
        })
    }
}
