//! What a hosted skill counts for Prometheus: requests by type and verdict; and the last few
//! requests themselves, for a console ([`recent`]).
//!
//! Process-wide, like rask-home's; a program that serves `/metrics` registers them once
//! ([`register`]). The type label is one Alexa documents and rask knows, or `other`: with
//! verification off, a sender could otherwise make a series per string it sends.

use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};

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

/// One request as a console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recent {
    /// When it was answered (Unix ms).
    pub at: u64,
    /// Its type label (see [`RequestLabels`]).
    pub r#type: &'static str,
    /// Its verdict (see [`RequestLabels`]).
    pub verdict: &'static str,
}

/// How many requests [`recent`] remembers.
pub const RECENT: usize = 50;

fn ring() -> &'static Mutex<VecDeque<Recent>> {
    static RING: LazyLock<Mutex<VecDeque<Recent>>> =
        LazyLock::new(|| Mutex::new(VecDeque::with_capacity(RECENT)));
    &RING
}

/// The last [`RECENT`] requests this process answered, newest first.
pub fn recent() -> Vec<Recent> {
    ring()
        .lock()
        .map(|r| r.iter().rev().cloned().collect())
        .unwrap_or_default()
}

/// Counts one request, and remembers it among the recent.
pub(crate) fn request(kind: &'static str, verdict: &'static str) {
    requests()
        .get_or_create(&RequestLabels {
            r#type: kind,
            verdict,
        })
        .inc();
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if let Ok(mut r) = ring().lock() {
        if r.len() == RECENT {
            r.pop_front();
        }
        r.push_back(Recent {
            at,
            r#type: kind,
            verdict,
        });
    }
}
