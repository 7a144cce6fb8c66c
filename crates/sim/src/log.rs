//! The event log: everything the sim received, each with its validation verdict.
//!
//! Calls to Amazon's APIs are logged as they arrive (accepted or refused, and why); answers a
//! skill gave to a driver are logged too, with the request the sim sent. The log is bounded:
//! the oldest entries go first.

use std::collections::VecDeque;

use rask_model::check::Finding;
use serde::Serialize;
use serde_json::Value;

/// How many entries the log keeps.
pub const CAPACITY: usize = 10_000;

/// Every `api` an entry can have, for a filter to be checked against.
pub const APIS: &[&str] = &[
    "lwa",
    "gateway",
    "messaging",
    "proactive",
    "endpoints",
    "skill.smarthome",
    "skill.custom",
    "skill.messaging",
    "skill.events",
    "linking",
];

/// One thing the sim received.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Increasing from 1; ask for `?since=` the last one seen.
    pub seq: u64,
    /// When, UTC.
    pub time: String,
    /// One of [`APIS`].
    pub api: String,
    /// The region whose URL was called, for Amazon's APIs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The HTTP status the sim answered, or the skill answered the sim.
    pub status: u16,
    /// The message's name, such as `Alexa.DoorbellEventSource.DoorbellPress`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The skill, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill_id: Option<String>,
    /// The simulated user's name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Whether the message was valid and accepted.
    pub valid: bool,
    /// Every rule it broke.
    pub findings: Vec<FindingView>,
    /// Why the sim refused it, as the error code and description it answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the sim sent, for answers from a skill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<Value>,
    /// The body received (JSON where it parsed, else a string).
    pub body: Value,
}

/// A finding as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    /// JSON pointer.
    pub path: String,
    /// The rule.
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

impl From<&Finding> for FindingView {
    fn from(f: &Finding) -> Self {
        FindingView {
            path: f.path.clone(),
            rule: f.rule.clone(),
            message: f.message.clone(),
        }
    }
}

impl Entry {
    /// A new entry for `api` with the status it got; fill in the rest with the builders.
    pub fn new(api: &str, status: u16, body: Value) -> Self {
        Entry {
            seq: 0,
            time: rask_model::timestamp::now_millis(),
            api: api.to_owned(),
            region: None,
            status,
            name: None,
            skill_id: None,
            user: None,
            valid: (200..300).contains(&status),
            findings: Vec::new(),
            error: None,
            sent: None,
            body,
        }
    }

    /// Sets the findings; any finding makes the entry invalid.
    pub fn findings(mut self, findings: &[Finding]) -> Self {
        self.findings = findings.iter().map(FindingView::from).collect();
        if !findings.is_empty() {
            self.valid = false;
        }
        self
    }

    /// Records the refusal; the entry is invalid.
    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self.valid = false;
        self
    }
}

/// The bounded log.
#[derive(Debug, Default)]
pub struct EventLog {
    entries: VecDeque<Entry>,
    next_seq: u64,
}

impl EventLog {
    /// Appends an entry and returns its sequence number.
    pub fn push(&mut self, mut entry: Entry) -> u64 {
        self.next_seq += 1;
        entry.seq = self.next_seq;
        if self.entries.len() == CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
        self.next_seq
    }

    /// Entries after `since`, optionally only of one API, oldest first.
    pub fn since(&self, since: u64, api: Option<&str>) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.seq > since && api.is_none_or(|a| e.api == a))
            .cloned()
            .collect()
    }

    /// The sequence number of the newest entry (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.next_seq
    }

    /// The newest `n` entries, newest first.
    pub fn latest(&self, n: usize) -> Vec<Entry> {
        self.entries.iter().rev().take(n).cloned().collect()
    }
}
