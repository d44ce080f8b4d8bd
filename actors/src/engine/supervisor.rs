//! The supervisor: spawns one job actor per job row of its scope (paused ones too: they still
//! take run-now and completion reports), applies the API's changes at once, reconciles with
//! the table every tick (rows changed behind its back), and restarts a job actor that died.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::cluster::control::{Reply, Request};
use super::cluster::Held;
use super::job::{
    GetNextDue, JobActor, Reload, ReportRefused, RunNow, RunNowRejected, SettleReport, Settlement,
    Shutdown,
};
use super::table_reader::{digest, ReadKind, TableRead, TableReader};
use super::EngineContext;
use crate::job::Job;
use crate::run::{Fence, RunRecord};
use crate::store::StoreError;

/// A job was created or its configuration changed; answers the job's next due instant as
/// the engine has armed it (whole seconds, as stored).
#[derive(Message)]
#[rtype(result = "Option<DateTime<Utc>>")]
pub struct Upsert(pub Job);

/// A job was deleted: stop its schedule.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Remove(pub String);

/// Forward a run-now to a job.
#[derive(Message)]
#[rtype(result = "Result<Result<uuid::Uuid, RunNowRejected>, JobUnavailable>")]
pub struct RunJobNow {
    pub job_id: String,
    pub run_now: RunNow,
}

/// Forward a worker's report to a job.
#[derive(Message)]
#[rtype(result = "Result<Result<Settlement, ReportRefused>, JobUnavailable>")]
pub struct SettleJobReport {
    pub job_id: String,
    pub settle: SettleReport,
}

/// How many job actors run, and how many of them are enabled.
#[derive(Message)]
#[rtype(result = "(usize, usize)")]
pub struct CountJobs;

/// Stop every job actor and the supervisor (service shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll;

/// Why a message for a job reached no job actor.
#[derive(Debug, thiserror::Error)]
pub enum JobUnavailable {
    /// Neither the engine nor the jobs table has the job (or the API deleted it).
    #[error("job not found")]
    NotFound,
    /// The engine did not run the job and the table could not be read.
    #[error(transparent)]
    Database(#[from] StoreError),
    /// The job's actor stopped before it answered (the job is being deleted, or the service
    /// is stopping): try again.
    #[error("the job's actor stopped before it answered")]
    Stopped,
    /// Cluster mode: another instance holds the job's partition, and the message could not
    /// be handed to it.
    #[error("the job is run by another instance, which could not be reached: {0}")]
    Elsewhere(String),
}

/// Every this many ticks the reconcile compares every full row.
const FULL_RECONCILE_EVERY: u64 = 12;

struct Entry {
    /// The job's actor; None while another instance holds the job's partition.
    addr: Option<Addr<JobActor>>,
    /// A digest of the configuration the actor runs: the configuration itself lives only in
    /// the actor (one copy per job, not two: memory is the limit at 100k jobs).
    digest: u64,
    enabled: bool,
    updated_at: Option<DateTime<Utc>>,
    /// When this entry was last set from the API or the table.
    touched_at: DateTime<Utc>,
}

impl Entry {
    /// The job's actor, when it runs here and is alive.
    fn live(&self) -> Option<&Addr<JobActor>> {
        self.addr.as_ref().filter(|addr| addr.connected())
    }

    /// Whether an actor was started here and has died.
    fn died(&self) -> bool {
        self.addr.as_ref().is_some_and(|addr| !addr.connected())
    }
}

pub struct Supervisor {
    pub(super) engine: Arc<EngineContext>,
    /// Reads the table for the reconcile, off this thread.
    reader: TableReader,
    jobs: HashMap<String, Entry>,
    initial: Option<(Vec<Job>, Vec<RunRecord>)>,
    reconciling: bool,
    /// When the last reconcile started: rows updated since then are re-read in full.
    last_reconcile: Option<DateTime<Utc>>,
    ticks: u64,
    /// Jobs the API deleted, and when: a reconcile that read the table before the delete
    /// must not bring them back.
    removed: HashMap<String, DateTime<Utc>>,
    /// The partitions whose jobs run here, at their epochs (one, at epoch 0, on SQLite).
    held: HashMap<u32, u64>,
    /// Partitions held whose rows are being read for their takeover: no actor starts for
    /// their jobs (and no request reaches them) until the read gives each its open runs.
    taking_over: std::collections::HashSet<u32>,
}

impl Supervisor {
    pub fn new(
        engine: Arc<EngineContext>,
        reader: TableReader,
        jobs: Vec<Job>,
        open_runs: Vec<RunRecord>,
    ) -> Self {
        let held = engine.leases.held().into_iter().collect();
        Supervisor {
            held,
            taking_over: Default::default(),
            engine,
            reader,
            jobs: HashMap::new(),
            initial: Some((jobs, open_runs)),
            reconciling: false,
            last_reconcile: None,
            ticks: 0,
            removed: HashMap::new(),
        }
    }

