//! The read model: every job of the scope as the API shows it, kept in memory so that reads
//! never touch the database. Configuration comes from the supervisor (the API's writes, the
//! start-up load and the reconcile with the table); engine state (`next_due_at`, `last_*`)
//! from the persistence actor once its batch has committed, so a read never shows a state the
//! table does not have. The configuration is shared with the job's actor (one copy per job).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use crate::instant::to_seconds;

use crate::job::{Job, JobConfig, JobState, JobView};
use crate::run::{RunStatus, StateWrite};

/// Minutes the run counts cover.
const RECENT_MINUTES: usize = 60;

struct Entry {
    config: Arc<JobConfig>,
    state: JobState,
}

/// Jobs by job_id, shared by the engine (writers) and the API (readers), and how many runs
/// reached each status in the last hour.
pub struct ReadModel {
    jobs: RwLock<HashMap<String, Entry>>,
    recent: Mutex<RecentRuns>,
}

impl Default for ReadModel {
    fn default() -> Self {
        ReadModel {
            jobs: RwLock::default(),
            recent: Mutex::new(RecentRuns::new(Utc::now())),
        }
    }
}

/// Runs that reached each status, per minute, over the last [`RECENT_MINUTES`] minutes (in
/// memory: counted since the process started).
struct RecentRuns {
    started: DateTime<Utc>,
    /// By minute since the epoch modulo the window: (that minute, counts by status).
    minutes: [(i64, [u64; 7]); RECENT_MINUTES],
}

/// How many runs were published (`queued`) and ended in each outcome in the last hour (or
/// since `since`, when the process started less than an hour ago).
#[derive(Debug, Clone, PartialEq)]
pub struct RecentRunCounts {
    pub since: DateTime<Utc>,
    pub counts: Vec<(RunStatus, u64)>,
}

impl RecentRuns {
    fn new(started: DateTime<Utc>) -> Self {
        RecentRuns {
            started,
            minutes: [(-1, [0; 7]); RECENT_MINUTES],
        }
    }

    /// Counts a run that reached `status` at `at` (no later than `now`); one older than the
    /// window is not counted.
    fn count(&mut self, status: RunStatus, at: DateTime<Utc>, now: DateTime<Utc>) {
        let minute = at.min(now).timestamp().div_euclid(60);
        if minute <= now.timestamp().div_euclid(60) - RECENT_MINUTES as i64 {
            return;
        }
        let slot = &mut self.minutes[minute.rem_euclid(RECENT_MINUTES as i64) as usize];
        if slot.0 > minute {
            return;
        }
        if slot.0 < minute {
            *slot = (minute, [0; 7]);
        }
        let index = RunStatus::ALL
            .iter()
            .position(|s| *s == status)
            .unwrap_or(0);
        slot.1[index] += 1;
    }

    fn totals(&self, now: DateTime<Utc>) -> RecentRunCounts {
        let minute = now.timestamp().div_euclid(60);
        let mut totals = [0u64; 7];
        for (at, counts) in &self.minutes {
            if *at > minute - RECENT_MINUTES as i64 && *at <= minute {
                for (total, count) in totals.iter_mut().zip(counts) {
                    *total += count;
                }
            }
        }
        let hour_ago = now - chrono::Duration::minutes(RECENT_MINUTES as i64);
        RecentRunCounts {
            since: self.started.max(hour_ago),
            counts: RunStatus::ALL.iter().copied().zip(totals).collect(),
        }
    }
}

impl ReadModel {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.jobs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.jobs
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A job as its row says (start-up load, API write): configuration and state.
    pub(crate) fn put(&self, config: Arc<JobConfig>, state: JobState) {
        self.write()
            .insert(config.job_id.clone(), Entry { config, state });
    }

