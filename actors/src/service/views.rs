//! Read-only views for people: a job's upcoming instants, and the overview of the scope.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::listing::{JobQuery, JobState, JobSummary, StateCounts};
use super::{JobService, Readiness, ServiceError};
use crate::engine::RecentRunCounts;
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
}

/// A job's schedule: as written, in words, and its next instants.
#[derive(Debug, Clone, Serialize)]
pub struct SchedulePreview {
    pub job_id: String,
    /// `cron_expr`, or `every N s` for an interval.
    pub expression: String,
    /// The schedule in words.
    pub description: String,
    /// The zone cron expressions are read in (IANA name).
    pub timezone: String,
    /// Empty for a paused job or a queue-mode job (its worker reschedules it).
    pub instants: Vec<ScheduleInstant>,
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
        let count = count.unwrap_or(10);
        if !(1..=MAX_PREVIEW_COUNT).contains(&count) {
            return Err(ValidationError::new(
                "invalid_query",
                format!("count must be 1 to {MAX_PREVIEW_COUNT}"),
                Some("count"),
            )
            .into());
        }
        let zone = self.engine.timezone();
        self.with_job(job_id, |job| {
            let config = job.config;
            let instants = if config.enabled {
                self.engine
                    .upcoming(config, job.state.next_due_at, count as usize)
            } else {
                Vec::new()
            };
            SchedulePreview {
                job_id: config.job_id.clone(),
                expression: if config.cron_expr.is_empty() {
                    config
                        .interval_seconds
                        .map_or_else(String::new, |s| format!("every {s} s"))
                } else {
                    config.cron_expr.clone()
                },
                description: super::schedule_text(job),
                timezone: zone.name().to_string(),
                instants: instants
                    .into_iter()
                    .map(|utc| ScheduleInstant {
                        utc,
                        local: utc.with_timezone(&zone).to_rfc3339(),
                    })
                    .collect(),
            }
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