    /// The fence of a job whose partition runs here.
    fn fence_of(&self, job_id: &str) -> Option<Fence> {
        let partition = self.engine.leases.partition_of(job_id);
        if self.taking_over.contains(&partition) {
            return None;
        }
        let epoch = *self.held.get(&partition)?;
        Some(Fence { partition, epoch })
    }

    /// Starts a job actor when the job's partition runs here (else only notes the job);
    /// `fresh` for a job new to the service (queue mode bootstraps).
    fn spawn(&mut self, job: Job, open_runs: Vec<RunRecord>, fresh: bool) {
        let job_id = job.config.job_id.clone();
        let (digest, enabled) = (digest(&job.config), job.config.enabled);
        let updated_at = job.state.updated_at;
        let config = Arc::new(job.config);
        let addr = self.fence_of(&job_id).map(|fence| {
            JobActor::new(
                config.clone(),
                &job.state,
                open_runs,
                self.engine.clone(),
                fresh,
                fence,
            )
            .start()
        });
        if addr.is_none() && !fresh {
            // Another instance runs it: loaded, with no timer here.
            self.engine.one_loaded();
        }
        self.engine.read_model.put(config, job.state);
        self.jobs.insert(
            job_id,
            Entry {
                addr,
                digest,
                enabled,
                updated_at,
                touched_at: Utc::now(),
            },
        );
    }

    /// A job's row, from the API (`from_table` false: its state is the newest there is) or
    /// read back by the reconcile (the engine's own state in the read model is newer).
    fn upsert(&mut self, job: Job, from_table: bool) {
        let digest = digest(&job.config);
        self.upsert_with(job, digest, from_table);
    }

    /// [`Self::upsert`] with the configuration's digest already computed.
    fn upsert_with(&mut self, job: Job, digest: u64, from_table: bool) {
        if job.config.scope != self.engine.settings.scope {
            return;
        }
        let runs_here = self.fence_of(&job.config.job_id).is_some();
        match self.jobs.get_mut(&job.config.job_id) {
            Some(entry) if entry.live().is_some() || (!runs_here && !entry.died()) => {
                entry.updated_at = job.state.updated_at;
                entry.touched_at = Utc::now();
                let config = Arc::new(job.config);
                if entry.digest != digest {
                    entry.digest = digest;
                    entry.enabled = config.enabled;
                    if let Some(addr) = &entry.addr {
                        addr.do_send(Reload(config.clone()));
                    }
                }
                if from_table && runs_here {
                    // The engine's own state here is newer than the row's.
                    self.engine.read_model.put_reconciled(config, job.state);
                } else {
                    self.engine.read_model.put(config, job.state);
                }
            }
            Some(entry) => {
                if entry.died() {
                    tracing::error!(job_id = %job.config.job_id, "job actor had stopped; restarting it");
                }
                self.spawn(job, Vec::new(), false);
            }
            None => self.spawn(job, Vec::new(), true),
        }
    }

    fn remove(&mut self, job_id: &str) {
        self.engine.read_model.remove(job_id);
        if let Some(addr) = self.jobs.remove(job_id).and_then(|entry| entry.addr) {
            addr.do_send(Shutdown { deleted: true });
        }
    }

