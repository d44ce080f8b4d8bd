//! Scenario 1, spread: N interval jobs with random phases and intervals of 1–60 s; fire
//! lateness = consumer receive − due_at over a window after warm-up; fires missed; CPU.
//!
//! Above N = 1k the service runs alone, then the baselines together on the same plan (at 1k
//! all run at once, being light): APScheduler
//! (publishing to RabbitMQ, received by the same consumer) and the two bare-timer processes
//! (wake-up − due, nothing published), each in its own process.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;

use super::{ms, Bench, Fires};
use crate::amqp::Collector;
use crate::bare::Kind;
use crate::db::Db;
use crate::plan;
use crate::report::table;
use crate::util::{self, now_ms, sleep_until_ms, Repeated, Spread};

const WARM_UP_MS: f64 = 3_000.0;
/// Up to this N, the service and its baselines run at the same time (to keep the suite within
/// 20 minutes); above it, the service runs alone.
const TOGETHER_UP_TO: u32 = 1_000;
/// Lateness is also taken per sub-window of this length, to show how steady it is.
const SUB_WINDOW_MS: f64 = 30_000.0;

/// One system's figures at one N.
pub struct Figures {
    pub expected: u64,
    pub missed: u64,
    pub duplicates: u64,
    pub lateness: Spread,
    /// `queued_at − due_at` (when the publisher fired), n/a for the bare timers.
    pub fired_late: Spread,
    /// p99 of each sub-window.
    pub sub_p99: Vec<f64>,
    pub cpu_percent: f64,
    pub broker_cpu_percent: f64,
}

impl Figures {
    /// The figures of what a consumer received in `window`.
    fn of(fires: &Fires, window: (f64, f64), cpu_percent: f64, broker_cpu_percent: f64) -> Self {
        Figures {
            expected: fires.expected,
            missed: fires.missed,
            duplicates: fires.duplicates,
            lateness: fires.spread(),
            fired_late: Spread::of(fires.fired_late.clone()),
            sub_p99: sub_p99(fires, window.0, window.1),
            cpu_percent,
            broker_cpu_percent,
        }
    }

    pub(super) fn row(&self, system: &str, n: u32) -> Vec<String> {
        vec![
            format!("{n}"),
            system.to_string(),
            format!("{}", self.expected),
            format!("{}", self.missed),
            format!("{}", self.duplicates),
            ms(self.lateness.p50),
            ms(self.lateness.p99),
            ms(self.lateness.max),
            Repeated::of(&self.sub_p99).show(2),
            format!("{} / {}", ms(self.fired_late.p50), ms(self.fired_late.p99)),
            format!("{:.0} %", self.cpu_percent),
            if self.broker_cpu_percent.is_nan() {
                "n/a".into()
            } else {
                format!("{:.0} %", self.broker_cpu_percent)
            },
        ]
    }
}

fn sub_p99(fires: &Fires, from: f64, until: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut start = from;
    while start + SUB_WINDOW_MS <= until + 1.0 {
        out.push(fires.spread_between(start, start + SUB_WINDOW_MS).p99);
        start += SUB_WINDOW_MS;
    }
    out
}

struct CpuMeter {
    pids: Vec<u32>,
    start: Vec<f64>,
    at: f64,
}

impl CpuMeter {
    fn start(pids: Vec<u32>) -> CpuMeter {
        let start = pids
            .iter()
            .map(|pid| util::cpu_seconds(*pid).unwrap_or(f64::NAN))
            .collect();
        CpuMeter {
            pids,
            start,
            at: now_ms(),
        }
    }

    /// Percent of one core each process used since `start`.
    fn read(&self) -> Vec<f64> {
        let wall = (now_ms() - self.at) / 1000.0;
        self.pids
            .iter()
            .zip(&self.start)
            .map(|(pid, start)| {
                let now = util::cpu_seconds(*pid).unwrap_or(f64::NAN);
                util::cpu_percent(now - start, wall)
            })
            .collect()
    }
}

