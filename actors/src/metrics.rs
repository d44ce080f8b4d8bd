//! Metric names, in one place, and the buckets of the histograms. The engine records through
//! the `metrics` facade; the service installs the Prometheus exporter and serves `/metrics`.

/// Runs that reached a final status: `{job_id, scope, status, trigger_source}`.
pub const JOB_RUNS_TOTAL: &str = "jennie_job_runs_total";
/// Run duration from start (or publication) to the completion report: `{job_id, scope}`.
pub const JOB_DURATION_SECONDS: &str = "jennie_job_duration_seconds";
/// Broker confirmation time minus the due instant, for scheduled fires: `{job_id, scope}`.
pub const FIRE_LATENESS_SECONDS: &str = "jennie_fire_lateness_seconds";
/// Runs published and not yet finished or timed out: `{job_id, scope}`.
pub const RUNS_IN_FLIGHT: &str = "jennie_runs_in_flight";
/// Fires missed while the service was down or asleep: `{job_id, scope, outcome}` with outcome
/// `caught_up`, `skipped` or `coalesced`.
pub const MISSED_FIRES_TOTAL: &str = "jennie_missed_fires_total";
/// Publish outcomes: `{result}` = `ack`, `nack`, `unroutable`, `declare_error`, `encode_error`, `connection_lost`.
pub const PUBLISH_TOTAL: &str = "jennie_publish_total";
/// 1 while the broker connection is up, else 0.
pub const BROKER_CONNECTED: &str = "jennie_broker_connected";
/// Messages waiting for the broker connection.
pub const BROKER_OUTBOX: &str = "jennie_broker_outbox";
/// Jobs by state: `{scope, state}` with state `enabled` or `paused`.
pub const JOBS: &str = "jennie_jobs";
/// Engine state writes waiting for the database.
pub const STATE_WRITES_BUFFERED: &str = "jennie_state_writes_buffered";
/// Failed batches of engine state writes.
pub const STATE_WRITE_FAILURES_TOTAL: &str = "jennie_state_write_failures_total";
/// Run report messages from the reports queue: `{outcome}` = `settled`,
/// `dead_lettered` (invalid or refused) or `requeued` (the engine could not answer).
pub const REPORT_MESSAGES_TOTAL: &str = "jennie_report_messages_total";
/// HTTP requests served: `{method, route, status}`.
pub const HTTP_REQUESTS_TOTAL: &str = "jennie_http_requests_total";
/// Operator actions that took effect but whose audit entry could not be written.
pub const AUDIT_WRITE_FAILURES: &str = "jennie_audit_write_failures_total";
/// Alerts raised: `{kind}` = `run_failed`, `skipped`, `outage`, `recovery`, `lagged`.
pub const ALERTS_TOTAL: &str = "jennie_alerts_total";

/// Cluster mode: partitions this instance holds now.
pub const CLUSTER_PARTITIONS_OWNED: &str = "jennie_cluster_partitions_owned";
/// Cluster mode: live instances of the scope, this one included.
pub const CLUSTER_INSTANCES: &str = "jennie_cluster_instances";
/// Cluster mode: partition leases this instance took or lost: `{change}` = `gained`, `lost`,
/// `released` or `fenced` (a write found another owner or epoch).
pub const CLUSTER_LEASE_CHANGES_TOTAL: &str = "jennie_cluster_lease_changes_total";

/// Every metric the service exports.
pub const ALL: [&str; 18] = [
    JOB_RUNS_TOTAL,
    JOB_DURATION_SECONDS,
    FIRE_LATENESS_SECONDS,
    RUNS_IN_FLIGHT,
    MISSED_FIRES_TOTAL,
    PUBLISH_TOTAL,
    BROKER_CONNECTED,
    BROKER_OUTBOX,
    JOBS,
    STATE_WRITES_BUFFERED,
    STATE_WRITE_FAILURES_TOTAL,
    REPORT_MESSAGES_TOTAL,
    HTTP_REQUESTS_TOTAL,
    AUDIT_WRITE_FAILURES,
    ALERTS_TOTAL,
    CLUSTER_PARTITIONS_OWNED,
    CLUSTER_INSTANCES,
    CLUSTER_LEASE_CHANGES_TOTAL,
];

/// Jobs of milliseconds to hours.
pub const DURATION_BUCKETS: [f64; 18] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    3600.0, 7200.0, 14400.0,
];

/// Sub-millisecond to minutes.
pub const LATENESS_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0,
];

/// The `job_id` label value: the id, or `_all` when per-job labels are switched off
/// (`SCHEDULER_METRICS_PER_JOB=false`, for very large job counts).
pub fn job_label(job_id: &str, per_job: bool) -> String {
    if per_job {
        job_id.to_string()
    } else {
        "_all".to_string()
    }
}
