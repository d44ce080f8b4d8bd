//! `mark_job_run`: the completion report, over HTTP (the default, with retries) or over AMQP.

use std::time::Duration;

use crate::{ReportReceipt, RunReport};

const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Why a report did not get through.
#[derive(Debug)]
pub enum ClientError {
    /// The scheduler could not be reached after every retry.
    Unreachable(reqwest::Error),
    /// The scheduler refused the report (4xx): retrying would not help.
    Refused { status: u16, body: String },
    /// The scheduler kept failing (5xx) after every retry.
    Failing { status: u16, body: String },
    /// Reports over AMQP: the broker could not be reached, or no answer came in time.
    Broker(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable(error) => write!(f, "scheduler unreachable: {error}"),
            ClientError::Refused { status, body } => {
                write!(f, "scheduler refused the report ({status}): {body}")
            }
            ClientError::Failing { status, body } => {
                write!(f, "scheduler failing ({status}): {body}")
            }
            ClientError::Broker(error) => write!(f, "report over AMQP failed: {error}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// How a worker reports to the scheduler: `POST /jobs/{id}/last-run` (the default), or the
/// scheduler's reports queue ([`SchedulerClient::over_amqp`]).
#[derive(Debug, Clone)]
pub struct SchedulerClient {
    base_url: String,
    token: Option<String>,
    http: reqwest::Client,
    amqp: Option<super::amqp_reports::AmqpReports>,
}

impl SchedulerClient {
    /// `base_url` like `http://127.0.0.1:8095`; `token` when the scheduler sets
    /// `SCHEDULER_API_TOKEN`.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(ClientError::Unreachable)?;
        Ok(SchedulerClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
            http,
            amqp: None,
        })
    }

    /// Reports over AMQP instead: each report (plus `job_id`) is published to `reports_queue`
    /// (the scheduler's `SCHEDULER_REPORTS_QUEUE`, by default `{scope}.jobs.reports`) and the
    /// scheduler's answer comes back on RabbitMQ's direct reply-to. A refusal is
    /// [`ClientError::Refused`] with the status the REST API would have answered.
    pub fn over_amqp(amqp_url: &str, reports_queue: &str) -> Result<Self, ClientError> {
        let mut client = SchedulerClient::new("http://unused.invalid", None)?;
        client.amqp = Some(super::amqp_reports::AmqpReports::new(
            amqp_url,
            reports_queue,
        ));
        Ok(client)
    }

    /// Reports a run finished (`POST /jobs/{job_id}/last-run`). Network errors and 5xx are
    /// retried with backoff; a 4xx is returned at once.
    pub async fn mark_job_run(
        &self,
        job_id: &str,
        report: &RunReport,
    ) -> Result<ReportReceipt, ClientError> {
        if let Some(amqp) = &self.amqp {
            return amqp.mark_job_run(job_id, report).await;
        }
        let url = format!("{}/jobs/{}/last-run", self.base_url, job_id);
        let mut backoff = FIRST_BACKOFF;
        let mut last_error = None;
        for attempt in 1..=ATTEMPTS {
            let mut request = self.http.post(&url).json(report);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return response.json().await.map_err(ClientError::Unreachable);
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    if status < 500 {
                        return Err(ClientError::Refused { status, body });
                    }
                    last_error = Some(ClientError::Failing { status, body });
                }
                Err(error) => last_error = Some(ClientError::Unreachable(error)),
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Err(last_error.expect("at least one attempt"))
    }
}
