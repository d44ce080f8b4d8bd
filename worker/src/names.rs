//! Queue naming rules shared by the scheduler and its workers.

/// The middle segment of every job queue: `{scope}.jobs.{service}`.
pub const JOBS_SEGMENT: &str = "jobs";

/// The prefix every queue of a scope must start with, e.g. `real.jobs.`.
pub fn queue_prefix(scope: &str) -> String {
    format!("{scope}.{JOBS_SEGMENT}.")
}

/// The delay queue that holds queue-mode messages for `delay_ms` before they are dead-lettered
/// back into `queue`.
pub fn delay_queue_name(queue: &str, delay_ms: u64) -> String {
    format!("{queue}.delay.{delay_ms}")
}

/// The durable queue a worker may publish its completion reports to (the report body plus
/// `job_id`), instead of `POST /jobs/{id}/last-run`.
pub fn reports_queue_name(scope: &str) -> String {
    format!("{scope}.{JOBS_SEGMENT}.reports")
}

/// Where the scheduler dead-letters report messages it cannot take.
pub fn dead_reports_queue_name(scope: &str) -> String {
    format!("{}.dead", reports_queue_name(scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_scope_convention() {
        assert_eq!(queue_prefix("mock"), "mock.jobs.");
        assert_eq!(
            delay_queue_name("real.jobs.scout", 1500),
            "real.jobs.scout.delay.1500"
        );
        assert_eq!(reports_queue_name("mock"), "mock.jobs.reports");
        assert_eq!(dead_reports_queue_name("real"), "real.jobs.reports.dead");
    }
}
