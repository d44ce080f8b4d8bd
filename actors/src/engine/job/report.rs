//! The one rule for a worker's report, wherever it came from (`POST /jobs/{id}/last-run` or
//! the reports queue): a run in flight is closed once; a repeat of a finished run counts
//! nothing; a run a queue-mode worker published itself is recorded only when the engine told a
//! worker to publish it; anything else changes nothing. A run this actor does not know (not in
//! flight, not finished recently, no chain position) is looked up in the table: a finished run
//! there is a repeat, anything else an unknown run. That read is the job actor's only
//! database access, and it is off the fire path.

use actix::prelude::*;
use chrono::Utc;
use uuid::Uuid;
use worker::{ReportStatus, TriggerSource};

use super::messages::{ReportRefused, SettleReport, Settlement};
use super::JobActor;
use crate::run::{RunStatus, StateWrite};

/// Why a report is not settled from memory.
enum Unsettled {
    Refused(ReportRefused),
    /// The run is unknown here: the table decides.
    AskTable(Uuid),
}

impl Handler<SettleReport> for JobActor {
    /// The table lookup runs as a task of its own: it needs nothing of the actor, and it
    /// still answers if the actor stops meanwhile.
    type Result = ResponseFuture<Result<Settlement, ReportRefused>>;

    fn handle(
        &mut self,
        SettleReport(report): SettleReport,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        let _span = self.span().entered();
        let run_id = match self.settle(report, ctx) {
            Ok(settlement) => return Box::pin(std::future::ready(Ok(settlement))),
            Err(Unsettled::Refused(refused)) => return Box::pin(std::future::ready(Err(refused))),
            Err(Unsettled::AskTable(run_id)) => run_id,
        };
        let (store, job_id) = (self.engine.store.clone(), self.config.job_id.clone());
        Box::pin(async move {
            match store.get_run(run_id).await {
                Ok(Some(run)) if run.job_id == job_id && run.status.is_final() => Ok(Settlement {
                    run_id: Some(run_id),
                    status: run.status,
                    counted: false,
                    reschedule: false,
                    duration_seconds: run.duration_seconds(),
                }),
                Ok(_) => Err(ReportRefused::UnknownRun(run_id)),
                Err(error) => Err(ReportRefused::Database(error)),
            }
        })
    }
}

impl JobActor {
    /// Settles `report` from what this actor holds.
    fn settle(
        &mut self,
        report: worker::RunReport,
        ctx: &mut Context<Self>,
    ) -> Result<Settlement, Unsettled> {
        let status = match report.status.unwrap_or(ReportStatus::Success) {
            ReportStatus::Success => RunStatus::Success,
            ReportStatus::Failed => RunStatus::Failed,
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
                .ok_or(Unsettled::Refused(ReportRefused::NoRunInFlight))?;
            let reschedule = self.follow(ctx, verdict);
            self.telemetry.run(status, TriggerSource::AutoReschedule);
            self.persist(StateWrite::LastRun {
                job_id: self.config.job_id.clone(),
                last_run_at: finished_at,
                last_status: status,
                last_error: report.error,
            });
            return Ok(Settlement {
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
            return Ok(Settlement {
                run_id: Some(run_id),
                status,
                counted: true,
                reschedule,
                duration_seconds: Some(duration),
            });
        }
        if let Some((earlier, reschedule)) = self.book.earlier(run_id) {
            return Ok(Settlement {
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
            .ok_or(Unsettled::AskTable(run_id))?;
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
        Ok(Settlement {
            run_id: Some(run_id),
            status,
            counted: true,
            reschedule,
            duration_seconds,
        })
    }
}
