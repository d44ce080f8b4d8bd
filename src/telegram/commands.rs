//! The bot's commands (`/job list|status|runs|run|pause|resume|help`) and its replies: short,
//! readable on a phone, each starting with the scope. Pure: no I/O.

use serde_json::{Map, Value};

/// A command a chat sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    List,
    Status(String),
    Runs(String),
    Run {
        job_id: String,
        params: Option<Map<String, Value>>,
    },
    Pause(String),
    Resume(String),
    Help,
}

impl Command {
    /// Whether the command changes anything (admin chats only, when they are listed).
    pub fn changes(&self) -> bool {
        matches!(
            self,
            Command::Run { .. } | Command::Pause(_) | Command::Resume(_)
        )
    }

    /// The command's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::List => "list",
            Command::Status(_) => "status",
            Command::Runs(_) => "runs",
            Command::Run { .. } => "run",
            Command::Pause(_) => "pause",
            Command::Resume(_) => "resume",
            Command::Help => "help",
        }
    }
}

pub const HELP: &str = "/job list: every job\n\
/job status <id>: settings, next and last run\n\
/job runs <id>: the last runs\n\
/job run <id> [{\"param\": \"value\"}]: run now\n\
/job pause <id>, /job resume <id>\n\
/job help: this list";

/// Reads a message: `None` when it is not a `/job` command for this bot (`/job@ThisBot`
/// counts, `/job@AnotherBot` does not: the real and mock bots may share a group), else the
/// command or what is wrong with it.
pub fn parse(text: &str, bot_username: Option<&str>) -> Option<Result<Command, String>> {
    let text = text.trim();
    let (head, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let (command, addressee) = match head.split_once('@') {
        Some((command, addressee)) => (command, Some(addressee)),
        None => (head, None),
    };
    if let Some(addressee) = addressee {
        if bot_username.is_none_or(|me| !me.eq_ignore_ascii_case(addressee)) {
            return None;
        }
    }
    if command != "/job" && command != "/start" && command != "/help" {
        return None;
    }
    if command != "/job" {
        return Some(Ok(Command::Help));
    }
    let rest = rest.trim();
    let (verb, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let rest = rest.trim();
    let (job_id, extra) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let extra = extra.trim();
    let needs_id = |make: fn(String) -> Command| {
        if job_id.is_empty() {
            Err(format!("usage: /job {verb} <job_id>"))
        } else if !extra.is_empty() {
            Err(format!("/job {verb} takes only a job id"))
        } else {
            Ok(make(job_id.to_string()))
        }
    };
    Some(match verb {
        "list" | "ls" => Ok(Command::List),
        "" | "help" => Ok(Command::Help),
        "status" => needs_id(Command::Status),
        "runs" => needs_id(Command::Runs),
        "pause" => needs_id(Command::Pause),
        "resume" => needs_id(Command::Resume),
        "run" if job_id.is_empty() => {
            Err("usage: /job run <job_id> [params as a JSON object]".into())
        }
        "run" if extra.is_empty() => Ok(Command::Run {
            job_id: job_id.to_string(),
            params: None,
        }),
        "run" => match serde_json::from_str::<Value>(extra) {
            Ok(Value::Object(params)) => Ok(Command::Run {
                job_id: job_id.to_string(),
                params: Some(params),
            }),
            _ => Err("params must be a JSON object, e.g. {\"symbol\": \"005930\"}".into()),
        },
        other => Err(format!(
            "unknown command '/job {other}'; /job help lists them"
        )),
    })
}

/// A reply: the scope first, then at most `max_lines` lines within Telegram's length limit
/// (the lines left out are summed up).
pub fn reply(scope: &str, lines: &[String], max_lines: usize) -> String {
    let mut text = format!("[{}]", scope.to_uppercase());
    let mut units = text.encode_utf16().count();
    let mut shown = 0;
    for line in lines.iter().take(max_lines) {
        let line_units = line.encode_utf16().count() + 1;
        if units + line_units > MAX_REPLY_UNITS {
            break;
        }
        text.push('\n');
        text.push_str(line);
        units += line_units;
        shown += 1;
    }
    if lines.len() > shown {
        text.push_str(&format!("\n… and {} more", lines.len() - shown));
    }
    text
}

/// The longest reply, in UTF-16 units (Telegram allows 4096; room is left for the "and more"
/// line).
const MAX_REPLY_UNITS: usize = 4_000;

/// A status as a mark people read at a glance.
pub fn mark(status: Option<&str>, enabled: bool) -> &'static str {
    if !enabled {
        return "⏸";
    }
    match status {
        Some("success") => "✅",
        Some("failed" | "timeout") => "❌",
        Some("skipped") => "⚠️",
        _ => "•",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_commands_and_their_mistakes_are_read() {
        assert_eq!(
            parse("/job list", Some("JennieBot")),
            Some(Ok(Command::List))
        );
        assert_eq!(
            parse("/job@JennieBot list", Some("JennieBot")),
            Some(Ok(Command::List))
        );
        assert_eq!(
            parse("/job status buy-scanner", Some("JennieBot")),
            Some(Ok(Command::Status("buy-scanner".into())))
        );
        assert_eq!(
            parse("/job pause a", Some("JennieBot")),
            Some(Ok(Command::Pause("a".into())))
        );
        assert_eq!(
            parse("/job resume a", Some("JennieBot")),
            Some(Ok(Command::Resume("a".into())))
        );
        assert_eq!(
            parse("/job runs a", Some("JennieBot")),
            Some(Ok(Command::Runs("a".into())))
        );
        assert_eq!(parse("/job", Some("JennieBot")), Some(Ok(Command::Help)));
        assert_eq!(parse("/start", Some("JennieBot")), Some(Ok(Command::Help)));
        assert_eq!(
            parse("/job run a {\"symbol\": \"005930\"}", Some("JennieBot")),
            Some(Ok(Command::Run {
                job_id: "a".into(),
                params: Some(
                    serde_json::json!({"symbol": "005930"})
                        .as_object()
                        .unwrap()
                        .clone()
                )
            }))
        );
        assert!(parse("/job run a [1]", Some("JennieBot"))
            .unwrap()
            .unwrap_err()
            .contains("JSON object"));
        assert!(parse("/job status", Some("JennieBot"))
            .unwrap()
            .unwrap_err()
            .contains("usage"));
        assert!(parse("/job pause a b", Some("JennieBot"))
            .unwrap()
            .unwrap_err()
            .contains("only a job id"));
        assert!(parse("/job fly", Some("JennieBot"))
            .unwrap()
            .unwrap_err()
            .contains("unknown"));
        assert_eq!(parse("hello", Some("JennieBot")), None);
        // A command for another bot (the other stack's) is not this bot's.
        assert_eq!(parse("/job@JennieMockBot pause a", Some("JennieBot")), None);
        assert_eq!(
            parse("/job@jenniebot pause a", Some("JennieBot")),
            Some(Ok(Command::Pause("a".into())))
        );
        assert_eq!(parse("/job@JennieBot list", None), None);
        assert!(Command::Run {
            job_id: "a".into(),
            params: None
        }
        .changes());
        assert!(!Command::Status("a".into()).changes());
    }

    #[test]
    fn replies_start_with_the_scope_and_stay_short() {
        let lines: Vec<String> = (0..5).map(|n| format!("line {n}")).collect();
        assert_eq!(reply("real", &lines[..1], 3), "[REAL]\nline 0");
        let long: Vec<String> = (0..100)
            .map(|n| format!("{n:03} {}", "x".repeat(96)))
            .collect();
        let text = reply("real", &long, 100);
        assert!(text.encode_utf16().count() <= 4_096, "{}", text.len());
        assert!(text.ends_with("more"), "the lines left out are said");
        assert_eq!(
            reply("mock", &lines, 3),
            "[MOCK]\nline 0\nline 1\nline 2\n… and 2 more"
        );
    }
}
