//! Proactive discovery: when the configured devices differ from those last announced to
//! Alexa (a device added, changed or removed between starts), every granted user gets an
//! `AddOrUpdateReport` with the new and changed endpoints and a `DeleteReport` with the
//! removed ones, through the outbox. What was announced is recorded in the same transaction
//! as those events, so a crash neither skips nor repeats an announcement.

use std::collections::BTreeMap;
use std::time::Duration;

use rask_model::limits::MAX_DISCOVERED_ENDPOINTS;
use rask_model::smarthome::{DiscoveryEndpoint, EventMessage};
use rask_store::outbox::NewEvent;
use rask_store::{Store, StoreError, now_ms};

use crate::devices::Registry;

/// How long an announcement is worth sending.
pub const ANNOUNCEMENT_LIFE: Duration = Duration::from_secs(3600);

/// What changed since the last announcement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Endpoints that are new or whose discovery changed.
    pub added_or_updated: Vec<String>,
    /// Endpoints no longer configured.
    pub deleted: Vec<String>,
}

impl Changes {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.added_or_updated.is_empty() && self.deleted.is_empty()
    }
}

/// Compares what was announced with what is configured now, both as (id, discovery JSON).
pub fn changes(announced: &[(String, String)], current: &[(String, String)]) -> Changes {
    let before: BTreeMap<&str, &str> = announced.iter().map(|(i, j)| (i.as_str(), j.as_str())).collect();
    let now: BTreeMap<&str, &str> = current.iter().map(|(i, j)| (i.as_str(), j.as_str())).collect();
    Changes {
        added_or_updated: now
            .iter()
            .filter(|(id, json)| before.get(*id) != Some(*json))
            .map(|(id, _)| id.to_string())
            .collect(),
        deleted: before
            .keys()
            .filter(|id| !now.contains_key(*id))
            .map(|id| id.to_string())
            .collect(),
    }
}

/// Every device, announced to `user_id` again: one `AddOrUpdateReport` per
/// [`MAX_DISCOVERED_ENDPOINTS`], for when the Alexa app shows a stale list.
pub fn full_report(registry: &Registry, user_id: &str, now: i64) -> Vec<NewEvent> {
    let endpoints: Vec<DiscoveryEndpoint> = registry.devices().iter().map(|d| d.discovery()).collect();
    endpoints
        .chunks(MAX_DISCOVERED_ENDPOINTS)
        .map(|chunk| NewEvent {
            id: rask_store::row_id(),
            user_id: user_id.to_owned(),
            endpoint_id: String::new(),
            kind: "AddOrUpdateReport".into(),
            event: serde_json::to_string(&EventMessage::add_or_update_report(chunk.to_vec(), ""))
                .unwrap_or_default(),
            created_at: now,
            expires_at: now + ANNOUNCEMENT_LIFE.as_millis() as i64,
        })
        .collect()
}

/// Announces the registry's changes to every granted user; returns what changed.
pub async fn announce_changes(store: &Store, registry: &Registry) -> Result<Changes, StoreError> {
    let endpoints: Vec<DiscoveryEndpoint> = registry.devices().iter().map(|d| d.discovery()).collect();
    let current: Vec<(String, String)> = endpoints
        .iter()
        .map(|e| {
            (
                e.endpoint_id.clone(),
                serde_json::to_string(e).unwrap_or_default(),
            )
        })
        .collect();
    let announced = store.announced_endpoints().await?;
    let changes = changes(&announced, &current);
    if changes.is_empty() {
        return Ok(changes);
    }
    let mut messages = Vec::new();
    let updated: Vec<DiscoveryEndpoint> = endpoints
        .into_iter()
        .filter(|e| changes.added_or_updated.contains(&e.endpoint_id))
        .collect();
    for chunk in updated.chunks(MAX_DISCOVERED_ENDPOINTS) {
        messages.push((
            "AddOrUpdateReport",
            EventMessage::add_or_update_report(chunk.to_vec(), ""),
        ));
    }
    for chunk in changes.deleted.chunks(MAX_DISCOVERED_ENDPOINTS) {
        messages.push(("DeleteReport", EventMessage::delete_report(chunk.to_vec(), "")));
    }
    let now = now_ms();
    let users = store.granted_users().await?;
    let events: Vec<NewEvent> = users
        .iter()
        .flat_map(|user| {
            messages.iter().map(move |(kind, m)| NewEvent {
                id: rask_store::row_id(),
                user_id: user.clone(),
                endpoint_id: String::new(),
                kind: (*kind).into(),
                event: serde_json::to_string(m).unwrap_or_default(),
                created_at: now,
                expires_at: now + ANNOUNCEMENT_LIFE.as_millis() as i64,
            })
        })
        .collect();
    store.announce_endpoints(&current, &events).await?;
    tracing::info!(
        added_or_updated = ?changes.added_or_updated,
        deleted = ?changes.deleted,
        users = users.len(),
        "the devices changed since the last start: Alexa is told"
    );
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, json: &str) -> (String, String) {
        (id.to_owned(), json.to_owned())
    }

    #[test]
    fn new_changed_and_removed_endpoints_are_told_apart() {
        let before = [e("a", "1"), e("b", "1"), e("c", "1")];
        let now = [e("a", "1"), e("b", "2"), e("d", "1")];
        assert_eq!(
            changes(&before, &now),
            Changes {
                added_or_updated: vec!["b".into(), "d".into()],
                deleted: vec!["c".into()],
            }
        );
        assert!(changes(&now, &now).is_empty());
    }
}
