//! Live control of a job: run now, a worker's report, and the run history.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Actor, JobService, ServiceError};
use crate::engine::{RunNow, Settlement};
use crate::job::ValidationError;
use crate::run::{RunRecord, RunStatus};

/// The most bytes of JSON a run-now's `params` may hold.
pub const MAX_RUN_PARAMS_BYTES: usize = 60_000;
/// Runs the history answers when no limit is asked.
pub const DEFAULT_RUNS_LIMIT: u64 = 100;
/// The most runs one history read answers.
pub const MAX_RUNS_LIMIT: u64 = 10_000;

/// A run-now: params overlaid on the job's `default_params`, and whether to run even when
/// `max_parallel` runs are in flight.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunNowRequest {
    pub params: Option<Map<String, Value>>,
    pub force: bool,
}

impl RunNowRequest {
    /// From a run-now body: nothing, `null`, or an object with only `params` (an object of at
    /// most [`MAX_RUN_PARAMS_BYTES`] bytes of JSON, or `null`).
    pub fn from_body(body: Option<Value>, force: bool) -> Result<Self, ValidationError> {
        let mut body = match body {
            None | Some(Value::Null) => {
                return Ok(RunNowRequest {
                    params: None,
                    force,
                })
            }
            Some(Value::Object(body)) => body,
            Some(_) => {
                return Err(ValidationError::new(
                    "invalid_body",
                    "the request body must be a JSON object",
                    None,
                ))
            }
        };
        let params = body.remove("params");
        if let Some(unknown) = body.keys().next() {
            return Err(ValidationError::new(
                "unknown_field",
                format!("unknown field '{unknown}'"),
                Some(unknown),
            ));
        }
        let params = match params {
            None | Some(Value::Null) => None,
            Some(Value::Object(params)) => {
                let bytes = serde_json::to_vec(&params).map_or(usize::MAX, |json| json.len());
                if bytes > MAX_RUN_PARAMS_BYTES {
                    return Err(ValidationError::new(
                        "invalid_field",
                        format!("params must be at most {MAX_RUN_PARAMS_BYTES} bytes of JSON"),
                        Some("params"),
                    ));
                }
                Some(params)
            }
            Some(_) => {
                return Err(ValidationError::new(
                    "invalid_field",
                    "params must be a JSON object",
                    Some("params"),
                ))
            }
        };
        Ok(RunNowRequest { params, force })
    }
}

/// The history's `limit`: 1 to [`MAX_RUNS_LIMIT`], [`DEFAULT_RUNS_LIMIT`] when not given.
pub fn runs_limit(limit: Option<u64>) -> Result<u64, ValidationError> {
    let limit = limit.unwrap_or(DEFAULT_RUNS_LIMIT);
    if (1..=MAX_RUNS_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ValidationError::new(
            "invalid_query",
            format!("limit must be 1 to {MAX_RUNS_LIMIT}"),
            Some("limit"),
        ))
    }
}

/// The history's `status` filter: one run status, or every status when not given.
pub fn runs_status(status: Option<&str>) -> Result<Option<RunStatus>, ValidationError> {
    match status {
        None | Some("") | Some("all") => Ok(None),
        Some(text) => RunStatus::parse(text).map(Some).ok_or_else(|| {
            let known: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            ValidationError::new(
                "invalid_query",
                format!("status must be one of {}, not '{text}'", known.join(", ")),
                Some("status"),
            )
        }),
    }
}

impl JobService {
    /// Publishes a run of the job now (a paused job too); answers its run_id. The run is
    /// recorded `pending` and on its way to the broker.
    pub async fn run_now(
        &self,
        actor: &Actor,
        job_id: &str,
        request: RunNowRequest,
    ) -> Result<Uuid, ServiceError> {
        // The table decides whether the job exists (a row deleted behind the API is 404 at
        // once, not at the next reconcile), and a database that does not answer is 503.
        self.stored_job(job_id).await?;
        let run_now = RunNow {
            params: request.params.clone(),
            force: request.force,
        };
        let answer = self.engine.run_now(job_id, run_now).await?;
        let accepted = answer.map_err(|error| ServiceError::unavailable(job_id, error))?;
        let run_id = accepted?;
        let after = serde_json::json!({
            "run_id": run_id,
            "params": request.params,
            "force": request.force,
        });
        self.audit(actor, "run_now", job_id, None, Some(after))
            .await;
        Ok(run_id)
    }

