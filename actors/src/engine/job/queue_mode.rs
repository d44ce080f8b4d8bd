//! Queue mode on the actor: the bootstrap that starts a chain, the watchdog that restarts a
//! broken one, and what edits do to it. The chain rules themselves are in `chain.rs`.

use std::time::Duration as StdDuration;

use actix::prelude::*;
use chrono::Utc;
use uuid::Uuid;
use worker::TriggerSource;

use super::chain::Verdict;
use super::messages::Wake;
use super::run_book::Fire;
use super::JobActor;
use crate::job::{JobConfig, RescheduleMode};
use crate::run::StateWrite;

/// Whether `config` runs as a queue-mode chain now (enabled, queue mode).
fn chaining(config: &JobConfig) -> bool {
    config.enabled && config.reschedule_mode == RescheduleMode::Queue
}

impl JobActor {
    pub(super) fn queue_mode_active(&self) -> bool {
        chaining(&self.config)
    }

    /// At start: a new job bootstraps; a loaded one goes on with the chain on record (its next
    /// report continues it, or the watchdog restarts it), and one with no chain on record (a
    /// row from before chains were kept) starts one: a chain of unknown origin is never adopted.
    pub(super) fn start_queue_mode(&mut self, ctx: &mut Context<Self>) {
        if !self.queue_mode_active() {
            return;
        }
        if self.fresh {
            self.start_chain(ctx, "job created");
        } else if self.chains.current().is_some() {
            self.arm_watchdog(ctx);
        } else {
            self.start_chain(ctx, "no chain on record");
        }
    }

    /// Starts a new chain with a bootstrap message. Any older chain stops at its next report,
    /// which is answered `reschedule: false`.
    pub(super) fn start_chain(&mut self, ctx: &mut Context<Self>, why: &str) {
        let (id, position) = self.chains.start(Uuid::new_v4());
        tracing::info!(chain_id = %id, why, "starting a queue-mode chain");
        self.persist_chain();
        let bootstrap = Fire::immediate(
            TriggerSource::Scheduler,
            self.config.default_params.clone(),
            Some((id, position)),
            Utc::now(),
        );
        self.start_run(ctx, bootstrap);
        self.arm_watchdog(ctx);
    }

    /// (Re)arms the watchdog for interval_seconds + timeout_sec from now.
    pub(super) fn arm_watchdog(&mut self, ctx: &mut Context<Self>) {
        if let Some(watchdog) = self.watchdog.take() {
            ctx.cancel_future(watchdog);
        }
        if !self.queue_mode_active() {
            return;
        }
        let quiet = self.config.interval_seconds.unwrap_or(0) + self.config.timeout_sec;
        let after = StdDuration::from_secs(quiet.max(1) as u64);
        self.watchdog = Some(ctx.notify_later(Wake::Watchdog, after));
    }

    pub(super) fn watchdog_due(&mut self, ctx: &mut Context<Self>) {
        self.watchdog = None;
        if self.queue_mode_active() {
            let quiet_seconds = self.config.interval_seconds.unwrap_or(0) + self.config.timeout_sec;
            tracing::warn!(quiet_seconds,
                "queue-mode chain broken: no report for interval_seconds + timeout_sec; restarting it");
            self.start_chain(ctx, "watchdog");
        }
    }

    fn persist_chain(&self) {
        if let Some(chain) = self.chains.current() {
            self.persist(StateWrite::Chain {
                job_id: self.config.job_id.clone(),
                chain_id: chain.id,
                chain_seq: chain.last_seq,
            });
        }
    }

    /// Carries out a verdict: a chain that moved is persisted and its watchdog re-armed.
    pub(super) fn follow(&mut self, ctx: &mut Context<Self>, verdict: Verdict) -> bool {
        if verdict.advanced {
            self.persist_chain();
            if verdict.go_on {
                self.arm_watchdog(ctx);
            }
        }
        verdict.go_on
    }

    /// The chain after an edit: resuming starts one, pausing stops it at its next report, and
    /// a change to what workers copy forward needs a new one.
    pub(super) fn reload_queue_mode(&mut self, ctx: &mut Context<Self>, old: &JobConfig) {
        match (chaining(old), self.queue_mode_active()) {
            (false, true) => self.start_chain(ctx, "job resumed"),
            (true, false) => {
                tracing::info!("queue-mode chain stops at its next report");
                self.chains.retire();
                self.arm_watchdog(ctx);
            }
            (true, true) => {
                let config = &self.config;
                let carried_changed = old.interval_seconds != config.interval_seconds
                    || old.default_params != config.default_params
                    || old.timeout_sec != config.timeout_sec
                    || old.retry_limit != config.retry_limit
                    || old.telemetry_label != config.telemetry_label
                    || old.queue != config.queue;
                if carried_changed {
                    self.start_chain(ctx, "job edited");
                } else {
                    self.arm_watchdog(ctx);
                }
            }
            (false, false) => {}
        }
    }
}
