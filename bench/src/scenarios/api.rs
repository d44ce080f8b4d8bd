//! Scenario 6, API: requests/s and p99 latency of `GET /jobs/{id}`, `POST /jobs` and
//! `PUT /jobs/{id}` with 10k live jobs, from `wrk` on the same machine; the ceiling is a
//! minimal actix-web JSON endpoint with the same worker count. Also the admin UI's pages over
//! the same 10k jobs (a page of the job list, filtered and sorted, and the overview), one
//! request at a time, so the latency is the server's time per page.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::Bench;
use crate::db::Db;
use crate::plan;
use crate::report::table;
use crate::service::Process;
use crate::util::{self, now_ms, Repeated};

const JOBS: u32 = 10_000;
const SECONDS: u32 = 5;
const THREADS: u32 = 2;
const CONNECTIONS: u32 = 32;
/// The most server time a UI page may take with 10k jobs.
const UI_PAGE_BUDGET_MS: f64 = 200.0;

/// One wrk run.
struct Load {
    requests_per_s: f64,
    p99_ms: f64,
    errors: u64,
}

const GET_SCRIPT: &str = r#"
request = function()
  return wrk.format("GET", string.format("/jobs/bench-%06d", math.random(0, JOBS - 1)))
end
"#;

const POST_SCRIPT: &str = r#"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local sent = 0
request = function()
  sent = sent + 1
  local body = string.format(
    '{"job_id":"api-%s-%d-%d","queue":"mock.jobs.bench-api","interval_seconds":3600}',
    ROUND, tid, sent)
  return wrk.format("POST", "/jobs", {["Content-Type"] = "application/json"}, body)
end
"#;

const PUT_SCRIPT: &str = r#"
local sent = 0
request = function()
  sent = sent + 1
  local body = string.format('{"interval_seconds":%d}', 3600 + (sent % 2))
  return wrk.format("PUT", string.format("/jobs/bench-%06d", math.random(0, JOBS - 1)),
    {["Content-Type"] = "application/json"}, body)
end
"#;

