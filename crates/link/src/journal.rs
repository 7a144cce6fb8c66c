//! The linking log: each step of a linking attempt, written to the store (for `rask link log`)
//! and to the process log. Nothing secret is ever written: codes, tokens, passwords and the
//! state are left out by the callers, and this module takes only descriptions.

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
    if s.ok {
        tracing::info!(step = s.step, client = ?s.client_id, user = ?s.user, remote = ?s.remote, "linking: {}", s.detail);
    } else {
        tracing::warn!(step = s.step, client = ?s.client_id, user = ?s.user, remote = ?s.remote, "linking failed: {}", s.detail);
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
