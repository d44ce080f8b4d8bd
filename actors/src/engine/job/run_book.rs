//! The run book: a job's runs in flight and recently finished, and the rules that move them.
//! Starting a fire answers whether it runs (and what row it needs first) or is skipped;
//! finishing a run answers its writes and its retry. No actix and no clock here: the actor
//! passes `now` in and carries out what the book answers, so every rule is unit-tested.

use std::collections::VecDeque;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;
use worker::{JobMessage, RunReport, TriggerSource};

use crate::job::{JobConfig, RescheduleMode};
use crate::run::{RunRecord, RunStatus, StateWrite};

/// Finished run ids remembered per job, so a repeated report counts once.
const RECENT_FINISHED: usize = 64;
/// Retry backoff: 1 s, 2 s, 4 s, … capped here.
const MAX_RETRY_BACKOFF: StdDuration = StdDuration::from_secs(60);

/// The next scheduled fire, staged ahead as a `scheduled` run row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedRun {
    pub run_id: Uuid,
    pub due_at: DateTime<Utc>,
    /// Its row is committed: the fire is a publish and nothing else.
    pub written: bool,
}

/// A run to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Fire {
    pub trigger: TriggerSource,
    pub due_at: DateTime<Utc>,
    pub params: Map<String, Value>,
    pub attempt: u32,
    /// Start even when `max_parallel` runs are in flight.
    pub force: bool,
    /// Queue mode: the chain and position of this run.
    pub chain: Option<(Uuid, u64)>,
    /// Published now for now: `queued_at` = `due_at`.
    pub immediate: bool,
    /// The staged run this fire is (scheduled fires only).
    pub staged: Option<StagedRun>,
}

/// The write that records `fire` (run `run_id`) as `skipped` for `error`: its staged row, or
/// a new row.
pub fn skipped_write(
    fire: Fire,
    run_id: Uuid,
    config: &JobConfig,
    now: DateTime<Utc>,
    error: String,
) -> StateWrite {
    if fire.staged.is_some() {
        return StateWrite::RunStatus {
            run_id,
            status: RunStatus::Skipped,
            started_at: None,
            finished_at: Some(now),
            error: Some(error),
        };
    }
    StateWrite::InsertRun(RunRecord {
        run_id,
        job_id: config.job_id.clone(),
        scope: config.scope.as_str().to_string(),
        trigger_source: fire.trigger,
        attempt: fire.attempt,
        due_at: fire.due_at,
        queued_at: if fire.immediate { fire.due_at } else { now },
        started_at: None,
        finished_at: Some(now),
        status: RunStatus::Skipped,
        error: Some(error),
        params: fire.params,
    })
}

impl Fire {
    /// The fire of a scheduled instant (its staged run, if any, is set by the caller).
    pub fn scheduled(due_at: DateTime<Utc>, params: Map<String, Value>) -> Fire {
        Fire {
            trigger: TriggerSource::Scheduler,
            due_at,
            params,
            attempt: 1,
            force: false,
            chain: None,
            immediate: false,
            staged: None,
        }
    }

    /// A run published now, for now (manual runs, queue-mode bootstraps).
    pub fn immediate(
        trigger: TriggerSource,
        params: Map<String, Value>,
        chain: Option<(Uuid, u64)>,
        now: DateTime<Utc>,
    ) -> Fire {
        Fire {
            trigger,
            due_at: now,
            params,
            attempt: 1,
            force: true,
            chain,
            immediate: true,
            staged: None,
        }
    }

    /// The next attempt of a failed run.
    fn retry_of(run: InFlight) -> Fire {
        Fire {
            trigger: TriggerSource::Retry,
            due_at: run.due_at,
            params: run.params,
            attempt: run.attempt + 1,
            force: false,
            chain: None,
            immediate: false,
            staged: None,
        }
    }
}

/// Where a run in flight is on its way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Its row is being written; it is published when the write ends.
    Writing,
    /// Handed to the broker, not confirmed yet.
    Publishing,
    /// Confirmed by the broker: its timeout runs.
    Queued,
}

/// A run started and not yet finished or timed out.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    pub run_id: Uuid,
    pub trigger: TriggerSource,
    pub attempt: u32,
    pub due_at: DateTime<Utc>,
    pub queued_at: DateTime<Utc>,
    pub params: Map<String, Value>,
    pub phase: Phase,
    pub chain: Option<(Uuid, u64)>,
}

/// What a started run needs before its publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// Its row is in the table: publish now.
    Written,
    /// Write this first, then publish.
    Write(StateWrite),
}

/// What starting a fire came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    Run {
        run_id: Uuid,
        row: Row,
    },
    /// Not published (`max_parallel` runs in flight): record `write`.
    Skipped {
        run_id: Uuid,
        error: String,
        write: StateWrite,
    },
}

/// Whether a finished run is tried again.
#[derive(Debug, Clone, PartialEq)]
pub enum Retry {
    No,
    /// Failed with its `retry_limit` spent.
    Exhausted,
    After(StdDuration, Fire),
}

