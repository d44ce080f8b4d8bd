//! The application layer: one method per thing an operator or a worker does (create, edit,
//! pause and resume, delete, run now, report, read the history, check readiness). Every front
//! end (the HTTP routes, and the admin UI, the CLI and the bot that build on them) calls these
//! and nothing below them. The service owns the order of the steps (the row first, then the
//! engine), the fallbacks and the input rules; it knows no HTTP. A route is: parse the request,
//! call one method, map the error.

mod audit;
mod calendars;
mod control;
mod error;
mod jobs;
mod listing;
mod readiness;
mod views;

pub use audit::{Actor, DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT};
pub use calendars::CalendarView;
pub use control::{
    runs_status, RunNowRequest, DEFAULT_RUNS_LIMIT, MAX_RUNS_LIMIT, MAX_RUN_PARAMS_BYTES,
};
pub use error::ServiceError;
pub use listing::{
    schedule_text, JobPage, JobQuery, JobSort, JobState, JobSummary, StateCounts,
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
pub use readiness::{Probe, Readiness};
pub use views::{Overview, ScheduleInstant, SchedulePreview, MAX_PREVIEW_COUNT};

use crate::engine::Engine;
use crate::job::Scope;
use crate::store::Store;

/// The use cases of one instance (one scope); cheap to clone.
#[derive(Clone)]
pub struct JobService {
    store: Store,
    engine: Engine,
    scope: Scope,
}

impl JobService {
    pub fn new(store: Store, engine: Engine, scope: Scope) -> JobService {
        JobService {
            store,
            engine,
            scope,
        }
    }

    /// The only scope this instance serves.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The zone cron expressions are read in.
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.engine.timezone()
    }

    /// The engine's rare events from now on (failed runs with no retry left, skipped
    /// streaks), for the alerts.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<crate::engine::EngineEvent> {
        self.engine.subscribe()
    }
}
