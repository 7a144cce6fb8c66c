//! The Alexa Event Gateway client. Errors are decided by Amazon's `payload.code`, because
//! Amazon has been seen to send one code with different HTTP statuses; the status decides only
//! when the body has no code, and never for a 403: a 403 without Amazon's code is somebody
//! else's page (a proxy, a firewall, a CDN) and says nothing about the user's grant.

use rask_model::smarthome::EventMessage;
use serde::Deserialize;

use crate::region::{Endpoints, Region};

/// Amazon's gateway error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayCode {
    /// 400: malformed; do not retry.
    InvalidRequest,
    /// 401: refresh the token once and retry.
    InvalidAccessToken,
    /// 403: the user disabled the skill (or this is the wrong region): stop sending.
    SkillNeverEnabled,
    /// 403: the skill lacks the "Send Alexa Events" permission: a console setting to fix.
    InsufficientPermission,
    /// 404: the account is gone.
    AccountNotFound,
    /// 404: the token belongs to another skill stage.
    SkillNotFound,
    /// 413: too large.
    RequestEntityTooLarge,
    /// 429: retry later.
    Throttling,
    /// 500: retry later.
    InternalService,
    /// 503: retry later.
    ServiceUnavailable,
    /// A code this version does not know.
    Other(String),
    /// A 403 without a code rask knows: not Amazon's answer, or not one about the grant.
    /// Passing: retried, never a revocation.
    ForbiddenWithoutCode,
}

impl GatewayCode {
    /// Reads Amazon's code; the older `SKILL_DISABLED_EXCEPTION` means the same as
    /// `SKILL_NEVER_ENABLED_EXCEPTION`.
    pub fn parse(code: &str) -> Self {
        match code {
            "INVALID_REQUEST_EXCEPTION" => Self::InvalidRequest,
            "INVALID_ACCESS_TOKEN_EXCEPTION" => Self::InvalidAccessToken,
            "SKILL_NEVER_ENABLED_EXCEPTION" | "SKILL_DISABLED_EXCEPTION" => Self::SkillNeverEnabled,
            "INSUFFICIENT_PERMISSION_EXCEPTION" => Self::InsufficientPermission,
            "ACCOUNT_NOT_FOUND_EXCEPTION" => Self::AccountNotFound,
            "SKILL_NOT_FOUND_EXCEPTION" => Self::SkillNotFound,
            "REQUEST_ENTITY_TOO_LARGE_EXCEPTION" => Self::RequestEntityTooLarge,
            "THROTTLING_EXCEPTION" => Self::Throttling,
            "INTERNAL_SERVICE_EXCEPTION" => Self::InternalService,
            "SERVICE_UNAVAILABLE_EXCEPTION" => Self::ServiceUnavailable,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code a status implies when the body names none.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => Self::InvalidRequest,
            401 => Self::InvalidAccessToken,
            403 => Self::ForbiddenWithoutCode,
            404 => Self::AccountNotFound,
            413 => Self::RequestEntityTooLarge,
            429 => Self::Throttling,
            503 => Self::ServiceUnavailable,
            s if s >= 500 => Self::InternalService,
            s => Self::Other(format!("HTTP {s}")),
        }
    }
}

/// Why the gateway did not accept an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway answered with an error.
    #[error("the Event Gateway answered {status} {code:?}: {description}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Amazon's code.
        code: GatewayCode,
        /// Amazon's description.
        description: String,
    },
    /// The gateway could not be reached or did not answer in time.
    #[error("the Event Gateway could not be reached: {0}")]
    Transport(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    payload: ErrorPayload,
}

#[derive(Deserialize)]
struct ErrorPayload {
    code: String,
    #[serde(default)]
    description: String,
}

/// The gateway client.
#[derive(Debug, Clone)]
pub struct EventGateway {
    http: reqwest::Client,
    endpoints: Endpoints,
}

impl EventGateway {
    /// A client for the gateways at `endpoints`.
    pub fn new(http: reqwest::Client, endpoints: Endpoints) -> Self {
        EventGateway { http, endpoints }
    }

    /// Posts an event with the user's LWA token to their region's gateway.
    pub async fn send(
        &self,
        region: Region,
        lwa_token: &str,
        event: &EventMessage,
    ) -> Result<(), GatewayError> {
        let body = serde_json::to_vec(event)
            .map_err(|e| GatewayError::Transport(format!("the event does not serialize: {e}")))?;
        self.send_bytes(region, lwa_token, body).await
    }

    /// Posts an already serialized event.
    pub async fn send_bytes(
        &self,
        region: Region,
        lwa_token: &str,
        body: Vec<u8>,
    ) -> Result<(), GatewayError> {
        let r = self
            .http
            .post(self.endpoints.gateway(region))
            .bearer_auth(lwa_token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| GatewayError::Transport(crate::describe(&e.without_url())))?;
        let status = r.status().as_u16();
        if status == 202 || status == 200 {
            return Ok(());
        }
        let bytes = r.bytes().await.unwrap_or_default();
        let (code, description) = read_error(status, &bytes);
        Err(GatewayError::Rejected {
            status,
            code,
            description,
        })
    }
}

/// The longest description kept from an error body.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// Amazon's code and description from an error answer; without Amazon's body, the code the
/// status implies and the body's first line.
pub fn read_error(status: u16, body: &[u8]) -> (GatewayCode, String) {
    let cut = |s: &str| -> String {
        let s = s.trim();
        match s.char_indices().nth(MAX_DESCRIPTION_CHARS) {
            Some((i, _)) => format!("{}... (cut)", &s[..i]),
            None => s.to_owned(),
        }
    };
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => {
            let code = match GatewayCode::parse(&b.payload.code) {
                GatewayCode::Other(_) if status == 403 => GatewayCode::ForbiddenWithoutCode,
                c => c,
            };
            (code, cut(&b.payload.description))
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
            let description = if first.is_empty() {
                "(no body)".to_owned()
            } else {
                format!("not Amazon's error body; its first line: {}", cut(first))
            };
            (GatewayCode::from_status(status), description)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_without_amazons_code_says_nothing_about_the_grant() {
        let (code, why) = read_error(
            403,
            b"\n<html><head><title>403 Forbidden</title></head>\n<body>cdn</body></html>",
        );
        assert_eq!(code, GatewayCode::ForbiddenWithoutCode);
        assert!(why.contains("<html><head><title>403 Forbidden"), "{why}");
        assert!(!why.contains("cdn"), "the first line only: {why}");
        let (code, _) = read_error(
            403,
            br#"{"payload": {"code": "SOMETHING_NEW", "description": "d"}}"#,
        );
        assert_eq!(code, GatewayCode::ForbiddenWithoutCode);
        let (code, _) = read_error(
            403,
            br#"{"payload": {"code": "SKILL_NEVER_ENABLED_EXCEPTION", "description": "d"}}"#,
        );
        assert_eq!(code, GatewayCode::SkillNeverEnabled);
        let long = "x".repeat(5000);
        let (_, why) = read_error(500, long.as_bytes());
        assert!(why.len() < 300, "bounded: {} bytes", why.len());
    }

    #[test]
    fn codes_win_over_statuses() {
        assert_eq!(
            GatewayCode::parse("SKILL_DISABLED_EXCEPTION"),
            GatewayCode::SkillNeverEnabled
        );
        assert_eq!(
            GatewayCode::parse("NEW_THING"),
            GatewayCode::Other("NEW_THING".into())
        );
        assert_eq!(GatewayCode::from_status(502), GatewayCode::InternalService);
    }
}