    /// Re-reads the table. Every tick: cheap `(job_id, updated_at)` pairs, and full rows only
    /// for jobs that are new, have another `updated_at`, or were touched around the previous
    /// reconcile. Every [`FULL_RECONCILE_EVERY`] ticks: every full row, so a change made
    /// without touching `updated_at` is picked up too. Jobs the API changed while the table
    /// was being read are left alone (the API's version is newer).
    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        if self.reconciling {
            return;
        }
        self.reconciling = true;
        self.ticks += 1;
        let since = self.last_reconcile;
        // A short tick (cluster mode) still reads every row about once a minute at most.
        let per_minute = (60_000 / self.engine.settings.tick.as_millis().max(1)) as u64;
        let full_every = if self.engine.leases.is_cluster() {
            FULL_RECONCILE_EVERY.max(per_minute)
        } else {
            FULL_RECONCILE_EVERY
        };
        let full = self.ticks.is_multiple_of(full_every) || since.is_none();
        let started = Utc::now();
        let known_count = self.jobs.len();
        // A tick reads only what changed; the whole table (in pages) is read every
        // FULL_RECONCILE_EVERY ticks, or when the number of rows says one was inserted or
        // deleted behind the API. At 100k jobs, reading every id each tick cost ~40 MB.
        // The reading, decoding and hashing happen on the reader's thread, not on this one
        // (the job actors fire here).
        let kind = match (full, since) {
            (false, Some(since)) => ReadKind::Since {
                since,
                known: known_count,
            },
            _ => ReadKind::Full,
        };
        let answer = self.reader.read(kind);
        let reading = async move {
            answer.await.unwrap_or_else(|_| {
                Err(crate::store::StoreError::Database(sea_orm::DbErr::Custom(
                    "the jobs table reader stopped".into(),
                )))
            })
        };
        ctx.spawn(reading.into_actor(self).map(move |result, actor, _| {
            actor.reconciling = false;
            let TableRead {
                present,
                jobs: changed,
            } = match result {
                Ok(read) => read,
                Err(error) => {
                    tracing::warn!(%error, "reconcile with the jobs table failed; will retry next tick");
                    return;
                }
            };
            actor.last_reconcile = Some(started);
            let settled = |entry: &Entry| entry.touched_at < started;
            let gone: Vec<String> = match &present {
                Some(present) => actor
                    .jobs
                    .iter()
                    .filter(|(job_id, entry)| !present.contains(*job_id) && settled(entry))
                    .map(|(job_id, _)| job_id.clone())
                    .collect(),
                None => Vec::new(),
            };
            for job_id in gone {
                tracing::info!(%job_id, "job deleted from the table behind the API; stopping it");
                actor.remove(&job_id);
            }
            actor.removed.retain(|_, at| *at >= started - chrono::Duration::minutes(1));
            for (job, digest) in changed {
                // Deleted through the API within the last minute: the row read here may be
                // from before the delete committed.
                let removed = actor.removed.contains_key(&job.config.job_id);
                let entry = actor.jobs.get(&job.config.job_id);
                // A row the engine already runs as it is (same configuration, same
                // `updated_at`) needs nothing: most rows of a full read.
                // (A job another instance runs is always taken: its row is the only source
                // of its state here.)
                let unchanged = entry.is_some_and(|entry| {
                    entry.digest == digest
                        && entry.updated_at == job.state.updated_at
                        && entry.addr.as_ref().is_some_and(|addr| addr.connected())
                });
                if !removed && !unchanged && entry.is_none_or(settled) {
                    actor.upsert_with(job, digest, true);
                }
            }
            // Replace any actor that died: the next reconcile respawns it from its row.
            let dead: Vec<String> = actor
                .jobs
                .iter()
                .filter(|(_, entry)| entry.died())
                .map(|(job_id, _)| job_id.clone())
                .collect();
            for job_id in dead {
                tracing::error!(%job_id, "job actor had stopped; restarting it at the next reconcile");
                actor.jobs.remove(&job_id);
            }
        }));
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some((jobs, open_runs)) = self.initial.take() {
            let mut runs_by_job: HashMap<String, Vec<RunRecord>> = HashMap::new();
            for run in open_runs {
                runs_by_job.entry(run.job_id.clone()).or_default().push(run);
            }
            let count = jobs.len();
            for job in jobs {
                let runs = runs_by_job.remove(&job.config.job_id).unwrap_or_default();
                self.spawn(job, runs, false);
            }
            if count == 0 {
                tracing::info!(jobs = 0, scope = %self.engine.settings.scope, "all job timers armed");
            }
        }
        self.last_reconcile = Some(Utc::now());
        ctx.run_interval(self.engine.settings.tick, |actor, ctx| actor.reconcile(ctx));
        if self.engine.settings.cluster.is_some() {
            ctx.run_interval(super::calendar_sync::CALENDAR_RESYNC, |_, ctx| {
                ctx.notify(super::calendar_sync::RefreshCalendar(None))
            });
        }
    }
}

