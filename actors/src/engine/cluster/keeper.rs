//! The lease keeper (cluster mode): every third of the lease TTL it says this instance is
//! alive, renews the leases it holds, gives up partitions beyond its share and takes free or
//! run-out ones, then tells the supervisor which partitions it holds (the supervisor starts
//! and stops their job actors). A lease counts as held locally until the instant its renewal
//! was sent plus the TTL minus a margin, so this instance stops firing a partition before the
//! database can hand it to another. A partition given up is released in the table one round
//! later, once the writes its job actors made before stopping are committed.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::balance;
use super::leases::Leases;
use crate::job::Scope;
use crate::store::{Peer, Store, StoreError};

/// Cluster mode's settings.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// This instance's id (unique among the scope's instances).
    pub instance_id: String,
    /// How many partitions the scope's jobs are split into (the same on every instance).
    pub partitions: u32,
    /// How long a lease lasts without renewal.
    pub lease_ttl: Duration,
}

impl ClusterSettings {
    /// How long before its end in the table a lease stops counting here.
    pub fn margin(&self) -> Duration {
        (self.lease_ttl / 5).max(Duration::from_millis(300))
    }

    /// How often leases are renewed.
    pub fn round_every(&self) -> Duration {
        self.lease_ttl / 3
    }
}

/// The cluster as this instance last saw it (for `/ready`, `/metrics` and the UI).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClusterView {
    pub instance_id: String,
    pub partitions: u32,
    /// Partitions held here, with their epochs.
    pub owned: Vec<(u32, u64)>,
    pub peers: Vec<Peer>,
    /// The last round's database error, if it failed.
    pub last_error: Option<String>,
    /// Who holds each partition whose lease is live, as last read (to route requests).
    #[serde(skip)]
    pub owners: std::collections::HashMap<u32, String>,
}

impl ClusterView {
    /// The instance holding `partition`, as last read.
    pub fn owner_of(&self, partition: u32) -> Option<&str> {
        self.owners.get(&partition).map(String::as_str)
    }
}

/// What a round saw.
pub struct RoundOutcome {
    pub peers: Vec<Peer>,
    /// Partitions given up this round (released in the table the next).
    pub released: Vec<u32>,
    /// Live owners by partition.
    pub owners: std::collections::HashMap<u32, String>,
}

/// The partitions held now: sent to the supervisor after every round.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Held(pub Vec<(u32, u64)>);

/// Release every lease and leave the instance list (clean shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReleaseAll;

pub struct LeaseKeeper {
    store: Store,
    scope: Scope,
    settings: ClusterSettings,
    leases: Arc<Leases>,
    view: Arc<RwLock<ClusterView>>,
    supervisor: Recipient<Held>,
    /// Asked to commit what it holds before a partition is released.
    persistence: Recipient<crate::engine::persistence::Drain>,
    /// Given up locally in the last round: released in the table in the next.
    releasing: Vec<u32>,
    busy: bool,
    stopping: bool,
}

