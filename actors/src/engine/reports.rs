//! Completion reports, wherever they come from (`POST /jobs/{id}/last-run` or the
//! `{scope}.jobs.reports` queue): the checks a report passes, and how it is settled. The rule
//! that decides what a report does to a run lives in the job actor (`Handler<Complete>`); this
//! module finds the actor (handing it a job it does not know yet from the table) and, for a run
//! no longer in flight, tells a repeat of a finished run from a run that never was.

use actix::Addr;
use serde_json::Value;
use worker::{CompletionAnswer, CompletionReport};

use super::job::{Complete, Completion, ReportRefused};
use super::supervisor::{CompleteJobRun, NoSuchJob, Supervisor, Upsert};
use crate::job::{Scope, ValidationError};
use crate::store::{Store, StoreError};

/// The longest `error` text a report may carry.
pub const MAX_REPORT_ERROR_BYTES: usize = 65_535;

/// Why a report changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("job '{0}' not found")]
    JobNotFound(String),
    #[error("run {0} is not a run of this job")]
    RunNotFound(uuid::Uuid),
    #[error("no run of this job is in flight; name the run with run_id")]
    NoRunInFlight,
    #[error("the scheduling engine did not answer: {0}")]
    EngineUnavailable(String),
    #[error(transparent)]
    Database(#[from] StoreError),
}

/// The checks of a report's fields that its type does not make.
pub fn check_report(report: &CompletionReport) -> Result<(), ValidationError> {
    match &report.error {
        Some(error) if error.len() > MAX_REPORT_ERROR_BYTES => Err(ValidationError::new(
            "invalid_field",
            format!("error must be at most {MAX_REPORT_ERROR_BYTES} bytes"),
            Some("error"),
        )),
        _ => Ok(()),
    }
}

/// A report body (a JSON object, or nothing / `null` for "the oldest run in flight").
pub fn report_of_body(body: Option<Value>) -> Result<CompletionReport, ValidationError> {
    let report = match body {
        None | Some(Value::Null) => CompletionReport::default(),
        Some(body @ Value::Object(_)) => serde_json::from_value(body).map_err(|error| {
            ValidationError::new(
                "invalid_body",
                format!("bad completion report: {error}"),
                None,
            )
        })?,
        Some(_) => {
            return Err(ValidationError::new(
                "invalid_body",
                "the request body must be a JSON object",
                None,
            ))
        }
    };
    check_report(&report)?;
    Ok(report)
}

/// A report message of the reports queue: the report body plus `job_id`.
pub fn report_of_message(payload: &[u8]) -> Result<(String, CompletionReport), ValidationError> {
    let mut body: Value = serde_json::from_slice(payload).map_err(|error| {
        ValidationError::new("invalid_json", format!("not JSON: {error}"), None)
    })?;
    let job_id = match body.as_object_mut().map(|body| body.remove("job_id")) {
        Some(Some(Value::String(job_id))) if !job_id.is_empty() => job_id,
        Some(_) => {
            return Err(ValidationError::new(
                "missing_field",
                "a report message needs job_id (a string)",
                Some("job_id"),
            ))
        }
        None => {
            return Err(ValidationError::new(
                "invalid_body",
                "a report message must be a JSON object",
                None,
            ))
        }
    };
    Ok((job_id, report_of_body(Some(body))?))
}

/// Settles `report` for `job_id`: the engine's job actor decides; a job it does not run yet
/// is read from the table and handed over; a run no longer in flight that the table has as
/// finished is a repeat (`counted: false`).
pub async fn settle(
    supervisor: &Addr<Supervisor>,
    store: &Store,
    scope: Scope,
    job_id: &str,
    report: CompletionReport,
) -> Result<Completion, ReportError> {
    let ask = || CompleteJobRun {
        job_id: job_id.to_string(),
        complete: Complete(report.clone()),
    };
    let unavailable =
        |error: actix::MailboxError| ReportError::EngineUnavailable(error.to_string());
    let answer = match supervisor.send(ask()).await.map_err(unavailable)? {
        Ok(answer) => answer,
        Err(NoSuchJob) => {
            let job = store
                .get_job(scope, job_id)
                .await?
                .ok_or_else(|| ReportError::JobNotFound(job_id.to_string()))?;
            supervisor.send(Upsert(job)).await.map_err(unavailable)?;
            supervisor
                .send(ask())
                .await
                .map_err(unavailable)?
                .map_err(|error| ReportError::EngineUnavailable(error.to_string()))?
        }
    };
    match answer {
        Ok(completion) => Ok(completion),
        Err(ReportRefused::NoRunInFlight) => Err(ReportError::NoRunInFlight),
        Err(ReportRefused::UnknownRun(run_id)) => match store.get_run(run_id).await? {
            Some(run) if run.job_id == job_id && run.status.is_final() => Ok(Completion {
                run_id: Some(run_id),
                status: run.status,
                counted: false,
                reschedule: false,
                duration_seconds: run.duration_seconds(),
            }),
            _ => Err(ReportError::RunNotFound(run_id)),
        },
    }
}

/// The answer a worker gets for a settled report.
pub fn answer(job_id: &str, completion: &Completion) -> CompletionAnswer {
    CompletionAnswer {
        job_id: job_id.to_string(),
        run_id: completion.run_id,
        status: completion.status.as_str().to_string(),
        counted: completion.counted,
        reschedule: completion.reschedule,
        duration_seconds: completion.duration_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_messages_need_a_job_id_and_the_report_rules() {
        let ok = report_of_message(br#"{"job_id": "a", "status": "failed", "error": "x"}"#)
            .expect("valid");
        assert_eq!(ok.0, "a");
        assert_eq!(ok.1.error.as_deref(), Some("x"));
        let long = format!(r#"{{"job_id": "a", "error": "{}"}}"#, "e".repeat(70_000));
        for (bad, field) in [
            (&b"not json"[..], None),
            (br#"[1]"#, None),
            (br#"{"status": "success"}"#, Some("job_id")),
            (br#"{"job_id": 5}"#, Some("job_id")),
            (br#"{"job_id": "a", "surprise": 1}"#, None),
            (br#"{"job_id": "a", "status": "meh"}"#, None),
            (long.as_bytes(), Some("error")),
        ] {
            let error = report_of_message(bad).expect_err("refused");
            assert_eq!(
                error.field.as_deref(),
                field,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(report_of_body(Some(Value::Null)).is_ok());
        assert!(report_of_body(Some(serde_json::json!(3))).is_err());
    }
}
