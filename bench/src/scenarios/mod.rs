//! The scenarios and what they share: where things run, how fires are counted.

pub mod api;
pub mod burst;
pub mod cluster;
pub mod footprint;
pub mod idle;
pub mod spread;
pub mod throughput;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use worker::SchedulerClient;

use crate::amqp::{Collector, Received};
use crate::bare::Kind;
use crate::db::Db;
use crate::plan::PlannedJob;
use crate::report::Report;
use crate::service::{Process, ServiceConfig};
use crate::util::Spread;

/// Everything a scenario needs.
pub struct Bench {
    pub service: ServiceConfig,
    /// The Python of the harness's virtualenv, with APScheduler 3.x and pika.
    pub python: PathBuf,
    pub self_exe: PathBuf,
    /// Scratch space: databases, plans, wrk scripts.
    pub work: PathBuf,
    /// Shorter windows and fewer sizes, to try the harness; never for RESULTS.md.
    pub quick: bool,
    pub repeats: usize,
    pub report: Report,
    pub seed: u64,
    /// Overrides the sizes N of spread and burst (`--sizes 10000`).
    pub sizes: Option<Vec<u32>>,
    /// Skips the baselines (`--ours-only`), to profile the service.
    pub ours_only: bool,
}

impl Bench {
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// The APScheduler baseline on `plan`, publishing to `queue` until `until_ms`.
    pub fn spawn_apscheduler(&self, plan: &Path, queue: &str, until_ms: f64) -> Result<Process> {
        let mut command = Command::new(&self.python);
        command
            .arg(crate::util::repo_root().join("bench/apscheduler_bench.py"))
            .arg("--plan")
            .arg(plan)
            .args(["--queue", queue, "--amqp", &crate::amqp::url()])
            .args(["--until", &format!("{until_ms:.0}")]);
        Process::spawn("apscheduler", command, "apscheduler armed")
    }

    /// A bare-timer baseline on `plan`, recording wake-ups for dues in `[from_ms, until_ms)`.
    pub fn spawn_bare(
        &self,
        kind: Kind,
        plan: &Path,
        from_ms: f64,
        until_ms: f64,
    ) -> Result<Process> {
        let mut command = Command::new(&self.self_exe);
        command
            .args(["bare", "--kind", kind.as_str(), "--plan"])
            .arg(plan)
            .args(["--from", &format!("{from_ms:.0}")])
            .args(["--until", &format!("{until_ms:.0}")]);
        Process::spawn(
            &format!("bare {}", kind.as_str()),
            command,
            "bare timers armed",
        )
    }

    /// Fills `db` with `jobs` publishing to `queue`, starts a consumer that reports every run
    /// back like a worker (over `path`), then the service; returns once every timer is armed.
    pub async fn start_reported(
        &self,
        jobs: &[PlannedJob],
        db: &Db,
        queue: &str,
        path: ReportPath,
    ) -> Result<(Collector, Process)> {
        db.fill(jobs, queue).await?;
        let reports_to = match path {
            ReportPath::Http => SchedulerClient::new(&self.service.base_url(), None)?,
            ReportPath::Amqp => SchedulerClient::over_amqp(
                &crate::amqp::url(),
                &worker::reports_queue_name("mock"),
            )?,
        };
        let collector = Collector::start(queue, Some(reports_to)).await?;
        let mut service = self.service.start(db)?;
        service.wait_marker(Duration::from_secs(120))?;
        Ok((collector, service))
    }

    /// How long a spread or throughput window lasts.
    pub fn window(&self) -> Duration {
        if self.quick {
            Duration::from_secs(20)
        } else {
            Duration::from_secs(120)
        }
    }
}

/// How the bench's worker reports runs back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportPath {
    /// `POST /jobs/{id}/last-run` (the worker SDK's default).
    Http,
    /// The scheduler's reports queue, answered on direct reply-to.
    Amqp,
}

impl ReportPath {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportPath::Http => "HTTP",
            ReportPath::Amqp => "AMQP",
        }
    }
}

/// Fires of a window, counted against the plan.
pub struct Fires {
    pub expected: u64,
    pub duplicates: u64,
    pub missed: u64,
    /// `(due_ms, lateness_ms)` of each first delivery of a due instant.
    pub lateness: Vec<(f64, f64)>,
    /// `queued_at − due_at` of the same deliveries: how late the publisher fired.
    pub fired_late: Vec<f64>,
}

impl Fires {
    /// Counts what arrived for dues in `[from_ms, until_ms)`.
    pub fn count(records: &[Received], plan: &[PlannedJob], from_ms: f64, until_ms: f64) -> Fires {
        let expected: u64 = plan.iter().map(|job| job.dues_in(from_ms, until_ms)).sum();
        let mut seen = HashSet::new();
        let mut duplicates = 0;
        let mut lateness = Vec::new();
        let mut fired_late = Vec::new();
        for record in records
            .iter()
            .filter(|r| r.due_ms >= from_ms && r.due_ms < until_ms)
        {
            if seen.insert((record.job, record.due_ms.round() as i64)) {
                lateness.push((record.due_ms, record.lateness_ms()));
                fired_late.push(record.queued_ms - record.due_ms);
            } else {
                duplicates += 1;
            }
        }
        let received = seen.len() as u64;
        Fires {
            expected,
            duplicates,
            missed: expected.saturating_sub(received),
            lateness,
            fired_late,
        }
    }

    pub fn spread(&self) -> Spread {
        Spread::of(self.lateness.iter().map(|(_, late)| *late).collect())
    }

    /// The lateness of the dues in `[from_ms, until_ms)`.
    pub fn spread_between(&self, from_ms: f64, until_ms: f64) -> Spread {
        Spread::of(
            self.lateness
                .iter()
                .filter(|(due, _)| *due >= from_ms && *due < until_ms)
                .map(|(_, late)| *late)
                .collect(),
        )
    }
}

/// Milliseconds shown with two decimals, or `n/a`.
pub fn ms(value: f64) -> String {
    if value.is_nan() {
        "n/a".into()
    } else {
        format!("{value:.2}")
    }
}
