//! Scenario 2, burst: N jobs all due at one instant T. Time from T until the last message is
//! confirmed by the broker and until the last is received; none missing, none duplicated.
//! Baselines: raw lapin publishing N messages at T with the same confirm window, and
//! APScheduler with N jobs due at T.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Result;

use super::Bench;
use crate::amqp::{message_for, Collector, RawPublisher, Received};
use crate::db::Db;
use crate::plan;
use crate::report::table;
use crate::service::metric_sum;
use crate::util::{self, now_ms, sleep_until_ms, Repeated};

/// One burst of one system.
struct Burst {
    confirm_ms: f64,
    receive_ms: f64,
    missing: u64,
    duplicates: u64,
}

impl Burst {
    fn of(records: &[Received], n: u32, at_ms: f64, confirm_ms: f64) -> Burst {
        let jobs: HashSet<u32> = records.iter().map(|r| r.job).collect();
        let last = records.iter().map(|r| r.recv_ms).fold(f64::NAN, f64::max);
        Burst {
            confirm_ms,
            receive_ms: last - at_ms,
            missing: (n as u64).saturating_sub(jobs.len() as u64),
            duplicates: records.len() as u64 - jobs.len() as u64,
        }
    }
}

/// Polls the service's publish counter until `n` acks; returns when it got there.
async fn confirmed_at(base_url: &str, n: u32, deadline_ms: f64) -> f64 {
    let http = reqwest::Client::new();
    let url = format!("{base_url}/metrics");
    while now_ms() < deadline_ms {
        if let Ok(response) = http.get(&url).send().await {
            if let Ok(page) = response.text().await {
                if metric_sum(&page, "jennie_publish_total", "result=\"ack\"") >= n as f64 {
                    return now_ms();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f64::NAN
}

async fn ours(bench: &mut Bench, db: &Db, n: u32, queue: &str) -> Result<Burst> {
    // Whole seconds: MariaDB keeps DATETIME to the second; SQLite gets the same instants.
    let at_ms = ((now_ms() + 2_000.0 + n as f64 * 0.025) / 1000.0).ceil() * 1000.0;
    db.all_due_at(at_ms as i64).await?;
    let collector = Collector::start(queue, None).await?;
    let mut service = bench.service.start(db)?;
    service.wait_marker(Duration::from_secs(120))?;
    if now_ms() > at_ms {
        bench.report.note(format!(
            "burst N={n}: the service armed its timers after the burst instant"
        ));
    }
    sleep_until_ms(at_ms).await;
    let confirmed = confirmed_at(&bench.service.base_url(), n, at_ms + 120_000.0).await;
    collector.wait_for(n as usize, 5_000.0).await;
    let records = collector.records();
    service.stop();
    collector.finish().await;
    Ok(Burst::of(&records, n, at_ms, confirmed - at_ms))
}

async fn raw_lapin(n: u32, queue: &str) -> Result<Burst> {
    let collector = Collector::start(queue, None).await?;
    let publisher = RawPublisher::open().await?;
    let at_ms = now_ms() + 500.0;
    let payloads: Vec<Vec<u8>> = (0..n).map(|index| message_for(index, at_ms)).collect();
    sleep_until_ms(at_ms).await;
    let (_, last_ack) = publisher.publish_all(queue, payloads).await?;
    collector.wait_for(n as usize, 5_000.0).await;
    let records = collector.records();
    publisher.close().await;
    collector.finish().await;
    Ok(Burst::of(&records, n, at_ms, last_ack - at_ms))
}

async fn apscheduler(bench: &mut Bench, n: u32, queue: &str) -> Result<Burst> {
    let at_ms = ((now_ms() + 2_000.0 + n as f64 * 0.075) / 1000.0).ceil() * 1000.0;
    let jobs = plan::all_at(n, at_ms as i64, 3600);
    let plan_file = bench.path(&format!("burst-{n}.csv"));
    plan::write_csv(&plan_file, &jobs)?;
    let collector = Collector::start(queue, None).await?;
    let mut aps = bench.spawn_apscheduler(&plan_file, queue, at_ms + 5_000.0 + n as f64 * 0.05)?;
    aps.wait_marker(Duration::from_secs(120))?;
    if now_ms() > at_ms {
        bench.report.note(format!(
            "burst N={n}: APScheduler armed after the burst instant"
        ));
    }
    let result = aps.wait_result(Duration::from_secs(300))?;
    collector.wait_for(n as usize, 2_000.0).await;
    let records = collector.records();
    aps.stop();
    collector.finish().await;
    let last_confirm = result["last_confirm_ms"].as_f64().unwrap_or(f64::NAN);
    let missed = result["missed"].as_u64().unwrap_or(0);
    let mut burst = Burst::of(&records, n, at_ms, last_confirm - at_ms);
    if missed > 0 {
        bench.report.note(format!(
            "burst N={n}: APScheduler skipped {missed} fires as misfired (later than its 1 s misfire grace)"
        ));
    }
    if records.is_empty() {
        burst.receive_ms = f64::NAN;
    }
    Ok(burst)
}

pub async fn run(bench: &mut Bench) -> Result<()> {
    let sizes = bench.sizes.clone().unwrap_or_else(|| {
        if bench.quick {
            vec![10_000]
        } else {
            vec![10_000, 100_000]
        }
    });
    let mut rows = Vec::new();
    for n in sizes {
        let queue = format!("mock.jobs.bench-burst-{n}");
        let db = Db::Sqlite(bench.path(&format!("burst-{n}.db")));
        db.fill(
            &plan::all_at(n, (now_ms() + 3_600_000.0) as i64, 3600),
            &queue,
        )
        .await?;
        let (mut ours_runs, mut raw_runs, mut aps_runs) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..bench.repeats {
            println!("burst: N={n}, round {}", round + 1);
            ours_runs.push(ours(bench, &db, n, &queue).await?);
            raw_runs.push(raw_lapin(n, &format!("{queue}-raw")).await?);
            aps_runs.push(apscheduler(bench, n, &format!("{queue}-aps")).await?);
        }
        let figure = |runs: &[Burst], pick: fn(&Burst) -> f64| {
            Repeated::of(&runs.iter().map(pick).collect::<Vec<_>>())
        };
        let confirm = |b: &Burst| b.confirm_ms;
        let receive = |b: &Burst| b.receive_ms;
        let missing = |b: &Burst| b.missing as f64;
        let duplicates = |b: &Burst| b.duplicates as f64;
        for (system, runs) in [
            ("jennie-scheduler", &ours_runs),
            ("raw lapin (floor)", &raw_runs),
            ("APScheduler 3.x + pika", &aps_runs),
        ] {
            rows.push(vec![
                format!("{n}"),
                system.to_string(),
                figure(runs, confirm).show(0),
                figure(runs, receive).show(0),
                figure(runs, missing).show(0),
                figure(runs, duplicates).show(0),
            ]);
        }
        let ours_confirm = figure(&ours_runs, confirm).median;
        let raw_confirm = figure(&raw_runs, confirm).median;
        let aps_confirm = figure(&aps_runs, confirm).median;
        rows.push(vec![
            format!("{n}"),
            "ratio jennie / raw lapin (medians)".into(),
            util::ratio(ours_confirm, raw_confirm),
            util::ratio(
                figure(&ours_runs, receive).median,
                figure(&raw_runs, receive).median,
            ),
            String::new(),
            String::new(),
        ]);
        let ours_missing = figure(&ours_runs, missing).max + figure(&ours_runs, duplicates).max;
        bench.report.check(
            &format!(
                "burst {n}: all confirmed within 1.25 × raw lapin, none missing or duplicated"
            ),
            format!(
                "{:.0} ms vs {:.0} ms ({}), missing + duplicated {}",
                ours_confirm,
                raw_confirm,
                util::ratio(ours_confirm, raw_confirm),
                ours_missing
            ),
            ours_confirm <= 1.25 * raw_confirm && ours_missing == 0.0,
        );
        let aps_missing = figure(&aps_runs, missing).median;
        bench.report.check(
            &format!("burst {n}: ahead of APScheduler"),
            format!(
                "confirm {:.0} ms vs {:.0} ms, missing {} vs {}",
                ours_confirm,
                aps_confirm,
                figure(&ours_runs, missing).median,
                aps_missing
            ),
            (ours_confirm <= aps_confirm || aps_missing > 0.0)
                && figure(&ours_runs, missing).median <= aps_missing,
        );
    }
    bench.report.section(format!(
        "## 2. Burst\n\nN jobs all due at one instant T (the service restarted for each round on \
         a table whose every `next_due_at` is T). Times in ms from T, min / median / max over \
         {} rounds: until the broker confirmed the last message (the service: its \
         `jennie_publish_total{{result=\"ack\"}}` counter reaching N, polled every 5 ms; \
         APScheduler: the last `basic_publish` with confirms returning) and until the \
         consumer received the last one. Missing and duplicated are counted by job. No \
         completion reports are sent in this scenario.\n\n{}",
        bench.repeats,
        table(
            &[
                "N",
                "system",
                "last confirm",
                "last receive",
                "missing",
                "duplicated"
            ],
            &rows
        )
    ));
    Ok(())
}
