//! Fault injection: make the next calls to one of Amazon's APIs fail or hang, as Amazon's
//! do on a bad day. Each fault is consumed by the calls it answers.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which API a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `POST /auth/o2/token`.
    Lwa,
    /// `POST /v3/events`.
    Gateway,
    /// `POST /v1/skillmessages/users/{userId}`.
    Messaging,
    /// `POST /v1/proactiveEvents...`.
    Proactive,
    /// `GET /v1/endpoints`.
    Endpoints,
}

/// One queued fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// The API.
    pub target: Target,
    /// Answer with this status (401, 403, 429, 500, 503, ...); `None` with `hang_ms` only
    /// delays the normal answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// The error code to put in the body (`payload.code` at the gateway, `error` at LWA);
    /// by default the one Amazon documents for the status.
    #[serde(default)]
    pub code: Option<String>,
    /// Wait this long before answering.
    #[serde(default)]
    pub hang_ms: Option<u64>,
    /// Answer with this body instead of Amazon's error body: what a proxy, firewall or CDN in
    /// front of Amazon answers (an HTML page, say). Needs `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body's `Content-Type` (default `text/html`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// How many calls this answers (default 1).
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// What a call should do, decided by the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// Fail with this status, if any.
    pub status: Option<u16>,
    /// The error code to use.
    pub code: Option<String>,
    /// Wait first.
    pub hang: Option<Duration>,
    /// A body of someone else's (content type, text) instead of Amazon's.
    pub raw: Option<(String, String)>,
}

/// What a call must answer after its fault's hang.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The status.
    pub status: u16,
    /// The error code to use in Amazon's body.
    pub code: Option<String>,
    /// A body of someone else's (content type, text), answered as it is instead of Amazon's.
    pub raw: Option<(String, String)>,
}

impl Injected {
    /// The answer, when the fault carries a body of someone else's: logged as the API's call
    /// `entry`, and given to the caller as it is.
    pub fn raw_response(
        &self,
        sim: &crate::Sim,
        entry: crate::log::Entry,
    ) -> Option<axum::response::Response> {
        use axum::response::IntoResponse;
        let (content_type, body) = self.raw.clone()?;
        let mut entry = entry.error(format!(
            "answered {} with a {content_type} body, not Amazon's (fault injected)",
            self.status
        ));
        entry.status = self.status;
        sim.world().log.push(entry);
        let status = axum::http::StatusCode::from_u16(self.status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        Some((status, [(axum::http::header::CONTENT_TYPE, content_type)], body).into_response())
    }
}

/// Takes the fault queued for the next call to `target`, waits out its hang, and returns
/// what the call must fail with, if anything. Every API handler starts with this.
pub async fn inject(sim: &crate::Sim, target: Target) -> Option<Injected> {
    let injection = sim.world().faults.take(target)?;
    if let Some(h) = injection.hang {
        tokio::time::sleep(h).await;
    }
    injection.status.map(|status| Injected {
        status,
        code: injection.code,
        raw: injection.raw,
    })
}

/// The queues of pending faults per API.
#[derive(Debug, Default)]
pub struct Faults {
    queues: HashMap<Target, VecDeque<Fault>>,
}

impl Faults {
    /// Queues a fault behind any already queued for its API.
    pub fn add(&mut self, fault: Fault) {
        if fault.count > 0 {
            self.queues.entry(fault.target).or_default().push_back(fault);
        }
    }

    /// Takes the fault for the next call to `target`, if one is queued.
    pub fn take(&mut self, target: Target) -> Option<Injection> {
        let queue = self.queues.get_mut(&target)?;
        let front = queue.front_mut()?;
        let injection = Injection {
            status: front.status,
            code: front.code.clone(),
            hang: front.hang_ms.map(Duration::from_millis),
            raw: front.body.clone().map(|b| {
                let ct = front.content_type.clone().unwrap_or_else(|| "text/html".into());
                (ct, b)
            }),
        };
        front.count -= 1;
        if front.count == 0 {
            queue.pop_front();
        }
        Some(injection)
    }

    /// Every pending fault.
    pub fn pending(&self) -> Vec<Fault> {
        self.queues.values().flatten().cloned().collect()
    }

    /// Drops every pending fault.
    pub fn clear(&mut self) {
        self.queues.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order() {
        let mut f = Faults::default();
        f.add(Fault {
            target: Target::Gateway,
            status: Some(500),
            code: None,
            hang_ms: None,
            body: None,
            content_type: None,
            count: 2,
        });
        f.add(Fault {
            target: Target::Gateway,
            status: Some(429),
            code: None,
            hang_ms: Some(5),
            body: None,
            content_type: None,
            count: 1,
        });
        assert_eq!(f.take(Target::Lwa), None);
        assert_eq!(f.take(Target::Gateway).unwrap().status, Some(500));
        assert_eq!(f.take(Target::Gateway).unwrap().status, Some(500));
        let third = f.take(Target::Gateway).unwrap();
        assert_eq!(
            (third.status, third.hang),
            (Some(429), Some(Duration::from_millis(5)))
        );
        assert_eq!(f.take(Target::Gateway), None);
    }
}
