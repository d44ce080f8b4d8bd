//! Scenario 1b, idle: 10 jobs at 1 s intervals (random phases) for 60 s on an otherwise idle
//! service: the lateness a single fire sees when nothing else competes for the cores. The
//! service runs alone, then APScheduler (and the bare timers) on the same plan.

use std::sync::Mutex;

use anyhow::Result;

use super::spread::{baselines_on, ours_on, ratio_row, Shape, COLUMNS};
use super::{ms, Bench};
use crate::report::table;

const JOBS: u32 = 10;

pub async fn run(bench: &mut Bench) -> Result<()> {
    let shape = Shape {
        name: "idle",
        n: JOBS,
        max_interval_s: 1,
        window_ms: if bench.quick { 20_000.0 } else { 60_000.0 },
    };
    let notes = Mutex::new(Vec::new());
    println!("idle: {JOBS} jobs at 1 s, jennie-scheduler");
    let ours = ours_on(bench, &shape, &notes).await?;
    let mut rows = vec![ours.row("jennie-scheduler", JOBS)];
    if !bench.ours_only {
        println!("idle: {JOBS} jobs at 1 s, baselines");
        let [aps, tokio_timers, actix_timers] = baselines_on(bench, &shape, &notes).await?;
        rows.push(aps.row("APScheduler 3.x + pika", JOBS));
        rows.push(tokio_timers.row("bare tokio tasks (no publish)", JOBS));
        rows.push(actix_timers.row("bare actix actors (no publish)", JOBS));
        rows.push(ratio_row(JOBS, &ours, &aps));
        bench.report.check(
            "idle: ahead of APScheduler (p50, p99, max)",
            format!(
                "p50 {} vs {}, p99 {} vs {}, max {} vs {}",
                ms(ours.lateness.p50),
                ms(aps.lateness.p50),
                ms(ours.lateness.p99),
                ms(aps.lateness.p99),
                ms(ours.lateness.max),
                ms(aps.lateness.max)
            ),
            ours.lateness.p50 <= aps.lateness.p50
                && ours.lateness.p99 <= aps.lateness.p99
                && ours.lateness.max <= aps.lateness.max,
        );
    }
    bench.report.check(
        "idle: receive − due p99 ≤ 3 ms, none missed",
        format!("p99 {} ms, missed {}", ms(ours.lateness.p99), ours.missed),
        ours.lateness.p99 <= 3.0 && ours.missed == 0,
    );
    for note in notes.into_inner().unwrap_or_default() {
        bench.report.note(note);
    }
    bench.report.section(format!(
        "## 1b. Idle\n\n{JOBS} jobs at 1 s intervals with random phases, a {} s window after the \
         warm-up, on an otherwise idle machine: the service alone (its consumer reports every \
         run back over HTTP), then APScheduler and the bare timers on the same plan. Columns as \
         in the spread table (ms).\n\n{}",
        shape.window_ms / 1000.0,
        table(&COLUMNS, &rows)
    ));
    Ok(())
}
