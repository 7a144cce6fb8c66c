//! The Proactive Events API: `POST {region}/v1/proactiveEvents` (live) and
//! `POST {region}/v1/proactiveEvents/stages/development`.
//!
//! The bearer token must be a client-credentials token with scope `alexa::proactive_events`
//! (403); the body must follow the documented rules and name a known schema (400); a Unicast
//! audience must be one of the skill's users in this region (400); a `referenceId` the skill
//! already used for the same audience and stage is a duplicate (409); a Multicast's audience
//! is its region's users, so one referenceId can go to each region once. Error bodies follow
//! Amazon's SDK model: `{"code": <status>, "message": "..."}`.

use std::time::Instant;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rask_model::lwa::SCOPE_PROACTIVE_EVENTS;
use rask_model::proactive::ProactiveEventRequest;
use time::OffsetDateTime;

use crate::Sim;
use crate::faults::Target;
use crate::http::{self, body_for_log};
use crate::log::Entry;
use crate::messaging::error;
use crate::region::Region;
use crate::world::Notification;

/// `POST /v1/proactiveEvents`.
pub async fn post_live(
    sim: State<Sim>,
    region: Extension<Region>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post(sim, region, headers, body, "live").await
}

/// `POST /v1/proactiveEvents/stages/development`.
pub async fn post_development(
    sim: State<Sim>,
    region: Extension<Region>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post(sim, region, headers, body, "development").await
}

async fn post(
    State(sim): State<Sim>,
    Extension(region): Extension<Region>,
    headers: HeaderMap,
    body: Bytes,
    stage: &str,
) -> Response {
    let mut entry = Entry::new("proactive", 202, body_for_log(&body));
    entry.region = Some(region.to_string());
    entry.name = entry.body["event"]["name"]
        .as_str()
        .map(|n| format!("{n} ({stage})"));
    if let Some(injected) = crate::faults::inject(&sim, Target::Proactive).await {
        if let Some(r) = injected.raw_response(&sim, entry.clone()) {
            return r;
        }
        return refuse(&sim, entry, injected.status, "injected by rask sim (fault)");
    }
    let Some(token) = http::bearer(&headers) else {
        return refuse(&sim, entry, 403, "The request has no bearer token");
    };
    // Bound first: a guard in a match scrutinee would live into the arms and deadlock `refuse`.
    let owner = sim
        .world()
        .client_skill(token, SCOPE_PROACTIVE_EVENTS, Instant::now());
    let skill_id = match owner {
        Ok(s) => s,
        Err(why) => return refuse(&sim, entry, 403, &why),
    };
    entry.skill_id = Some(skill_id.clone());
    let event: ProactiveEventRequest = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            return refuse(
                &sim,
                entry,
                400,
                &format!("The body is not a proactive event: {e}"),
            );
        }
    };
    let findings = event.check(OffsetDateTime::now_utc());
    if !findings.is_empty() {
        let description = findings[0].to_string();
        return refuse(&sim, entry.findings(&findings), 400, &description);
    }
    let audience = match event.relevant_audience.user() {
        // Each region's Multicast reaches that region's users: another audience in each.
        None => format!("*:{region}"),
        Some(user_id) => {
            let w = sim.world();
            match w
                .user_by_skill_user_id(&skill_id, user_id)
                .filter(|u| u.region == region)
            {
                Some(u) => {
                    entry.user = Some(u.name.clone());
                    user_id.to_owned()
                }
                None => {
                    drop(w);
                    return refuse(
                        &sim,
                        entry,
                        400,
                        &format!("The user {user_id} is not a user of this skill in region {region}"),
                    );
                }
            }
        }
    };
    if !sim
        .world()
        .remember_reference(&skill_id, stage, &audience, &event.reference_id)
    {
        return refuse(
            &sim,
            entry,
            409,
            &format!(
                "referenceId {} was already used for this audience",
                event.reference_id
            ),
        );
    }
    // Alexa takes the event, and tells the users it reaches (none, if none subscribed).
    let now = OffsetDateTime::now_utc();
    let notification = Notification {
        name: event.event.name.clone(),
        reference_id: event.reference_id.clone(),
        stage: stage.to_owned(),
        audience: event.relevant_audience.kind.clone(),
        received_at: rask_model::timestamp::seconds(now),
        expiry_time: event.expiry_time.clone(),
        payload: rask_model::proactive::localize(&event.event.payload, event.localized_attributes.first()),
    };
    let reached =
        sim.world()
            .deliver_notification(&skill_id, region, event.relevant_audience.user(), &notification);
    tracing::debug!(%skill_id, reached, "proactive event taken");
    sim.world().log.push(entry);
    StatusCode::ACCEPTED.into_response()
}

fn refuse(sim: &Sim, entry: Entry, status: u16, message: &str) -> Response {
    let mut entry = entry.error(format!("{status}: {message}"));
    entry.status = status;
    sim.world().log.push(entry);
    error(status, message)
}
