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

/// The environment variable that names the type of job and delay queues, read by the
/// scheduler and by both SDKs (every declarer of a queue must agree on it).
pub const QUEUE_TYPE_VARIABLE: &str = "SCHEDULER_QUEUE_TYPE";

/// The type job queues and their delay queues are declared with: RabbitMQ's `classic`
/// queues (default), or `quorum` queues, replicated across the nodes of a RabbitMQ cluster
/// (the delay mechanism works on both: message TTL, then dead-lettering back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueType {
    #[default]
    Classic,
    Quorum,
}

impl QueueType {
    pub fn parse(text: &str) -> Option<QueueType> {
        match text.trim().to_ascii_lowercase().as_str() {
            "classic" => Some(QueueType::Classic),
            "quorum" => Some(QueueType::Quorum),
            _ => None,
        }
    }

    /// `SCHEDULER_QUEUE_TYPE`, classic when unset or unknown.
    pub fn from_env() -> QueueType {
        std::env::var(QUEUE_TYPE_VARIABLE)
            .ok()
            .and_then(|text| QueueType::parse(&text))
            .unwrap_or_default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }

    /// The value of the `x-queue-type` declare argument, when one is needed (a classic queue
    /// is declared without it, as before).
    pub fn declare_argument(self) -> Option<&'static str> {
        match self {
            QueueType::Classic => None,
            QueueType::Quorum => Some("quorum"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_types_parse_and_only_quorum_needs_an_argument() {
        assert_eq!(QueueType::parse(" Quorum "), Some(QueueType::Quorum));
        assert_eq!(QueueType::parse("classic"), Some(QueueType::Classic));
        assert_eq!(QueueType::parse("stream"), None);
        assert_eq!(QueueType::Classic.declare_argument(), None);
        assert_eq!(QueueType::Quorum.declare_argument(), Some("quorum"));
    }

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
