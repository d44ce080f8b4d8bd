//! A demo worker: consumes `{scope}.jobs.buy-scanner`, logs the params, simulates a scan,
//! reports success (or failure, at `FAIL_RATE`), and reschedules queue-mode jobs.
//!
//! Environment: `SCHEDULER_SCOPE` (real), `RABBITMQ_URL`, `SCHEDULER_URL` (the scope's local
//! scheduler), `SCHEDULER_API_TOKEN`, `WORK_MS` (300), `FAIL_RATE` (0.0 to 1.0, default 0),
//! `WORKER_QUEUE` (overrides the queue name).

use std::time::Duration;

use worker::{queue_prefix, JobMessage, Publisher, SchedulerClient, Worker, WorkerConfig};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let scope = setting("SCHEDULER_SCOPE", "real");
    let default_url = if scope == "mock" {
        "http://127.0.0.1:9095"
    } else {
        "http://127.0.0.1:8095"
    };
    let amqp_url = setting("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let queue = setting(
        "WORKER_QUEUE",
        &format!("{}buy-scanner", queue_prefix(&scope)),
    );
    let work = Duration::from_millis(setting("WORK_MS", "300").parse()?);
    let fail_rate: f64 = setting("FAIL_RATE", "0").parse()?;
    let scheduler = SchedulerClient::new(
        &setting("SCHEDULER_URL", default_url),
        std::env::var("SCHEDULER_API_TOKEN").ok(),
    )?;
    let config = WorkerConfig {
        publisher: Publisher::new(&amqp_url, &queue),
        amqp_url,
        queue: queue.clone(),
        prefetch: 1,
        scheduler,
    };
    tracing::info!(%queue, "buy-scanner demo worker starting");
    let handle = Worker::new(config).spawn(move |job: JobMessage| async move {
        tracing::info!(job_id = %job.job_id, run_id = %job.run_id, trigger_source = job.trigger_source.as_str(),
            attempt = job.attempt, params = %serde_json::Value::Object(job.params.clone()), "scanning");
        tokio::time::sleep(work).await;
        // A cheap uniform draw from the run id's random bits.
        let draw = f64::from(u16::from_le_bytes([job.run_id.as_bytes()[0], job.run_id.as_bytes()[1]])) / 65_535.0;
        if draw < fail_rate {
            return Err(format!("simulated scan failure (FAIL_RATE={fail_rate})"));
        }
        Ok(())
    });
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
    }
    handle.stop().await;
    Ok(())
}
