//! A fake Bot API server on a free port: `getUpdates` hands out the messages a test queued,
//! `sendMessage` records what the bot sent, and both can be told to fail first.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

pub const BOT_TOKEN: &str = "123456:TEST-token";
pub const BOT_USERNAME: &str = "JennieTestBot";

#[derive(Default)]
struct State {
    next_update_id: i64,
    updates: Vec<Value>,
    sent: Vec<(i64, String)>,
    /// Answers `sendMessage` gives before it succeeds: (HTTP status, body).
    send_failures: VecDeque<(u16, Value)>,
}

/// The server and what went through it.
pub struct FakeBotApi {
    pub url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

fn answer(state: &Mutex<State>, method: &str, body: &Value) -> (u16, Value) {
    let mut state = state.lock().expect("the fake's state");
    match method {
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let updates: Vec<Value> = state
                .updates
                .iter()
                .filter(|update| update["update_id"].as_i64().unwrap_or(0) >= offset)
                .cloned()
                .collect();
            (200, json!({"ok": true, "result": updates}))
        }
        "getMe" => (
            200,
            json!({"ok": true, "result": {"id": 1, "is_bot": true, "first_name": "Jennie", "username": BOT_USERNAME}}),
        ),
        "sendMessage" => {
            if let Some(failure) = state.send_failures.pop_front() {
                return failure;
            }
            let chat = body["chat_id"].as_i64().expect("chat_id");
            let text = body["text"].as_str().expect("text").to_string();
            state.sent.push((chat, text));
            (
                200,
                json!({"ok": true, "result": {"message_id": state.sent.len()}}),
            )
        }
        _ => (
            404,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        ),
    }
}

impl FakeBotApi {
    pub async fn start() -> FakeBotApi {
        let state = Arc::new(Mutex::new(State {
            next_update_id: 1,
            ..State::default()
        }));
        let shared = state.clone();
        let server = HttpServer::new(move || {
            let state = shared.clone();
            App::new().route(
                "/bot{token}/{method}",
                web::post().to(move |path: web::Path<(String, String)>, body: web::Json<Value>| {
                    let state = state.clone();
                    async move {
                        let (token, method) = path.into_inner();
                        if token != BOT_TOKEN {
                            return HttpResponse::Unauthorized()
                                .json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
                        }
                        let (status, answer) = answer(&state, &method, &body);
                        if method == "getUpdates" && answer["result"].as_array().is_some_and(Vec::is_empty) {
                            // A short long poll: the bot asks again soon.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a status"))
                            .json(answer)
                    }
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .expect("a port for the fake Bot API");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        FakeBotApi {
            url: format!("http://127.0.0.1:{port}"),
            state,
            handle,
        }
    }

    /// Queues a text message from `chat`, sent now.
    pub fn say(&self, chat: i64, text: &str) {
        self.say_at(chat, text, chrono::Utc::now().timestamp());
    }

    /// Queues a text message from `chat`, sent at `date` (Unix seconds).
    pub fn say_at(&self, chat: i64, text: &str, date: i64) {
        let mut state = self.state.lock().expect("state");
        let update_id = state.next_update_id;
        state.next_update_id += 1;
        state.updates.push(json!({
            "update_id": update_id,
            "message": {"message_id": update_id, "date": date, "text": text,
                        "chat": {"id": chat, "type": "private"},
                        "from": {"id": chat, "is_bot": false, "first_name": "Op", "username": format!("op{chat}")}}
        }));
    }

    /// The next `sendMessage` calls answer these before succeeding.
    pub fn fail_sends(&self, failures: Vec<(u16, Value)>) {
        self.state
            .lock()
            .expect("state")
            .send_failures
            .extend(failures);
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<(i64, String)> {
        self.state.lock().expect("state").sent.clone()
    }

    /// Waits until `count` messages were sent (or `seconds` passed); answers them all.
    pub async fn wait_for_sent(&self, count: usize, seconds: u64) -> Vec<(i64, String)> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let sent = self.sent();
            if sent.len() >= count || Instant::now() > deadline {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a sent message contains `text`; answers it.
    pub async fn wait_for_text(&self, text: &str, seconds: u64) -> (i64, String) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(found) = self
                .sent()
                .into_iter()
                .find(|(_, sent)| sent.contains(text))
            {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no message with '{text}' within {seconds} s; sent: {:#?}",
                self.sent()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
