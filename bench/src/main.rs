//! jennie-bench: the benchmark suite of jennie-scheduler (run it with `bench/run`).
//!
//! ```text
//! jennie-bench suite [--quick] [--only spread,idle,burst,throughput,footprint,api,cluster,failover] [--out FILE]
//! jennie-bench bare --kind tokio|actix --plan FILE --from MS --until MS
//! jennie-bench minimal-endpoint --port PORT --jobs N --workers W
//! ```
//!
//! `suite` starts the release build of the service as a child process for every measurement,
//! runs each scenario's baselines in the same run, and writes a Markdown report.

mod amqp;
mod bare;
mod db;
mod minimal;
mod plan;
mod report;
mod scenarios;
mod service;
mod util;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use scenarios::Bench;
use service::ServiceConfig;

const SCENARIOS: [&str; 7] = [
    "spread",
    "idle",
    "burst",
    "throughput",
    "footprint",
    "api",
    "cluster",
];

/// Scenarios run only when named: part of one above, alone.
const PARTS: [&str; 1] = ["failover"];

/// `--key value` pairs and bare `--flag`s.
fn options(args: &[String]) -> Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    let mut iter = args.iter().peekable();
    while let Some(arg) = iter.next() {
        let Some(key) = arg.strip_prefix("--") else {
            bail!("unexpected argument {arg}");
        };
        let value = match iter.peek() {
            Some(next) if !next.starts_with("--") => iter.next().cloned().unwrap_or_default(),
            _ => "true".to_string(),
        };
        map.insert(key.to_string(), value);
    }
    Ok(map)
}

fn required<'a>(options: &'a HashMap<String, String>, key: &str) -> Result<&'a str> {
    options
        .get(key)
        .map(String::as_str)
        .with_context(|| format!("--{key} is required"))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        bail!("usage: jennie-bench suite|bare|minimal-endpoint [options] (see bench/README.md)");
    };
    let options = options(&args[1..])?;
    match command.as_str() {
        "bare" => bare::run(
            bare::Kind::parse(required(&options, "kind")?)?,
            &PathBuf::from(required(&options, "plan")?),
            required(&options, "from")?.parse()?,
            required(&options, "until")?.parse()?,
        ),
        "minimal-endpoint" => Ok(minimal::run(
            required(&options, "port")?.parse()?,
            required(&options, "jobs")?.parse()?,
            required(&options, "workers")?.parse()?,
        )?),
        "suite" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(suite(options)),
        other => bail!("unknown command {other}: suite, bare or minimal-endpoint"),
    }
}

async fn suite(options: HashMap<String, String>) -> Result<()> {
    let root = util::repo_root();
    let quick = options.contains_key("quick");
    let only: Vec<String> = match options.get("only") {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => SCENARIOS.iter().map(|s| s.to_string()).collect(),
    };
    for name in &only {
        if !SCENARIOS.contains(&name.as_str()) && !PARTS.contains(&name.as_str()) {
            bail!("unknown scenario {name}; one of {SCENARIOS:?} or {PARTS:?}");
        }
    }
    let out = options
        .get("out")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("bench/RESULTS.md"));
    let work = root.join("target/bench-work");
    std::fs::create_dir_all(&work)?;
    let service_binary = options
        .get("service")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/jennie-scheduler"));
    if !service_binary.exists() {
        bail!(
            "{} is missing: build it with cargo build --release --bin jennie-scheduler",
            service_binary.display()
        );
    }
    let python = options
        .get("python")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("bench/.venv/bin/python"));
    let mut bench = Bench {
        service: ServiceConfig {
            binary: service_binary,
            port: 18_095,
        },
        python,
        self_exe: std::env::current_exe()?,
        work,
        quick,
        repeats: if quick { 1 } else { 3 },
        report: report::Report::default(),
        seed: 20_261_128,
        sizes: match options.get("sizes") {
            Some(list) => Some(
                list.split(',')
                    .map(|n| n.parse().context("--sizes takes numbers"))
                    .collect::<Result<_>>()?,
            ),
            None => None,
        },
        ours_only: options.contains_key("ours-only"),
    };
    // Fail at once, with a clear message, if a service the suite needs is down.
    amqp::connect().await?.close(200, "OK".into()).await?;
    let started = Instant::now();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    for name in &only {
        let at = Instant::now();
        println!("== {name}");
        match name.as_str() {
            "spread" => scenarios::spread::run(&mut bench).await?,
            "burst" => scenarios::burst::run(&mut bench).await?,
            "throughput" => scenarios::throughput::run(&mut bench).await?,
            "footprint" => scenarios::footprint::run(&mut bench).await?,
            "idle" => scenarios::idle::run(&mut bench).await?,
            "cluster" => scenarios::cluster::run(&mut bench).await?,
            "failover" => scenarios::cluster::run_failover(&mut bench).await?,
            _ => scenarios::api::run(&mut bench).await?,
        }
        println!("== {name} took {:.0} s", at.elapsed().as_secs_f64());
    }
    let header = header(&bench, &only, &date, started.elapsed().as_secs_f64());
    let findings = std::fs::read_to_string(root.join("bench/FINDINGS.md"))
        .unwrap_or_else(|_| "## Findings\n\n(bench/FINDINGS.md is missing)\n".into());
    std::fs::write(&out, bench.report.render(&header, &findings))?;
    println!("wrote {}", out.display());
    Ok(())
}

fn header(bench: &Bench, only: &[String], date: &str, seconds: f64) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|rest| rest.trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let python = std::process::Command::new(&bench.python)
        .arg(util::repo_root().join("bench/apscheduler_bench.py"))
        .arg("--versions")
        .output()
        .ok()
        .and_then(|out| serde_json::from_slice::<serde_json::Value>(&out.stdout).ok())
        .map(|v| {
            format!(
                "Python {}, APScheduler {}, pika {}",
                v["result"]["python"].as_str().unwrap_or("?"),
                v["result"]["apscheduler"].as_str().unwrap_or("?"),
                v["result"]["pika"].as_str().unwrap_or("?")
            )
        })
        .unwrap_or_else(|| "not found".into());
    let commit = util::version_of("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !util::version_of("git", &["status", "--porcelain"]).is_empty();
    format!(
        "# Benchmark results\n\n\
         Written by `bench/run` ({}{}). Re-run: `bench/run` (the whole suite) or \
         `bench/run --only spread` (one scenario); see bench/README.md.\n\n\
         - Date: {date}; suite time: {:.1} min; scenarios: {}\n\
         - Commit: {commit}{}\n\
         - Machine: {cpu}, {cores} cores, {memory} RAM, Linux {}\n\
         - Service: release build of jennie-scheduler, SQLite unless stated, \
         `SCHEDULER_METRICS_PER_JOB=false`, `LOG_FORMAT=json` at info level to a pipe\n\
         - Versions: {}; RabbitMQ {}; {}; {}; {}\n\
         - Broker: the local RabbitMQ, persistent messages, publisher confirms, durable queues\n",
        if bench.quick || bench.sizes.is_some() || bench.ours_only {
            "**quick, resized or baseline-free run: not a result**"
        } else {
            "standard suite"
        },
        "",
        seconds / 60.0,
        only.join(", "),
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        util::version_of("uname", &["-r"]),
        util::version_of("rustc", &["--version"]),
        util::version_of("rabbitmqctl", &["version"]),
        util::version_of("mariadb", &["--version"]),
        python,
        util::version_of("wrk", &["-v"]),
    )
}