    /// A row read back from the table by the reconcile: its configuration and timestamps; the
    /// engine state already known is newer than the row read (it is written after commits),
    /// so it is kept.
    pub(crate) fn put_reconciled(&self, config: Arc<JobConfig>, state: JobState) {
        let mut jobs = self.write();
        match jobs.get_mut(&config.job_id) {
            Some(entry) => {
                entry.config = config;
                entry.state.created_at = state.created_at;
                entry.state.updated_at = state.updated_at;
            }
            None => {
                jobs.insert(config.job_id.clone(), Entry { config, state });
            }
        }
    }

    pub(crate) fn remove(&self, job_id: &str) {
        self.write().remove(job_id);
    }

    /// Applies a committed batch of engine writes (the columns as the store writes them).
    pub(crate) fn apply(&self, batch: &[StateWrite]) {
        self.count_recent(batch, Utc::now());
        let mut jobs = self.write();
        for write in batch {
            match write {
                StateWrite::NextDue {
                    job_id,
                    next_due_at,
                } => {
                    if let Some(entry) = jobs.get_mut(job_id) {
                        entry.state.next_due_at = next_due_at.map(to_seconds);
                    }
                }
                StateWrite::LastRun {
                    job_id,
                    last_run_at,
                    last_status,
                    last_error,
                } => {
                    if let Some(entry) = jobs.get_mut(job_id) {
                        entry.state.last_run_at = Some(to_seconds(*last_run_at));
                        entry.state.last_status = Some(last_status.as_str().to_string());
                        entry.state.last_error =
                            last_error.as_deref().map(crate::store::bounded_error_text);
                    }
                }
                StateWrite::Chain {
                    job_id,
                    chain_id,
                    chain_seq,
                } => {
                    if let Some(entry) = jobs.get_mut(job_id) {
                        entry.state.chain = Some((*chain_id, *chain_seq));
                    }
                }
                // A staged run is the job's next instant (the fire path writes no
                // `NextDue` when it stages the next run at once).
                StateWrite::InsertRun(run) if run.status == crate::run::RunStatus::Scheduled => {
                    if let Some(entry) = jobs.get_mut(&run.job_id) {
                        entry.state.next_due_at = Some(to_seconds(run.due_at));
                    }
                }
                StateWrite::InsertRun(_)
                | StateWrite::RunStatus { .. }
                | StateWrite::DeleteRun { .. } => {}
            }
        }
    }

    /// Counts each run once per step that matters to people: published (`queued`, at the
    /// broker's confirm) and its outcome (`success`, `failed`, `timeout`, `skipped`), each
    /// at the instant the write carries (its end), so writes held back by a database outage
    /// land in their own minute.
    fn count_recent(&self, batch: &[StateWrite], now: DateTime<Utc>) {
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for write in batch {
            let (status, at) = match write {
                StateWrite::InsertRun(run) => (run.status, run.finished_at),
                StateWrite::RunStatus {
                    status,
                    finished_at,
                    ..
                } => (*status, *finished_at),
                _ => continue,
            };
            if matches!(
                status,
                RunStatus::Queued
                    | RunStatus::Success
                    | RunStatus::Failed
                    | RunStatus::Timeout
                    | RunStatus::Skipped
            ) {
                recent.count(status, at.unwrap_or(now), now);
            }
        }
    }

    /// How many runs reached each status in the last hour.
    pub fn recent_runs(&self) -> RecentRunCounts {
        self.recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .totals(Utc::now())
    }