impl Handler<Upsert> for Supervisor {
    type Result = ResponseFuture<Option<DateTime<Utc>>>;

    fn handle(&mut self, Upsert(job): Upsert, _: &mut Context<Self>) -> Self::Result {
        let job_id = job.config.job_id.clone();
        self.removed.remove(&job_id);
        self.upsert(job, false);
        self.announce(&job_id);
        let addr = self.jobs.get(&job_id).and_then(|entry| entry.addr.clone());
        Box::pin(async move {
            match addr {
                Some(addr) => addr.send(GetNextDue).await.ok().flatten(),
                None => None,
            }
        })
    }
}

impl Handler<Remove> for Supervisor {
    type Result = ();

    fn handle(&mut self, Remove(job_id): Remove, _: &mut Context<Self>) {
        self.removed.insert(job_id.clone(), Utc::now());
        self.remove(&job_id);
        self.announce(&job_id);
    }
}

impl Supervisor {
    /// Sends `message` to the actor of `job_id` and answers its reply. A job the engine does
    /// not run (a row inserted behind the API and not reconciled yet, or an actor that died) is
    /// read from the table and started first; a job the API deleted is not brought back. The
    /// answer is awaited outside the supervisor (a task of its own per message).
    fn forward<M>(
        &mut self,
        job_id: String,
        message: M,
        route: bool,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<M::Result, JobUnavailable>>
    where
        M: Routed,
        M::Result: Send,
        JobActor: Handler<M>,
    {
        let live = (self.jobs.get(&job_id)).and_then(Entry::live).cloned();
        if live.is_none() && self.fence_of(&job_id).is_none() {
            return self.route(job_id, message, route);
        }
        let adopt = (live.is_none() && !self.removed.contains_key(&job_id)).then(|| {
            let scope = self.engine.settings.scope;
            (self.engine.store.clone(), scope, ctx.address())
        });
        Box::pin(async move {
            let addr = match (live, adopt) {
                (Some(addr), _) => addr,
                (None, None) => return Err(JobUnavailable::NotFound),
                (None, Some((store, scope, supervisor))) => {
                    let job =
                        (store.get_job(scope, &job_id).await?).ok_or(JobUnavailable::NotFound)?;
                    (supervisor.send(Adopt(job)).await)
                        .map_err(|_| JobUnavailable::Stopped)?
                        .ok_or(JobUnavailable::NotFound)?
                }
            };
            addr.send(message)
                .await
                .map_err(|_| JobUnavailable::Stopped)
        })
    }
}

/// A job's row, read by a forward that found no live actor for it: start (or restart) it,
/// unless the API deleted it meanwhile; answers its actor.
#[derive(Message)]
#[rtype(result = "Option<Addr<JobActor>>")]
struct Adopt(Job);

impl Handler<Adopt> for Supervisor {
    type Result = Option<Addr<JobActor>>;

    fn handle(&mut self, Adopt(job): Adopt, _: &mut Context<Self>) -> Self::Result {
        let job_id = job.config.job_id.clone();
        if self.removed.contains_key(&job_id) {
            return None;
        }
        let live = |jobs: &HashMap<String, Entry>| jobs.get(&job_id).and_then(Entry::live).cloned();
        if live(&self.jobs).is_none() {
            tracing::info!(%job_id, "job not running here; starting it from its row");
            self.upsert(job, false);
        }
        live(&self.jobs)
    }
}

impl Handler<RunJobNow> for Supervisor {
    type Result = ResponseFuture<Result<Result<uuid::Uuid, RunNowRejected>, JobUnavailable>>;

    fn handle(&mut self, message: RunJobNow, ctx: &mut Context<Self>) -> Self::Result {
        self.forward(message.job_id, message.run_now, true, ctx)
    }
}

impl Handler<SettleJobReport> for Supervisor {
    type Result = ResponseFuture<Result<Result<Settlement, ReportRefused>, JobUnavailable>>;

