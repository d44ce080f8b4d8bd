//! The messages a job actor handles, but the report (`report.rs`). Each handler that logs
//! runs inside the job's tracing span.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use uuid::Uuid;
use worker::TriggerSource;

use super::messages::{GetNextDue, Reload, RunNow, RunNowRejected, Shutdown, Wake};
use super::run_book::Fire;
use super::JobActor;
use crate::engine::broker::PublishOutcome;
use crate::engine::persistence::RowWritten;
use crate::run::StateWrite;

impl Handler<Wake> for JobActor {
    type Result = ();

    fn handle(&mut self, wake: Wake, ctx: &mut Context<Self>) {
        // Staging writes no log line: no span for it (spans cost on the hot path).
        let _span = (wake != Wake::Stage).then(|| self.span().entered());
        match wake {
            Wake::Stage => self.stage_due(ctx),
            Wake::Fire { armed } => self.fire_due(ctx, armed),
            Wake::Hold(run_id) => self.row_ready(ctx, run_id, false),
            Wake::Republish(run_id) => self.republish(ctx, run_id),
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
    fn handle(&mut self, written: RowWritten, ctx: &mut Context<Self>) {
        let RowWritten {
            run_id,
            landed,
            refused,
        } = written;
        let _span = (!landed).then(|| self.span().entered());
        if refused {
            self.row_refused(ctx, run_id);
            return;
        }
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
        use crate::instant::to_seconds;
        self.next_due.map(to_seconds)
    }
}
