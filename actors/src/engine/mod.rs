//! The scheduling engine: a supervisor, one actor per job, the broker actor (the only lapin
//! user) and the persistence actor (the only writer of engine state). See ARCHITECTURE.md.

mod amqp_targets;
mod broker;
mod calendar_sync;
pub mod cluster;
mod events;
mod job;
mod persistence;
mod precise_timer;
mod read_model;
mod report_consumer;
mod reports;
mod supervisor;
mod table_reader;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use broker::{BrokerActor, BrokerStatus, PublishFailure};
pub use events::{EngineEvent, EVENTS_BUFFER};
pub(crate) use job::Upcoming;
pub use job::{ReportRefused, RunNow, RunNowRejected, SettleReport, Settlement};
pub use persistence::{PersistenceActor, PersistenceStatus};
pub use read_model::{ReadModel, RecentRunCounts};
pub use reports::ReportError;
pub(crate) use reports::{report_of_body, Addressee};
pub use supervisor::JobUnavailable;

use supervisor::Supervisor;

use broker::{GetBrokerStatus, StopBroker};
use persistence::{FlushAndStop, GetPersistenceStatus};
use supervisor::{CountJobs, Remove, RunJobNow, StopAll, Upsert};

use crate::job::{Job, Scope};
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
    /// Fires skipped in a row that make an `EngineEvent::SkippedInARow` (0: never).
    pub alert_skipped_in_a_row: u64,
    /// The type job queues are declared with (classic, or quorum on a RabbitMQ cluster).
    pub queue_type: worker::QueueType,
    /// Cluster mode (MariaDB): this instance's id, the partitions and the lease TTL. None on
    /// SQLite (one instance owns every job).
    pub cluster: Option<cluster::ClusterSettings>,
}

/// How often the supervisor re-reads the table in cluster mode at most: a change made through
/// another instance reaches the owner of the job within this (plus the read).
const CLUSTER_TICK: Duration = Duration::from_millis(500);

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
    /// Where rare events go (failed runs with no retry left, skipped streaks).
    pub events: tokio::sync::broadcast::Sender<EngineEvent>,
    /// The partitions this instance may fire (all of them on one instance).
    pub leases: Arc<cluster::Leases>,
    /// Cluster mode: who holds which partition, as last read.
    pub cluster_view: Option<Arc<std::sync::RwLock<cluster::ClusterView>>>,
    /// Cluster mode: requests to the owners of jobs, and change announcements (set once the
    /// supervisor runs).
    pub control: std::sync::OnceLock<cluster::Control>,
    /// The scope's exchange calendars, read by every fire of a job on one.
    pub calendars: Arc<crate::calendar::Calendars>,
}

impl EngineContext {
    /// One job of the start-up load is armed (or runs on another instance); the last one
    /// says so.
    pub(crate) fn one_loaded(&self) {
        use std::sync::atomic::Ordering;
        let before = (self.loading).fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        });
        if before == Ok(1) {
            tracing::info!(
                elapsed_ms = self.started.elapsed().as_millis() as u64,
                "all job timers armed"
            );
        }
    }
}

/// A running engine. Front ends reach it only through the application service
/// ([`crate::service::JobService`]); its addresses stay inside this crate.
#[derive(Clone)]
pub struct Engine {
    supervisor: Addr<Supervisor>,
    broker: Addr<BrokerActor>,
    persistence: Addr<PersistenceActor>,
    /// Every job as the API shows it, without a database read.
    read_model: Arc<ReadModel>,
    /// The zone cron expressions are read in.
    timezone: chrono_tz::Tz,
    /// Rare events, for the alerts.
    events: tokio::sync::broadcast::Sender<EngineEvent>,
    /// Stops the consumer of the reports queue.
    reports: Arc<report_consumer::ReportThread>,
    /// Cluster mode's control plane.
    control: Option<cluster::Control>,
    /// Stopped when the last handle goes (a service dropped without a shutdown fires no more).
    _timer: Arc<precise_timer::TimerThread<job::FireDue>>,
    /// Cluster mode: the lease keeper and what it last saw.
    keeper: Option<Addr<cluster::LeaseKeeper>>,
    cluster_view: Option<Arc<std::sync::RwLock<cluster::ClusterView>>>,
    /// The calendars the job actors read (shared with them).
    calendars: Arc<crate::calendar::Calendars>,
}