    /// Calls `read` with the job, if the engine has it.
    pub fn with_job<R>(&self, job_id: &str, read: impl FnOnce(JobView<'_>) -> R) -> Option<R> {
        self.read().get(job_id).map(|entry| {
            read(JobView {
                config: &entry.config,
                state: &entry.state,
            })
        })
    }

    /// Calls `read` with every job, ordered by job_id.
    pub fn with_jobs<R>(&self, read: impl FnOnce(Vec<JobView<'_>>) -> R) -> R {
        let jobs = self.read();
        let mut views: Vec<JobView<'_>> = jobs
            .values()
            .map(|entry| JobView {
                config: &entry.config,
                state: &entry.state,
            })
            .collect();
        views.sort_unstable_by(|a, b| a.config.job_id.cmp(&b.config.job_id));
        read(views)
    }

    /// The job as an owned value.
    pub fn job(&self, job_id: &str) -> Option<Job> {
        self.with_job(job_id, |view| Job {
            config: view.config.clone(),
            state: view.state.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Scope;
    use crate::run::RunStatus;
    use chrono::{TimeZone, Utc};

    fn config(job_id: &str) -> Arc<JobConfig> {
        let body =
            serde_json::json!({"job_id": job_id, "queue": "real.jobs.x", "interval_seconds": 5});
        Arc::new(JobConfig::from_create_body(&body, Scope::Real).expect("valid"))
    }

    fn state() -> JobState {
        JobState::default()
    }

    #[test]
    fn run_counts_cover_the_last_hour_only() {
        let start = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 30).unwrap();
        let mut recent = RecentRuns::new(start - chrono::Duration::hours(3));
        let m = |minutes| start + chrono::Duration::minutes(minutes);
        recent.count(RunStatus::Success, start, start);
        recent.count(RunStatus::Success, m(30), m(30));
        recent.count(RunStatus::Failed, m(59), m(59));
        let count = |totals: &RecentRunCounts, status| {
            totals.counts.iter().find(|(s, _)| *s == status).unwrap().1
        };
        let totals = recent.totals(start + chrono::Duration::minutes(59));
        assert_eq!(count(&totals, RunStatus::Success), 2);
        assert_eq!(count(&totals, RunStatus::Failed), 1);
        // An hour on, the first minute has left the window; the slot reused later is reset.
        let totals = recent.totals(start + chrono::Duration::minutes(60));
        assert_eq!(count(&totals, RunStatus::Success), 1);
        recent.count(RunStatus::Timeout, m(120), m(120));
        // A write that comes late counts in its own minute; one older than the window, not at
        // all, and it never clears a newer minute.
        recent.count(RunStatus::Success, m(70), m(120));
        recent.count(RunStatus::Success, m(30), m(120));
        let totals = recent.totals(start + chrono::Duration::minutes(120));
        assert_eq!(count(&totals, RunStatus::Success), 1);
        assert_eq!(count(&totals, RunStatus::Failed), 0);
        assert_eq!(count(&totals, RunStatus::Timeout), 1);
        assert_eq!(totals.since, start + chrono::Duration::minutes(60));
    }

    #[test]
    fn committed_engine_writes_show_and_a_reconciled_row_does_not_undo_them() {
        let model = ReadModel::default();
        model.put(config("b"), state());
        model.put(config("a"), state());
        let due = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap()
            + chrono::Duration::milliseconds(750);
        model.apply(&[
            StateWrite::NextDue {
                job_id: "a".into(),
                next_due_at: Some(due),
            },
            StateWrite::LastRun {
                job_id: "a".into(),
                last_run_at: due,
                last_status: RunStatus::Failed,
                last_error: Some("x".repeat(70_000)),
            },
            StateWrite::NextDue {
                job_id: "gone".into(),
                next_due_at: Some(due),
            },
        ]);
        let mut row = state();
        row.updated_at = Some(due);
        model.put_reconciled(config("a"), row);

        let a = model.job("a").expect("a");
        assert_eq!(
            a.state.next_due_at,
            Some(to_seconds(due)),
            "whole seconds, as stored"
        );
        assert_eq!(a.state.last_status.as_deref(), Some("failed"));
        assert!(
            a.state.last_error.unwrap().len() < 70_000,
            "bounded as stored"
        );
        assert_eq!(a.state.updated_at, Some(due));
        assert!(model.job("gone").is_none());
        let order = model.with_jobs(|jobs| {
            jobs.iter()
                .map(|job| job.config.job_id.clone())
                .collect::<Vec<_>>()
        });
        assert_eq!(order, ["a", "b"]);
        model.remove("a");
        assert!(model.job("a").is_none());
    }
}
