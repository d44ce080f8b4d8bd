//! `jobs apply`: make the scope's jobs match a file. The plan is pure: the file's jobs are read
//! with the service's own parser (so the defaults and every rule are the API's), compared with
//! the instance's jobs field by field, and turned into creates, updates and (with `--prune`)
//! deletes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use actors::job::CONFIG_FIELDS;
use actors::{JobConfig, Scope};
use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

/// A jobs file: the scope it is for, and its jobs as create bodies.
#[derive(Debug, Clone, PartialEq)]
pub struct JobsFile {
    pub scope: Scope,
    pub jobs: Vec<Map<String, Value>>,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Create {
        job_id: String,
        body: Value,
    },
    /// The fields that differ: (field, now, wanted).
    Update {
        job_id: String,
        fields: Vec<(String, Value, Value)>,
    },
    Delete {
        job_id: String,
    },
    Unchanged {
        job_id: String,
    },
}

impl Change {
    /// The line `jobs apply` prints for this step.
    pub fn line(&self) -> String {
        match self {
            Change::Create { job_id, .. } => format!("+ create {job_id}"),
            Change::Update { job_id, fields } => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(field, now, wanted)| format!("{field}: {now} → {wanted}"))
                    .collect();
                format!("~ update {job_id}: {}", fields.join("; "))
            }
            Change::Delete { job_id } => format!("- delete {job_id}"),
            Change::Unchanged { job_id } => format!("= {job_id} unchanged"),
        }
    }
}

/// Reads a jobs file: TOML (`scope = "real"` and `[[jobs]]` tables) or JSON (the same shape),
/// by its extension.
pub fn read_jobs_file(path: &Path) -> anyhow::Result<JobsFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value = read_document(path, &text)?;
    let scope = value["scope"]
        .as_str()
        .and_then(Scope::parse)
        .ok_or_else(|| anyhow!("{}: `scope` must be \"real\" or \"mock\"", path.display()))?;
    let jobs = match &value["jobs"] {
        Value::Array(jobs) => jobs
            .iter()
            .map(|job| match job {
                Value::Object(job) => Ok(job.clone()),
                _ => bail!("{}: every entry of `jobs` must be a table", path.display()),
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        Value::Null => Vec::new(),
        _ => bail!(
            "{}: `jobs` must be a list of tables ([[jobs]])",
            path.display()
        ),
    };
    if let Some(unknown) = value
        .as_object()
        .and_then(|top| top.keys().find(|k| !matches!(k.as_str(), "scope" | "jobs")))
    {
        bail!(
            "{}: unknown key '{unknown}' (a jobs file has `scope` and `jobs`)",
            path.display()
        );
    }
    Ok(JobsFile { scope, jobs })
}

/// A TOML value as JSON; a TOML date or time (`2026-09-24` written without quotes) becomes its
/// text, as JSON has no dates.
pub fn toml_as_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(text) => Value::String(text),
        toml::Value::Integer(number) => Value::from(number),
        toml::Value::Float(number) => Value::from(number),
        toml::Value::Boolean(flag) => Value::Bool(flag),
        toml::Value::Datetime(at) => Value::String(at.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_as_json).collect()),
        toml::Value::Table(table) => Value::Object(
            (table.into_iter())
                .map(|(key, value)| (key, toml_as_json(value)))
                .collect(),
        ),
    }
}

/// A JSON or TOML document (by extension) as JSON.
pub fn read_document(path: &Path, text: &str) -> anyhow::Result<Value> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => {
            let value: toml::Value = toml::from_str(text)
                .with_context(|| format!("{} is not valid TOML", path.display()))?;
            Ok(toml_as_json(value))
        }
        _ => serde_json::from_str(text)
            .with_context(|| format!("{} is not valid JSON", path.display())),
    }
}

