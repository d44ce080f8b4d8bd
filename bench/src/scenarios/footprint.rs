//! Scenarios 4 and 5, memory and start-up: resident memory with N = 0, 10k, 100k jobs armed
//! (and bytes per job above the empty process), and the time from process start to "all job
//! timers armed" with 100k rows in SQLite and in MariaDB. The jobs are hourly with random
//! phases starting 10 minutes out, so nothing fires while memory is read.

use std::time::Duration;

use anyhow::Result;

use super::Bench;
use crate::bare::Kind;
use crate::db::Db;
use crate::plan;
use crate::report::table;
use crate::service::{armed_elapsed_ms, Process};
use crate::util::{now_ms, Repeated};

const SIZES: [u32; 3] = [0, 10_000, 100_000];
/// How long a process settles after arming before its memory is read.
const SETTLE: Duration = Duration::from_secs(2);

struct Reading {
    rss_kib: f64,
    ready_ms: f64,
    /// The service's own `elapsed_ms` (from reading the table to the last timer armed).
    engine_ms: f64,
}

fn read(mut process: Process, within: Duration, settle: Duration) -> Result<Reading> {
    let (ready, line) = process.wait_marker(within)?;
    std::thread::sleep(settle);
    let rss_kib = process.rss_kib()? as f64;
    process.stop();
    Ok(Reading {
        rss_kib,
        ready_ms: ready.as_secs_f64() * 1000.0,
        engine_ms: armed_elapsed_ms(&line).unwrap_or(f64::NAN),
    })
}

fn hourly(n: u32, seed: u64) -> Vec<plan::PlannedJob> {
    plan::spread(n, 1, (now_ms() + 600_000.0) as i64, seed)
        .into_iter()
        .map(|mut job| {
            job.interval_ms = 3_600_000;
            job.first_due_ms += (job.index as i64 * 7919) % 3_600_000;
            job
        })
        .collect()
}

/// min / median / max of a figure over the readings.
fn over(readings: &[Reading], pick: fn(&Reading) -> f64) -> Repeated {
    Repeated::of(&readings.iter().map(pick).collect::<Vec<_>>())
}

pub async fn run(bench: &mut Bench) -> Result<()> {
    let queue = "mock.jobs.bench-footprint";
    let mut memory_rows = Vec::new();
    let mut startup_rows = Vec::new();
    let mut per_job = Vec::new();
    let rss = |r: &Reading| r.rss_kib;
    for (system, index) in [
        ("jennie-scheduler (SQLite)", 0),
        ("bare tokio tasks", 1),
        ("bare actix actors", 2),
        ("APScheduler 3.x", 3),
    ] {
        let mut by_size = Vec::new();
        for n in SIZES {
            println!("memory: {system}, N={n}");
            let jobs = hourly(n, bench.seed);
            let plan_file = bench.path(&format!("footprint-{n}.csv"));
            plan::write_csv(&plan_file, &jobs)?;
            let db = Db::Sqlite(bench.path(&format!("footprint-{n}.db")));
            if index == 0 {
                db.fill(&jobs, queue).await?;
            }
            let far = now_ms() + 86_400_000.0;
            let mut readings = Vec::new();
            for _ in 0..bench.repeats {
                let process = match index {
                    0 => bench.service.start(&db)?,
                    1 => bench.spawn_bare(Kind::Tokio, &plan_file, far, far)?,
                    2 => bench.spawn_bare(Kind::Actix, &plan_file, far, far)?,
                    _ => bench.spawn_apscheduler(&plan_file, queue, far)?,
                };
                // The baselines do nothing after arming; the service settles its writes.
                let settle = if index == 0 { SETTLE } else { SETTLE / 2 };
                readings.push(read(process, Duration::from_secs(120), settle)?);
            }
            if index == 0 && n == 100_000 {
                startup_rows.push(vec![
                    "SQLite".into(),
                    format!("{n}"),
                    over(&readings, |r| r.ready_ms).show(0),
                    over(&readings, |r| r.engine_ms).show(0),
                ]);
                let ready = over(&readings, |r| r.ready_ms).median;
                bench.report.check(
                    "start-up: 100k jobs armed ≤ 1 s on SQLite",
                    format!("{ready:.0} ms (median, process start to last timer armed)"),
                    ready <= 1_000.0,
                );
            }
            if index == 3 && n == 100_000 {
                startup_rows.push(vec![
                    "APScheduler 3.x (memory job store)".into(),
                    format!("{n}"),
                    over(&readings, |r| r.ready_ms).show(0),
                    "n/a".into(),
                ]);
            }
            by_size.push(over(&readings, rss));
        }
        let empty = by_size[0].median;
        let bytes_per_job = |k: usize| (by_size[k].median - empty) * 1024.0 / SIZES[k] as f64;
        per_job.push(bytes_per_job(2));
        memory_rows.push(vec![
            system.to_string(),
            by_size[0].show(0),
            by_size[1].show(0),
            by_size[2].show(0),
            format!("{:.0}", bytes_per_job(1)),
            format!("{:.0}", bytes_per_job(2)),
        ]);
    }
    bench.report.check(
        "memory: ≤ 1.4 KB per job above the empty service",
        format!("{:.0} bytes per job at 100k", per_job[0]),
        per_job[0] <= 1400.0,
    );
    bench.report.check(
        "memory: ahead of APScheduler",
        format!(
            "{:.0} vs {:.0} bytes per job at 100k",
            per_job[0], per_job[3]
        ),
        per_job[0] <= per_job[3],
    );

    // Start-up on MariaDB.
    let db = Db::Mariadb("jennie_bench".into());
    let jobs = hourly(100_000, bench.seed);
    db.fill(&jobs, queue).await?;
    let mut readings = Vec::new();
    for _ in 0..bench.repeats {
        println!("start-up: MariaDB, N=100000");
        readings.push(read(
            bench.service.start(&db)?,
            Duration::from_secs(120),
            SETTLE,
        )?);
    }
    startup_rows.push(vec![
        "MariaDB".into(),
        "100000".into(),
        over(&readings, |r| r.ready_ms).show(0),
        over(&readings, |r| r.engine_ms).show(0),
    ]);

    bench.report.section(format!(
        "## 4. Memory\n\nResident memory (`VmRSS`, KiB) {} s (baselines: half that) after every timer is armed, min / \
         median / max over {} starts; bytes per job = (median RSS at N − median RSS empty) / N. \
         The service runs with `SCHEDULER_METRICS_PER_JOB=false`.\n\n{}\n\
         ## 5. Start-up\n\nFrom process start to the last job actor's \"all job timers armed\" \
         line (ms, min / median / max over {} starts), and the service's own `elapsed_ms` in \
         that line (from the engine beginning to read the table). APScheduler's is from process \
         start to `scheduler.start()` returning, for comparison.\n\n{}",
        SETTLE.as_secs(),
        bench.repeats,
        table(
            &[
                "system",
                "N=0",
                "N=10k",
                "N=100k",
                "bytes/job at 10k",
                "bytes/job at 100k"
            ],
            &memory_rows
        ),
        bench.repeats,
        table(
            &["database", "rows", "to all armed", "engine elapsed_ms"],
            &startup_rows
        )
    ));
    Ok(())
}
