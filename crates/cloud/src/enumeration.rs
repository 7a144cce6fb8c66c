//! The Endpoint Enumeration client: which gadgets are paired with the Echo a custom-skill
//! request came from. `GET {context.System.apiEndpoint}/v1/endpoints` with the request's
//! `apiAccessToken`; Amazon answers `{"endpoints": [{endpointId, friendlyName, capabilities}]}`.
//!
//! The call happens while Alexa waits for the skill's answer (8 s in all), so it has a deadline
//! of its own, well inside that, and a cap on what it reads. Only capabilities whose interface
//! starts with `Custom.` can be sent directives; [`GadgetEndpoint::custom_interfaces`] lists
//! just those.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long the call may take: Alexa waits 8 s for the whole answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The most read of Amazon's answer (a user has a handful of gadgets).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The most gadgets taken from one answer.
pub const MAX_ENDPOINTS: usize = 64;

/// One capability of an endpoint, as Amazon lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    /// `AlexaInterface`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Such as `Custom.Robot`.
    #[serde(default)]
    pub interface: String,
    /// Such as `1.0`.
    #[serde(default)]
    pub version: String,
}

/// A gadget paired with the user's Echo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GadgetEndpoint {
    /// `amzn1.ask.endpoint.…`: where a directive goes.
    pub endpoint_id: String,
    /// The name its owner gave it.
    #[serde(default)]
    pub friendly_name: String,
    /// What it supports.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
}

impl GadgetEndpoint {
    /// The custom interfaces (`Custom.…`) it supports: the only ones a skill can direct.
    pub fn custom_interfaces(&self) -> impl Iterator<Item = &str> {
        self.capabilities
            .iter()
            .map(|c| c.interface.as_str())
            .filter(|i| i.starts_with("Custom."))
    }

    /// Whether it supports `interface` (a `Custom.` one).
    pub fn supports(&self, interface: &str) -> bool {
        self.custom_interfaces().any(|i| i == interface)
    }
}

/// Why the gadgets could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnumerationError {
    /// 400: the call was malformed.
    #[error("Endpoint Enumeration refused the request (400 {code}): {message}")]
    BadRequest {
        /// Amazon's code.
        code: String,
        /// Amazon's message.
        message: String,
    },
    /// 401: the `apiAccessToken` is not valid (expired, or another request's).
    #[error("Endpoint Enumeration did not accept the apiAccessToken (401 {code}): {message}")]
    Unauthorized {
        /// Amazon's code.
        code: String,
        /// Amazon's message.
        message: String,
    },
    /// 403: the token may not list this user's gadgets (another region's endpoint, say).
    #[error("Endpoint Enumeration forbade the call (403 {code}): {message}")]
    Forbidden {
        /// Amazon's code.
        code: String,
        /// Amazon's message.
        message: String,
    },
    /// 5xx, or a status Amazon does not document here: Amazon's side failed.
    #[error("Endpoint Enumeration failed ({status} {code}): {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// Amazon's code.
        code: String,
        /// Amazon's message.
        message: String,
    },
    /// Not reached, or no answer within [`TIMEOUT`].
    #[error("Endpoint Enumeration could not be reached: {0}")]
    Transport(String),
    /// An answer that is not Amazon's list.
    #[error("Endpoint Enumeration's answer could not be read: {0}")]
    Unreadable(String),
}