    /// Answered once the report's writes are committed (when the job runs here): a report
    /// acknowledged to its worker is never lost by a crash right after.
    fn handle(&mut self, message: SettleJobReport, ctx: &mut Context<Self>) -> Self::Result {
        let here = (self.jobs.get(&message.job_id)).is_some_and(|entry| entry.live().is_some());
        let settled = self.forward(message.job_id, message.settle, true, ctx);
        let persistence = self.engine.persistence.clone();
        Box::pin(async move {
            let answer = settled.await;
            if here && matches!(answer, Ok(Ok(_))) {
                let _ = persistence.send(super::persistence::Drain).await;
            }
            answer
        })
    }
}

impl Handler<CountJobs> for Supervisor {
    type Result = MessageResult<CountJobs>;

    fn handle(&mut self, _: CountJobs, _: &mut Context<Self>) -> Self::Result {
        let enabled = self.jobs.values().filter(|entry| entry.enabled).count();
        MessageResult((self.jobs.len(), enabled))
    }
}

impl Handler<StopAll> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: StopAll, ctx: &mut Context<Self>) {
        for addr in self.jobs.drain().filter_map(|(_, entry)| entry.addr) {
            addr.do_send(Shutdown { deleted: false });
        }
        ctx.stop();
    }
}

impl Handler<Held> for Supervisor {
    type Result = ();

    /// The lease keeper's round ended: stop the job actors of partitions no longer held here
    /// (their staged runs stay for the next owner), and start those of partitions newly held,
    /// from a fresh read of their rows and open runs (a missed fire is caught up by the grace
    /// rule, a staged one is published with its run_id).
    fn handle(&mut self, Held(now): Held, ctx: &mut Context<Self>) {
        let now: HashMap<u32, u64> = now.into_iter().collect();
        let lost: Vec<u32> = (self.held.iter())
            .filter(|(partition, epoch)| now.get(partition) != Some(epoch))
            .map(|(partition, _)| *partition)
            .collect();
        let gained: HashMap<u32, u64> = (now.iter())
            .filter(|(partition, epoch)| self.held.get(partition) != Some(epoch))
            .map(|(partition, epoch)| (*partition, *epoch))
            .collect();
        if lost.is_empty() && gained.is_empty() {
            return;
        }
        self.held = now;
        let held = &self.held;
        self.taking_over
            .retain(|partition| held.contains_key(partition));
        self.taking_over.extend(gained.keys().copied());
        let leases = self.engine.leases.clone();
        let mut stopped = 0;
        let lost_set: std::collections::HashSet<u32> = lost.iter().copied().collect();
        for (job_id, entry) in self.jobs.iter_mut() {
            if entry.addr.is_some() && lost_set.contains(&leases.partition_of(job_id)) {
                if let Some(addr) = entry.addr.take() {
                    addr.do_send(Shutdown { deleted: false });
                    stopped += 1;
                }
            }
        }
        if !lost.is_empty() {
            tracing::info!(
                ?lost,
                jobs = stopped,
                "partitions no longer held here; their jobs stopped"
            );
        }
        if gained.is_empty() {
            return;
        }
        let (store, scope) = (self.engine.store.clone(), self.engine.settings.scope);
        let persistence = self.engine.persistence.clone();
        let reading = async move {
            // This instance's own writes first (a partition held before, lost while the
            // database was away, and taken back): its rows are then as it left them.
            let _ = persistence.send(super::persistence::Drain).await;
            let jobs = store.list_jobs(scope).await?;
            let runs = store.open_runs(scope).await?;
            Ok::<_, StoreError>((jobs, runs))
        };
        ctx.spawn(reading.into_actor(self).map(move |read, actor, _| {
            let (jobs, runs) = match read {
                Ok(read) => read,
                Err(error) => {
                    // Held without actors: give the partitions back to the keeper's next
                    // round, which hands them over again (and this read is retried).
                    tracing::warn!(%error, "reading the jobs of newly held partitions failed; retrying next round");
                    for partition in gained.keys() {
                        actor.held.remove(partition);
                        actor.taking_over.remove(partition);
                    }
                    return;
                }
            };
            let leases = actor.engine.leases.clone();
            let wanted = |job_id: &str| {
                let partition = leases.partition_of(job_id);
                gained.get(&partition).is_some_and(|epoch| actor.held.get(&partition) == Some(epoch))
            };
            let mut runs_by_job: HashMap<String, Vec<RunRecord>> = HashMap::new();
            for run in runs.into_iter().filter(|run| wanted(&run.job_id)) {
                runs_by_job.entry(run.job_id.clone()).or_default().push(run);
            }
            let jobs: Vec<Job> = jobs.into_iter().filter(|job| wanted(&job.config.job_id)).collect();
            for (partition, epoch) in &gained {
                if actor.held.get(partition) == Some(epoch) {
                    actor.taking_over.remove(partition);
                }
            }
            let mut started = 0;
            for job in jobs {
                let job_id = job.config.job_id.clone();
                if actor.removed.contains_key(&job_id)
                    || actor.jobs.get(&job_id).is_some_and(|entry| entry.live().is_some())
                {
                    continue;
                }
                let runs = runs_by_job.remove(&job_id).unwrap_or_default();
                actor.spawn(job, runs, false);
                started += 1;
            }
            tracing::info!(partitions = ?gained.keys().collect::<Vec<_>>(), jobs = started, "partitions taken over; their jobs started");
        }));
    }
}

