//! `jennie-scheduler job …`: the operator's verbs over a running instance's REST API, as
//! human tables (the scope first) or `--json`.

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};

use super::apply::read_document;
use super::client::{encode, Remote};
use super::JobVerb;

/// Prints rows as aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|row| line(row.clone())));
    out.join("\n")
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The scope line every human answer starts with, asked before anything is done. When
/// `SCHEDULER_SCOPE` is set and the instance serves the other scope, nothing is done: a shell
/// set up for one stack never acts on the other.
pub async fn scope_line(remote: &Remote) -> anyhow::Result<String> {
    let session = remote.get("/ui/api/session").await?;
    let serving = session["scope"].as_str().unwrap_or("?");
    if let Ok(expected) = std::env::var("SCHEDULER_SCOPE") {
        if !expected.is_empty() && expected != serving {
            anyhow::bail!(
                "SCHEDULER_SCOPE is {expected} but {} serves {}: nothing done",
                remote.url,
                serving.to_uppercase()
            );
        }
    }
    Ok(format!(
        "scope: {}  ({})",
        serving.to_uppercase(),
        remote.url
    ))
}

/// A job file (JSON or TOML) as a body.
fn body_of(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    read_document(path, &text)
}

fn job_path(job_id: &str) -> String {
    format!("/jobs/{}", encode(job_id))
}

/// Every job of the scope, through the list's pages.
async fn all_jobs(
    remote: &Remote,
    state: Option<&str>,
    text: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let mut jobs = Vec::new();
    loop {
        let mut path = format!("/ui/api/jobs?limit=500&offset={}", jobs.len());
        if let Some(state) = state {
            path.push_str(&format!("&state={}", encode(state)));
        }
        if let Some(text) = text {
            path.push_str(&format!("&q={}", encode(text)));
        }
        let page = remote.get(&path).await?;
        let got = page["jobs"].as_array().cloned().unwrap_or_default();
        let total = page["total"].as_u64().unwrap_or(0) as usize;
        let empty = got.is_empty();
        jobs.extend(got);
        if empty || jobs.len() >= total {
            return Ok(jobs);
        }
    }
}

/// What a job's calendar does to an upcoming instant: skipped, or moved from a closed day.
fn closed_note(instant: &Value) -> String {
    match (instant["skipped"].as_bool(), instant["moved_from"].as_str()) {
        (Some(true), _) => format!("  SKIPPED ({})", text(&instant["holiday"])),
        (_, Some(from)) => format!("  moved from {from} ({})", text(&instant["holiday"])),
        _ => String::new(),
    }
}

/// A schedule preview for people: in words, its zone and clock changes, its next instants.
fn schedule_lines(schedule: &Value, next: &[String]) -> String {
    let mut lines = vec![format!(
        "schedule: {} ({})",
        text(&schedule["description"]),
        text(&schedule["timezone"])
    )];
    if let Some(dst) = schedule["dst"].as_str() {
        lines.push(format!("clock changes: {dst}"));
    }
    if let Some(calendar) = schedule["calendar"].as_str() {
        lines.push(format!(
            "calendar: {calendar} ({} on a closed day)",
            text(&schedule["calendar_mode"]).replace('_', " ")
        ));
    }
    if schedule["jitter_ms"].as_i64().unwrap_or(0) > 0 {
        lines.push(format!(
            "jitter: +{} ms on every instant",
            schedule["jitter_ms"]
        ));
    }
    let next = if next.is_empty() {
        "-".to_string()
    } else {
        next.join("\n      ")
    };
    lines.push(format!("next: {next}"));
    lines.join("\n")
}

fn print_job(job: &Value) -> String {
    // Every configuration field a client can set, then the state the engine keeps.
    let state = ["next_due_at", "last_run_at", "last_status", "last_error"];
    let rows: Vec<Vec<String>> = (actors::job::CONFIG_FIELDS.iter().chain(&state))
        .map(|field| vec![field.to_string(), text(&job[*field])])
        .collect();
    table(&["field", "value"], &rows)
}

fn runs_table(runs: &[Value]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                text(&run["status"]),
                text(&run["trigger_source"]),
                text(&run["attempt"]),
                text(&run["due_at"]),
                run["duration_seconds"]
                    .as_f64()
                    .map_or("-".into(), |s| format!("{s:.3}s")),
                text(&run["run_id"]),
                text(&run["error"]),
            ]
        })
        .collect();
    table(
        &[
            "status", "trigger", "attempt", "due_at", "duration", "run_id", "error",
        ],
        &rows,
    )
}

