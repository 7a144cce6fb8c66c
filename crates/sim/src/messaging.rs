//! The Skill Messaging API: `POST {region}/v1/skillmessages/users/{userId}`.
//!
//! The bearer token must be a client-credentials token with scope `alexa:skill_messaging`
//! (403 otherwise); the user id must be one of the skill's users in this region (404); the body
//! needs `data` (at most 6 KB) and an `expiresAfterSeconds` of 60–86400 if present (400). On 202
//! the sim delivers a `Messaging.MessageReceived` request to the skill's custom endpoint, and
//! retries while the skill does not accept it, from 30 s doubling, until the message expires.
//! Error bodies follow Amazon's SDK model: `{"code": <status>, "message": "..."}`.

use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rask_model::lwa::SCOPE_SKILL_MESSAGING;
use rask_model::messaging::SkillMessageRequest;
use serde_json::json;

use crate::Sim;
use crate::drivers::custom;
use crate::faults::Target;
use crate::http::{self, body_for_log};
use crate::log::Entry;
use crate::region::Region;

/// `{"code": status, "message": ...}` with that status.
pub fn error(status: u16, message: &str) -> Response {
    http::json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &json!({"code": status, "message": message}),
    )
}

/// `POST /v1/skillmessages/users/{userId}`.
pub async fn post_message(
    State(sim): State<Sim>,
    Extension(region): Extension<Region>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut entry = Entry::new("messaging", 202, body_for_log(&body));
    entry.region = Some(region.to_string());
    entry.name = Some("SendSkillMessage".into());
    if let Some(injected) = crate::faults::inject(&sim, Target::Messaging).await {
        if let Some(r) = injected.raw_response(&sim, entry.clone()) {
            return r;
        }
        return refuse(&sim, entry, injected.status, "injected by rask sim (fault)");
    }

    let Some(token) = http::bearer(&headers) else {
        return refuse(&sim, entry, 403, "The request has no bearer token");
    };
    let (skill_id, user) = {
        let w = sim.world();
        let skill_id = match w.client_skill(token, SCOPE_SKILL_MESSAGING, Instant::now()) {
            Ok(s) => s,
            Err(why) => {
                drop(w);
                return refuse(&sim, entry, 403, &why);
            }
        };
        let user = w
            .user_by_skill_user_id(&skill_id, &user_id)
            .filter(|u| u.region == region && u.skills.get(&skill_id).is_some_and(|e| e.enabled))
            .map(|u| u.name.clone());
        (skill_id, user)
    };
    entry.skill_id = Some(skill_id.clone());
    let Some(user) = user else {
        return refuse(
            &sim,
            entry,
            404,
            &format!("The user {user_id} does not exist for this skill in region {region}"),
        );
    };
    entry.user = Some(user.clone());
    let message: SkillMessageRequest = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return refuse(&sim, entry, 400, &format!("The body is not a skill message: {e}"));
        }
    };
    let findings = message.check();
    if !findings.is_empty() {
        let description = findings[0].to_string();
        let entry = entry.findings(&findings);
        return refuse(&sim, entry, 400, &description);
    }
    sim.world().log.push(entry);

    let expiry = Duration::from_secs(message.effective_expiry());
    tokio::spawn(deliver(sim.clone(), skill_id, user, message.data, expiry));
    StatusCode::ACCEPTED.into_response()
}

/// Delivers the message until the skill accepts it or it expires.
async fn deliver(
    sim: Sim,
    skill_id: String,
    user: String,
    data: serde_json::Map<String, serde_json::Value>,
    expiry: Duration,
) {
    let deadline = Instant::now() + expiry;
    let mut wait = sim.config().message_retry_initial;
    loop {
        if custom::deliver_message(&sim, &skill_id, &user, &data).await {
            return;
        }
        if Instant::now() + wait >= deadline {
            tracing::info!(%skill_id, %user, "skill message expired undelivered");
            return;
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

fn refuse(sim: &Sim, entry: Entry, status: u16, message: &str) -> Response {
    let mut entry = entry.error(format!("{status}: {message}"));
    entry.status = status;
    sim.world().log.push(entry);
    error(status, message)
}
