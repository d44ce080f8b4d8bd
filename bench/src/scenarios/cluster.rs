//! Scenario 7, cluster mode: several instances of one scope on one MariaDB database.
//! - Scale-out: the highest fire rate 1, 2 and 3 instances sustain together on this machine
//!   (R jobs at 1 s, R climbing until a step misses a fire or its lag grows), side by side.
//! - Failover: three instances, 1 000 jobs at 1 s, the default lease TTL; one instance is
//!   killed with SIGKILL ten times (then started again under its id): how long its jobs stay
//!   silent, whether the instants due meanwhile are caught up, and whether any due instant
//!   went out under two run_ids.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{bail, Result};
use worker::SchedulerClient;

use super::{ms, Bench, Fires};
use crate::amqp::{Collector, Received};
use crate::db::Db;
use crate::plan::{self, PlannedJob};
use crate::report::table;
use crate::service::Process;
use crate::util::{self, now_ms, percentile, sleep_until_ms};

const PARTITIONS: u32 = 32;
/// The lease TTL of the failover runs: the default.
const TTL_SECONDS: u64 = 10;
const KILLS: usize = 10;
const WARM_UP_MS: f64 = 3_000.0;
const STEP_MS: f64 = 10_000.0;
/// As in the throughput scenario: a step's lag grows when the median lateness of its last
/// 3 s exceeds that of its first 3 s by more than this.
const GROWTH_MS: f64 = 25.0;
/// Reports waiting for their answers together: a fleet of workers, each waiting for its own.
/// A report for a job whose owner was just killed waits until the job is taken over (up to
/// the TTL); with a few dozen at once, those would hold back every other job's reports, and
/// the other jobs' runs would stay in flight (up to `max_parallel`) for the harness's sake.
const REPORTS_AT_ONCE: usize = 8_192;

/// Where a failover run leaves its trace (`BENCH_TRACE_DIR`): each instance's log, with
/// every job's resumed schedule, and per kill the leases and the silenced jobs' messages.
fn trace_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("BENCH_TRACE_DIR").map(Into::into)
}

fn log_filter() -> String {
    match trace_dir() {
        Some(_) => "warn,actors::engine=info,actors::engine::job=debug".into(),
        None => "warn,actors::engine=info".into(),
    }
}

/// The instances of one run, each on a port of its own.
struct Instances<'a> {
    bench: &'a Bench,
    db: Db,
    running: Vec<Option<Process>>,
}

impl<'a> Instances<'a> {
    fn port(index: usize) -> u16 {
        18_200 + index as u16
    }

    fn start(&mut self, index: usize) -> Result<()> {
        let env = [
            ("SCHEDULER_INSTANCE_ID", format!("bench-{index}")),
            ("SCHEDULER_PARTITIONS", PARTITIONS.to_string()),
            ("SCHEDULER_LEASE_TTL_SECONDS", TTL_SECONDS.to_string()),
            ("RUST_LOG", log_filter()),
        ];
        let mut process = (self.bench.service).start_on(&self.db, Self::port(index), &env)?;
        process.wait_marker(Duration::from_secs(120))?;
        while self.running.len() <= index {
            self.running.push(None);
        }
        self.running[index] = Some(process);
        Ok(())
    }

    /// The partitions each running instance holds, by `/ready`.
    async fn owned(&self) -> BTreeMap<usize, usize> {
        let client = reqwest::Client::new();
        let mut owned = BTreeMap::new();
        for (index, process) in self.running.iter().enumerate() {
            if process.is_none() {
                continue;
            }
            let url = format!("http://127.0.0.1:{}/ready", Self::port(index));
            let held = match client.get(url).send().await {
                Ok(reply) => (reply.json::<serde_json::Value>().await.ok())
                    .and_then(|ready| ready["cluster"]["owned"].as_array().map(Vec::len))
                    .unwrap_or(0),
                Err(_) => 0,
            };
            owned.insert(index, held);
        }
        owned
    }

