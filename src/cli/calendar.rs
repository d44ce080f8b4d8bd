//! `jennie-scheduler calendar …`: the exchange calendars of a running instance, as human
//! tables (the scope first) or `--json`.

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};

use super::apply::read_document;
use super::client::{encode, Remote};
use super::job::{scope_line, table};
use super::CalendarVerb;

fn path(name: &str) -> String {
    format!("/calendars/{}", encode(name))
}

fn strings(value: &Value) -> Vec<String> {
    (value.as_array().into_iter().flatten())
        .map(|item| item.as_str().unwrap_or_default().to_string())
        .collect()
}

/// One calendar for people: its closed weekdays, its jobs and its dates by year.
fn print_calendar(calendar: &Value) -> String {
    let dates = strings(&calendar["dates"]);
    let mut years: Vec<(String, Vec<String>)> = Vec::new();
    for date in dates {
        let (year, day) = date.split_at(4.min(date.len()));
        match years.last_mut() {
            Some((last, days)) if last == year => days.push(day.trim_start_matches('-').into()),
            _ => years.push((year.into(), vec![day.trim_start_matches('-').into()])),
        }
    }
    let mut lines = vec![
        format!("calendar: {}", calendar["name"].as_str().unwrap_or("?")),
        format!(
            "closed weekdays: {}",
            strings(&calendar["weekend"]).join(", ")
        ),
        format!("jobs on it: {}", strings(&calendar["used_by"]).join(", ")),
    ];
    if let Some(description) = calendar["description"].as_str() {
        lines.push(format!("description: {description}"));
    }
    let rows: Vec<Vec<String>> = (years.into_iter())
        .map(|(year, days)| vec![year, days.len().to_string(), days.join(" ")])
        .collect();
    lines.push(table(&["year", "closed", "dates (MM-DD)"], &rows));
    lines.join("\n")
}

/// Runs one verb; answers what to print.
pub async fn run(remote: &Remote, verb: &CalendarVerb, as_json: bool) -> anyhow::Result<String> {
    let scope = scope_line(remote).await?;
    let (answer, human): (Value, String) = match verb {
        CalendarVerb::List => {
            let calendars = remote.get("/calendars").await?;
            let rows: Vec<Vec<String>> = (calendars.as_array().into_iter().flatten())
                .map(|calendar| {
                    let dates = strings(&calendar["dates"]);
                    vec![
                        calendar["name"].as_str().unwrap_or("?").to_string(),
                        strings(&calendar["weekend"]).join(","),
                        dates.len().to_string(),
                        format!(
                            "{} .. {}",
                            dates.first().map_or("-", String::as_str),
                            dates.last().map_or("-", String::as_str)
                        ),
                        strings(&calendar["used_by"]).len().to_string(),
                    ]
                })
                .collect();
            let human = table(&["name", "weekend", "dates", "span", "jobs"], &rows);
            (calendars, human)
        }
        CalendarVerb::Show { name } => {
            let calendar = remote.get(&path(name)).await?;
            let human = print_calendar(&calendar);
            (calendar, human)
        }
        CalendarVerb::Put { name, file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let body = read_document(file, &text)?;
            let calendar = remote.call(Method::PUT, &path(name), Some(&body)).await?;
            let human = format!("written\n{}", print_calendar(&calendar));
            (calendar, human)
        }
        CalendarVerb::Add { name, dates } => {
            let body = json!({ "dates": dates });
            let calendar = remote
                .call(Method::POST, &format!("{}/dates", path(name)), Some(&body))
                .await?;
            let human = format!("added {}\n{}", dates.join(", "), print_calendar(&calendar));
            (calendar, human)
        }
        CalendarVerb::Remove { name, date } => {
            let calendar = remote
                .call(
                    Method::DELETE,
                    &format!("{}/dates/{}", path(name), encode(date)),
                    None,
                )
                .await?;
            let human = format!("removed {date}\n{}", print_calendar(&calendar));
            (calendar, human)
        }
        CalendarVerb::Delete { name } => {
            remote.call(Method::DELETE, &path(name), None).await?;
            (json!({"deleted": name}), format!("calendar {name} deleted"))
        }
    };
    if as_json {
        return Ok(serde_json::to_string_pretty(&answer)?);
    }
    Ok(format!("{scope}\n{human}"))
}
