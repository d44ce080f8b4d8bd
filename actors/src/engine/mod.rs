//! The scheduling engine: a supervisor, one actor per job, the broker actor (the only lapin
//! user) and the persistence actor (the only writer of engine state). See ARCHITECTURE.md.

mod broker;
mod job;
mod persistence;
mod precise_timer;
mod read_model;
mod report_consumer;
pub mod reports;
mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono_tz::Tz;

pub use broker::{BrokerActor, BrokerStatus, GetBrokerStatus, PublishFailure, StopBroker};
pub use job::{Complete, Completion, ReportRefused, RunNow, RunNowRejected};
pub use persistence::{FlushAndStop, GetPersistenceStatus, PersistenceActor, PersistenceStatus};
pub use read_model::ReadModel;
pub use supervisor::{
    CompleteJobRun, CountJobs, NoSuchJob, Remove, RunJobNow, StopAll, Supervisor, Upsert,
};

use crate::job::Scope;
use crate::store::{Store, StoreError};

/// What the engine needs from the service's settings.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub scope: Scope,
    pub timezone: Tz,
    /// How often the supervisor re-reads the jobs table.
    pub tick: Duration,
    /// How late a fire missed while the service was down may still be caught up.
    pub misfire_grace: chrono::Duration,
    pub rabbitmq_url: String,
    /// Runs kept per job.
    pub history_limit: u64,
    /// Whether metrics carry a `job_id` label per job (off: `_all`).
    pub metrics_per_job: bool,
    /// The queue completion reports may be published to; refused ones go to `{queue}.dead`.
    pub reports_queue: String,
    /// How long before its due instant the next run is staged.
    pub stage_ahead: chrono::Duration,
}

/// Shared by every actor of the engine.
pub struct EngineContext {
    pub settings: EngineSettings,
    pub store: Store,
    pub broker: Addr<BrokerActor>,
    pub persistence: Addr<PersistenceActor>,
    /// Job actors of the start-up load whose timers are not armed yet.
    pub loading: std::sync::atomic::AtomicUsize,
    /// When the engine started reading its jobs.
    pub started: std::time::Instant,
    /// What the API reads: every job, kept current by the supervisor and persistence.
    pub read_model: Arc<ReadModel>,
    /// Whether the broker connection is up (kept by the broker actor).
    pub broker_up: Arc<std::sync::atomic::AtomicBool>,
    /// Wakes job actors for their fires at the exact instant.
    pub timer: precise_timer::PreciseTimer<job::FireDue>,
}

/// A running engine: the addresses the API talks to.
#[derive(Clone)]
pub struct Engine {
    pub supervisor: Addr<Supervisor>,
    pub broker: Addr<BrokerActor>,
    pub persistence: Addr<PersistenceActor>,
    /// Every job as the API shows it, without a database read.
    pub read_model: Arc<ReadModel>,
    /// Stops the consumer of the reports queue.
    reports: Arc<report_consumer::ReportThread>,
    /// Stopped when the last handle goes (a service dropped without a shutdown fires no more).
    _timer: Arc<precise_timer::TimerThread<job::FireDue>>,
    /// What settling a report needs besides the supervisor.
    pub store: Store,
    pub scope: Scope,
}

impl Engine {
    /// Loads the scope's jobs and open runs, then starts the actors (inside an actix System).
    pub async fn start(settings: EngineSettings, store: Store) -> Result<Engine, StoreError> {
        let started = std::time::Instant::now();
        let jobs = store.list_jobs(settings.scope).await?;
        let open_runs = store.open_runs(settings.scope).await?;
        let broker_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let broker = BrokerActor::new(settings.rabbitmq_url.clone(), broker_up.clone()).start();
        let read_model = Arc::new(ReadModel::default());
        let persistence =
            PersistenceActor::new(store.clone(), settings.history_limit, read_model.clone())
                .start();
        // The timer thread hands each batch of due fires to this thread, which wakes the job
        // actors locally (one cross-thread wake-up per batch).
        let (fires, mut due) = tokio::sync::mpsc::unbounded_channel::<Vec<job::FireDue>>();
        actix::spawn(async move {
            while let Some(batch) = due.recv().await {
                job::wake_for_fires(batch);
            }
        });
        let timer = precise_timer::TimerThread::start(move |batch| {
            let _ = fires.send(batch);
        });
        let context = Arc::new(EngineContext {
            timer: timer.timer(),
            settings,
            store,
            broker: broker.clone(),
            persistence: persistence.clone(),
            loading: std::sync::atomic::AtomicUsize::new(jobs.len()),
            started,
            read_model: read_model.clone(),
            broker_up,
        });
        let supervisor = Supervisor::new(context.clone(), jobs, open_runs).start();
        let reports = report_consumer::ReportConsumer {
            url: context.settings.rabbitmq_url.clone(),
            queue: context.settings.reports_queue.clone(),
            scope: context.settings.scope,
            supervisor: supervisor.clone(),
            store: context.store.clone(),
        }
        .spawn();
        Ok(Engine {
            reports: Arc::new(reports),
            _timer: Arc::new(timer),
            store: context.store.clone(),
            scope: context.settings.scope,
            supervisor,
            broker,
            persistence,
            read_model,
        })
    }

    /// Stops the schedules, writes what is buffered, and closes the broker connection.
    pub async fn shutdown(&self) {
        self.reports.stop();
        let _ = self.supervisor.send(StopAll).await;
        let _ = self.persistence.send(FlushAndStop).await;
        let _ = self.broker.send(StopBroker).await;
    }
}
