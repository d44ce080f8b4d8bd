//! The job list as people browse it: filtered by text and state, sorted, a page at a time,
//! each job with its runs in flight and its schedule in words. Read from memory, with one
//! grouped query for the runs in flight.

use std::collections::HashMap;

use serde::Serialize;

use super::{JobService, ServiceError};
use crate::job::{Job, JobView, RescheduleMode, ValidationError};
use crate::schedule::{describe_cron, describe_interval};

/// The most jobs one page holds.
pub const MAX_PAGE_SIZE: u64 = 500;
/// Jobs on a page when no limit is asked.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// Which jobs a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// The last run ended `failed` or `timeout`.
    Failing,
    Paused,
    /// At least one run in flight.
    Running,
    Enabled,
}

/// The order of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSort {
    JobId,
    NextDue,
    LastRun,
    LastStatus,
    Queue,
}

/// A page request: `text` matches job_id, queue, description and cron (any case).
#[derive(Debug, Clone, PartialEq)]
pub struct JobQuery {
    pub text: Option<String>,
    pub state: Option<JobState>,
    pub sort: JobSort,
    pub descending: bool,
    pub offset: u64,
    pub limit: u64,
}

impl Default for JobQuery {
    fn default() -> Self {
        JobQuery {
            text: None,
            state: None,
            sort: JobSort::JobId,
            descending: false,
            offset: 0,
            limit: DEFAULT_PAGE_SIZE,
        }
    }
}

fn invalid(field: &str, message: String) -> ValidationError {
    ValidationError::new("invalid_query", message, Some(field))
}

impl JobQuery {
    /// From query parameters as sent; each wrong value is a 400 naming it.
    pub fn from_params(
        text: Option<&str>,
        state: Option<&str>,
        sort: Option<&str>,
        order: Option<&str>,
        offset: Option<u64>,
        limit: Option<u64>,
    ) -> Result<JobQuery, ValidationError> {
        let state = match state.unwrap_or("") {
            "" | "all" => None,
            "failing" => Some(JobState::Failing),
            "paused" => Some(JobState::Paused),
            "running" => Some(JobState::Running),
            "enabled" => Some(JobState::Enabled),
            other => {
                return Err(invalid(
                    "state",
                    format!(
                        "state must be all, failing, paused, running or enabled, not '{other}'"
                    ),
                ))
            }
        };
        let sort = match sort.unwrap_or("job_id") {
            "job_id" => JobSort::JobId,
            "next_due_at" => JobSort::NextDue,
            "last_run_at" => JobSort::LastRun,
            "last_status" => JobSort::LastStatus,
            "queue" => JobSort::Queue,
            other => {
                return Err(invalid(
                    "sort",
                    format!(
                        "sort must be job_id, next_due_at, last_run_at, last_status or queue, not '{other}'"
                    ),
                ))
            }
        };
        let descending = match order.unwrap_or("asc") {
            "asc" => false,
            "desc" => true,
            other => {
                return Err(invalid(
                    "order",
                    format!("order must be asc or desc, not '{other}'"),
                ))
            }
        };
        let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(invalid(
                "limit",
                format!("limit must be 1 to {MAX_PAGE_SIZE}"),
            ));
        }
        let text = text
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_lowercase);
        if text.as_ref().is_some_and(|text| text.len() > 200) {
            return Err(invalid("q", "q must be at most 200 bytes".into()));
        }
        Ok(JobQuery {
            text,
            state,
            sort,
            descending,
            offset: offset.unwrap_or(0),
            limit,
        })
    }
}

/// A job as a list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    #[serde(flatten)]
    pub job: Job,
    /// Runs published and not finished (`pending` or `queued`).
    pub in_flight: u64,
    /// The schedule in words.
    pub schedule_text: String,
}

/// How many jobs of the scope are in each state (whatever the page's filter).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StateCounts {
    pub all: u64,
    pub enabled: u64,
    pub paused: u64,
    pub failing: u64,
    pub running: u64,
}

/// One page of the job list.
#[derive(Debug, Clone, Serialize)]
pub struct JobPage {
    /// Jobs matching the filter (on every page).
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    pub counts: StateCounts,
    pub jobs: Vec<JobSummary>,
}

/// The schedule of a job in words.
pub fn schedule_text(job: JobView<'_>) -> String {
    let config = job.config;
    let words = if !config.cron_expr.is_empty() {
        describe_cron(&config.cron_expr)
    } else if let Some(seconds) = config.interval_seconds.filter(|s| *s > 0) {
        describe_interval(seconds)
    } else {
        "not scheduled".to_string()
    };
    match config.reschedule_mode {
        RescheduleMode::Scheduler => words,
        RescheduleMode::Queue => format!("queue mode: the worker reschedules ({words})"),
    }
}

