//! The jobs of a run: ids, intervals and first due instants, shared by the service (as rows),
//! the baselines (as a CSV file) and the consumer (to count expected fires).

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::util::Rng;

/// One job of a plan; instants are epoch milliseconds.
#[derive(Debug, Clone)]
pub struct PlannedJob {
    pub index: u32,
    pub interval_ms: i64,
    pub first_due_ms: i64,
}

impl PlannedJob {
    pub fn id(&self) -> String {
        job_id(self.index)
    }

    /// How many due instants fall in `[from, to)`.
    pub fn dues_in(&self, from: f64, to: f64) -> u64 {
        let first = self.first_due_ms as f64;
        let every = self.interval_ms as f64;
        let before = |t: f64| -> f64 {
            // Dues strictly before t.
            if t <= first {
                0.0
            } else {
                ((t - first) / every).ceil()
            }
        };
        (before(to) - before(from)).max(0.0) as u64
    }
}

pub fn job_id(index: u32) -> String {
    format!("bench-{index:06}")
}

/// The index of a bench job id, if it is one.
pub fn job_index(id: &str) -> Option<u32> {
    id.strip_prefix("bench-")?.parse().ok()
}

/// `n` interval jobs with whole-second intervals drawn from `1..=max_interval_s` and a random
/// phase (whole milliseconds) within the first interval after `start_ms`.
pub fn spread(n: u32, max_interval_s: u64, start_ms: i64, seed: u64) -> Vec<PlannedJob> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|index| {
            let interval_ms = (1 + rng.below(max_interval_s)) as i64 * 1000;
            let phase = rng.below(interval_ms as u64) as i64;
            PlannedJob {
                index,
                interval_ms,
                first_due_ms: start_ms + phase,
            }
        })
        .collect()
}

/// `n` jobs of one interval, all first due at `at_ms`.
pub fn all_at(n: u32, at_ms: i64, interval_s: i64) -> Vec<PlannedJob> {
    (0..n)
        .map(|index| PlannedJob {
            index,
            interval_ms: interval_s * 1000,
            first_due_ms: at_ms,
        })
        .collect()
}

/// Writes `id,interval_ms,first_due_ms` lines for the baselines.
pub fn write_csv(path: &Path, jobs: &[PlannedJob]) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for job in jobs {
        writeln!(out, "{},{},{}", job.id(), job.interval_ms, job.first_due_ms)?;
    }
    out.flush()?;
    Ok(())
}

/// Reads what [`write_csv`] wrote.
pub fn read_csv(path: &Path) -> Result<Vec<PlannedJob>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut parts = line.split(',');
            let id = parts.next().unwrap_or_default();
            let index = job_index(id).ok_or_else(|| anyhow::anyhow!("bad job id {id}"))?;
            let interval_ms = parts.next().unwrap_or_default().parse()?;
            let first_due_ms = parts.next().unwrap_or_default().parse()?;
            Ok(PlannedJob {
                index,
                interval_ms,
                first_due_ms,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dues_in_a_window_are_counted_half_open() {
        let job = PlannedJob {
            index: 0,
            interval_ms: 1000,
            first_due_ms: 500,
        };
        assert_eq!(job.dues_in(0.0, 500.0), 0);
        assert_eq!(job.dues_in(0.0, 501.0), 1);
        assert_eq!(job.dues_in(500.0, 2500.0), 2);
        assert_eq!(job.dues_in(501.0, 2501.0), 2);
        assert_eq!(job.dues_in(3000.0, 3000.0), 0);
    }

    #[test]
    fn spread_plans_are_seeded_and_phases_lie_within_the_interval() {
        let a = spread(1000, 60, 10_000, 7);
        let b = spread(1000, 60, 10_000, 7);
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.first_due_ms == y.first_due_ms));
        for job in &a {
            assert!((1000..=60_000).contains(&job.interval_ms));
            assert!(job.first_due_ms >= 10_000 && job.first_due_ms < 10_000 + job.interval_ms);
        }
        assert_eq!(job_index(&a[42].id()), Some(42));
    }
}
