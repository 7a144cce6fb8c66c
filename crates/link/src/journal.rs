//! The linking log: each step of a linking attempt, written to the store (for `rask link log`)
//! and to the process log. Nothing secret is ever written: codes, tokens, passwords and the
//! state are left out by the callers, and this module takes only descriptions. Every field
//! comes, at least in part, from the caller, so each is cut to
//! [`rask_model::limits::MAX_LOGGED_CHARS`] characters (marked as cut) before it is written
//! anywhere: a 1 MB `client_id` costs 200 characters, not 2 MB.

use rask_store::link_log::LogEntry;
use rask_store::{Store, now_ms};

/// One step of a linking attempt.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// `authorize`, `login`, `consent`, `redirect`, `token`, `refresh`, `revoke`, `csrf`.
    pub step: &'static str,
    /// Whether it succeeded.
    pub ok: bool,
    /// The client, when known.
    pub client_id: Option<String>,
    /// The user, when known.
    pub user: Option<String>,
    /// The caller's address.
    pub remote: Option<String>,
    /// What happened.
    pub detail: String,
}

/// Records a step; a failure to record is logged, never fatal to the request.
pub async fn record(store: &Store, s: Step) {
    let bound = |v: Option<String>| v.map(|v| rask_model::limits::logged(&v).into_owned());
    let s = Step {
        step: s.step,
        ok: s.ok,
        client_id: bound(s.client_id),
        user: bound(s.user),
        remote: bound(s.remote),
        detail: rask_model::limits::logged(&s.detail).into_owned(),
    };
    if s.ok {
        tracing::info!(
            step = s.step,
            client = s.client_id.as_deref().unwrap_or("-"),
            user = s.user.as_deref().unwrap_or("-"),
            remote = s.remote.as_deref().unwrap_or("-"),
            "linking: {}",
            s.detail
        );
    } else {
        tracing::warn!(
            step = s.step,
            client = s.client_id.as_deref().unwrap_or("-"),
            user = s.user.as_deref().unwrap_or("-"),
            remote = s.remote.as_deref().unwrap_or("-"),
            "linking failed: {}",
            s.detail
        );
    }
    let entry = LogEntry {
        id: 0,
        at: now_ms(),
        client_id: s.client_id,
        user_name: s.user,
        remote: s.remote,
        step: s.step.to_owned(),
        ok: s.ok,
        detail: s.detail,
    };
    if let Err(e) = store.log_link_step(&entry).await {
        tracing::error!(error = %e, "could not write the linking log");
    }
}
