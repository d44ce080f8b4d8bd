//! Whether the instance can do its work: its database and broker answer. Also the job counts
//! the metrics show.

use std::time::Duration;

use super::JobService;
use crate::engine::PersistenceStatus;

/// How long a probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One dependency's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Up,
    Down(String),
}

impl std::fmt::Display for Probe {
    /// `up`, or `down: <why>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Up => f.write_str("up"),
            Probe::Down(why) => write!(f, "down: {why}"),
        }
    }
}

/// The answer of a readiness check.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub database: Probe,
    pub broker: Probe,
    /// Messages waiting for the broker connection.
    pub outbox: usize,
    /// The engine's state writer; None when it did not answer.
    pub state_writes: Option<PersistenceStatus>,
    /// Cluster mode: this instance, the partitions it holds and its live peers (None on
    /// SQLite, where one instance runs every job).
    pub cluster: Option<crate::engine::cluster::ClusterView>,
    /// Cluster mode: whether peers can reach this instance over the control plane.
    pub control: Option<bool>,
}

impl Readiness {
    /// Ready when the database and the broker are both up (and, in cluster mode, peers can
    /// reach this instance: before that, requests they forward here would be lost).
    pub fn ready(&self) -> bool {
        self.database == Probe::Up && self.broker == Probe::Up && self.control != Some(false)
    }
}

impl JobService {
    /// Asks the database, the broker actor and the state writer, each within 2 s.
    pub async fn readiness(&self) -> Readiness {
        let database = match tokio::time::timeout(PROBE_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Probe::Up,
            Ok(Err(error)) => Probe::Down(error.to_string()),
            Err(_) => Probe::Down("no answer within 2 s".into()),
        };
        let (broker, outbox) =
            match tokio::time::timeout(PROBE_TIMEOUT, self.engine.broker_status()).await {
                Ok(Ok(status)) if status.connected => (Probe::Up, status.outbox),
                Ok(Ok(status)) => (
                    Probe::Down(status.last_error.unwrap_or_else(|| "connecting".into())),
                    status.outbox,
                ),
                _ => (Probe::Down("the broker actor did not answer".into()), 0),
            };
        let state_writes = tokio::time::timeout(PROBE_TIMEOUT, self.engine.persistence_status())
            .await
            .ok()
            .and_then(Result::ok);
        Readiness {
            database,
            broker,
            outbox,
            state_writes,
            cluster: self.engine.cluster_view(),
            control: self.engine.control_connected(),
        }
    }

    /// Sets the gauge of jobs by state (enabled, paused) from the engine's count.
    pub async fn refresh_job_gauges(&self) {
        if let Ok((total, enabled)) = self.engine.count_jobs().await {
            let scope = self.scope.as_str();
            metrics::gauge!(crate::metrics::JOBS, "scope" => scope, "state" => "enabled")
                .set(enabled as f64);
            metrics::gauge!(crate::metrics::JOBS, "scope" => scope, "state" => "paused")
                .set((total - enabled) as f64);
        }
    }
}