    /// Waits until the running instances hold every partition, each its share.
    async fn balanced(&self, within: Duration) -> Result<()> {
        let deadline = now_ms() + within.as_secs_f64() * 1000.0;
        loop {
            let owned = self.owned().await;
            let share = PARTITIONS as usize / owned.len().max(1);
            if owned.values().sum::<usize>() == PARTITIONS as usize
                && owned.values().all(|held| *held >= share)
            {
                return Ok(());
            }
            if now_ms() > deadline {
                bail!("the partitions were not shared out within {within:?}: {owned:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn cpu_seconds(&self) -> f64 {
        (self.running.iter().flatten())
            .filter_map(|process| process.cpu_seconds().ok())
            .sum()
    }

    fn stop_all(&mut self) {
        for process in self.running.drain(..).flatten() {
            process.stop();
        }
    }
}

/// Fills the cluster's database with `jobs`, starts the consumer (it reports every run over
/// the reports queue, which every instance consumes) and `count` instances.
async fn cluster<'a>(
    bench: &'a Bench,
    jobs: &[PlannedJob],
    queue: &str,
    count: usize,
    max_parallel: u32,
) -> Result<(Collector, Instances<'a>)> {
    let db = Db::Mariadb("jennie_bench_cluster".into());
    db.fill(jobs, queue).await?;
    if max_parallel > 1 {
        db.set_max_parallel(max_parallel).await?;
    }
    let reports =
        SchedulerClient::over_amqp(&crate::amqp::url(), &worker::reports_queue_name("mock"))?;
    let collector = Collector::start_reporting(queue, Some(reports), REPORTS_AT_ONCE).await?;
    let mut instances = Instances {
        bench,
        db,
        running: Vec::new(),
    };
    for index in 0..count {
        instances.start(index)?;
    }
    instances.balanced(Duration::from_secs(60)).await?;
    Ok((collector, instances))
}

struct Step {
    instances: usize,
    rate: u32,
    fires: Fires,
    first_p50: f64,
    last_p50: f64,
    cpu_percent: f64,
}

impl Step {
    fn sustained(&self) -> bool {
        self.fires.missed == 0 && self.last_p50 - self.first_p50 <= GROWTH_MS
    }
}

async fn step(bench: &Bench, count: usize, rate: u32) -> Result<Step> {
    let queue = format!("mock.jobs.bench-cluster-{count}-{rate}");
    let jobs = plan::spread(rate, 1, now_ms() as i64 + 2_000, bench.seed ^ rate as u64);
    let (collector, mut instances) = cluster(bench, &jobs, &queue, count, 1).await?;
    let from = now_ms() + WARM_UP_MS;
    let until = from + STEP_MS;
    sleep_until_ms(from).await;
    let cpu_start = instances.cpu_seconds();
    sleep_until_ms(until).await;
    let cpu_percent = util::cpu_percent(instances.cpu_seconds() - cpu_start, STEP_MS / 1000.0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let records = collector.records();
    instances.stop_all();
    collector.finish().await;
    let fires = Fires::count(&records, &jobs, from, until);
    Ok(Step {
        instances: count,
        rate,
        first_p50: fires.spread_between(from, from + 3_000.0).p50,
        last_p50: fires.spread_between(until - 3_000.0, until).p50,
        fires,
        cpu_percent,
    })
}

/// What one kill showed.
struct Kill {
    victim: usize,
    /// Jobs that went silent.
    silent: usize,
    /// Per silent job: kill → its first message again (ms).
    failover_ms: Vec<f64>,
    /// Silent jobs whose missed instants were caught up (a fire due in the gap, published late).
    caught_up: usize,
}

/// Jobs with no message received in `[from, to)`.
fn silent_jobs(records: &[Received], jobs: usize, from: f64, to: f64) -> BTreeSet<u32> {
    let heard: BTreeSet<u32> = (records.iter())
        .filter(|record| record.recv_ms >= from && record.recv_ms < to)
        .map(|record| record.job)
        .collect();
    (0..jobs as u32)
        .filter(|job| !heard.contains(job))
        .collect()
}

async fn kill_once(
    instances: &mut Instances<'_>,
    collector: &Collector,
    jobs: usize,
    victim: usize,
) -> Result<Kill> {
    let leases = match trace_dir() {
        Some(_) => instances.db.leases().await?,
        None => Vec::new(),
    };
    let killed_at = now_ms();
    if let Some(process) = instances.running[victim].take() {
        process.kill_9();
    }
    // A job of a live instance is heard every second; one of the victim's is not.
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let silent = silent_jobs(
        &collector.records(),
        jobs,
        killed_at + 1_200.0,
        killed_at + 2_400.0,
    );
    let deadline = killed_at + (TTL_SECONDS as f64 + 20.0) * 1000.0;
    let mut first_again: HashMap<u32, f64> = HashMap::new();
    while first_again.len() < silent.len() && now_ms() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for record in collector.records() {
            if silent.contains(&record.job) && record.recv_ms > killed_at + 2_400.0 {
                let first = first_again.entry(record.job).or_insert(record.recv_ms);
                *first = first.min(record.recv_ms);
            }
        }
    }
    let records = collector.records();
    let caught_up = (silent.iter())
        .filter(|job| {
            records.iter().any(|record| {
                record.job == **job
                    && record.due_ms > killed_at
                    && record.due_ms < first_again.get(job).copied().unwrap_or(0.0) - 900.0
            })
        })
        .count();
    let failover_ms = (silent.iter())
        .map(|job| first_again.get(job).map_or(f64::NAN, |at| at - killed_at))
        .collect();
    // Silenced jobs that were already quiet in the second before the kill.
    let quiet_before = silent_jobs(&records, jobs, killed_at - 1_200.0, killed_at);
    println!(
        "cluster: bench-{victim} killed: {} jobs silenced ({} of them quiet before the kill), \
         {caught_up} caught up",
        silent.len(),
        silent.intersection(&quiet_before).count(),
    );
    if let Some(dir) = trace_dir() {
        let missed: Vec<serde_json::Value> = (silent.iter())
            .filter(|job| {
                !records.iter().any(|record| {
                    record.job == **job
                        && record.due_ms > killed_at
                        && record.due_ms < first_again.get(job).copied().unwrap_or(0.0) - 900.0
                })
            })
            .map(|job| {
                let seen: Vec<serde_json::Value> = (records.iter())
                    .filter(|record| {
                        record.job == *job
                            && record.recv_ms > killed_at - 3_000.0
                            && record.recv_ms < killed_at + 25_000.0
                    })
                    .map(|record| {
                        serde_json::json!([
                            record.due_ms - killed_at,
                            record.recv_ms - killed_at,
                            record.run_id.to_string()
                        ])
                    })
                    .collect();
                serde_json::json!({ "job": crate::plan::job_id(*job), "seen": seen })
            })
            .collect();
        let line = serde_json::json!({
            "victim": victim,
            "killed_at_ms": killed_at,
            "leases": leases,
            "silent": silent.len(),
            "quiet_before": silent.intersection(&quiet_before).count(),
            "missed": missed,
        });
        use std::io::Write;
        let mut file = (std::fs::OpenOptions::new().create(true).append(true))
            .open(dir.join("kills.jsonl"))?;
        writeln!(file, "{line}")?;
    }
    instances.start(victim)?;
    instances.balanced(Duration::from_secs(60)).await?;
    // The partitions handed back to it are taken over (their rows read, their actors
    // started) a little after they are held.
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(Kill {
        victim,
        silent: silent.len(),
        failover_ms,
        caught_up,
    })
}

/// Due instants published under two run_ids, and runs published more than once.
fn doubles(records: &[Received]) -> (usize, usize) {
    let mut by_due: HashMap<(u32, i64), BTreeSet<uuid::Uuid>> = HashMap::new();
    let mut runs: HashMap<uuid::Uuid, usize> = HashMap::new();
    for record in records {
        by_due
            .entry((record.job, record.due_ms.round() as i64))
            .or_default()
            .insert(record.run_id);
        *runs.entry(record.run_id).or_default() += 1;
    }
    (
        by_due.values().filter(|run_ids| run_ids.len() > 1).count(),
        runs.values().filter(|count| **count > 1).count(),
    )
}

async fn failover(bench: &mut Bench) -> Result<()> {
    const JOBS: u32 = 1_000;
    let queue = "mock.jobs.bench-failover";
    let jobs = plan::spread(JOBS, 1, now_ms() as i64 + 2_000, bench.seed);
    // Runs may overlap here: a run left in flight by the killed instance (its report on the
    // way) must not hold back the catch-up of the instants due during the gap.
    let (collector, mut instances) = cluster(bench, &jobs, queue, 3, 10).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let kills = if bench.quick { 2 } else { KILLS };
    let mut results = Vec::new();
    for n in 0..kills {
        println!("cluster: kill -9 number {} of {kills}", n + 1);
        results.push(kill_once(&mut instances, &collector, JOBS as usize, n % 3).await?);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (two_run_ids, repeated) = doubles(&collector.records());
    instances.stop_all();
    collector.finish().await;

    let worst: Vec<f64> = (results.iter())
        .map(|kill| kill.failover_ms.iter().copied().fold(f64::NAN, f64::max))
        .collect();
    let mut sorted = worst.clone();
    sorted.sort_by(f64::total_cmp);
    let (min, median, max) = (
        sorted[0],
        percentile(&sorted, 50.0),
        sorted[sorted.len() - 1],
    );
    let silent: usize = results.iter().map(|kill| kill.silent).sum();
    let caught_up: usize = results.iter().map(|kill| kill.caught_up).sum();
    let rows: Vec<Vec<String>> = (results.iter().enumerate())
        .map(|(n, kill)| {
            let mut each = kill.failover_ms.clone();
            each.sort_by(f64::total_cmp);
            vec![
                format!("{}", n + 1),
                format!("bench-{}", kill.victim),
                format!("{}", kill.silent),
                ms(each.first().copied().unwrap_or(f64::NAN)),
                ms(percentile(&each, 50.0)),
                ms(each.last().copied().unwrap_or(f64::NAN)),
                format!("{} of {}", kill.caught_up, kill.silent),
            ]
        })
        .collect();
    let limit_ms = (TTL_SECONDS as f64 + 2.0) * 1000.0;
    bench.report.check(
        "cluster: a killed owner's jobs fire again within TTL + 2 s (every kill)",
        format!(
            "min / median / max {} / {} / {} ms over {kills} kills, TTL {TTL_SECONDS} s",
            ms(min),
            ms(median),
            ms(max)
        ),
        worst.iter().all(|ms| *ms <= limit_ms),
    );
    bench.report.check(
        "cluster: no due instant published under two run_ids; missed instants caught up",
        format!(
            "{two_run_ids} under two run_ids, {repeated} runs published again under their own \
             run_id; {caught_up} of {silent} silenced jobs caught up"
        ),
        two_run_ids == 0 && caught_up == silent,
    );
    bench.report.section(format!(
        "### Failover\n\nThree instances, {JOBS} jobs at 1 s (`max_parallel` 10; reports over \
         the reports queue), {PARTITIONS} partitions, lease TTL {TTL_SECONDS} s (the default). {kills} \
         times, one instance is killed with SIGKILL, and started again under its id once every \
         silenced job fired again. A job is silenced when nothing of it arrives 1.2–2.4 s \
         after the kill; its failover is the kill → its first message again. \
         Per kill, the slowest job: **min {} / median {} / max {} ms**. Due instants published \
         under two run_ids over the whole run: **{two_run_ids}**; runs published again under \
         their own run_id (at least once: published, not yet recorded `queued` when the \
         owner died): {repeated}.\n\n{}",
        ms(min),
        ms(median),
        ms(max),
        table(
            &[
                "kill",
                "instance",
                "jobs silenced",
                "failover min (ms)",
                "median",
                "max",
                "caught up"
            ],
            &rows
        )
    ));
    Ok(())
}

async fn scale_out(bench: &mut Bench) -> Result<()> {
    let rates: &[u32] = if bench.quick {
        &[1_000]
    } else {
        &[1_000, 2_000, 4_000, 6_000]
    };
    let mut steps = Vec::new();
    let mut best = Vec::new();
    for count in 1..=3 {
        for &rate in rates {
            println!("cluster: {count} instance(s), {rate} fires/s");
            let step = step(bench, count, rate).await?;
            let sustained = step.sustained();
            steps.push(step);
            if !sustained {
                break;
            }
        }
        let sustained = (steps.iter())
            .filter(|step| step.instances == count && step.sustained())
            .map(|step| step.rate)
            .max()
            .unwrap_or(0);
        best.push(format!("{count}: **{sustained} fires/s**"));
    }
    let rows: Vec<Vec<String>> = (steps.iter())
        .map(|step| {
            let spread = step.fires.spread();
            vec![
                format!("{}", step.instances),
                format!("{}", step.rate),
                format!("{}", step.fires.expected),
                format!("{}", step.fires.missed),
                format!("{}", step.fires.duplicates),
                ms(spread.p50),
                ms(spread.p99),
                ms(spread.max),
                format!("{} → {}", ms(step.first_p50), ms(step.last_p50)),
                format!("{:.0} %", step.cpu_percent),
                if step.sustained() { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    bench.report.section(format!(
        "## 7. Cluster mode (MariaDB)\n\n### Scale-out\n\nR jobs at 1 s on one MariaDB \
         database, run by 1, 2 and 3 instances of the scope together ({PARTITIONS} \
         partitions); reports over the reports queue (any instance takes one and hands it to \
         the job's owner). Each step starts the instances, waits until they share the \
         partitions, warms up {} s and measures {} s; sustained as in the throughput \
         scenario. All the instances share this machine's two cores with RabbitMQ, MariaDB \
         and the consumer, so more instances add coordination, not cores.\n\n\
         Highest sustained rate by instances: {}.\n\n{}",
        WARM_UP_MS / 1000.0,
        STEP_MS / 1000.0,
        best.join(", "),
        table(
            &[
                "instances",
                "fires/s",
                "due",
                "missed",
                "duplicates",
                "p50",
                "p99",
                "max",
                "p50 first 3 s → last 3 s",
                "CPU (all instances)",
                "sustained"
            ],
            &rows
        )
    ));
    Ok(())
}

pub async fn run(bench: &mut Bench) -> Result<()> {
    scale_out(bench).await?;
    failover(bench).await
}

/// The failover half alone (`--only failover`).
pub async fn run_failover(bench: &mut Bench) -> Result<()> {
    bench.report.section("## 7. Cluster mode (MariaDB)".into());
    failover(bench).await
}
