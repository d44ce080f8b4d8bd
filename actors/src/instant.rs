//! The two precisions an instant is kept at, and one codec for each. A job's own instants
//! (`next_due_at`, `last_run_at`, `created_at`, `updated_at`) keep whole seconds, as the API
//! shows them; a run's instants (`due_at`, `queued_at`, `started_at`, `finished_at`) keep
//! milliseconds. Both are stored as UTC `DATETIME` columns without a zone.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// `instant` cut to whole seconds: the precision of a job's instants.
pub fn to_seconds(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant.trunc_subsecs(0)
}

/// `instant` as a column of whole seconds (a job's instants).
pub fn to_seconds_column(instant: DateTime<Utc>) -> NaiveDateTime {
    to_seconds(instant).naive_utc()
}

/// `instant` as a column of milliseconds (a run's instants).
pub fn to_millis_column(instant: DateTime<Utc>) -> NaiveDateTime {
    instant.trunc_subsecs(3).naive_utc()
}

/// A stored UTC column of either precision, read back.
pub fn from_utc_column(stored: NaiveDateTime) -> DateTime<Utc> {
    stored.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_precision_keeps_what_its_name_says_and_reads_back() {
        let instant = DateTime::parse_from_rfc3339("2026-11-29T09:00:01.234567Z")
            .unwrap()
            .with_timezone(&Utc);
        let seconds = from_utc_column(to_seconds_column(instant));
        let millis = from_utc_column(to_millis_column(instant));
        assert_eq!(seconds.to_rfc3339(), "2026-11-29T09:00:01+00:00");
        assert_eq!(millis.timestamp_millis(), instant.timestamp_millis());
        assert_eq!(millis.timestamp_subsec_nanos(), 234_000_000);
        assert_eq!(to_seconds(instant), seconds);
    }
}
