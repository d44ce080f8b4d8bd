//! The messages a job actor handles. Each runs inside the job's tracing span.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use worker::{CompletionStatus, TriggerSource};

use super::messages::{
    Complete, Completion, GetNextDue, Reload, ReportRefused, RunNow, RunNowRejected, Shutdown, Wake,
};
use super::run_book::Fire;
use super::JobActor;
use crate::engine::broker::PublishOutcome;
use crate::engine::persistence::RowWritten;
use crate::run::{RunStatus, StateWrite};

impl Handler<Wake> for JobActor {
    type Result = ();

    fn handle(&mut self, wake: Wake, ctx: &mut Context<Self>) {
        // Staging writes no log line: no span for it (spans cost on the hot path).
        let _span = (wake != Wake::Stage).then(|| self.span().entered());
        match wake {
            Wake::Stage => self.stage_due(ctx),
            Wake::Fire { armed } => self.fire_due(ctx, armed),
            Wake::Hold(run_id) => self.row_ready(ctx, run_id, false),
            Wake::Timeout(run_id) => {
                self.run_timers.remove(&run_id);
                self.timed_out(ctx, run_id);
            }
            Wake::Retry(run_id) => self.retry_due(ctx, run_id),
            Wake::Watchdog => self.watchdog_due(ctx),
        }
    }
}

impl Handler<Reload> for JobActor {
    type Result = ();

    fn handle(&mut self, Reload(config): Reload, ctx: &mut Context<Self>) {
        let _span = self.span().entered();
        self.reload(ctx, config);
    }
}

impl Handler<RunNow> for JobActor {
    type Result = Result<Uuid, RunNowRejected>;

    fn handle(&mut self, run_now: RunNow, ctx: &mut Context<Self>) -> Self::Result {
        let _span = self.span().entered();
        if !run_now.force && self.book.full(self.config.max_parallel) {
            return Err(RunNowRejected {
                in_flight: self.book.in_flight().len(),
                max_parallel: self.config.max_parallel,
            });
        }
        let mut params = self.config.default_params.clone();
        params.extend(run_now.params.unwrap_or_default());
        let fire = Fire::immediate(TriggerSource::Manual, params, None, Utc::now());
        Ok(self
            .start_run(ctx, fire)
            .expect("a forced fire always runs"))
    }
}

impl Handler<Complete> for JobActor {
    type Result = Result<Completion, ReportRefused>;

