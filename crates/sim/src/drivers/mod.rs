//! Alexa's own behaviour towards a skill: the drivers.
//!
//! - [`link`]: account linking as the Alexa app does it, through the skill's own pages
//!   ([`form`] reads and fills them);
//! - [`smarthome`]: smart-home directives (Discover, AcceptGrant, ReportState, controllers);
//! - [`custom`]: custom-skill requests with sessions, and Skill Messaging deliveries.
//!
//! Every answer a skill gives is checked and logged with its verdict.

pub mod custom;
pub mod form;
pub mod gadgets;
pub mod link;
pub mod smarthome;

use rask_model::check::Finding;
use serde::Serialize;
use serde_json::Value;

use crate::log::FindingView;
use crate::world::WorldError;

/// Why a driver could not even try.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The skill or user does not exist, or the request is wrong.
    #[error(transparent)]
    World(#[from] WorldError),
    /// The skill has no endpoint of the needed kind.
    #[error("skill {0} has no {1} endpoint registered")]
    NoEndpoint(String, &'static str),
    /// The user has not linked an account, or the link broke.
    #[error("user {user:?} has no working account link with skill {skill_id}: {reason}")]
    NotLinked {
        /// The skill.
        skill_id: String,
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// The link's access token expired and the token URI could not refresh it this time
    /// (unreachable, too slow, a 5xx): the link stays, as Alexa keeps it, and the next
    /// request tries again.
    #[error("user {user:?}'s access token for skill {skill_id} could not be refreshed now: {reason}")]
    RefreshFailed {
        /// The skill.
        skill_id: String,
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// The sim could not make its signing identity.
    #[error("{0}")]
    Signing(String),
}

/// The error of an exchange the skill did not answer within the sim's skill timeout.
pub const TIMED_OUT: &str = "the skill did not answer in time (Alexa gives up: SKILL_RESPONSE_TIMEOUT)";

/// One request the sim sent a skill and the answer, with the verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exchange {
    /// The log entry's sequence number.
    pub seq: u64,
    /// The skill's HTTP status; 0 when it did not answer.
    pub status: u16,
    /// What the sim sent.
    pub sent: Value,
    /// What the skill answered (JSON, or the text).
    pub received: Value,
    /// Whether the answer was what Alexa expects.
    pub valid: bool,
    /// Every problem with it.
    pub findings: Vec<FindingView>,
    /// Why there is no usable answer, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Posts `sent` as JSON to `url` and reads the answer: (status, body as JSON or text,
/// transport error).
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    sent: &Value,
) -> (u16, Value, Option<String>) {
    let body = serde_json::to_vec(sent).unwrap_or_default();
    post_bytes(client, url, body, &[]).await
}

/// Posts exactly `body` (what a signature covers) with `headers`.
pub(crate) async fn post_bytes(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> (u16, Value, Option<String>) {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Err(e) if e.is_timeout() => (0, Value::Null, Some(TIMED_OUT.into())),
        Err(e) => (
            0,
            Value::Null,
            Some(format!("the skill could not be reached: {e}")),
        ),
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(b) => (status, crate::http::body_for_log(&b), None),
                Err(e) => (
                    status,
                    Value::Null,
                    Some(format!("the skill's answer could not be read: {e}")),
                ),
            }
        }
    }
}

fn views(findings: &[Finding]) -> Vec<FindingView> {
    findings.iter().map(FindingView::from).collect()
}

/// Logs one request to a skill and its answer with the verdict, and returns it as an
/// [`Exchange`]. `answer` is what [`post_json`] returned. `forged`: the request was one Alexa
/// would never send, so the skill is right to refuse it (with no findings, the verdict is
/// valid whatever the status).
pub(crate) fn record(
    sim: &crate::Sim,
    (api, name): (&str, String),
    (skill_id, user): (&str, &str),
    sent: Value,
    answer: (u16, Value, Option<String>),
    findings: Vec<Finding>,
    forged: bool,
) -> Exchange {
    let (status, received, error) = answer;
    let mut entry = crate::log::Entry::new(api, status, received.clone()).findings(&findings);
    if forged {
        entry.valid = findings.is_empty();
    }
    entry.name = Some(name);
    entry.skill_id = Some(skill_id.to_owned());
    entry.user = Some(user.to_owned());
    entry.sent = Some(sent.clone());
    if let Some(e) = &error {
        entry = entry.error(e.clone());
    }
    let valid = entry.valid;
    let seq = sim.world().log.push(entry);
    Exchange {
        seq,
        status,
        sent,
        received,
        valid,
        findings: views(&findings),
        error,
    }
}