    /// Settles a worker's report: `body` is a report object, or nothing / `null` for "the
    /// oldest run in flight succeeded". The body may repeat `job_id` and `scope`, and the
    /// caller may give a `scope` (the URL's query), as the original worker client does: each
    /// must name this job and this instance's scope.
    pub async fn report(
        &self,
        job_id: &str,
        scope: Option<&str>,
        body: Option<Value>,
    ) -> Result<Settlement, ServiceError> {
        let to = crate::engine::Addressee {
            job_id,
            scope: self.scope,
        };
        to.check_scope(scope)?;
        let report = crate::engine::report_of_body(body, to)?;
        Ok(self.engine.settle(job_id, report).await?)
    }

    /// The job's newest runs first (its staged run, if any, leads).
    pub async fn runs(
        &self,
        job_id: &str,
        status: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Vec<RunRecord>, ServiceError> {
        let limit = runs_limit(limit)?;
        let status = runs_status(status)?;
        self.stored_job(job_id).await?;
        Ok(self
            .store
            .list_runs(self.scope, job_id, status, limit)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_run_now_body_is_nothing_or_an_object_with_params_only() {
        assert_eq!(
            RunNowRequest::from_body(None, true).unwrap(),
            RunNowRequest {
                params: None,
                force: true
            }
        );
        assert_eq!(
            RunNowRequest::from_body(Some(Value::Null), false)
                .unwrap()
                .params,
            None
        );
        let request =
            RunNowRequest::from_body(Some(json!({"params": {"symbol": "005930"}})), false).unwrap();
        assert_eq!(request.params.unwrap()["symbol"], "005930");
        assert_eq!(
            RunNowRequest::from_body(Some(json!({"params": null})), false)
                .unwrap()
                .params,
            None
        );
        let big = "x".repeat(MAX_RUN_PARAMS_BYTES);
        for (body, code, field) in [
            (json!([1]), "invalid_body", None),
            (json!("params"), "invalid_body", None),
            (
                json!({"params": {}, "force": true}),
                "unknown_field",
                Some("force"),
            ),
            (json!({"params": [1]}), "invalid_field", Some("params")),
            (
                json!({"params": {"big": big}}),
                "invalid_field",
                Some("params"),
            ),
        ] {
            let error = RunNowRequest::from_body(Some(body.clone()), false).expect_err("refused");
            assert_eq!(
                (error.error, error.field.as_deref()),
                (code, field),
                "{body}"
            );
        }
    }

    #[test]
    fn the_history_status_filter_is_one_known_status() {
        assert_eq!(runs_status(None).unwrap(), None);
        assert_eq!(runs_status(Some("all")).unwrap(), None);
        assert_eq!(
            runs_status(Some("timeout")).unwrap(),
            Some(RunStatus::Timeout)
        );
        let error = runs_status(Some("done")).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("status"));
        assert!(
            error.message.contains("scheduled, pending, queued"),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_history_limit_is_one_to_the_maximum() {
        assert_eq!(runs_limit(None).unwrap(), DEFAULT_RUNS_LIMIT);
        assert_eq!(runs_limit(Some(1)).unwrap(), 1);
        assert_eq!(runs_limit(Some(MAX_RUNS_LIMIT)).unwrap(), MAX_RUNS_LIMIT);
        for bad in [0, MAX_RUNS_LIMIT + 1] {
            assert_eq!(
                runs_limit(Some(bad)).unwrap_err().field.as_deref(),
                Some("limit")
            );
        }
    }
}