impl LeaseKeeper {
    pub fn new(
        store: Store,
        scope: Scope,
        settings: ClusterSettings,
        leases: Arc<Leases>,
        view: Arc<RwLock<ClusterView>>,
        supervisor: Recipient<Held>,
        persistence: Recipient<crate::engine::persistence::Drain>,
    ) -> Self {
        LeaseKeeper {
            persistence,
            store,
            scope,
            settings,
            leases,
            view,
            supervisor,
            releasing: Vec::new(),
            busy: false,
            stopping: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.stopping {
            return;
        }
        self.busy = true;
        let releasing = std::mem::take(&mut self.releasing);
        let persistence = self.persistence.clone();
        let draining = !releasing.is_empty();
        let store = self.store.clone();
        let (scope, settings, leases) = (self.scope, self.settings.clone(), self.leases.clone());
        let releasing_now = releasing.clone();
        let round = async move {
            if draining {
                // The stopped job actors' last writes first: the next owner starts from them.
                // (At most a second: the renewal of the leases kept waits for this.)
                let drain = persistence.send(crate::engine::persistence::Drain);
                let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
            }
            round_with(store, scope, settings, leases, releasing_now).await
        };
        ctx.spawn(round.into_actor(self).map(move |result, actor, _| {
            actor.busy = false;
            let mut view = actor.view.write().unwrap_or_else(|poison| poison.into_inner());
            match result {
                Ok(outcome) => {
                    actor.releasing = outcome.released;
                    view.peers = outcome.peers;
                    view.owners = outcome.owners;
                    view.last_error = None;
                }
                Err(error) => {
                    // The partitions given up stay given up; their release is retried.
                    actor.releasing = releasing;
                    tracing::warn!(%error, "lease round failed; held leases run out unless renewed");
                    view.last_error = Some(error.to_string());
                }
            }
            let held = actor.leases.held();
            view.owned = held.clone();
            metrics::gauge!(crate::metrics::CLUSTER_PARTITIONS_OWNED).set(held.len() as f64);
            metrics::gauge!(crate::metrics::CLUSTER_INSTANCES).set(view.peers.len() as f64);
            drop(view);
            if !actor.stopping {
                actor.supervisor.do_send(Held(held));
            }
        }));
    }
}

/// The first round, at start-up (nothing to release yet).
pub async fn round_once(
    store: Store,
    scope: Scope,
    settings: ClusterSettings,
    leases: Arc<Leases>,
) -> Result<RoundOutcome, StoreError> {
    round_with(store, scope, settings, leases, Vec::new()).await
}

/// One round (see the module's doc). Answers the live peers and the partitions given up.
async fn round_with(
    store: Store,
    scope: Scope,
    settings: ClusterSettings,
    leases: Arc<Leases>,
    releasing: Vec<u32>,
) -> Result<RoundOutcome, StoreError> {
    let me = settings.instance_id.as_str();
    let ttl = settings.lease_ttl;
    let valid_for = ttl.saturating_sub(settings.margin());
    let started = Instant::now();
    let held = leases.held();
    store.heartbeat(scope, me, ttl, held.len() as u32).await?;
    store.release_leases(scope, me, &releasing).await?;
    store.renew_leases(scope, me, &held, ttl).await?;
    let rows = store.leases(scope).await?;
    if rows.len() < settings.partitions as usize {
        store.ensure_partitions(scope, settings.partitions).await?;
    }
    for (partition, epoch) in &held {
        let row = rows.iter().find(|row| row.partition == *partition);
        match row {
            Some(row) if row.owner.as_deref() == Some(me) && row.epoch == *epoch => {
                leases.grant(*partition, *epoch, started + valid_for)
            }
            _ => {
                tracing::warn!(partition, epoch, owner = ?row.and_then(|row| row.owner.clone()),
                    "partition lost to another instance; its jobs stop firing here");
                metrics::counter!(crate::metrics::CLUSTER_LEASE_CHANGES_TOTAL, "change" => "lost")
                    .increment(1);
                leases.revoke(*partition);
            }
        }
    }
    let peers = store.live_instances(scope).await?;
    let ids: Vec<String> = peers.iter().map(|peer| peer.instance_id.clone()).collect();
    let held_now: Vec<u32> = leases
        .held()
        .iter()
        .map(|(partition, _)| *partition)
        .collect();
    let plan = balance::plan(me, &ids, settings.partitions, &rows, &held_now);
    for partition in &plan.release {
        tracing::info!(partition, "giving up a partition to rebalance");
        metrics::counter!(crate::metrics::CLUSTER_LEASE_CHANGES_TOTAL, "change" => "released")
            .increment(1);
        leases.revoke(*partition);
    }
    let mut taken = 0;
    for partition in plan.claim {
        if taken == plan.wanted {
            break;
        }
        let sent = Instant::now();
        let last = leases.last_epoch(partition);
        if let Some(epoch) = store.claim_lease(scope, me, partition, ttl, last).await? {
            tracing::info!(partition, epoch, "took a partition");
            metrics::counter!(crate::metrics::CLUSTER_LEASE_CHANGES_TOTAL, "change" => "gained")
                .increment(1);
            leases.grant(partition, epoch, sent + valid_for);
            taken += 1;
        }
    }
    let mut owners: std::collections::HashMap<u32, String> = (rows.iter())
        .filter(|row| row.live)
        .filter_map(|row| Some((row.partition, row.owner.clone()?)))
        .collect();
    for (partition, _) in leases.held() {
        owners.insert(partition, me.to_string());
    }
    for partition in &plan.release {
        owners.remove(partition);
    }
    Ok(RoundOutcome {
        peers,
        released: plan.release,
        owners,
    })
}

impl Actor for LeaseKeeper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.settings.round_every(), |actor, ctx| actor.tick(ctx));
    }
}

impl Handler<ReleaseAll> for LeaseKeeper {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: ReleaseAll, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        // Every partition this instance may still own in the table, held here or not
        // (a lease whose local deadline passed may still name it).
        let partitions: Vec<u32> = (0..self.settings.partitions).collect();
        for partition in &partitions {
            self.leases.revoke(*partition);
        }
        let (store, scope) = (self.store.clone(), self.scope);
        let me = self.settings.instance_id.clone();
        Box::pin(async move {
            if let Err(error) = store.release_leases(scope, &me, &partitions).await {
                tracing::warn!(%error, "releasing the leases at shutdown failed; they run out by themselves");
            } else {
                tracing::info!(partitions = partitions.len(), "released the leases");
            }
            let _ = store.leave(scope, &me).await;
        })
    }
}