/// The steps that make `current` (the instance's jobs, as `GET /jobs` answers) match `file`,
/// in the file's order, then the deletes (`prune`) by job_id.
pub fn plan(file: &JobsFile, current: &[Value], prune: bool) -> anyhow::Result<Vec<Change>> {
    let current: BTreeMap<&str, &Value> = current
        .iter()
        .filter_map(|job| Some((job["job_id"].as_str()?, job)))
        .collect();
    let mut seen = BTreeSet::new();
    let mut changes = Vec::new();
    for body in &file.jobs {
        let body = Value::Object(body.clone());
        let config = JobConfig::from_create_body(&body, file.scope).map_err(|error| {
            let job = body["job_id"].as_str().unwrap_or("?");
            match &error.field {
                Some(field) => anyhow!("job '{job}': {field}: {}", error.message),
                None => anyhow!("job '{job}': {}", error.message),
            }
        })?;
        let job_id = config.job_id.clone();
        if !seen.insert(job_id.clone()) {
            bail!("job '{job_id}' is in the file twice");
        }
        let wanted = serde_json::to_value(&config)?;
        match current.get(job_id.as_str()) {
            None => changes.push(Change::Create { job_id, body }),
            Some(now) => {
                let fields: Vec<(String, Value, Value)> = CONFIG_FIELDS
                    .iter()
                    .filter(|field| !matches!(**field, "job_id" | "scope"))
                    .filter(|field| now[**field] != wanted[**field])
                    .map(|field| {
                        (
                            field.to_string(),
                            now[*field].clone(),
                            wanted[*field].clone(),
                        )
                    })
                    .collect();
                if fields.is_empty() {
                    changes.push(Change::Unchanged { job_id });
                } else {
                    changes.push(Change::Update { job_id, fields });
                }
            }
        }
    }
    if prune {
        for job_id in current.keys().filter(|id| !seen.contains(**id)) {
            changes.push(Change::Delete {
                job_id: job_id.to_string(),
            });
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests;

/// Applies `file` to the instance behind `remote`: refuses a file of the other scope, prints
/// the plan, and (unless `dry_run`) carries it out in order, stopping at the first refusal.
pub async fn apply(
    remote: &super::Remote,
    path: &Path,
    prune: bool,
    dry_run: bool,
) -> anyhow::Result<String> {
    use reqwest::Method;

    let file = read_jobs_file(path)?;
    let session = remote.get("/ui/api/session").await?;
    let serving = session["scope"].as_str().unwrap_or("?");
    if serving != file.scope.as_str() {
        bail!(
            "{} is for scope {} but {} serves {}: nothing applied",
            path.display(),
            file.scope.as_str().to_uppercase(),
            remote.url,
            serving.to_uppercase()
        );
    }
    let current = remote.get("/jobs").await?;
    let current = current
        .as_array()
        .ok_or_else(|| anyhow!("GET /jobs did not answer a list of jobs: nothing applied"))?;
    let changes = plan(&file, current, prune)?;
    let mut out = vec![super::job::scope_line(remote).await?];
    out.extend(changes.iter().map(Change::line));
    if dry_run {
        out.push("dry run: nothing changed".into());
        return Ok(out.join("\n"));
    }
    let mut done = 0;
    for change in &changes {
        let path = |job_id: &str| format!("/jobs/{}", super::client::encode(job_id));
        let result = match change {
            Change::Create { body, .. } => remote.call(Method::POST, "/jobs", Some(body)).await,
            Change::Update { job_id, fields } => {
                let body: Map<String, Value> = fields
                    .iter()
                    .map(|(field, _, wanted)| (field.clone(), wanted.clone()))
                    .collect();
                remote
                    .call(Method::PUT, &path(job_id), Some(&Value::Object(body)))
                    .await
            }
            Change::Delete { job_id } => remote.call(Method::DELETE, &path(job_id), None).await,
            Change::Unchanged { .. } => continue,
        };
        result.with_context(|| format!("{} failed after {done} change(s)", change.line()))?;
        done += 1;
    }
    out.push(format!("applied: {done} change(s)"));
    Ok(out.join("\n"))
}