impl Supervisor {
    /// Cluster mode: tells the other instances that a job changed through this one.
    fn announce(&self, job_id: &str) {
        if let Some(control) = self.engine.control.get() {
            control.announce(job_id);
        }
    }

    /// A message for a job whose partition this instance does not hold: sent to the instance
    /// that holds it (`route`), or refused (a message a peer sent here, or no owner known).
    fn route<M: Routed>(
        &self,
        job_id: String,
        message: M,
        route: bool,
    ) -> ResponseFuture<Result<M::Result, JobUnavailable>> {
        let partition = self.engine.leases.partition_of(&job_id);
        let owner = (self.engine.cluster_view.as_ref()).and_then(|view| {
            let view = view.read().unwrap_or_else(|poison| poison.into_inner());
            view.owner_of(partition).map(str::to_string)
        });
        let control = self.engine.control.get().cloned();
        let me = self
            .engine
            .settings
            .cluster
            .as_ref()
            .map(|c| c.instance_id.clone());
        let request = message.request(&job_id);
        let (store, scope) = (self.engine.store.clone(), self.engine.settings.scope);
        Box::pin(async move {
            let elsewhere = |why: String| Err(JobUnavailable::Elsewhere(why));
            let (true, Some(control)) = (route, control) else {
                return elsewhere(format!(
                    "partition {partition} is not held by this instance"
                ));
            };
            // The owners as last read (each lease round); the table when that says nobody
            // or this instance (a partition that changed hands since).
            let owner = match owner.filter(|owner| Some(owner) != me.as_ref()) {
                Some(owner) => Some(owner),
                None => store.lease_owner(scope, partition).await.ok().flatten(),
            };
            let Some(owner) = owner.filter(|owner| Some(owner) != me.as_ref()) else {
                return elsewhere(format!(
                    "partition {partition} is changing hands; try again"
                ));
            };
            match control.ask(&owner, request).await {
                Ok(reply) => M::answer(reply),
                Err(why) => elsewhere(why),
            }
        })
    }
}

/// A message a job actor answers that can be sent to the instance holding the job instead.
pub(crate) trait Routed: Message + Send + 'static {
    fn request(&self, job_id: &str) -> Request;
    fn answer(reply: Reply) -> Result<Self::Result, JobUnavailable>;
}

/// What any answer but the expected ones means: the owner could not decide.
fn not_decided<T>(reply: Reply) -> Result<T, JobUnavailable> {
    match reply {
        Reply::NotFound => Err(JobUnavailable::NotFound),
        Reply::Unavailable { reason } => Err(JobUnavailable::Elsewhere(reason)),
        other => Err(JobUnavailable::Elsewhere(format!(
            "unexpected answer from the job's instance: {other:?}"
        ))),
    }
}

impl Routed for RunNow {
    fn request(&self, job_id: &str) -> Request {
        Request::RunNow {
            job_id: job_id.to_string(),
            params: self.params.clone(),
            force: self.force,
        }
    }

    fn answer(reply: Reply) -> Result<Self::Result, JobUnavailable> {
        match reply {
            Reply::Started { run_id } => Ok(Ok(run_id)),
            Reply::Rejected {
                in_flight,
                max_parallel,
            } => Ok(Err(RunNowRejected {
                in_flight,
                max_parallel,
            })),
            other => not_decided(other),
        }
    }
}

impl Routed for SettleReport {
    fn request(&self, job_id: &str) -> Request {
        Request::Settle {
            job_id: job_id.to_string(),
            report: self.0.clone(),
        }
    }

