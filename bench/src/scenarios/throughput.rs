//! Scenario 3, throughput: the highest fire rate the service sustains with no growing lag.
//! R jobs every 1 s with random phases give R fires/s; R climbs until a step misses a fire or
//! its lag grows. The floor is raw lapin publishing as fast as its confirm window allows.

use std::time::Duration;

use anyhow::Result;

use super::{ms, Bench, Fires, ReportPath};
use crate::amqp::{Collector, RawPublisher};
use crate::db::Db;
use crate::plan;
use crate::report::table;
use crate::util::{self, now_ms, sleep_until_ms, Repeated};

const WARM_UP_MS: f64 = 3_000.0;
const STEP_MS: f64 = 10_000.0;
/// A step's lag grows when the median lateness of its last 3 s exceeds that of its first 3 s
/// by more than this.
const GROWTH_MS: f64 = 25.0;

struct Step {
    path: ReportPath,
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

async fn step(bench: &mut Bench, rate: u32, path: ReportPath) -> Result<Step> {
    let queue = format!("mock.jobs.bench-rate-{rate}");
    let start_ms = (now_ms() + 3_000.0 + rate as f64 * 0.06) as i64;
    let jobs = plan::spread(rate, 1, start_ms, bench.seed ^ rate as u64);
    let db = Db::Sqlite(bench.path("throughput.db"));
    let (collector, service) = bench.start_reported(&jobs, &db, &queue, path).await?;
    let from = start_ms as f64 + WARM_UP_MS;
    let until = from + STEP_MS;
    sleep_until_ms(from).await;
    let cpu_start = service.cpu_seconds()?;
    sleep_until_ms(until).await;
    let cpu_percent = util::cpu_percent(service.cpu_seconds()? - cpu_start, STEP_MS / 1000.0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let records = collector.records();
    service.stop();
    collector.finish().await;
    let fires = Fires::count(&records, &jobs, from, until);
    let first_p50 = fires.spread_between(from, from + 3_000.0).p50;
    let last_p50 = fires.spread_between(until - 3_000.0, until).p50;
    Ok(Step {
        path,
        rate,
        fires,
        first_p50,
        last_p50,
        cpu_percent,
    })
}

async fn raw_lapin_rate() -> Result<f64> {
    let queue = "mock.jobs.bench-rate-raw";
    let collector = Collector::start(queue, None).await?;
    let publisher = RawPublisher::open().await?;
    let started = now_ms();
    let acked = publisher.publish_until(queue, started + 10_000.0).await?;
    let elapsed = (now_ms() - started) / 1000.0;
    collector.wait_for(acked as usize, 3_000.0).await;
    publisher.close().await;
    collector.finish().await;
    Ok(acked as f64 / elapsed)
}

pub async fn run(bench: &mut Bench) -> Result<()> {
    let mut raw = Vec::new();
    for _ in 0..bench.repeats {
        println!("throughput: raw lapin");
        raw.push(raw_lapin_rate().await?);
    }
    let raw = Repeated::of(&raw);
    let rates: &[u32] = &[
        2_000, 3_000, 4_000, 5_000, 6_000, 8_000, 12_000, 16_000, 24_000,
    ];
    let mut steps = Vec::new();
    let mut best = Vec::new();
    for path in [ReportPath::Http, ReportPath::Amqp] {
        for &rate in rates {
            println!("throughput: {rate} fires/s, reports over {}", path.as_str());
            let step = step(bench, rate, path).await?;
            let sustained = step.sustained();
            steps.push(step);
            if !sustained {
                break;
            }
        }
        let sustained = steps
            .iter()
            .filter(|s| s.path == path && s.sustained())
            .map(|s| s.rate)
            .max()
            .unwrap_or(0) as f64;
        best.push((path, sustained));
    }
    let shown: Vec<String> = best
        .iter()
        .map(|(path, rate)| {
            format!(
                "{rate:.0} fires/s with reports over {} ({})",
                path.as_str(),
                util::ratio(*rate, raw.median)
            )
        })
        .collect();
    let (best_path, best) = best
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((ReportPath::Http, 0.0));
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let spread = s.fires.spread();
            vec![
                s.path.as_str().to_string(),
                format!("{}", s.rate),
                format!("{}", s.fires.expected),
                format!("{}", s.fires.missed),
                ms(spread.p50),
                ms(spread.p99),
                ms(spread.max),
                format!("{} → {}", ms(s.first_p50), ms(s.last_p50)),
                format!("{:.0} %", s.cpu_percent),
                if s.sustained() { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    bench.report.check(
        "throughput with reports: ≥ 60 % of raw lapin (both report paths run)",
        format!("{} vs {:.0} msg/s", shown.join("; "), raw.median),
        best >= 0.6 * raw.median,
    );
    bench.report.section(format!(
        "## 3. Throughput\n\nR jobs with a 1 s interval and random phases make R fires/s; each \
         step restarts the service, warms up {} s and measures {} s, with completion reports, \
         first over HTTP (`POST /jobs/{{id}}/last-run`), then over AMQP (the reports queue, \
         answered on direct reply-to). \
         A step is sustained when no fire is missed and the median lateness of its last 3 s is \
         within {GROWTH_MS} ms of its first 3 s. The steps stop at the first one not sustained.\n\n\
         Raw lapin (one connection, persistent messages, confirm window {}), {} runs of 10 s: \
         **{} msg/s** (min / median / max).\n\n\
         Highest sustained fire rate of the service: **{best:.0} fires/s** with reports over \
         {}, {} of raw lapin ({}).\n\n{}",
        WARM_UP_MS / 1000.0,
        STEP_MS / 1000.0,
        crate::amqp::CONFIRM_WINDOW,
        raw.runs,
        raw.show(0),
        best_path.as_str(),
        util::ratio(best, raw.median),
        shown.join("; "),
        table(
            &[
                "reports",
                "fires/s",
                "due",
                "missed",
                "p50",
                "p99",
                "max",
                "p50 first 3 s → last 3 s",
                "service CPU",
                "sustained"
            ],
            &rows
        )
    ));
    Ok(())
}
