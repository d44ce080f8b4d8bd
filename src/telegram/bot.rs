//! The bot: long-polls the Bot API for messages and answers `/job` commands from the allowed
//! chats through the application service. It runs on its own thread (see `mod.rs`), so a Bot
//! API that is slow, down or flood-limited never touches a fire.

use std::time::Duration;

use actors::service::{Actor, JobQuery, RunNowRequest};
use actors::JobService;

use super::api::{BotApi, BotError, Update};
use super::commands::{mark, parse, reply, Command, HELP};

/// How long one `getUpdates` waits for a message.
const LONG_POLL: Duration = Duration::from_secs(25);
/// Lines a list reply shows.
const MAX_LINES: usize = 40;
/// A command older than this when it arrives (sent while the service was down) is not run.
const STALE_AFTER_SECONDS: i64 = 120;

/// Who may use the bot.
#[derive(Debug, Clone, Default)]
pub struct Chats {
    pub allowed: Vec<i64>,
    /// When not empty, the only chats that may change anything.
    pub admins: Vec<i64>,
}

/// Polls and answers until `stop` says so.
pub async fn run(
    api: BotApi,
    service: JobService,
    chats: Chats,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut offset = 0;
    let mut backoff = Duration::from_secs(1);
    // The bot's own name: a command addressed to another bot (`/job@OtherBot`) is not ours.
    let username = loop {
        let me = tokio::select! {
            _ = stop.changed() => return,
            me = api.get_me() => me,
        };
        match me {
            Ok(me) => break me.username,
            Err(error) => {
                tracing::warn!(%error, "Telegram getMe failed; trying again");
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    };
    tracing::info!(allowed = ?chats.allowed, admins = ?chats.admins, username = ?username, "Telegram bot polling");
    loop {
        let updates = tokio::select! {
            _ = stop.changed() => {
                // Confirm what was handled, so a restart does not run it again.
                let _ = api.get_updates(offset, Duration::ZERO).await;
                return;
            }
            updates = api.get_updates(offset, LONG_POLL) => updates,
        };
        match updates {
            Ok(updates) => {
                backoff = Duration::from_secs(1);
                for update in updates {
                    offset = offset.max(update.update_id + 1);
                    answer(&api, &service, &chats, username.as_deref(), update).await;
                }
            }
            Err(error) => {
                let wait = match error {
                    BotError::RetryAfter(seconds) => Duration::from_secs(seconds.min(300)),
                    _ => backoff,
                };
                tracing::warn!(%error, wait_seconds = wait.as_secs(), "Telegram getUpdates failed");
                backoff = (backoff * 2).min(Duration::from_secs(60));
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

async fn answer(
    api: &BotApi,
    service: &JobService,
    chats: &Chats,
    username: Option<&str>,
    update: Update,
) {
    let Some(message) = update.message else {
        return;
    };
    let Some(text) = message.text.as_deref() else {
        return;
    };
    let Some(parsed) = parse(text, username) else {
        return; // not a command for this bot: chatter is never answered
    };
    let chat = message.chat.id;
    let age = chrono::Utc::now().timestamp() - message.date;
    if message.date > 0 && age > STALE_AFTER_SECONDS {
        tracing::warn!(
            chat_id = chat,
            age_seconds = age,
            text,
            "Telegram command too old to run (sent while the service was away); ignored"
        );
        return;
    }
    let user = message
        .from
        .as_ref()
        .map(|user| user.username.clone().unwrap_or_else(|| user.id.to_string()))
        .unwrap_or_default();
    let scope = service.scope().as_str();
    let text_out = if !chats.allowed.contains(&chat) {
        tracing::warn!(chat_id = chat, user = %user, "Telegram message from a chat that is not allowed; refused");
        reply(
            scope,
            &["This chat may not use this scheduler.".to_string()],
            1,
        )
    } else {
        match parsed {
            Err(problem) => reply(scope, &[problem], 1),
            Ok(command)
                if command.changes()
                    && !chats.admins.is_empty()
                    && !chats.admins.contains(&chat) =>
            {
                tracing::warn!(chat_id = chat, user = %user, command = command.name(), "Telegram change from a chat that is not an admin; refused");
                reply(
                    scope,
                    &[format!("/job {} is for admin chats only.", command.name())],
                    1,
                )
            }
            Ok(command) => {
                tracing::info!(chat_id = chat, user = %user, command = command.name(), "Telegram command");
                let actor = Actor::new(format!(
                    "telegram:{chat}{}",
                    if user.is_empty() {
                        String::new()
                    } else {
                        format!(":{user}")
                    }
                ));
                reply(scope, &execute(service, &actor, command).await, MAX_LINES)
            }
        }
    };
    if let Err(error) = api.deliver(chat, &text_out).await {
        tracing::warn!(%error, chat_id = chat, "Telegram reply not sent");
    }
}

fn local(service: &JobService, instant: Option<chrono::DateTime<chrono::Utc>>) -> String {
    instant.map_or_else(
        || "-".into(),
        |at| {
            at.with_timezone(&service.timezone())
                .format("%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

/// Runs a command; answers the reply's lines (an error is one line).
async fn execute(service: &JobService, actor: &Actor, command: Command) -> Vec<String> {
    let result: Result<Vec<String>, actors::ServiceError> = async {
        Ok(match command {
            Command::Help => HELP.lines().map(String::from).collect(),
            Command::List => {
                let page = service
                    .page(&JobQuery {
                        limit: actors::service::MAX_PAGE_SIZE,
                        ..JobQuery::default()
                    })
                    .await?;
                let mut lines = vec![format!(
                    "{} jobs: {} failing, {} paused, {} running",
                    page.total, page.counts.failing, page.counts.paused, page.counts.running
                )];
                lines.extend(page.jobs.iter().map(|job| {
                    let state = &job.job.state;
                    let when = if job.job.config.enabled {
                        format!("next {}", local(service, state.next_due_at))
                    } else {
                        "paused".into()
                    };
                    format!(
                        "{} {}: {}, {when}",
                        mark(state.last_status.as_deref(), job.job.config.enabled),
                        job.job.config.job_id,
                        job.schedule_text
                    )
                }));
                lines
            }
            Command::Status(job_id) => {
                let schedule = service.schedule(&job_id, Some(1))?;
                service.with_job(&job_id, |job| {
                    let state = job.state;
                    let mut lines = vec![
                        format!(
                            "{} {}",
                            mark(state.last_status.as_deref(), job.config.enabled),
                            job.config.job_id
                        ),
                        format!("schedule: {} ({})", schedule.description, schedule.timezone),
                        format!(
                            "enabled: {}",
                            if job.config.enabled {
                                "yes"
                            } else {
                                "no (paused)"
                            }
                        ),
                        format!("next: {}", local(service, state.next_due_at)),
                        format!(
                            "last: {} at {}",
                            state.last_status.as_deref().unwrap_or("never run"),
                            local(service, state.last_run_at)
                        ),
                    ];
                    if let Some(error) = &state.last_error {
                        lines.push(format!(
                            "error: {}",
                            error.chars().take(200).collect::<String>()
                        ));
                    }
                    lines
                })?
            }
            Command::Runs(job_id) => {
                let runs = service.runs(&job_id, None, Some(5)).await?;
                let mut lines = vec![format!("last runs of {job_id}:")];
                lines.extend(runs.iter().map(|run| {
                    let duration = run
                        .duration_seconds()
                        .map_or(String::new(), |s| format!(" {s:.1}s"));
                    let error = run.error.as_deref().map_or(String::new(), |e| {
                        format!(" {}", e.chars().take(80).collect::<String>())
                    });
                    format!(
                        "{} {} {}{duration}{error}",
                        run.status.as_str(),
                        run.trigger_source.as_str(),
                        local(service, Some(run.due_at))
                    )
                }));
                if runs.is_empty() {
                    lines.push("none yet".into());
                }
                lines
            }
            Command::Run { job_id, params } => {
                let run_id = service
                    .run_now(
                        actor,
                        &job_id,
                        RunNowRequest {
                            params,
                            force: false,
                        },
                    )
                    .await?;
                vec![format!(
                    "run {} of {job_id} is on its way",
                    &run_id.to_string()[..8]
                )]
            }
            Command::Pause(job_id) => {
                service.set_enabled(actor, &job_id, false).await?;
                vec![format!("{job_id} paused")]
            }
            Command::Resume(job_id) => {
                let job = service.set_enabled(actor, &job_id, true).await?;
                vec![format!(
                    "{job_id} resumed, next {}",
                    local(service, job.state.next_due_at)
                )]
            }
        })
    }
    .await;
    result.unwrap_or_else(|error| vec![error.to_string()])
}
