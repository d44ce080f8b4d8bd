//! Alerts: a run that failed or timed out with no retry left, a job skipped N times in a row,
//! the broker or the database down longer than a threshold, and its recovery. Each is a log
//! line and a count in `jennie_alerts_total{kind}`; with the bot on, also a message to the
//! allowed chats (unless the job's `notify` is off), at most `per_minute` a minute: the rest
//! are summed up in one message, so an outage is one message, not thousands.

use std::time::{Duration, Instant};

use actors::engine::EngineEvent;
use actors::service::Probe;
use actors::JobService;
use tokio::sync::{broadcast, mpsc, watch};

use super::api::BotApi;

/// What the alerts need to know.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// A dependency down this long is an alert.
    pub outage_after: Duration,
    /// The most messages a minute.
    pub per_minute: u64,
}

/// A dependency's outage as the alerts follow it.
#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
    alerted: bool,
}

impl Outage {
    /// The probe's latest answer; answers the alert to raise, if any.
    fn observe(
        &mut self,
        name: &str,
        probe: &Probe,
        after: Duration,
        now: Instant,
    ) -> Option<(&'static str, String)> {
        match probe {
            Probe::Down(why) => {
                let since = *self.since.get_or_insert(now);
                if !self.alerted && now.duration_since(since) >= after {
                    self.alerted = true;
                    return Some((
                        "outage",
                        format!(
                            "🔴 {name} unavailable for {} s: {why}",
                            now.duration_since(since).as_secs()
                        ),
                    ));
                }
                None
            }
            Probe::Up => {
                let since = self.since.take()?;
                let alerted = std::mem::take(&mut self.alerted);
                alerted.then(|| {
                    (
                        "recovery",
                        format!(
                            "🟢 {name} is back after {} s",
                            now.duration_since(since).as_secs()
                        ),
                    )
                })
            }
        }
    }
}

/// Messages sent in the current minute, and those held back.
#[derive(Debug)]
struct Budget {
    window: Instant,
    sent: u64,
    held_back: u64,
}

impl Budget {
    /// Whether one more message may go now.
    fn take(&mut self, per_minute: u64, now: Instant) -> bool {
        if now.duration_since(self.window) >= Duration::from_secs(60) {
            self.window = now;
            self.sent = 0;
        }
        if self.sent < per_minute {
            self.sent += 1;
            true
        } else {
            self.held_back += 1;
            false
        }
    }
}

/// The text of an engine event's alert.
fn event_alert(event: &EngineEvent) -> (&'static str, &str, String) {
    match event {
        EngineEvent::RunFailed {
            job_id,
            status,
            attempt,
            error,
            ..
        } => {
            let what = if status.as_str() == "timeout" {
                "timed out"
            } else {
                "failed"
            };
            let error = error.as_deref().map_or(String::new(), |e| {
                format!(": {}", e.chars().take(300).collect::<String>())
            });
            (
                "run_failed",
                job_id,
                format!("❌ {job_id}: run {what} on attempt {attempt}, no retry left{error}"),
            )
        }
        EngineEvent::SkippedInARow {
            job_id,
            count,
            reason,
        } => (
            "skipped",
            job_id,
            format!("⚠️ {job_id}: {count} fires in a row skipped ({reason})"),
        ),
    }
}

