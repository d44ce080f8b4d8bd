//! The service under test (and the baselines) as child processes: started with their inputs,
//! watched for their "armed" line, measured through `/proc`, stopped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::db::Db;
use crate::util;

/// A child process whose output lines are scanned for a marker.
pub struct Process {
    pub name: String,
    child: Child,
    pub pid: u32,
    pub spawned: Instant,
    marker: mpsc::Receiver<(Instant, String)>,
    tail: Arc<Mutex<Vec<String>>>,
    /// Lines after the marker that hold a JSON object (a baseline's result).
    results: mpsc::Receiver<String>,
}

impl Process {
    /// Starts `command`, reporting the first output line that contains `marker`.
    pub fn spawn(name: &str, mut command: Command, marker: &'static str) -> Result<Process> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {name}: {command:?}"))?;
        let pid = child.id();
        let (marker_tx, marker_rx) = mpsc::channel();
        let (result_tx, result_rx) = mpsc::channel();
        let tail = Arc::new(Mutex::new(Vec::new()));
        // With BENCH_TRACE_DIR set, every output line is kept in a file per process.
        let trace = match std::env::var_os("BENCH_TRACE_DIR") {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                let path = PathBuf::from(dir).join(format!("{name}-{pid}.log"));
                Some(Arc::new(Mutex::new(std::fs::File::create(path)?)))
            }
            None => None,
        };
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        for stream in streams {
            let marker_tx = marker_tx.clone();
            let result_tx = result_tx.clone();
            let tail = tail.clone();
            let trace = trace.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let Some(trace) = &trace {
                        use std::io::Write;
                        let _ = writeln!(trace.lock().unwrap(), "{line}");
                    }
                    if line.contains(marker) {
                        let _ = marker_tx.send((Instant::now(), line.clone()));
                    }
                    if line.starts_with("{\"result\"") {
                        let _ = result_tx.send(line.clone());
                    }
                    if line.contains("ERROR")
                        || line.contains("Traceback")
                        || line.contains("panicked")
                    {
                        let mut tail = tail.lock().unwrap();
                        if tail.len() < 20 {
                            tail.push(line);
                        }
                    }
                }
            });
        }
        Ok(Process {
            name: name.to_string(),
            child,
            pid,
            spawned,
            marker: marker_rx,
            tail,
            results: result_rx,
        })
    }

    /// Waits for the marker line; returns the time since spawn and the line.
    pub fn wait_marker(&mut self, within: Duration) -> Result<(Duration, String)> {
        let deadline = Instant::now() + within;
        loop {
            match self.marker.recv_timeout(Duration::from_millis(100)) {
                Ok((at, line)) => return Ok((at - self.spawned, line)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!(
                        "{} exited before it was ready: {}",
                        self.name,
                        self.errors()
                    )
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "{} exited ({status}) before it was ready: {}",
                    self.name,
                    self.errors()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} was not ready within {within:?}: {}",
                    self.name,
                    self.errors()
                );
            }
        }
    }

    /// Waits for the process's result line, `{"result": ...}`.
    pub fn wait_result(&mut self, within: Duration) -> Result<serde_json::Value> {
        let line = self
            .results
            .recv_timeout(within)
            .with_context(|| format!("{} printed no result: {}", self.name, self.errors()))?;
        let value: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{}: bad result {line}", self.name))?;
        Ok(value["result"].clone())
    }

    /// The error lines it printed so far.
    pub fn errors(&self) -> String {
        self.tail.lock().unwrap().join("\n")
    }

    pub fn rss_kib(&self) -> Result<u64> {
        util::rss_kib(self.pid)
    }

    pub fn cpu_seconds(&self) -> Result<f64> {
        util::cpu_seconds(self.pid)
    }

    /// SIGKILL at once: the process gets no chance to release anything.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How to start jennie-scheduler.
pub struct ServiceConfig {
    pub binary: PathBuf,
    pub port: u16,
}

impl ServiceConfig {
    /// Starts the service on `db`; it is ready when its last job actor logs that every timer is
    /// armed.
    pub fn start(&self, db: &Db) -> Result<Process> {
        self.start_on(db, self.port, &[])
    }

    /// Starts an instance on `db` listening on `port`, with more environment variables (a
    /// cluster's instances: their ids and lease settings).
    pub fn start_on(&self, db: &Db, port: u16, env: &[(&str, String)]) -> Result<Process> {
        let root = util::repo_root();
        let mut command = Command::new(&self.binary);
        command
            .current_dir(&root)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SCHEDULER_CONFIG_DIR", root.join("config"))
            .env("SCHEDULER_SCOPE", "mock")
            .env("SCHEDULER_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("RABBITMQ_URL", crate::amqp::url())
            // 100k per-job label sets would dominate memory; large fleets turn them off.
            .env("SCHEDULER_METRICS_PER_JOB", "false")
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "json");
        for (key, value) in db.service_env() {
            command.env(key, value);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        Process::spawn("jennie-scheduler", command, "all job timers armed")
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The `elapsed_ms` field of the service's "all job timers armed" line.
pub fn armed_elapsed_ms(line: &str) -> Option<f64> {
    let key = ["elapsed_ms=", "\"elapsed_ms\":"]
        .into_iter()
        .find(|key| line.contains(key))?;
    let rest = &line[line.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Sums the samples of `metric` whose labels contain `label` in a Prometheus text page.
pub fn metric_sum(page: &str, metric: &str, label: &str) -> f64 {
    page.lines()
        .filter(|line| line.starts_with(metric) && line.contains(label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_armed_line_and_metric_samples() {
        let line = "2026-11-28T10:00:00Z  INFO actors::engine::job_actor: all job timers armed scope=mock elapsed_ms=1646";
        assert_eq!(armed_elapsed_ms(line), Some(1646.0));
        let json = r#"{"fields":{"message":"all job timers armed","elapsed_ms":87}}"#;
        assert_eq!(armed_elapsed_ms(json), Some(87.0));
        let page = "# TYPE jennie_publish_total counter\njennie_publish_total{result=\"ack\"} 12\njennie_publish_total{result=\"nack\"} 1\n";
        assert_eq!(
            metric_sum(page, "jennie_publish_total", "result=\"ack\""),
            12.0
        );
    }
}