/// The UI's pages, in turn: the first page of the list, a filtered page sorted by next due
/// instant further in, and the overview.
const UI_SCRIPT: &str = r#"
local paths = {
  "/ui/api/jobs?limit=50",
  "/ui/api/jobs?q=bench-00&state=enabled&sort=next_due_at&order=desc&offset=200&limit=50",
  "/ui/api/overview",
}
local sent = 0
request = function()
  sent = sent + 1
  return wrk.format("GET", paths[(sent % #paths) + 1])
end
"#;

fn wrk(base_url: &str, script: &Path) -> Result<Load> {
    wrk_with(base_url, script, THREADS, CONNECTIONS)
}

fn wrk_with(base_url: &str, script: &Path, threads: u32, connections: u32) -> Result<Load> {
    let out = Command::new("wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{connections}"),
            &format!("-d{SECONDS}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(base_url)
        .output()
        .context("wrk is not installed (bench/run installs it: apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).with_context(|| format!("cannot read wrk's output:\n{text}"))
}

fn parse_wrk(text: &str) -> Result<Load> {
    let requests_per_s = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|rest| rest.trim().parse().ok())
        .context("no Requests/sec")?;
    let p99 = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("99%"))
        .context("no 99% latency")?;
    let errors = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0);
    Ok(Load {
        requests_per_s,
        p99_ms: duration_ms(p99.trim())?,
        errors,
    })
}

/// wrk's `1.23ms`, `456.00us`, `1.01s`.
fn duration_ms(text: &str) -> Result<f64> {
    for (unit, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] {
        if let Some(number) = text.strip_suffix(unit) {
            return Ok(number.parse::<f64>()? * scale);
        }
    }
    bail!("not a wrk duration: {text}")
}

fn script(bench: &Bench, name: &str, body: &str, round: usize) -> Result<std::path::PathBuf> {
    let path = bench.path(&format!("{name}.lua"));
    let text = format!(
        "JOBS = {JOBS}\nROUND = \"{round}-{}\"\n{body}",
        now_ms() as u64
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

fn row(what: &str, runs: &[Load]) -> Vec<String> {
    vec![
        what.to_string(),
        Repeated::of(&runs.iter().map(|l| l.requests_per_s).collect::<Vec<_>>()).show(0),
        Repeated::of(&runs.iter().map(|l| l.p99_ms).collect::<Vec<_>>()).show(2),
        format!("{}", runs.iter().map(|l| l.errors).sum::<u64>()),
    ]
}

pub async fn run(bench: &mut Bench) -> Result<()> {
    let queue = "mock.jobs.bench-api";
    let db = Db::Sqlite(bench.path("api.db"));
    let jobs: Vec<_> = plan::spread(JOBS, 1, (now_ms() + 600_000.0) as i64, bench.seed)
        .into_iter()
        .map(|mut job| {
            job.interval_ms = 3_600_000;
            job
        })
        .collect();
    db.fill(&jobs, queue).await?;
    let mut service = bench.service.start(&db)?;
    service.wait_marker(Duration::from_secs(60))?;
    let base = bench.service.base_url();
    let (mut get, mut post, mut put) = (Vec::new(), Vec::new(), Vec::new());
    let mut ui = Vec::new();
    for round in 0..bench.repeats {
        println!("api: jennie-scheduler, round {}", round + 1);
        ui.push(wrk_with(
            &base,
            &script(bench, "ui", UI_SCRIPT, round)?,
            1,
            1,
        )?);
        get.push(wrk(&base, &script(bench, "get", GET_SCRIPT, round)?)?);
        post.push(wrk(&base, &script(bench, "post", POST_SCRIPT, round)?)?);
        put.push(wrk(&base, &script(bench, "put", PUT_SCRIPT, round)?)?);
    }
    service.stop();

    let port = bench.service.port + 1;
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let mut command = Command::new(&bench.self_exe);
    command.args([
        "minimal-endpoint",
        "--port",
        &port.to_string(),
        "--jobs",
        &JOBS.to_string(),
        "--workers",
        &workers.to_string(),
    ]);
    let mut minimal = Process::spawn("minimal endpoint", command, "minimal endpoint listening")?;
    minimal.wait_marker(Duration::from_secs(30))?;
    let mut ceiling = Vec::new();
    for round in 0..bench.repeats {
        println!("api: minimal endpoint, round {}", round + 1);
        ceiling.push(wrk(
            &format!("http://127.0.0.1:{port}"),
            &script(bench, "get", GET_SCRIPT, round)?,
        )?);
    }
    minimal.stop();

    let ours = Repeated::of(&get.iter().map(|l| l.requests_per_s).collect::<Vec<_>>()).median;
    let top = Repeated::of(&ceiling.iter().map(|l| l.requests_per_s).collect::<Vec<_>>()).median;
    bench.report.check(
        "API: GET /jobs/{id} ≥ 50 % of the minimal endpoint's requests/s",
        format!("{ours:.0} vs {top:.0} req/s ({})", util::ratio(ours, top)),
        ours >= 0.5 * top,
    );
    let ui_p99 = Repeated::of(&ui.iter().map(|l| l.p99_ms).collect::<Vec<_>>()).max;
    bench.report.check(
        "UI: a page of the job list or the overview with 10 000 jobs in ≤ 200 ms of server time (p99, one client)",
        format!("p99 {ui_p99:.1} ms (worst round)"),
        ui_p99 <= UI_PAGE_BUDGET_MS,
    );
    let rows = vec![
        row(
            "jennie-scheduler UI pages (list, filtered list, overview), one client",
            &ui,
        ),
        row("jennie-scheduler GET /jobs/{id}", &get),
        row("jennie-scheduler POST /jobs", &post),
        row("jennie-scheduler PUT /jobs/{id}", &put),
        row("minimal actix-web GET /jobs/{id} (ceiling)", &ceiling),
        vec![
            "ratio GET jennie / minimal (medians)".into(),
            util::ratio(ours, top),
            util::ratio(
                Repeated::of(&get.iter().map(|l| l.p99_ms).collect::<Vec<_>>()).median,
                Repeated::of(&ceiling.iter().map(|l| l.p99_ms).collect::<Vec<_>>()).median,
            ),
            String::new(),
        ],
    ];
    bench.report.section(format!(
        "## 6. API\n\n{JOBS} live jobs (hourly, armed) in SQLite; `wrk -t{THREADS} \
         -c{CONNECTIONS} -d{SECONDS}s` on the same machine, {} rounds (min / median / max). \
         GET and PUT pick a random job; POST creates a new job each request (so the job count \
         grows during the run); PUT flips `interval_seconds` between 3600 and 3601, which \
         reloads the job's schedule. The UI row is `wrk -t1 -c1` over the admin UI's data: the \
         first page of 50 jobs, a text-filtered page sorted by next due instant at offset 200, \
         and the overview, in turn (its latency is the server's time per page). p99 in ms. The \
         minimal endpoint serves a job-shaped JSON object from a map in memory with the \
         service's worker count ({workers}).\n\n{}",
        bench.repeats,
        table(&["request", "requests/s", "p99 latency", "non-2xx"], &rows)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_output() {
        let text = "Running 8s test @ http://127.0.0.1:1\n  Latency Distribution\n     50%  210.00us\n     99%    1.52ms\n  Requests/sec:  45678.90\n  Non-2xx or 3xx responses: 3\n";
        let load = parse_wrk(text).unwrap();
        assert_eq!(load.requests_per_s, 45678.90);
        assert!((load.p99_ms - 1.52).abs() < 1e-9);
        assert_eq!(load.errors, 3);
        assert_eq!(duration_ms("456.00us").unwrap(), 0.456);
        assert_eq!(duration_ms("1.01s").unwrap(), 1010.0);
    }
}
