//! Skill events the sim sends as Alexa does when a user acts in the Alexa app: disabling the
//! skill (`AlexaSkillEvent.SkillDisabled`) and changing which of its notifications they get
//! (`AlexaSkillEvent.ProactiveSubscriptionChanged`). Each goes to the skill's custom
//! endpoint, signed and out of session, and is sent again (waits doubling from the messaging
//! retry's first wait, for up to an hour) until the skill answers 200.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Sim;
use crate::drivers::custom;
use crate::world::WorldError;

/// How long a skill event is retried.
const RETRY_FOR: Duration = Duration::from_secs(3600);

/// The user disables the skill: their tokens are revoked and the skill is told.
pub fn disable(sim: &Sim, skill_id: &str, user: &str) -> Result<(), WorldError> {
    let has_endpoint = {
        let mut w = sim.world();
        w.disable_skill(skill_id, user)?;
        w.skill(skill_id)?.custom_endpoint.is_some()
    };
    if has_endpoint {
        let body = json!({"userInformation": {"persistenceStatus": "NOT_PERSISTED"}});
        send(sim, skill_id, user, "AlexaSkillEvent.SkillDisabled", body);
    }
    Ok(())
}

/// The user now gets the skill's notifications for `events` only (empty: none).
pub fn subscribe(sim: &Sim, skill_id: &str, user: &str, events: Vec<String>) -> Result<(), WorldError> {
    let has_endpoint = {
        let mut w = sim.world();
        let e = w.enablement_mut(skill_id, user)?;
        if !e.enabled {
            return Err(WorldError::Invalid(format!(
                "user {user:?} has disabled the skill: they enable it before choosing its notifications"
            )));
        }
        e.subscriptions = Some(events.clone());
        w.skill(skill_id)?.custom_endpoint.is_some()
    };
    if has_endpoint {
        let list: Vec<Value> = events.iter().map(|n| json!({"eventName": n})).collect();
        send(
            sim,
            skill_id,
            user,
            "AlexaSkillEvent.ProactiveSubscriptionChanged",
            json!({"subscriptions": list}),
        );
    }
    Ok(())
}

fn send(sim: &Sim, skill_id: &str, user: &str, kind: &'static str, body: Value) {
    let (sim, skill_id, user) = (sim.clone(), skill_id.to_owned(), user.to_owned());
    tokio::spawn(async move {
        let deadline = Instant::now() + RETRY_FOR;
        let mut wait = sim.config().message_retry_initial;
        loop {
            if custom::deliver_skill_event(&sim, &skill_id, &user, kind, body.clone()).await {
                return;
            }
            if Instant::now() + wait >= deadline {
                tracing::info!(%skill_id, %user, "{kind} given up undelivered");
                return;
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    });
}
