//! The out-of-session services: Skill Messaging and Proactive Events, which let something
//! outside a custom skill reach its users through Alexa.
//!
//! Both take a Login with Amazon client-credentials token for their scope from
//! [`LwaClient::token_for_scope`] (cached, refreshed a minute early) and, when Amazon answers
//! 403 (or 401), forget it and try once more with a fresh one: a token can be revoked before it
//! expires. A token LWA could not issue is retried when LWA failed (5xx, 429, unreachable),
//! not when it answered an OAuth error (a scope the skill lacks, wrong credentials).
//! Bodies are checked before they leave, against the same rules the simulator applies; every
//! answer Amazon documents is a [`ServiceError`] variant with Amazon's message kept, and
//! [`ServiceError::retryable`] says which to try again (429 and 5xx, as Amazon advises).

use std::sync::Arc;

use rask_model::messaging::SkillMessageRequest;
use rask_model::proactive::ProactiveEventRequest;
use serde::Serialize;

use crate::lwa::{LwaClient, LwaError};
use crate::region::{Endpoints, Region};

/// The scope of Skill Messaging tokens.
pub const SKILL_MESSAGING_SCOPE: &str = "alexa:skill_messaging";

/// The scope of Proactive Events tokens.
pub const PROACTIVE_EVENTS_SCOPE: &str = "alexa::proactive_events";

/// Why a message or event was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Refused before sending: the body breaks Amazon's rules (each listed).
    #[error("not sent: {0}")]
    Invalid(String),
    /// 400: Amazon found the request malformed.
    #[error("Amazon refused the request as malformed (400): {0}")]
    BadRequest(String),
    /// 401 or 403, twice (the second time with a fresh token): the skill lacks the permission, or
    /// its credentials are not the ones for this API.
    #[error("Amazon did not accept the skill's token (401/403): {0}")]
    Forbidden(String),
    /// 404: Amazon does not know this user for this skill (disabled, or another region's).
    #[error("Amazon does not know this user (404): {0}")]
    UnknownUser(String),
    /// 409: an event with this `referenceId` was already sent to this audience.
    #[error("an event with this referenceId was already sent (409): {0}")]
    Duplicate(String),
    /// 429: too many requests; try again later.
    #[error("Amazon throttled the request (429): {0}")]
    Throttled(String),
    /// 432: the live stage's notification limit for this user is reached.
    #[error("the notification limit is reached (432): {0}")]
    LimitReached(String),
    /// 5xx, or a status Amazon does not document for the API.
    #[error("Amazon failed ({status}): {message}")]
    Server {
        /// The status.
        status: u16,
        /// Amazon's message.
        message: String,
    },
    /// The client-credentials token could not be had.
    #[error("no token for {scope}: {error}")]
    Token {
        /// The scope.
        scope: &'static str,
        /// LWA's answer.
        error: String,
        /// LWA failed or was out of reach ([`LwaError::transient`]), rather than answering an
        /// OAuth error: another try may get a token.
        transient: bool,
    },
    /// Not reached, or no answer in time.
    #[error("Amazon could not be reached: {0}")]
    Transport(String),
}

impl ServiceError {
    /// Whether the same request may succeed later: 429, 5xx, transport failures, and a token
    /// LWA could not issue for a reason other than the skill's credentials.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ServiceError::Throttled(_)
                | ServiceError::Server { .. }
                | ServiceError::Transport(_)
                | ServiceError::Token { transient: true, .. }
        )
    }
}

/// The stage a proactive event goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `/v1/proactiveEvents/stages/development`: the developer's own accounts.
    Development,
    /// `/v1/proactiveEvents/`: every user of the live skill.
    Live,
}

/// Sends Skill Messaging messages and Proactive Events for one skill.
#[derive(Debug, Clone)]
pub struct OutOfSession {
    http: reqwest::Client,
    lwa: Arc<LwaClient>,
    endpoints: Endpoints,
}

impl OutOfSession {
    /// A sender with the skill's LWA client (its Permissions-page credentials).
    pub fn new(http: reqwest::Client, lwa: Arc<LwaClient>, endpoints: Endpoints) -> Self {
        OutOfSession { http, lwa, endpoints }
    }

    /// Sends `message` to `user_id` in their region. `Ok` is Amazon's 202: queued for the
    /// skill, not yet delivered.
    pub async fn send_message(
        &self,
        region: Region,
        user_id: &str,
        message: &SkillMessageRequest,
    ) -> Result<(), ServiceError> {
        let problems = message.check();
        if !problems.is_empty() {
            return Err(invalid(&problems));
        }
        if user_id.is_empty() || user_id.len() > 512 {
            return Err(ServiceError::Invalid(
                "the user id must be 1 to 512 characters".into(),
            ));
        }
        let url = format!(
            "{}/v1/skillmessages/users/{}",
            self.endpoints.skill_messaging(region),
            url_segment(user_id)
        );
        self.post(SKILL_MESSAGING_SCOPE, &url, message).await
    }