/// Follows the engine's events and the dependencies until `stop`.
pub async fn run(
    service: JobService,
    mut events: broadcast::Receiver<EngineEvent>,
    settings: AlertSettings,
    telegram: Option<(BotApi, Vec<i64>)>,
    mut stop: watch::Receiver<bool>,
) {
    let scope = service.scope().as_str().to_uppercase();
    // Messages go out one by one on their own task: a slow Bot API holds no event back.
    // The queue holds at most a minute's worth: while the Bot API is down, newer alerts are
    // held back (and counted) rather than piling up to flood the chats when it returns.
    let outbox = telegram.map(|(api, chats)| {
        let (send, mut messages) = mpsc::channel::<String>(settings.per_minute.max(1) as usize);
        tokio::spawn(async move {
            while let Some(text) = messages.recv().await {
                for chat in &chats {
                    if let Err(error) = api.deliver(*chat, &text).await {
                        tracing::warn!(%error, chat_id = chat, "alert not sent to Telegram");
                    }
                }
            }
        });
        send
    });
    let mut budget = Budget {
        window: Instant::now(),
        sent: 0,
        held_back: 0,
    };
    let per_minute = settings.per_minute;
    let raise = |kind: &'static str, text: String, notify: bool, budget: &mut Budget| {
        metrics::counter!(actors::metrics::ALERTS_TOTAL, "kind" => kind).increment(1);
        tracing::warn!(kind, alert = %text, "alert");
        if let (Some(outbox), true) = (&outbox, notify) {
            if budget.take(per_minute, Instant::now())
                && outbox.try_send(format!("[{scope}] {text}")).is_err()
            {
                budget.held_back += 1;
            }
        }
    };
    // Once a minute: say how many alerts were held back, in one message.
    let mut summary = tokio::time::interval(Duration::from_secs(60));
    summary.tick().await;
    let probe_every =
        (settings.outage_after / 4).clamp(Duration::from_millis(250), Duration::from_secs(5));
    let mut probe = tokio::time::interval(probe_every);
    let (mut database, mut broker) = (Outage::default(), Outage::default());
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            event = events.recv() => match event {
                Ok(event) => {
                    let (kind, job_id, text) = event_alert(&event);
                    let notify = service.with_job(job_id, |job| job.config.notify).unwrap_or(true);
                    raise(kind, text, notify, &mut budget);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    raise("lagged", format!("{missed} alert(s) were lost: the alerts fell behind the engine"), true, &mut budget);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = summary.tick() => {
                if budget.held_back > 0 {
                    if let Some(outbox) = &outbox {
                        let text = format!("[{scope}] {} more alert(s) in the last minute were not sent (at most {per_minute} a minute); see the log and jennie_alerts_total", budget.held_back);
                        if outbox.try_send(text).is_ok() {
                            budget.held_back = 0;
                        }
                    }
                }
            }
            _ = probe.tick() => {
                let readiness = service.readiness().await;
                let now = Instant::now();
                for (name, outage, state) in [("database", &mut database, &readiness.database), ("broker (RabbitMQ)", &mut broker, &readiness.broker)] {
                    if let Some((kind, text)) = outage.observe(name, state, settings.outage_after, now) {
                        raise(kind, text, true, &mut budget);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_one_alert_after_the_threshold_and_one_recovery() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let down = Probe::Down("connection refused".into());
        let mut outage = Outage::default();
        let after = Duration::from_secs(60);
        assert_eq!(outage.observe("broker", &down, after, at(0)), None);
        assert_eq!(outage.observe("broker", &down, after, at(59)), None);
        let (kind, text) = outage
            .observe("broker", &down, after, at(60))
            .expect("the alert");
        assert_eq!(kind, "outage");
        assert!(
            text.contains("broker unavailable for 60 s: connection refused"),
            "{text}"
        );
        assert_eq!(
            outage.observe("broker", &down, after, at(600)),
            None,
            "one alert per outage"
        );
        let (kind, text) = outage
            .observe("broker", &Probe::Up, after, at(700))
            .expect("the recovery");
        assert_eq!(
            (kind, text.as_str()),
            ("recovery", "🟢 broker is back after 700 s")
        );
        // A short blip is no alert, and so no recovery either.
        assert_eq!(outage.observe("broker", &down, after, at(800)), None);
        assert_eq!(outage.observe("broker", &Probe::Up, after, at(810)), None);
    }

    #[test]
    fn the_budget_lets_a_minute_s_worth_through_and_counts_the_rest() {
        let start = Instant::now();
        let mut budget = Budget {
            window: start,
            sent: 0,
            held_back: 0,
        };
        let sent = (0..5).filter(|_| budget.take(3, start)).count();
        assert_eq!((sent, budget.held_back), (3, 2));
        assert!(
            budget.take(3, start + Duration::from_secs(60)),
            "a new minute"
        );
    }
}