/// A run closed: what to write, and its retry.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub run: InFlight,
    pub duration_seconds: f64,
    pub writes: [StateWrite; 2],
    pub retry: Retry,
}

/// The broker confirmed a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmed {
    /// How late after its due instant a scheduled fire reached the queue.
    pub lateness_seconds: Option<f64>,
    pub write: StateWrite,
}

#[derive(Debug, Default)]
pub struct RunBook {
    in_flight: Vec<InFlight>,
    /// Recently finished runs with their status and the verdict their report got, so a
    /// repeated report (a retry whose answer was lost) gets the same answer and counts once.
    recent: VecDeque<(Uuid, RunStatus, bool)>,
}

/// The row of a run of `config`.
pub fn record_of(config: &JobConfig, run: &InFlight, status: RunStatus) -> RunRecord {
    RunRecord {
        run_id: run.run_id,
        job_id: config.job_id.clone(),
        scope: config.scope.as_str().to_string(),
        trigger_source: run.trigger,
        attempt: run.attempt,
        due_at: run.due_at,
        queued_at: run.queued_at,
        started_at: None,
        finished_at: None,
        status,
        error: None,
        params: run.params.clone(),
    }
}

/// The message a worker gets for `run`.
pub fn message_of(config: &JobConfig, run: &InFlight) -> JobMessage {
    JobMessage {
        job_id: config.job_id.clone(),
        scope: config.scope.as_str().to_string(),
        run_id: run.run_id,
        trigger_source: run.trigger,
        params: run.params.clone(),
        next_delay_sec: config.interval_seconds,
        auto_reschedule: config.reschedule_mode == RescheduleMode::Queue,
        timeout_sec: config.timeout_sec,
        retry_limit: config.retry_limit,
        telemetry_label: config.telemetry_label.clone(),
        queued_at: run.queued_at,
        due_at: run.due_at,
        attempt: run.attempt,
        chain_id: run.chain.map(|(id, _)| id),
        chain_seq: run.chain.map(|(_, seq)| seq),
    }
}

fn status_write(run_id: Uuid, status: RunStatus) -> StateWrite {
    StateWrite::RunStatus {
        run_id,
        status,
        started_at: None,
        finished_at: None,
        error: None,
    }
}

impl RunBook {
    pub fn in_flight(&self) -> &[InFlight] {
        &self.in_flight
    }

    pub fn get(&self, run_id: Uuid) -> Option<&InFlight> {
        self.in_flight.iter().find(|run| run.run_id == run_id)
    }

    /// Whether `max_parallel` runs are in flight.
    pub fn full(&self, max_parallel: i64) -> bool {
        self.in_flight.len() as i64 >= max_parallel
    }

    /// Starts `fire`: a run in flight and the row it needs before its publish, or a skip when
    /// `max_parallel` runs are in flight (unless forced).
    pub fn start(&mut self, fire: Fire, config: &JobConfig, now: DateTime<Utc>) -> Started {
        // An immediate fire is queued at its due instant; a scheduled one when it is sent.
        let queued_at = if fire.immediate { fire.due_at } else { now };
        let run_id = fire
            .staged
            .map_or_else(Uuid::new_v4, |staged| staged.run_id);
        if !fire.force && self.full(config.max_parallel) {
            let waiting = self
                .in_flight
                .iter()
                .filter(|run| run.phase != Phase::Queued)
                .count();
            let error = if waiting > 0 {
                format!("coalesced: {waiting} earlier run(s) still waiting to be published (broker unavailable)")
            } else {
                format!("max_parallel ({}) runs in flight", config.max_parallel)
            };
            let write = skipped_write(fire, run_id, config, now, error.clone());
            return Started::Skipped {
                run_id,
                error,
                write,
            };
        }
        let mut run = InFlight {
            run_id,
            trigger: fire.trigger,
            attempt: fire.attempt,
            due_at: fire.due_at,
            queued_at,
            params: fire.params,
            phase: Phase::Writing,
            chain: fire.chain,
        };
        let row = match fire.staged {
            Some(staged) if staged.written => Row::Written,
            // Staged too close to its instant to be written yet: the status goes behind it.
            Some(_) => Row::Write(status_write(run_id, RunStatus::Pending)),
            None => Row::Write(StateWrite::InsertRun(record_of(
                config,
                &run,
                RunStatus::Pending,
            ))),
        };
        if row == Row::Written {
            run.phase = Phase::Publishing;
        }
        self.in_flight.push(run);
        Started::Run { run_id, row }
    }

    /// A run whose row is written (or waited for long enough) goes to the broker: answers it
    /// if it was waiting for its row, None if it is gone or already sent.
    pub fn take_for_publish(&mut self, run_id: Uuid) -> Option<&InFlight> {
        let run = self
            .in_flight
            .iter_mut()
            .find(|run| run.run_id == run_id && run.phase == Phase::Writing)?;
        run.phase = Phase::Publishing;
        Some(run)
    }