    /// Sends `event` to its audience in `region`, on `stage`.
    pub async fn send_event(
        &self,
        region: Region,
        stage: Stage,
        event: &ProactiveEventRequest,
    ) -> Result<(), ServiceError> {
        let problems = event.check(time::OffsetDateTime::now_utc());
        if !problems.is_empty() {
            return Err(invalid(&problems));
        }
        let base = self.endpoints.api(region);
        let url = match stage {
            Stage::Development => format!("{base}/v1/proactiveEvents/stages/development"),
            Stage::Live => format!("{base}/v1/proactiveEvents/"),
        };
        self.post(PROACTIVE_EVENTS_SCOPE, &url, event).await
    }

    async fn post<B: Serialize>(&self, scope: &'static str, url: &str, body: &B) -> Result<(), ServiceError> {
        let body = serde_json::to_vec(body).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let mut refreshed = false;
        loop {
            let token = self
                .lwa
                .token_for_scope(scope)
                .await
                .map_err(|e| token_error(scope, &e))?;
            let r = self
                .http
                .post(url)
                .bearer_auth(&token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| ServiceError::Transport(crate::describe(&e.without_url())))?;
            let status = r.status().as_u16();
            if status == 202 || status == 200 {
                return Ok(());
            }
            let text = r.bytes().await.unwrap_or_default();
            let message = read_message(&text);
            if matches!(status, 401 | 403) && !refreshed {
                // A token revoked before its time: once more with a fresh one. Amazon documents
                // 403 for a bad token; 401 is what a gateway in front of it says.
                self.lwa.forget_scope(scope);
                refreshed = true;
                continue;
            }
            return Err(match status {
                400 => ServiceError::BadRequest(message),
                401 | 403 => ServiceError::Forbidden(message),
                404 => ServiceError::UnknownUser(message),
                409 => ServiceError::Duplicate(message),
                429 => ServiceError::Throttled(message),
                432 => ServiceError::LimitReached(message),
                status => ServiceError::Server { status, message },
            });
        }
    }
}

fn invalid(problems: &[rask_model::check::Finding]) -> ServiceError {
    let listed: Vec<String> = problems
        .iter()
        .map(|f| {
            if f.path.is_empty() {
                f.message.clone()
            } else {
                format!("{}: {}", f.path, f.message)
            }
        })
        .collect();
    ServiceError::Invalid(listed.join("; "))
}

fn token_error(scope: &'static str, e: &LwaError) -> ServiceError {
    ServiceError::Token {
        scope,
        error: e.to_string(),
        transient: e.transient(),
    }
}

/// Amazon's `message` (or the body's first line), cut to 200 characters.
fn read_message(body: &[u8]) -> String {
    let v: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let text = match v.as_ref().and_then(|v| v.get("message")).and_then(|m| m.as_str()) {
        Some(m) => m.to_owned(),
        None => {
            let t = String::from_utf8_lossy(body);
            t.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("(no body)")
                .to_owned()
        }
    };
    rask_model::limits::cut_to(&text, 200).into_owned()
}

/// `s` as one URL path segment.
fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_id_is_one_path_segment() {
        assert_eq!(
            url_segment("amzn1.ask.account.AB-c_9"),
            "amzn1.ask.account.AB-c_9"
        );
        assert_eq!(url_segment("a/../b?x=1"), "a%2F..%2Fb%3Fx%3D1");
    }

    #[test]
    fn retried_are_throttling_and_amazons_failures_only() {
        assert!(ServiceError::Throttled(String::new()).retryable());
        assert!(
            ServiceError::Server {
                status: 503,
                message: String::new()
            }
            .retryable()
        );
        assert!(ServiceError::Transport(String::new()).retryable());
        let token = |transient| ServiceError::Token {
            scope: SKILL_MESSAGING_SCOPE,
            error: String::new(),
            transient,
        };
        assert!(token(true).retryable(), "LWA down");
        assert!(!token(false).retryable(), "LWA refused the credentials");
        for e in [
            ServiceError::BadRequest(String::new()),
            ServiceError::Forbidden(String::new()),
            ServiceError::UnknownUser(String::new()),
            ServiceError::Duplicate(String::new()),
            ServiceError::LimitReached(String::new()),
        ] {
            assert!(!e.retryable(), "{e}");
        }
    }

    #[test]
    fn amazons_message_is_kept_and_cut() {
        assert_eq!(
            read_message(br#"{"code": 404, "message": "no such user"}"#),
            "no such user"
        );
        assert_eq!(read_message(b"<html>\n<p>busy</p>"), "<html>");
        assert!(
            read_message(format!(r#"{{"message": "{}"}}"#, "m".repeat(999)).as_bytes())
                .chars()
                .count()
                < 250
        );
    }
}