    /// The one rule for completion reports: a run in flight is closed (once); a repeat of a
    /// recent report counts nothing; a run a queue-mode worker published itself is recorded
    /// only when the engine told a worker to publish it; anything else changes nothing.
    fn handle(&mut self, Complete(report): Complete, ctx: &mut Context<Self>) -> Self::Result {
        let _span = self.span().entered();
        let status = match report.status.unwrap_or(CompletionStatus::Success) {
            CompletionStatus::Success => RunStatus::Success,
            CompletionStatus::Failed => RunStatus::Failed,
        };
        let finished_at = report.finished_at.unwrap_or_else(Utc::now);
        let queue_mode = self.config.reschedule_mode == crate::job::RescheduleMode::Queue;
        let active = self.queue_mode_active();
        let Some(run_id) = report
            .run_id
            .or_else(|| self.book.in_flight().first().map(|run| run.run_id))
        else {
            // No run named and none in flight: only a queue-mode worker reporting the run it
            // was told to publish (without its run_id) tells anything.
            let verdict = queue_mode
                .then(|| (self.chains).worker_run(report.chain_id, report.chain_seq, active))
                .flatten()
                .ok_or(ReportRefused::NoRunInFlight)?;
            let reschedule = self.follow(ctx, verdict);
            self.telemetry.run(status, TriggerSource::AutoReschedule);
            self.persist(StateWrite::LastRun {
                job_id: self.config.job_id.clone(),
                last_run_at: finished_at,
                last_status: status,
                last_error: report.error,
            });
            return Ok(Completion {
                run_id: None,
                status,
                counted: true,
                reschedule,
                duration_seconds: None,
            });
        };
        let error = report.error.clone();
        if let Some((duration, chain)) =
            self.finish(ctx, run_id, status, report.started_at, finished_at, error)
        {
            // The engine published this run: its own record of the chain decides (a run
            // restored after a restart has none: its report says which it was).
            let chain = chain.or(report.chain_id.zip(report.chain_seq));
            let verdict = self.chains.own_run(chain, active);
            let reschedule = self.follow(ctx, verdict);
            self.book.note_verdict(run_id, reschedule);
            return Ok(Completion {
                run_id: Some(run_id),
                status,
                counted: true,
                reschedule,
                duration_seconds: Some(duration),
            });
        }
        if let Some((earlier, reschedule)) = self.book.earlier(run_id) {
            return Ok(Completion {
                run_id: Some(run_id),
                status: earlier,
                counted: false,
                reschedule,
                duration_seconds: None,
            });
        }
        let verdict = queue_mode
            .then(|| (self.chains).worker_run(report.chain_id, report.chain_seq, active))
            .flatten()
            .ok_or(ReportRefused::UnknownRun(run_id))?;
        let reschedule = self.follow(ctx, verdict);
        // A run a queue-mode worker published itself: record it now that it is over.
        let record = self
            .book
            .worker_run(run_id, &report, status, finished_at, &self.config);
        let duration_seconds = record.duration_seconds();
        self.telemetry.run(status, record.trigger_source);
        if let Some(duration) = duration_seconds {
            self.telemetry.duration(duration);
        }
        tracing::info!(trigger_source = record.trigger_source.as_str(), %run_id,
            status = status.as_str(), "run finished");
        self.persist(StateWrite::InsertRun(record));
        self.persist(StateWrite::LastRun {
            job_id: self.config.job_id.clone(),
            last_run_at: finished_at,
            last_status: status,
            last_error: report.error,
        });
        self.book.note_verdict(run_id, reschedule);
        Ok(Completion {
            run_id: Some(run_id),
            status,
            counted: true,
            reschedule,
            duration_seconds,
        })
    }
}

impl Handler<PublishOutcome> for JobActor {
    type Result = ();

    fn handle(&mut self, outcome: PublishOutcome, ctx: &mut Context<Self>) {
        // A confirm writes no log line; a refusal does.
        let _span = outcome.result.is_err().then(|| self.span().entered());
        self.published(ctx, outcome);
    }
}

impl Handler<RowWritten> for JobActor {
    type Result = ();

    /// A staged run's row landed (its fire needs no database now), or the row a publish
    /// waits for is written (or failed: the publish goes anyway).
    fn handle(&mut self, RowWritten { run_id, landed }: RowWritten, ctx: &mut Context<Self>) {
        let _span = (!landed).then(|| self.span().entered());
        if landed {
            self.staged_written(run_id);
        }
        self.row_ready(ctx, run_id, landed);
    }
}

impl Handler<Shutdown> for JobActor {
    type Result = ();

    fn handle(&mut self, Shutdown { deleted }: Shutdown, ctx: &mut Context<Self>) {
        let _span = self.span().entered();
        tracing::info!("job stopped");
        if let Some(staged) = self.staged.take().filter(|_| deleted) {
            // The job is deleted: its next fire will not happen.
            self.persist(StateWrite::DeleteRun {
                run_id: staged.run_id,
            });
        }
        ctx.stop();
    }
}

impl Handler<GetNextDue> for JobActor {
    type Result = Option<DateTime<Utc>>;

    fn handle(&mut self, _: GetNextDue, _: &mut Context<Self>) -> Self::Result {
        use chrono::SubsecRound;
        self.next_due.map(|due| due.trunc_subsecs(0))
    }
}