    fn answer(reply: Reply) -> Result<Self::Result, JobUnavailable> {
        match reply {
            Reply::Settled {
                run_id,
                status,
                counted,
                reschedule,
                duration_seconds,
            } => {
                let status = crate::run::RunStatus::parse(&status).ok_or_else(|| {
                    JobUnavailable::Elsewhere(format!("unknown run status '{status}'"))
                })?;
                Ok(Ok(Settlement {
                    run_id,
                    status,
                    counted,
                    reschedule,
                    duration_seconds,
                }))
            }
            Reply::UnknownRun { run_id } => Ok(Err(ReportRefused::UnknownRun(run_id))),
            Reply::NoRunInFlight => Ok(Err(ReportRefused::NoRunInFlight)),
            other => not_decided(other),
        }
    }
}

/// A request a peer forwarded here: handled for a job whose partition this instance holds,
/// never forwarded again.
#[derive(Message)]
#[rtype(result = "Reply")]
pub struct FromPeer(pub Request);

impl Handler<FromPeer> for Supervisor {
    type Result = ResponseFuture<Reply>;

    fn handle(&mut self, FromPeer(request): FromPeer, ctx: &mut Context<Self>) -> Self::Result {
        let unavailable = |error: JobUnavailable| match error {
            JobUnavailable::NotFound => Reply::NotFound,
            other => Reply::Unavailable {
                reason: other.to_string(),
            },
        };
        match request {
            Request::RunNow {
                job_id,
                params,
                force,
            } => {
                let asked = self.forward(job_id, RunNow { params, force }, false, ctx);
                Box::pin(async move {
                    match asked.await {
                        Ok(Ok(run_id)) => Reply::Started { run_id },
                        Ok(Err(rejected)) => Reply::Rejected {
                            in_flight: rejected.in_flight,
                            max_parallel: rejected.max_parallel,
                        },
                        Err(error) => unavailable(error),
                    }
                })
            }
            Request::Settle { job_id, report } => {
                let asked = self.forward(job_id, SettleReport(report), false, ctx);
                let persistence = self.engine.persistence.clone();
                Box::pin(async move {
                    let answer = asked.await;
                    if matches!(answer, Ok(Ok(_))) {
                        // Committed before the asker acknowledges the worker's report.
                        let _ = persistence.send(super::persistence::Drain).await;
                    }
                    match answer {
                        Ok(Ok(settled)) => Reply::Settled {
                            run_id: settled.run_id,
                            status: settled.status.as_str().to_string(),
                            counted: settled.counted,
                            reschedule: settled.reschedule,
                            duration_seconds: settled.duration_seconds,
                        },
                        Ok(Err(ReportRefused::UnknownRun(run_id))) => Reply::UnknownRun { run_id },
                        Ok(Err(ReportRefused::NoRunInFlight)) => Reply::NoRunInFlight,
                        Ok(Err(ReportRefused::Database(error))) => Reply::Unavailable {
                            reason: error.to_string(),
                        },
                        Err(error) => unavailable(error),
                    }
                })
            }
        }
    }
}

/// A peer changed `job_id`: read its row now (its owner applies the change at once).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refresh(pub String);

impl Handler<Refresh> for Supervisor {
    type Result = ();

    fn handle(&mut self, Refresh(job_id): Refresh, ctx: &mut Context<Self>) {
        let (store, scope) = (self.engine.store.clone(), self.engine.settings.scope);
        let asked = Utc::now();
        let reading = async move { store.get_job(scope, &job_id).await.map(|job| (job_id, job)) };
        ctx.spawn(reading.into_actor(self).map(move |read, actor, _| match read {
            Ok((_, Some(job))) => {
                let settled = (actor.jobs.get(&job.config.job_id))
                    .is_none_or(|entry| entry.touched_at < asked);
                if settled {
                    actor.removed.remove(&job.config.job_id);
                    actor.upsert(job, true);
                }
            }
            Ok((job_id, None)) => {
                if actor.jobs.contains_key(&job_id) {
                    tracing::info!(%job_id, "job deleted through another instance; stopping it");
                    actor.removed.insert(job_id.clone(), Utc::now());
                    actor.remove(&job_id);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "reading a job another instance changed failed; the next table read picks it up")
            }
        }));
    }
}
