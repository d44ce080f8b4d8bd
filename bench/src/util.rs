//! Clocks, percentiles, a seeded random generator and what `/proc` says about a process.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

/// Wall-clock milliseconds since the Unix epoch, with microsecond precision. Every process of a
/// run (service, baselines, consumer) stamps instants on this one clock.
pub fn now_ms() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1000.0
}

/// Sleeps until the wall-clock instant `at_ms`.
pub async fn sleep_until_ms(at_ms: f64) {
    let wait = at_ms - now_ms();
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_micros((wait * 1000.0) as u64)).await;
    }
}

/// The `p`-th percentile (0..=100) of sorted values, by nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50, p99 and max of unsorted values.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Spread {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        Spread {
            count: values.len(),
            p50: percentile(&values, 50.0),
            p99: percentile(&values, 99.0),
            max: values.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// Min, median and max of one figure over repeated runs.
#[derive(Debug, Clone, Copy)]
pub struct Repeated {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub runs: usize,
}

impl Repeated {
    pub fn of(values: &[f64]) -> Repeated {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return Repeated {
                min: f64::NAN,
                median: f64::NAN,
                max: f64::NAN,
                runs: 0,
            };
        }
        let median = if sorted.len() % 2 == 1 {
            sorted[sorted.len() / 2]
        } else {
            (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
        };
        Repeated {
            min: sorted[0],
            median,
            max: sorted[sorted.len() - 1],
            runs: sorted.len(),
        }
    }

    /// `min / median / max` with `decimals` places.
    pub fn show(&self, decimals: usize) -> String {
        if self.runs == 0 {
            return "n/a".into();
        }
        if self.runs == 1 {
            return format!("{:.*}", decimals, self.median);
        }
        format!(
            "{:.*} / {:.*} / {:.*}",
            decimals, self.min, decimals, self.median, decimals, self.max
        )
    }
}

/// A ratio `ours / baseline` shown as `1.23×`.
pub fn ratio(ours: f64, baseline: f64) -> String {
    if baseline == 0.0 || ours.is_nan() || baseline.is_nan() {
        return "n/a".into();
    }
    format!("{:.2}×", ours / baseline)
}

/// xorshift64*: a small seeded generator, so every run draws the same phases and intervals.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Resident memory of `pid` in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// CPU seconds (user + system) `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let after = &stat[stat.rfind(')').context("odd /proc stat")? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields[11].parse()?;
    let stime: f64 = fields[12].parse()?;
    Ok((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The pid of the RabbitMQ node (its Erlang VM), to report the broker's share of the CPU.
pub fn broker_pid() -> Option<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-o", "beam.smp"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The repository root (the parent of `bench/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// A command's first line of output, or `not found`.
pub fn version_of(program: &str, args: &[&str]) -> String {
    match std::process::Command::new(program).args(args).output() {
        Ok(out) => {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string()
        }
        Err(_) => "not found".into(),
    }
}

/// Wraps a CPU-seconds delta over a wall-clock span as percent of one core.
pub fn cpu_percent(cpu_delta: f64, wall_seconds: f64) -> f64 {
    100.0 * cpu_delta / wall_seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn repeated_figures_give_min_median_max() {
        let r = Repeated::of(&[3.0, 1.0, 2.0]);
        assert_eq!((r.min, r.median, r.max), (1.0, 2.0, 3.0));
        assert_eq!(Repeated::of(&[1.0, 2.0]).median, 1.5);
        assert_eq!(r.show(1), "1.0 / 2.0 / 3.0");
    }

    #[test]
    fn proc_readings_of_this_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
    }
}
