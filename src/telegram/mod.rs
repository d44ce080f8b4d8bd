//! Telegram and alerts: the bot's `/job` commands and the alerts, on a thread of their own
//! with its own runtime, so the Bot API (slow, down or flood-limited) never shares a thread
//! with a fire. Both go through the application service like every other front end.

pub mod alerts;
pub mod api;
pub mod bot;
pub mod commands;

use actors::JobService;
use tokio::sync::watch;

use crate::configuration::Settings;

/// The thread of the bot and the alerts; it stops when this is dropped.
pub struct Notifications {
    _stop: watch::Sender<bool>,
}

/// Starts the alerts (always: a log line and a metric each) and, when `TELEGRAM_BOT_TOKEN` is
/// set, the bot and the alerts' messages.
pub fn start(service: JobService, settings: &Settings) -> anyhow::Result<Notifications> {
    let (stop, stopped) = watch::channel(false);
    // Subscribed here, before the engine can send anything the alerts would miss.
    let events = service.events();
    let alert_settings = alerts::AlertSettings {
        outage_after: std::time::Duration::from_secs(settings.alert_outage_seconds),
        per_minute: settings.alerts_per_minute,
    };
    let api = settings
        .telegram_bot_token
        .as_ref()
        .map(|token| api::BotApi::new(&settings.telegram_api_url, token));
    let chats = bot::Chats {
        allowed: settings.telegram_allowed_chat_ids.clone(),
        admins: settings.telegram_admin_chat_ids.clone(),
    };
    if api.is_some() && chats.allowed.is_empty() {
        tracing::warn!("TELEGRAM_BOT_TOKEN is set but TELEGRAM_ALLOWED_CHAT_IDS is empty: the bot refuses every chat and sends no alert");
    }
    std::thread::Builder::new()
        .name("notifications".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, "the notifications thread has no runtime: no alerts, no bot");
                    return;
                }
            };
            runtime.block_on(async move {
                let telegram = api.clone().map(|api| (api, chats.allowed.clone()));
                let alerts = alerts::run(service.clone(), events, alert_settings, telegram, stopped.clone());
                match api {
                    Some(api) => {
                        tokio::join!(alerts, bot::run(api, service, chats, stopped));
                    }
                    None => alerts.await,
                }
            });
        })?;
    Ok(Notifications { _stop: stop })
}
