//! The bare-timer baselines, each run as its own process (`jennie-bench bare ...`): N tokio
//! tasks sleeping to their instants, or N actix actors with one timer each. They publish
//! nothing; their lateness (wake-up − due) is the floor any timer-driven scheduler stands on.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context};
use anyhow::{bail, Result};

use crate::plan::{read_csv, PlannedJob};
use crate::util::{now_ms, Spread};

/// Which bare baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tokio,
    Actix,
}

impl Kind {
    pub fn parse(text: &str) -> Result<Kind> {
        match text {
            "tokio" => Ok(Kind::Tokio),
            "actix" => Ok(Kind::Actix),
            other => bail!("unknown bare baseline {other} (tokio or actix)"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Tokio => "tokio",
            Kind::Actix => "actix",
        }
    }
}

/// Wake-ups recorded for dues inside the measurement window.
#[derive(Default)]
struct Samples {
    lateness_ms: Vec<f64>,
}

type Shared = Rc<RefCell<Samples>>;

fn delay_until(at_ms: f64) -> Duration {
    Duration::from_micros(((at_ms - now_ms()).max(0.0) * 1000.0) as u64)
}

/// Runs the baseline on one thread until `until_ms`, then prints `{"result": ...}`.
pub fn run(kind: Kind, plan: &Path, from_ms: f64, until_ms: f64) -> Result<()> {
    let jobs = read_csv(plan)?;
    let expected: u64 = jobs.iter().map(|job| job.dues_in(from_ms, until_ms)).sum();
    let samples: Shared = Rc::default();
    match kind {
        Kind::Tokio => run_tokio(&jobs, samples.clone(), from_ms, until_ms)?,
        Kind::Actix => run_actix(&jobs, samples.clone(), from_ms, until_ms)?,
    }
    let lateness = std::mem::take(&mut samples.borrow_mut().lateness_ms);
    let spread = Spread::of(lateness);
    let result = serde_json::json!({"result": {
        "expected": expected,
        "fired": spread.count,
        "p50_ms": spread.p50,
        "p99_ms": spread.p99,
        "max_ms": spread.max,
    }});
    println!("{result}");
    Ok(())
}

fn record(samples: &Shared, due: f64, from_ms: f64, until_ms: f64) {
    let woke = now_ms();
    if due >= from_ms && due < until_ms {
        samples.borrow_mut().lateness_ms.push(woke - due);
    }
}

fn run_tokio(jobs: &[PlannedJob], samples: Shared, from_ms: f64, until_ms: f64) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let local = tokio::task::LocalSet::new();
    for job in jobs {
        let (samples, job) = (samples.clone(), job.clone());
        local.spawn_local(async move {
            let mut due = job.first_due_ms as f64;
            while due < until_ms {
                tokio::time::sleep(delay_until(due)).await;
                record(&samples, due, from_ms, until_ms);
                due += job.interval_ms as f64;
            }
        });
    }
    local.spawn_local(async {
        println!("bare timers armed");
    });
    local.block_on(&runtime, async {
        tokio::time::sleep(delay_until(until_ms + 200.0)).await;
    });
    Ok(())
}

struct BareTimer {
    job: PlannedJob,
    due: f64,
    samples: Shared,
    window: (f64, f64),
}

impl BareTimer {
    fn arm(&mut self, ctx: &mut Context<Self>) {
        if self.due >= self.window.1 {
            return;
        }
        ctx.run_later(delay_until(self.due), |timer, ctx| {
            record(&timer.samples, timer.due, timer.window.0, timer.window.1);
            timer.due += timer.job.interval_ms as f64;
            timer.arm(ctx);
        });
    }
}

impl Actor for BareTimer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.arm(ctx);
    }
}

fn run_actix(jobs: &[PlannedJob], samples: Shared, from_ms: f64, until_ms: f64) -> Result<()> {
    let system = actix::System::new();
    system.block_on(async {
        let mut addresses = Vec::with_capacity(jobs.len());
        for job in jobs {
            addresses.push(
                BareTimer {
                    due: job.first_due_ms as f64,
                    job: job.clone(),
                    samples: samples.clone(),
                    window: (from_ms, until_ms),
                }
                .start(),
            );
        }
        // Actors start on this arbiter in order: once this runs, every timer is armed.
        tokio::task::yield_now().await;
        println!("bare timers armed");
        tokio::time::sleep(delay_until(until_ms + 200.0)).await;
        drop(addresses);
    });
    Ok(())
}