#[derive(Deserialize)]
struct Listing {
    #[serde(default)]
    endpoints: Vec<GadgetEndpoint>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

fn cut(s: &str) -> String {
    rask_model::limits::cut_to(s.trim(), 200).into_owned()
}

/// Lists the gadgets of the Echo a request came from: `api_endpoint` and `api_access_token`
/// are that request's `context.System` values. `http` should have no timeout shorter than
/// [`TIMEOUT`]; the call has that deadline whatever the client's.
pub async fn get_endpoints(
    http: &reqwest::Client,
    api_endpoint: &str,
    api_access_token: &str,
) -> Result<Vec<GadgetEndpoint>, EnumerationError> {
    let url = format!("{}/v1/endpoints", api_endpoint.trim_end_matches('/'));
    tokio::time::timeout(TIMEOUT, call(http, &url, api_access_token))
        .await
        .unwrap_or_else(|_| {
            Err(EnumerationError::Transport(format!(
                "no answer within {} ms",
                TIMEOUT.as_millis()
            )))
        })
}

async fn call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<Vec<GadgetEndpoint>, EnumerationError> {
    let mut r = http
        .get(url)
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| EnumerationError::Transport(crate::describe(&e.without_url())))?;
    let status = r.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = r
        .chunk()
        .await
        .map_err(|e| EnumerationError::Transport(crate::describe(&e.without_url())))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(EnumerationError::Unreadable(format!(
                "the answer is over {MAX_ANSWER_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if status == 200 {
        let listing: Listing = serde_json::from_slice(&body).map_err(|e| {
            EnumerationError::Unreadable(format!("not a list of endpoints ({:?} error)", e.classify()))
        })?;
        let mut endpoints = listing.endpoints;
        endpoints.truncate(MAX_ENDPOINTS);
        return Ok(endpoints);
    }
    Err(read_error(status, &body))
}

/// The error for a refused call, with Amazon's `code` and `message` when the body has them
/// (`code` is a string in Amazon's model; a number is taken too).
pub fn read_error(status: u16, body: &[u8]) -> EnumerationError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|b| b.code.as_ref())
        .map(|c| match c {
            serde_json::Value::String(s) => cut(s),
            other => cut(&other.to_string()),
        })
        .unwrap_or_else(|| "(no code)".into());
    let message = parsed
        .and_then(|b| b.message)
        .map(|m| cut(&m))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            match text.lines().map(str::trim).find(|l| !l.is_empty()) {
                Some(first) => format!("not Amazon's error body; its first line: {}", cut(first)),
                None => "(no body)".into(),
            }
        });
    match status {
        400 => EnumerationError::BadRequest { code, message },
        401 => EnumerationError::Unauthorized { code, message },
        403 => EnumerationError::Forbidden { code, message },
        status => EnumerationError::Unavailable {
            status,
            code,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_amazons_code_and_message_whatever_the_code_is() {
        assert_eq!(
            read_error(401, br#"{"code": "UNAUTHORIZED", "message": "expired"}"#),
            EnumerationError::Unauthorized {
                code: "UNAUTHORIZED".into(),
                message: "expired".into()
            }
        );
        assert!(matches!(
            read_error(403, br#"{"code": 403, "message": "m"}"#),
            EnumerationError::Forbidden { code, .. } if code == "403"
        ));
        assert!(matches!(
            read_error(503, b"<html>\n<h1>Service Unavailable</h1>"),
            EnumerationError::Unavailable { status: 503, message, .. }
                if message.contains("first line: <html>")
        ));
        let long = format!(r#"{{"code": "X", "message": "{}"}}"#, "m".repeat(5000));
        let EnumerationError::BadRequest { message, .. } = read_error(400, long.as_bytes()) else {
            panic!("400 is BadRequest")
        };
        assert!(message.chars().count() < 300, "cut: {}", message.len());
    }

    #[test]
    fn only_custom_interfaces_can_be_directed() {
        let e: GadgetEndpoint = serde_json::from_value(serde_json::json!({
            "endpointId": "amzn1.ask.endpoint.1", "friendlyName": "Robot",
            "capabilities": [
                {"type": "AlexaInterface", "interface": "Custom.Robot", "version": "1.0"},
                {"type": "AlexaInterface", "interface": "Alexa.Gadget.StateListener", "version": "1.0"}
            ]
        }))
        .unwrap();
        assert_eq!(e.custom_interfaces().collect::<Vec<_>>(), ["Custom.Robot"]);
        assert!(e.supports("Custom.Robot"));
        assert!(!e.supports("Alexa.Gadget.StateListener"));
    }
}