/// Which jobs a spread-like run uses and for how long.
pub(super) struct Shape {
    /// Names the queue, database and plan files.
    pub name: &'static str,
    pub n: u32,
    /// Intervals are drawn from 1..=this many seconds.
    pub max_interval_s: u64,
    pub window_ms: f64,
}

impl Shape {
    fn spread(bench: &Bench, n: u32) -> Shape {
        Shape {
            name: "spread",
            n,
            max_interval_s: 60,
            window_ms: bench.window().as_millis() as f64,
        }
    }
}

/// The service alone on `n` jobs.
async fn ours(bench: &Bench, n: u32, notes: &Mutex<Vec<String>>) -> Result<Figures> {
    ours_on(bench, &Shape::spread(bench, n), notes).await
}

/// The service alone on the jobs of `shape`.
pub(super) async fn ours_on(
    bench: &Bench,
    shape: &Shape,
    notes: &Mutex<Vec<String>>,
) -> Result<Figures> {
    let (name, n) = (shape.name, shape.n);
    let queue = format!("mock.jobs.bench-{name}-{n}");
    let start_ms = (now_ms() + 2_500.0 + n as f64 * 0.04) as i64;
    let jobs = plan::spread(n, shape.max_interval_s, start_ms, bench.seed ^ n as u64);
    let db = Db::Sqlite(bench.path(&format!("{name}-{n}.db")));
    let (collector, service) = bench
        .start_reported(&jobs, &db, &queue, super::ReportPath::Http)
        .await?;
    let armed = now_ms();
    if armed > start_ms as f64 {
        notes.lock().unwrap().push(format!(
            "{name} N={n}: the service armed its timers {:.0} ms after the first due instant (inside the warm-up)",
            armed - start_ms as f64
        ));
    }
    let from = start_ms as f64 + WARM_UP_MS;
    let until = from + shape.window_ms;
    sleep_until_ms(from).await;
    let broker = util::broker_pid().unwrap_or(0);
    let cpu = CpuMeter::start(vec![service.pid, broker]);
    sleep_until_ms(until).await;
    let cpu = cpu.read();
    // Whatever is due in the window and not received 3 s after it closed counts as missed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let records = collector.records();
    let report_failures = collector
        .report_failures
        .load(std::sync::atomic::Ordering::Relaxed);
    service.stop();
    collector.finish().await;
    if report_failures > 0 {
        notes.lock().unwrap().push(format!(
            "{name} N={n}: {report_failures} completion reports to the service failed"
        ));
    }
    let fires = Fires::count(&records, &jobs, from, until);
    Ok(Figures::of(&fires, (from, until), cpu[0], cpu[1]))
}

/// APScheduler, bare tokio and bare actix side by side on `n` jobs.
async fn baselines(bench: &Bench, n: u32, notes: &Mutex<Vec<String>>) -> Result<[Figures; 3]> {
    baselines_on(bench, &Shape::spread(bench, n), notes).await
}