/// Runs one verb; answers what to print.
pub async fn run(remote: &Remote, verb: &JobVerb, as_json: bool) -> anyhow::Result<String> {
    // First: a change must never be reported as failed after it was made.
    let scope = scope_line(remote).await?;
    let (answer, human): (Value, Option<String>) = match verb {
        JobVerb::List {
            state,
            text: filter,
        } => {
            let jobs = all_jobs(remote, state.as_deref(), filter.as_deref()).await?;
            let rows: Vec<Vec<String>> = jobs
                .iter()
                .map(|job| {
                    vec![
                        text(&job["job_id"]),
                        if job["enabled"] == true {
                            "yes".into()
                        } else {
                            "PAUSED".into()
                        },
                        text(&job["schedule_text"]),
                        text(&job["next_due_at"]),
                        text(&job["last_status"]),
                        format!("{}/{}", text(&job["in_flight"]), text(&job["max_parallel"])),
                    ]
                })
                .collect();
            let human = format!(
                "{}\n{} job(s)",
                table(
                    &[
                        "job_id",
                        "enabled",
                        "schedule",
                        "next_due_at",
                        "last",
                        "in_flight"
                    ],
                    &rows
                ),
                jobs.len()
            );
            (Value::Array(jobs), Some(human))
        }
        JobVerb::Status { job_id } => {
            let job = remote.get(&job_path(job_id)).await?;
            let schedule = remote
                .get(&format!("{}/schedule?count=3", job_path(job_id)))
                .await?;
            let next: Vec<String> = schedule["instants"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|instant| format!("{}{}", text(&instant["local"]), closed_note(instant)))
                .collect();
            let human = format!("{}\n{}", print_job(&job), schedule_lines(&schedule, &next));
            (json!({"job": job, "schedule": schedule}), Some(human))
        }
        JobVerb::Preview {
            cron,
            interval,
            timezone,
            jitter,
            job_id,
            calendar,
            calendar_mode,
            count,
        } => {
            let mut body = serde_json::Map::new();
            let fields = [
                ("cron_expr", cron.clone().map(Value::from)),
                ("interval_seconds", interval.map(Value::from)),
                ("timezone", timezone.clone().map(Value::from)),
                ("jitter_seconds", jitter.map(Value::from)),
                ("job_id", job_id.clone().map(Value::from)),
                ("calendar", calendar.clone().map(Value::from)),
                ("calendar_mode", calendar_mode.clone().map(Value::from)),
            ];
            for (field, value) in fields {
                if let Some(value) = value {
                    body.insert(field.into(), value);
                }
            }
            let schedule = remote
                .call(
                    Method::POST,
                    &format!("/schedule/preview?count={count}"),
                    Some(&Value::Object(body)),
                )
                .await?;
            let next: Vec<String> = (schedule["instants"].as_array().into_iter().flatten())
                .map(|instant| {
                    let at = format!("{} ({})", text(&instant["local"]), text(&instant["utc"]));
                    format!("{at}{}", closed_note(instant))
                })
                .collect();
            let human = schedule_lines(&schedule, &next);
            (schedule, Some(human))
        }
        JobVerb::Runs {
            job_id,
            limit,
            status,
        } => {
            let mut path = format!("{}/runs?limit={limit}", job_path(job_id));
            if let Some(status) = status {
                path.push_str(&format!("&status={}", encode(status)));
            }
            let runs = remote.get(&path).await?;
            let human = runs_table(runs.as_array().map(Vec::as_slice).unwrap_or_default());
            (runs, Some(human))
        }
        JobVerb::Run {
            job_id,
            params,
            force,
        } => {
            let body = match params {
                Some(params) => match serde_json::from_str::<Value>(params) {
                    Ok(params @ Value::Object(_)) => Some(json!({ "params": params })),
                    _ => anyhow::bail!(
                        "--params must be a JSON object, e.g. '{{\"symbol\": \"005930\"}}'"
                    ),
                },
                None => None,
            };
            let path = format!(
                "{}/run-now{}",
                job_path(job_id),
                if *force { "?force=true" } else { "" }
            );
            let accepted = remote.call(Method::POST, &path, body.as_ref()).await?;
            let human = format!(
                "run {} of {job_id} is on its way",
                text(&accepted["run_id"])
            );
            (accepted, Some(human))
        }
        JobVerb::Pause { job_id } | JobVerb::Resume { job_id } => {
            let action = if matches!(verb, JobVerb::Pause { .. }) {
                "pause"
            } else {
                "resume"
            };
            let job = remote
                .call(
                    Method::POST,
                    &format!("{}/{action}", job_path(job_id)),
                    None,
                )
                .await?;
            let human = format!(
                "{job_id} {action}d; next due: {}",
                text(&job["next_due_at"])
            );
            (job, Some(human))
        }
        JobVerb::Create { file } => {
            let job = remote
                .call(Method::POST, "/jobs", Some(&body_of(file)?))
                .await?;
            let human = format!("created\n{}", print_job(&job));
            (job, Some(human))
        }
        JobVerb::Edit { job_id, file } => {
            let job = remote
                .call(Method::PUT, &job_path(job_id), Some(&body_of(file)?))
                .await?;
            let human = format!("updated\n{}", print_job(&job));
            (job, Some(human))
        }
        JobVerb::Delete { job_id } => {
            remote.call(Method::DELETE, &job_path(job_id), None).await?;
            (
                json!({"deleted": job_id}),
                Some(format!("{job_id} deleted")),
            )
        }
    };
    if as_json {
        return Ok(serde_json::to_string_pretty(&answer)?);
    }
    Ok(format!("{scope}\n{}", human.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let rows = vec![
            vec!["a".to_string(), "long value".to_string()],
            vec!["bbb".into(), "x".into()],
        ];
        assert_eq!(
            table(&["id", "v"], &rows),
            "id   v\na    long value\nbbb  x"
        );
    }
}