    /// Forgets a run whose row the database refused before it was published (its partition
    /// went to another instance, or the due instant has a row already): it never ran here.
    pub fn drop_unwritten(&mut self, run_id: Uuid) -> bool {
        let before = self.in_flight.len();
        self.in_flight
            .retain(|run| !(run.run_id == run_id && run.phase == Phase::Writing));
        self.in_flight.len() != before
    }

    /// The broker confirmed `run_id`; None when the run is no longer in flight (reported or
    /// timed out before the confirm came).
    pub fn confirm(&mut self, run_id: Uuid, now: DateTime<Utc>) -> Option<Confirmed> {
        let run = self.in_flight.iter_mut().find(|run| run.run_id == run_id)?;
        run.phase = Phase::Queued;
        let lateness_seconds = (run.trigger == TriggerSource::Scheduler)
            .then(|| (now - run.due_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
        Some(Confirmed {
            lateness_seconds,
            write: status_write(run_id, RunStatus::Queued),
        })
    }

    /// Closes a run in flight: its writes, and its retry (scheduler mode only: a queue-mode
    /// chain goes on by itself and its watchdog restarts it).
    pub fn finish(
        &mut self,
        run_id: Uuid,
        status: RunStatus,
        started_at: Option<DateTime<Utc>>,
        finished_at: DateTime<Utc>,
        error: Option<String>,
        config: &JobConfig,
    ) -> Option<Finished> {
        let index = self.in_flight.iter().position(|run| run.run_id == run_id)?;
        let run = self.in_flight.remove(index);
        let duration_seconds = ((finished_at - started_at.unwrap_or(run.queued_at))
            .num_milliseconds()
            .max(0)) as f64
            / 1000.0;
        let writes = [
            StateWrite::RunStatus {
                run_id,
                status,
                started_at,
                finished_at: Some(finished_at),
                error: error.clone(),
            },
            StateWrite::LastRun {
                job_id: config.job_id.clone(),
                last_run_at: finished_at,
                last_status: status,
                last_error: error,
            },
        ];
        self.remember(run_id, status);
        let retry = if !matches!(status, RunStatus::Failed | RunStatus::Timeout)
            || config.reschedule_mode != RescheduleMode::Scheduler
        {
            Retry::No
        } else if i64::from(run.attempt) > config.retry_limit {
            Retry::Exhausted
        } else {
            let backoff =
                StdDuration::from_secs(1u64 << (run.attempt - 1).min(16)).min(MAX_RETRY_BACKOFF);
            Retry::After(backoff, Fire::retry_of(run.clone()))
        };
        Some(Finished {
            run,
            duration_seconds,
            writes,
            retry,
        })
    }

    /// Takes over a run the previous process left `pending` (to publish again, same run_id)
    /// or `queued` (waiting for its report).
    pub fn restore(&mut self, record: RunRecord) -> &InFlight {
        self.in_flight.push(InFlight {
            run_id: record.run_id,
            trigger: record.trigger_source,
            attempt: record.attempt,
            due_at: record.due_at,
            queued_at: record.queued_at,
            params: record.params,
            phase: if record.status == RunStatus::Queued {
                Phase::Queued
            } else {
                Phase::Publishing
            },
            chain: None,
        });
        self.in_flight.last().expect("just pushed")
    }

    /// Records a run a queue-mode worker published itself, now that its report says it is
    /// over: its row.
    pub fn worker_run(
        &mut self,
        run_id: Uuid,
        report: &RunReport,
        status: RunStatus,
        finished_at: DateTime<Utc>,
        config: &JobConfig,
    ) -> RunRecord {
        self.remember(run_id, status);
        RunRecord {
            run_id,
            job_id: config.job_id.clone(),
            scope: config.scope.as_str().to_string(),
            trigger_source: TriggerSource::AutoReschedule,
            attempt: report.attempt.unwrap_or(1),
            due_at: report.due_at.unwrap_or(finished_at),
            queued_at: report.queued_at.unwrap_or(finished_at),
            started_at: report.started_at,
            finished_at: Some(finished_at),
            status,
            error: report.error.clone(),
            params: Map::new(),
        }
    }

    /// How a recently finished run ended and the verdict its report got.
    pub fn earlier(&self, run_id: Uuid) -> Option<(RunStatus, bool)> {
        self.recent
            .iter()
            .find(|(id, ..)| *id == run_id)
            .map(|(_, status, go_on)| (*status, *go_on))
    }

    /// Keeps the verdict a run's report got, for a repeat of that report.
    pub fn note_verdict(&mut self, run_id: Uuid, go_on: bool) {
        if let Some(entry) = self.recent.iter_mut().rev().find(|(id, ..)| *id == run_id) {
            entry.2 = go_on;
        }
    }

    fn remember(&mut self, run_id: Uuid, status: RunStatus) {
        if self.recent.len() == RECENT_FINISHED {
            self.recent.pop_front();
        }
        self.recent.push_back((run_id, status, false));
    }
}

#[cfg(test)]
mod tests;