/// APScheduler, bare tokio and bare actix side by side on the jobs of `shape`.
pub(super) async fn baselines_on(
    bench: &Bench,
    shape: &Shape,
    notes: &Mutex<Vec<String>>,
) -> Result<[Figures; 3]> {
    let (name, n) = (shape.name, shape.n);
    let queue = format!("mock.jobs.bench-{name}-aps-{n}");
    let start_ms = (now_ms() + 2_500.0 + n as f64 * 0.07) as i64;
    let jobs = plan::spread(n, shape.max_interval_s, start_ms, bench.seed ^ n as u64);
    let plan_file = bench.path(&format!("{name}-{n}.csv"));
    plan::write_csv(&plan_file, &jobs)?;
    let from = start_ms as f64 + WARM_UP_MS;
    let until = from + shape.window_ms;
    let collector = Collector::start(&queue, None).await?;
    let mut aps = bench.spawn_apscheduler(&plan_file, &queue, until + 3_000.0)?;
    let mut tokio_timers = bench.spawn_bare(Kind::Tokio, &plan_file, from, until)?;
    let mut actix_timers = bench.spawn_bare(Kind::Actix, &plan_file, from, until)?;
    for process in [&mut aps, &mut tokio_timers, &mut actix_timers] {
        process.wait_marker(Duration::from_secs(120))?;
        let armed = now_ms();
        if armed > start_ms as f64 {
            notes.lock().unwrap().push(format!(
                "{name} N={n}: {} armed {:.0} ms after the first due instant (inside the warm-up)",
                process.name,
                armed - start_ms as f64
            ));
        }
    }
    sleep_until_ms(from).await;
    let broker = util::broker_pid().unwrap_or(0);
    let cpu = CpuMeter::start(vec![aps.pid, tokio_timers.pid, actix_timers.pid, broker]);
    sleep_until_ms(until).await;
    let cpu = cpu.read();
    let mut bare = Vec::new();
    for process in [&mut tokio_timers, &mut actix_timers] {
        let result = process.wait_result(Duration::from_secs(30))?;
        let expected = result["expected"].as_u64().unwrap_or(0);
        let fired = result["fired"].as_u64().unwrap_or(0);
        bare.push((expected, fired, result));
    }
    let aps_result = aps.wait_result(Duration::from_secs(30))?;
    let records = collector.records();
    aps.stop();
    tokio_timers.stop();
    actix_timers.stop();
    collector.finish().await;
    if aps_result["publish_errors"].as_u64().unwrap_or(0) > 0 {
        notes.lock().unwrap().push(format!(
            "{name} N={n}: APScheduler publish errors: {}",
            aps_result["publish_errors"]
        ));
    }
    let fires = Fires::count(&records, &jobs, from, until);
    let aps_figures = Figures::of(&fires, (from, until), cpu[0], cpu[3]);
    let bare_figures = |index: usize| {
        let (expected, fired, result) = &bare[index];
        Figures {
            expected: *expected,
            missed: expected.saturating_sub(*fired),
            duplicates: 0,
            lateness: Spread {
                count: *fired as usize,
                p50: result["p50_ms"].as_f64().unwrap_or(f64::NAN),
                p99: result["p99_ms"].as_f64().unwrap_or(f64::NAN),
                max: result["max_ms"].as_f64().unwrap_or(f64::NAN),
            },
            fired_late: Spread {
                count: 0,
                p50: f64::NAN,
                p99: f64::NAN,
                max: f64::NAN,
            },
            sub_p99: Vec::new(),
            cpu_percent: cpu[1 + index],
            broker_cpu_percent: f64::NAN,
        }
    };
    Ok([aps_figures, bare_figures(0), bare_figures(1)])
}

/// The row of ratios jennie / APScheduler under a size's rows.
pub(super) fn ratio_row(n: u32, ours: &Figures, aps: &Figures) -> Vec<String> {
    vec![
        format!("{n}"),
        "ratio jennie / APScheduler".into(),
        String::new(),
        String::new(),
        String::new(),
        util::ratio(ours.lateness.p50, aps.lateness.p50),
        util::ratio(ours.lateness.p99, aps.lateness.p99),
        util::ratio(ours.lateness.max, aps.lateness.max),
        String::new(),
        String::new(),
        util::ratio(ours.cpu_percent, aps.cpu_percent),
        String::new(),
    ]
}

/// The columns of [`Figures::row`].
pub(super) const COLUMNS: [&str; 12] = [
    "N",
    "system",
    "due",
    "missed",
    "dup",
    "p50",
    "p99",
    "max",
    "sub-window p99",
    "fired − due p50 / p99",
    "CPU",
    "broker CPU",
];

