//! What a hosted skill counts for Prometheus: requests by type and verdict.
//!
//! Process-wide, like rask-home's; a program that serves `/metrics` registers them once
//! ([`register`]). The type label is one Alexa documents and rask knows, or `other`: with
//! verification off, a sender could otherwise make a series per string it sends.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rask_model::custom::RequestBody;

/// A request's type and what became of it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `LaunchRequest`, `IntentRequest`, `AlexaSkillEvent.SkillEnabled`, ...; `other` for a
    /// type rask does not know, `unread` for a request refused before it was read.
    pub r#type: &'static str,
    /// `answered`, `failed` (a handler failed: an error handler or the apology answered), or
    /// `refused` (400: not signed by Alexa, stale, for another skill, or not a request).
    pub verdict: &'static str,
}

/// Skill events rask knows by name, besides [`RequestBody::KNOWN`].
const EVENTS: &[&str] = &[
    "AlexaSkillEvent.SkillEnabled",
    "AlexaSkillEvent.SkillDisabled",
    "AlexaSkillEvent.SkillAccountLinked",
    "AlexaSkillEvent.SkillPermissionAccepted",
    "AlexaSkillEvent.SkillPermissionChanged",
    "AlexaSkillEvent.ProactiveSubscriptionChanged",
    "AlexaSkillEvent.SkillNotificationSubscriptionChanged",
    "AlexaHouseholdListEvent.ItemsCreated",
    "AlexaHouseholdListEvent.ItemsUpdated",
    "AlexaHouseholdListEvent.ItemsDeleted",
    "AlexaHouseholdListEvent.ListCreated",
    "AlexaHouseholdListEvent.ListUpdated",
    "AlexaHouseholdListEvent.ListDeleted",
];

fn requests() -> &'static Family<RequestLabels, Counter> {
    static REQUESTS: LazyLock<Family<RequestLabels, Counter>> = LazyLock::new(Family::default);
    &REQUESTS
}

/// Adds the skill's series to `registry` (docs/metrics.md lists them).
pub fn register(registry: &mut Registry) {
    registry.register(
        "rask_skill_requests",
        "Custom-skill requests, by type and verdict",
        requests().clone(),
    );
}

/// The label for a request's type.
pub fn type_label(body: &RequestBody) -> &'static str {
    let kind = body.kind();
    RequestBody::KNOWN
        .iter()
        .chain(EVENTS)
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("other")
}

/// Counts one request.
pub(crate) fn request(kind: &'static str, verdict: &'static str) {
    requests()
        .get_or_create(&RequestLabels {
            r#type: kind,
            verdict,
        })
        .inc();
}
