//! A job's metrics and its tracing span: the labels are worked out once per job, and every
//! log line of a job actor carries `job_id` and `scope` through the span it runs in.

use worker::TriggerSource;

use crate::job::JobConfig;
use crate::metrics;
use crate::run::RunStatus;

pub(super) struct JobTelemetry {
    /// The `job_id` metric label (`_all` when metrics are not kept per job).
    label: String,
    scope: &'static str,
}

impl JobTelemetry {
    pub fn new(config: &JobConfig, per_job: bool) -> Self {
        JobTelemetry {
            label: metrics::job_label(&config.job_id, per_job),
            scope: config.scope.as_str(),
        }
    }

    /// The span a job actor's handlers run in.
    pub fn span(config: &JobConfig) -> tracing::Span {
        tracing::info_span!("job", job_id = %config.job_id, scope = config.scope.as_str())
    }

    pub fn run(&self, status: RunStatus, trigger: TriggerSource) {
        ::metrics::counter!(metrics::JOB_RUNS_TOTAL,
            "job_id" => self.label.clone(), "scope" => self.scope,
            "status" => status.as_str(), "trigger_source" => trigger.as_str())
        .increment(1);
    }

    pub fn missed(&self, outcome: &'static str, count: u64) {
        ::metrics::counter!(metrics::MISSED_FIRES_TOTAL,
            "job_id" => self.label.clone(), "scope" => self.scope, "outcome" => outcome)
        .increment(count);
    }

    /// Moves the runs-in-flight gauge by `delta` (increments, so jobs sharing the `_all`
    /// label add up).
    pub fn in_flight(&self, delta: f64) {
        ::metrics::gauge!(metrics::RUNS_IN_FLIGHT, "job_id" => self.label.clone(), "scope" => self.scope)
            .increment(delta);
    }

    pub fn duration(&self, seconds: f64) {
        ::metrics::histogram!(metrics::JOB_DURATION_SECONDS, "job_id" => self.label.clone(), "scope" => self.scope)
            .record(seconds);
    }

    pub fn lateness(&self, seconds: f64) {
        ::metrics::histogram!(metrics::FIRE_LATENESS_SECONDS, "job_id" => self.label.clone(), "scope" => self.scope)
            .record(seconds.max(0.0));
    }
}