pub async fn run(bench: &mut Bench) -> Result<()> {
    let sizes = bench.sizes.clone().unwrap_or_else(|| {
        if bench.quick {
            vec![1_000, 10_000]
        } else {
            vec![1_000, 10_000, 100_000]
        }
    });
    let mut rows = Vec::new();
    for n in sizes {
        println!("spread: N={n}, jennie-scheduler");
        let notes = Mutex::new(Vec::new());
        let (ours, baselines) = if bench.ours_only {
            (ours(bench, n, &notes).await?, None)
        } else if n <= TOGETHER_UP_TO {
            // Light enough to run at the same time (each well under a tenth of a core).
            println!("spread: N={n}, baselines at the same time");
            let (ours, baselines) =
                tokio::join!(ours(bench, n, &notes), baselines(bench, n, &notes));
            (ours?, Some(baselines?))
        } else {
            let ours = ours(bench, n, &notes).await?;
            println!("spread: N={n}, baselines");
            (ours, Some(baselines(bench, n, &notes).await?))
        };
        for note in notes.into_inner().unwrap() {
            bench.report.note(note);
        }
        let Some([aps, tokio_timers, actix_timers]) = baselines else {
            rows.push(ours.row("jennie-scheduler", n));
            continue;
        };
        rows.push(ours.row("jennie-scheduler", n));
        rows.push(aps.row("APScheduler 3.x + pika", n));
        rows.push(tokio_timers.row("bare tokio tasks (no publish)", n));
        rows.push(actix_timers.row("bare actix actors (no publish)", n));
        rows.push(ratio_row(n, &ours, &aps));
        check(bench, n, &ours, &aps);
    }
    let window = bench.window().as_secs();
    bench.report.section(format!(
        "## 1. Spread\n\nN interval jobs, intervals drawn from 1–60 s, random phases (whole ms), \
         {} s warm-up, then a {window} s window. Lateness = consumer receive − `due_at`, in ms, \
         over every due instant of the window; missed = due in the window and not received 3 s \
         after it closed. The consumer reports each run back over HTTP as a worker would. \
         `sub-window p99` is min / median / max of the p99 of each {} s part of the window. \
         `fired − due` is the message's `queued_at` − `due_at`: how late the publisher woke and fired, before writing and publishing. \
         CPU is percent of one core over the window; the bare timers publish nothing (their \
         lateness is wake-up − due). Above N = {TOGETHER_UP_TO} the service runs alone and \
         the three baselines run together afterwards, each in its own process; at N = \
         {TOGETHER_UP_TO} all four run at the same time (together they use less than a third \
         of one core).\n\n{}",
        WARM_UP_MS / 1000.0,
        SUB_WINDOW_MS / 1000.0,
        table(&COLUMNS, &rows)
    ));
    Ok(())
}

fn check(bench: &mut Bench, n: u32, ours: &Figures, aps: &Figures) {
    let shown = format!(
        "p99 {} ms, max {} ms, missed {}",
        ms(ours.lateness.p99),
        ms(ours.lateness.max),
        ours.missed
    );
    match n {
        10_000 => bench.report.check(
            "spread 10k: p99 ≤ 2 ms, max ≤ 20 ms, none missed",
            shown,
            ours.lateness.p99 <= 2.0 && ours.lateness.max <= 20.0 && ours.missed == 0,
        ),
        100_000 => bench.report.check(
            "spread 100k: p99 ≤ 50 ms, none missed",
            shown,
            ours.lateness.p99 <= 50.0 && ours.missed == 0,
        ),
        _ => {}
    }
    // When APScheduler delivered nothing in the window its lateness is n/a: only the missed
    // fires compare.
    let ahead = if aps.lateness.count == 0 {
        ours.missed < aps.missed
    } else {
        ours.lateness.p50 <= aps.lateness.p50
            && ours.lateness.p99 <= aps.lateness.p99
            && ours.lateness.max <= aps.lateness.max
            && ours.missed <= aps.missed
    };
    bench.report.check(
        &format!("spread {n}: ahead of APScheduler (p50, p99, max, missed)"),
        format!(
            "p50 {} vs {}, p99 {} vs {}, max {} vs {}, missed {} vs {}",
            ms(ours.lateness.p50),
            ms(aps.lateness.p50),
            ms(ours.lateness.p99),
            ms(aps.lateness.p99),
            ms(ours.lateness.max),
            ms(aps.lateness.max),
            ours.missed,
            aps.missed
        ),
        ahead,
    );
}
