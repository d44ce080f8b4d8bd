//! Sessions of the admin UI: the API token is asked once, then a cookie (HttpOnly,
//! SameSite=Strict, with an expiry) names the session, and every change made with the cookie
//! must carry the session's CSRF token in `X-CSRF-Token`. Sessions live in memory: a restart
//! asks for the token again.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// How long a session lasts from its login.
pub const SESSION_HOURS: i64 = 12;
/// The most sessions kept; the oldest go first.
const MAX_SESSIONS: usize = 1_000;
/// The header a change made with the session cookie carries its CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// One logged-in browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The name given at login, shown in the audit log as `ui:<name>`.
    pub name: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// The live sessions of this instance, by secret id.
pub struct Sessions {
    /// The cookie's name: one per scope, since both stacks may be served from one host.
    cookie: String,
    live: Mutex<HashMap<String, Session>>,
}

/// 244 random bits as 64 hex digits.
fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Sessions {
    pub fn new(scope: actors::Scope) -> Sessions {
        Sessions {
            cookie: format!("jennie_session_{scope}"),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a session; answers its secret id (the cookie's value) and the session.
    pub fn start(&self, name: &str, now: DateTime<Utc>) -> (String, Session) {
        let session = Session {
            name: name.to_string(),
            csrf_token: secret(),
            expires_at: now + Duration::hours(SESSION_HOURS),
        };
        let id = secret();
        let mut live = self.live();
        live.retain(|_, session| session.expires_at > now);
        if live.len() >= MAX_SESSIONS {
            let oldest = live
                .iter()
                .min_by_key(|(_, session)| session.expires_at)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                live.remove(&oldest);
            }
        }
        live.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session with this id.
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut live = self.live();
        match live.get(id) {
            Some(session) if session.expires_at > now => Some(session.clone()),
            Some(_) => {
                live.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        self.live().remove(id);
    }
}

/// A login name as the audit log shows it: printable, at most 40 characters, `operator`
/// when none is given.
pub fn login_name(name: Option<&str>) -> String {
    let name: String = name
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect();
    let name = name.trim();
    if name.is_empty() {
        "operator".to_string()
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_it_expires_or_ends() {
        let sessions = Sessions::new(actors::Scope::Mock);
        assert_eq!(sessions.cookie_name(), "jennie_session_mock");
        let now = Utc::now();
        let (id, session) = sessions.start("kim", now);
        assert_eq!(id.len(), 64);
        assert_ne!(session.csrf_token, id);
        assert_eq!(sessions.get(&id, now), Some(session.clone()));
        assert_eq!(sessions.get("other", now), None);
        let later = now + Duration::hours(SESSION_HOURS);
        assert_eq!(sessions.get(&id, later), None, "expired");
        assert_eq!(sessions.get(&id, now), None, "an expired session is gone");
        let (id, _) = sessions.start("lee", now);
        sessions.end(&id);
        assert_eq!(sessions.get(&id, now), None);
    }

    #[test]
    fn login_names_are_printable_and_short() {
        assert_eq!(login_name(None), "operator");
        assert_eq!(login_name(Some("  ")), "operator");
        assert_eq!(login_name(Some("kim\n\u{7}")), "kim");
        assert_eq!(login_name(Some(&"x".repeat(99))).len(), 40);
    }
}