fn is_failing(job: &JobView<'_>) -> bool {
    matches!(job.state.last_status.as_deref(), Some("failed" | "timeout"))
}

fn matches_text(job: &JobView<'_>, text: &str) -> bool {
    let config = job.config;
    [
        config.job_id.as_str(),
        config.queue.as_str(),
        config.cron_expr.as_str(),
        config.description.as_deref().unwrap_or(""),
    ]
    .iter()
    .any(|field| field.to_lowercase().contains(text))
}

/// Filters, counts, sorts and cuts the page (the pure part of [`JobService::page`]).
pub fn page_of(
    jobs: Vec<JobView<'_>>,
    in_flight: &HashMap<String, u64>,
    query: &JobQuery,
) -> JobPage {
    let running = |job: &JobView<'_>| in_flight.get(&job.config.job_id).copied().unwrap_or(0);
    let mut counts = StateCounts::default();
    for job in &jobs {
        counts.all += 1;
        counts.enabled += u64::from(job.config.enabled);
        counts.paused += u64::from(!job.config.enabled);
        counts.failing += u64::from(is_failing(job));
        counts.running += u64::from(running(job) > 0);
    }
    let mut chosen: Vec<JobView<'_>> = jobs
        .into_iter()
        .filter(|job| match query.state {
            None => true,
            Some(JobState::Failing) => is_failing(job),
            Some(JobState::Paused) => !job.config.enabled,
            Some(JobState::Enabled) => job.config.enabled,
            Some(JobState::Running) => running(job) > 0,
        })
        .filter(|job| {
            query
                .text
                .as_deref()
                .is_none_or(|text| matches_text(job, text))
        })
        .collect();
    // Stable sorts on an id-ordered list: ties stay in job_id order. Jobs without the key
    // (never run, not scheduled) come last in either direction.
    match query.sort {
        JobSort::JobId => {}
        JobSort::NextDue => sort_by_key(&mut chosen, query.descending, |j| j.state.next_due_at),
        JobSort::LastRun => sort_by_key(&mut chosen, query.descending, |j| j.state.last_run_at),
        JobSort::LastStatus => sort_by_key(&mut chosen, query.descending, |j| {
            j.state.last_status.as_deref().map(severity)
        }),
        JobSort::Queue => sort_by_key(&mut chosen, query.descending, |j| {
            Some(j.config.queue.clone())
        }),
    }
    if query.sort == JobSort::JobId && query.descending {
        chosen.reverse();
    }
    let total = chosen.len() as u64;
    let jobs = chosen
        .into_iter()
        .skip(query.offset.min(total) as usize)
        .take(query.limit as usize)
        .map(|job| JobSummary {
            in_flight: running(&job),
            schedule_text: schedule_text(job),
            job: Job {
                config: job.config.clone(),
                state: job.state.clone(),
            },
        })
        .collect();
    JobPage {
        total,
        offset: query.offset,
        limit: query.limit,
        counts,
        jobs,
    }
}

/// The order of last statuses: the worst first (`failed`, `timeout`, `skipped`, `success`).
fn severity(status: &str) -> u8 {
    match status {
        "failed" => 0,
        "timeout" => 1,
        "skipped" => 2,
        "success" => 3,
        _ => 4,
    }
}

fn sort_by_key<K: Ord>(
    jobs: &mut [JobView<'_>],
    descending: bool,
    key: impl Fn(&JobView<'_>) -> Option<K>,
) {
    jobs.sort_by(|a, b| match (key(a), key(b)) {
        (Some(a), Some(b)) if descending => b.cmp(&a),
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

impl JobService {
    /// A page of the scope's jobs. The jobs come from memory; only the runs in flight need
    /// the database, and while it does not answer they are shown as none (the page still
    /// answers, so an outage can be seen).
    pub async fn page(&self, query: &JobQuery) -> Result<JobPage, ServiceError> {
        let in_flight = match self.store.in_flight_counts(self.scope).await {
            Ok(in_flight) => in_flight,
            Err(error) => {
                tracing::warn!(%error, "runs in flight unknown: the database did not answer");
                HashMap::new()
            }
        };
        Ok(self.with_jobs(|jobs| page_of(jobs, &in_flight, query)))
    }
}

#[cfg(test)]
mod tests;