impl Engine {
    /// Loads the scope's jobs and open runs, then starts the actors (inside an actix System).
    pub async fn start(mut settings: EngineSettings, store: Store) -> Result<Engine, StoreError> {
        let started = std::time::Instant::now();
        let leases = Arc::new(match &settings.cluster {
            Some(cluster) => cluster::Leases::cluster(cluster.partitions),
            None => cluster::Leases::solo(),
        });
        let mut fencing = None;
        let mut cluster_view = None;
        if let Some(cluster) = &settings.cluster {
            settings.tick = settings.tick.min(CLUSTER_TICK);
            // Every instance of a scope must split its jobs the same way.
            let existing = store.partition_count(settings.scope).await?;
            if existing != 0 && existing != cluster.partitions {
                return Err(StoreError::Database(sea_orm::DbErr::Custom(format!(
                    "SCHEDULER_PARTITIONS is {} but the instances of scope {} on this database \
                     split its jobs into {existing} partitions; set it to {existing} (to change \
                     it, stop every instance of the scope and delete its rows of \
                     scheduler_leases)",
                    cluster.partitions, settings.scope
                ))));
            }
            store
                .ensure_partitions(settings.scope, cluster.partitions)
                .await?;
            // The first round before any job actor starts: a lone instance fires at once.
            let first = cluster::round_once(
                store.clone(),
                settings.scope,
                cluster.clone(),
                leases.clone(),
            )
            .await?;
            let peers = first.peers;
            tracing::info!(instance_id = %cluster.instance_id, partitions = cluster.partitions,
                held = leases.held().len(), peers = peers.len(), "cluster mode: leases taken");
            cluster_view = Some(Arc::new(std::sync::RwLock::new(cluster::ClusterView {
                instance_id: cluster.instance_id.clone(),
                partitions: cluster.partitions,
                owned: leases.held(),
                peers,
                last_error: None,
                owners: first.owners,
            })));
            fencing = Some(persistence::Fencing {
                scope: settings.scope,
                instance_id: cluster.instance_id.clone(),
                leases: leases.clone(),
            });
        }
        let calendars = Arc::new(crate::calendar::Calendars::default());
        for calendar in store.list_calendars(settings.scope).await? {
            calendars.set(calendar);
        }
        let jobs = store.list_jobs(settings.scope).await?;
        let open_runs = store.open_runs(settings.scope).await?;
        let broker_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let broker = BrokerActor::new(
            settings.rabbitmq_url.clone(),
            settings.queue_type,
            broker_up.clone(),
        )
        .start();
        let read_model = Arc::new(ReadModel::default());
        let persistence = PersistenceActor::new(
            store.clone(),
            settings.history_limit,
            read_model.clone(),
            fencing,
        )
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
        let (events, _) = tokio::sync::broadcast::channel(EVENTS_BUFFER);
        let context = Arc::new(EngineContext {
            events: events.clone(),
            timer: timer.timer(),
            settings,
            store,
            broker: broker.clone(),
            persistence: persistence.clone(),
            loading: std::sync::atomic::AtomicUsize::new(jobs.len()),
            started,
            read_model: read_model.clone(),
            broker_up,
            leases: leases.clone(),
            cluster_view: cluster_view.clone(),
            control: std::sync::OnceLock::new(),
            calendars: calendars.clone(),
        });
        let reader =
            table_reader::TableReader::start(context.store.clone(), context.settings.scope)
                .map_err(|error| {
                    StoreError::Database(sea_orm::DbErr::Custom(format!(
                        "the jobs table reader thread did not start: {error}"
                    )))
                })?;
        let supervisor = Supervisor::new(context.clone(), reader, jobs, open_runs).start();
        let keeper = match (&context.settings.cluster, &cluster_view) {
            (Some(cluster), Some(view)) => Some(
                cluster::LeaseKeeper::new(
                    context.store.clone(),
                    context.settings.scope,
                    cluster.clone(),
                    leases.clone(),
                    view.clone(),
                    supervisor.clone().recipient(),
                    context.persistence.clone().recipient(),
                )
                .start(),
            ),
            _ => None,
        };
        let database = match &context.settings.cluster {
            Some(_) => context.store.database_name().await?,
            None => String::new(),
        };
        let control = context.settings.cluster.as_ref().map(|cluster| {
            cluster::ControlPlane {
                url: context.settings.rabbitmq_url.clone(),
                scope: context.settings.scope,
                database,
                instance_id: cluster.instance_id.clone(),
                supervisor: supervisor.clone(),
            }
            .spawn()
        });
        if let Some(control) = &control {
            let _ = context.control.set(control.clone());
        }
        let reports = report_consumer::ReportConsumer {
            url: context.settings.rabbitmq_url.clone(),
            queue: context.settings.reports_queue.clone(),
            scope: context.settings.scope,
            supervisor: supervisor.clone(),
        }
        .spawn();
        Ok(Engine {
            events,
            timezone: context.settings.timezone,
            reports: Arc::new(reports),
            _timer: Arc::new(timer),
            keeper,
            cluster_view,
            control,
            calendars,
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
        if let Some(control) = &self.control {
            control.stop();
        }
        let _ = self.persistence.send(FlushAndStop).await;
        if let Some(keeper) = &self.keeper {
            // After the last writes: the next owner starts from them.
            let _ = keeper.send(cluster::ReleaseAll).await;
        }
        let _ = self.broker.send(StopBroker).await;
    }

    /// Cluster mode: whether peers can reach this instance (its control queue is consumed).
    pub(crate) fn control_connected(&self) -> Option<bool> {
        self.control.as_ref().map(cluster::Control::connected)
    }

    /// Cluster mode: this instance, the partitions it holds and its live peers.
    pub(crate) fn cluster_view(&self) -> Option<cluster::ClusterView> {
        (self.cluster_view.as_ref()).map(|view| {
            view.read()
                .unwrap_or_else(|poison| poison.into_inner())
                .clone()
        })
    }

    /// Every job as the API shows it.
    pub(crate) fn read_model(&self) -> &ReadModel {
        &self.read_model
    }

    /// The next `count` due instants of a job as the engine would fire them, on its calendar.
    pub(crate) fn upcoming(
        &self,
        config: &crate::job::JobConfig,
        next_due: Option<DateTime<Utc>>,
        count: usize,
    ) -> Vec<Upcoming> {
        let calendar = (config.calendar.as_deref()).map(|name| {
            (self.calendars.get(name))
                .unwrap_or_else(|| Arc::new(crate::calendar::Calendar::weekends_only(name)))
        });
        job::upcoming_on(
            config,
            self.timezone,
            next_due,
            Utc::now(),
            count,
            calendar.as_deref(),
        )
    }

    /// The scope's calendars as the engine uses them.
    pub(crate) fn calendars(&self) -> &crate::calendar::Calendars {
        &self.calendars
    }

    /// A calendar was written through this instance: the other instances read it again.
    pub(crate) fn announce_calendar(&self, name: &str) {
        if let Some(control) = &self.control {
            control.announce_calendar(name);
        }
    }

    /// The zone cron expressions are read in.
    pub(crate) fn timezone(&self) -> chrono_tz::Tz {
        self.timezone
    }

    /// A receiver of the engine's events from now on.
    pub(crate) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// A job was created or its configuration changed: (re)arm it. Answers its next due
    /// instant as armed (whole seconds).
    pub(crate) async fn upsert(&self, job: Job) -> Result<Option<DateTime<Utc>>, MailboxError> {
        self.supervisor.send(Upsert(job)).await
    }

    /// A job is being deleted: stop its schedule (its staged run goes too).
    pub(crate) async fn remove(&self, job_id: &str) -> Result<(), MailboxError> {
        self.supervisor.send(Remove(job_id.to_string())).await
    }

    /// Publishes a run of `job_id` now.
    pub(crate) async fn run_now(
        &self,
        job_id: &str,
        run_now: RunNow,
    ) -> Result<Result<Result<uuid::Uuid, RunNowRejected>, JobUnavailable>, MailboxError> {
        let job_id = job_id.to_string();
        self.supervisor.send(RunJobNow { job_id, run_now }).await
    }

    /// Settles a worker's report by the job actor's rule.
    pub(crate) async fn settle(
        &self,
        job_id: &str,
        report: worker::RunReport,
    ) -> Result<Settlement, ReportError> {
        reports::settle(&self.supervisor, job_id, report).await
    }

    /// How many jobs the engine runs, and how many of them are enabled.
    pub(crate) async fn count_jobs(&self) -> Result<(usize, usize), MailboxError> {
        self.supervisor.send(CountJobs).await
    }

    /// The broker connection and its outbox.
    pub(crate) async fn broker_status(&self) -> Result<BrokerStatus, MailboxError> {
        self.broker.send(GetBrokerStatus).await
    }

    /// The state writer.
    pub(crate) async fn persistence_status(&self) -> Result<PersistenceStatus, MailboxError> {
        self.persistence.send(GetPersistenceStatus).await
    }
}
