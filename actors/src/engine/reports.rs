//! Run reports, wherever they come from (`POST /jobs/{id}/last-run` or the
//! `{scope}.jobs.reports` queue): the checks a report's input passes, and the errors of
//! settling it. The rule that decides what a report does lives in the job actor
//! (`engine/job/report.rs`).
//!
//! The vocabulary: a worker sends a **report** ([`RunReport`]); the engine **settles** it
//! ([`SettleReport`], answered by a [`Settlement`] or a [`ReportRefused`]); the worker gets a
//! **receipt** ([`ReportReceipt`]).

use actix::Addr;
use serde_json::{Map, Value};
use worker::{ReportReceipt, RunReport};

use super::job::{ReportRefused, SettleReport, Settlement};
use super::supervisor::{JobUnavailable, SettleJobReport, Supervisor};
use crate::job::{Scope, ValidationError};
use crate::store::StoreError;

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
pub fn check_report(report: &RunReport) -> Result<(), ValidationError> {
    match &report.error {
        Some(error) if error.len() > MAX_REPORT_ERROR_BYTES => Err(ValidationError::new(
            "invalid_field",
            format!("error must be at most {MAX_REPORT_ERROR_BYTES} bytes"),
            Some("error"),
        )),
        _ => Ok(()),
    }
}

/// Who a report is for: the job it names (the path, or the message's `job_id`) and the scope
/// of this instance. A report may repeat both in its body (`job_id`, `scope`), as the original
/// worker client sends them; they must then match.
#[derive(Debug, Clone, Copy)]
pub struct Addressee<'a> {
    pub job_id: &'a str,
    pub scope: Scope,
}

impl Addressee<'_> {
    /// Takes `job_id` and `scope` out of a report body, refusing a value that names another
    /// job or scope (400 naming the field).
    fn take_from(&self, body: &mut Map<String, Value>) -> Result<(), ValidationError> {
        for (field, expected) in [("job_id", self.job_id), ("scope", self.scope.as_str())] {
            match body.remove(field) {
                None | Some(Value::Null) => {}
                Some(Value::String(given)) if given == expected => {}
                Some(given) => {
                    return Err(ValidationError::new(
                        "invalid_field",
                        format!("{field} is {given} but this report is for {field} '{expected}'"),
                        Some(field),
                    ))
                }
            }
        }
        Ok(())
    }

    /// `?scope=` on the report's URL, when given: must be this instance's scope.
    pub fn check_scope(&self, scope: Option<&str>) -> Result<(), ValidationError> {
        match scope {
            Some(given) if given != self.scope.as_str() => Err(ValidationError::new(
                "invalid_query",
                format!(
                    "scope is '{given}' but this instance serves scope '{}'",
                    self.scope
                ),
                Some("scope"),
            )),
            _ => Ok(()),
        }
    }
}

/// A report body for `to` (a JSON object, or nothing / `null` for "the oldest run in flight").
pub fn report_of_body(
    body: Option<Value>,
    to: Addressee<'_>,
) -> Result<RunReport, ValidationError> {
    let report = match body {
        None | Some(Value::Null) => RunReport::default(),
        Some(Value::Object(mut body)) => {
            to.take_from(&mut body)?;
            serde_json::from_value(Value::Object(body)).map_err(|error| {
                ValidationError::new(
                    "invalid_body",
                    format!("bad completion report: {error}"),
                    None,
                )
            })?
        }
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

/// A report message of the reports queue of `scope`: the report body plus `job_id`.
pub fn report_of_message(
    payload: &[u8],
    scope: Scope,
) -> Result<(String, RunReport), ValidationError> {
    let body: Value = serde_json::from_slice(payload).map_err(|error| {
        ValidationError::new("invalid_json", format!("not JSON: {error}"), None)
    })?;
    let job_id = match body.as_object().map(|body| body.get("job_id")) {
        Some(Some(Value::String(job_id))) if !job_id.is_empty() => job_id.clone(),
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
    let to = Addressee {
        job_id: &job_id,
        scope,
    };
    let report = report_of_body(Some(body), to)?;
    Ok((job_id, report))
}

/// Settles `report` for `job_id` by the job actor's rule (the supervisor starts a job it does
/// not run yet from its row).
pub(crate) async fn settle(
    supervisor: &Addr<Supervisor>,
    job_id: &str,
    report: RunReport,
) -> Result<Settlement, ReportError> {
    let answer = supervisor
        .send(SettleJobReport {
            job_id: job_id.to_string(),
            settle: SettleReport(report),
        })
        .await
        .map_err(|error| ReportError::EngineUnavailable(error.to_string()))?;
    match answer {
        Ok(Ok(settlement)) => Ok(settlement),
        Ok(Err(ReportRefused::NoRunInFlight)) => Err(ReportError::NoRunInFlight),
        Ok(Err(ReportRefused::UnknownRun(run_id))) => Err(ReportError::RunNotFound(run_id)),
        Ok(Err(ReportRefused::Database(error))) | Err(JobUnavailable::Database(error)) => {
            Err(ReportError::Database(error))
        }
        Err(JobUnavailable::NotFound) => Err(ReportError::JobNotFound(job_id.to_string())),
        Err(unavailable @ (JobUnavailable::Stopped | JobUnavailable::Elsewhere(_))) => {
            Err(ReportError::EngineUnavailable(unavailable.to_string()))
        }
    }
}

impl Settlement {
    /// The receipt a worker gets for its report.
    pub fn receipt(&self, job_id: &str) -> ReportReceipt {
        ReportReceipt {
            job_id: job_id.to_string(),
            run_id: self.run_id,
            status: self.status.as_str().to_string(),
            counted: self.counted,
            reschedule: self.reschedule,
            duration_seconds: self.duration_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_messages_need_a_job_id_and_the_report_rules() {
        let ok = report_of_message(
            br#"{"job_id": "a", "status": "failed", "error": "x", "scope": "real"}"#,
            Scope::Real,
        )
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
            (br#"{"job_id": "a", "scope": "mock"}"#, Some("scope")),
            (br#"{"job_id": "a", "scope": 1}"#, Some("scope")),
        ] {
            let error = report_of_message(bad, Scope::Real).expect_err("refused");
            assert_eq!(
                error.field.as_deref(),
                field,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let to = Addressee {
            job_id: "a",
            scope: Scope::Mock,
        };
        assert!(report_of_body(Some(Value::Null), to).is_ok());
        assert!(report_of_body(Some(serde_json::json!(3)), to).is_err());
        let seed_shape = serde_json::json!({"job_id": "a", "scope": "mock", "status": "success"});
        assert!(report_of_body(Some(seed_shape), to).is_ok());
        for (body, field) in [
            (serde_json::json!({"job_id": "b"}), "job_id"),
            (serde_json::json!({"scope": "real"}), "scope"),
        ] {
            let error = report_of_body(Some(body), to).expect_err("another job or scope");
            assert_eq!(error.field.as_deref(), Some(field));
        }
        assert!(to.check_scope(Some("mock")).is_ok() && to.check_scope(None).is_ok());
        assert_eq!(
            to.check_scope(Some("real")).unwrap_err().field.as_deref(),
            Some("scope")
        );
    }
}
