//! One directive to rask and its answer back. Whatever happens on the way, the Lambda returns
//! an Alexa event: rask's own answer when it is one, otherwise an `ErrorResponse` that says
//! what went wrong (the `message` reaches logs, not the user).

use std::time::{Duration, SystemTime};

use rask_model::forwarder::Signature;
use rask_model::smarthome::{
    DirectiveMessage, ErrorPayload, ErrorType, Event, EventMessage, EventPayload, Header,
};
use serde_json::Value;

use crate::settings::{Settings, SettingsError};

/// Kept back from the Lambda's own deadline, to send the answer in time.
const LAMBDA_MARGIN: Duration = Duration::from_millis(300);

/// Passes directives to one rask server.
pub struct Forwarder {
    settings: Settings,
    http: reqwest::Client,
}

/// What became of one directive, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// rask answered with an Alexa event (with this HTTP status).
    Answered(u16),
    /// rask could not be reached, or did not answer in time: `BRIDGE_UNREACHABLE`.
    Unreachable(String),
    /// rask answered something that is not an Alexa event: `INTERNAL_ERROR`.
    Garbage(String),
}

impl Forwarder {
    /// A forwarder with its HTTP client (rustls, the public roots plus `RASK_CA_CERT`).
    pub fn new(settings: Settings) -> Result<Self, SettingsError> {
        let mut builder = reqwest::Client::builder()
            // A redirect would turn the POST into a GET and carry the signature elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.deadline)
            .pool_idle_timeout(Duration::from_secs(50));
        if let Some(pem) = &settings.extra_root_pem {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| SettingsError {
                variable: "RASK_CA_CERT",
                problem: format!("not a PEM certificate: {e}"),
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(|e| SettingsError {
            variable: "RASK_CA_CERT",
            problem: format!("the HTTP client cannot be built: {e}"),
        })?;
        Ok(Forwarder { settings, http })
    }

    /// How long rask may take: the configured deadline, cut short by the Lambda's own.
    fn budget(&self, lambda_deadline: Option<SystemTime>) -> Duration {
        let left = lambda_deadline
            .and_then(|d| d.duration_since(SystemTime::now()).ok())
            .map(|d| d.saturating_sub(LAMBDA_MARGIN));
        match left {
            Some(left) => self.settings.deadline.min(left).max(Duration::from_millis(50)),
            None => self.settings.deadline,
        }
    }

    /// Sends `directive` to rask, signed with `nonce` (the Lambda request id), and returns the
    /// event to give back to Alexa with what happened.
    pub async fn forward(
        &self,
        directive: &Value,
        nonce: &str,
        lambda_deadline: Option<SystemTime>,
    ) -> (Value, Outcome) {
        let body = serde_json::to_vec(directive).unwrap_or_default();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        let signature = Signature::sign(
            &self.settings.secret,
            &self.settings.aws_region,
            now,
            nonce,
            &body,
        );
        let budget = self.budget(lambda_deadline);
        let mut request = self
            .http
            .post(self.settings.endpoint())
            .timeout(budget)
            .header("content-type", "application/json");
        for (name, value) in signature.headers() {
            request = request.header(name, value);
        }
        let outcome = match request.body(body).send().await {
            Err(e) => Err(Outcome::Unreachable(unreachable_reason(
                &e,
                budget,
                &self.settings,
            ))),
            Ok(response) => {
                let status = response.status().as_u16();
                match read_capped(response).await {
                    Err(e) => Err(Outcome::Unreachable(unreachable_reason(
                        &e,
                        budget,
                        &self.settings,
                    ))),
                    Ok(None) => Err(Outcome::Garbage(format!(
                        "rask answered HTTP {status} with a body over {MAX_ANSWER_BYTES} bytes"
                    ))),
                    Ok(Some(bytes)) => judge(status, &bytes),
                }
            }
        };
        match outcome {
            Ok((answer, status)) => (answer, Outcome::Answered(status)),
            Err(Outcome::Unreachable(why)) => (
                failure(directive, ErrorType::BridgeUnreachable, &why),
                Outcome::Unreachable(why),
            ),
            Err(other) => {
                let why = match &other {
                    Outcome::Garbage(why) | Outcome::Unreachable(why) => why.clone(),
                    Outcome::Answered(s) => format!("HTTP {s}"),
                };
                (failure(directive, ErrorType::InternalError, &why), other)
            }
        }
    }
}

fn unreachable_reason(e: &reqwest::Error, budget: Duration, settings: &Settings) -> String {
    if e.is_timeout() {
        format!(
            "rask at {} did not answer within {} ms",
            settings.rask_url,
            budget.as_millis()
        )
    } else {
        // The error's source chain says why (refused, DNS, certificate) without the body.
        let mut why = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            why = format!("{why}: {s}");
            source = s.source();
        }
        format!("rask at {} could not be reached: {why}", settings.rask_url)
    }
}

/// Largest answer read from rask: Alexa takes at most a few hundred KB (a Discover response of
/// 300 endpoints), and a Lambda has little memory.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The body, or `None` when it is over [`MAX_ANSWER_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// What rask's answer means for Alexa. Only a 2xx Alexa event goes through unchanged: a
/// refusal (401: the forwarder's signature) is the bridge's own fault, not the user's token,
/// and a proxy's 502/503/504 page means rask itself is not there.
fn judge(status: u16, bytes: &[u8]) -> Result<(Value, u16), Outcome> {
    let answer = serde_json::from_slice::<Value>(bytes).ok();
    match answer {
        Some(a) if is_event(&a) && (200..300).contains(&status) => Ok((a, status)),
        Some(a) if is_event(&a) => Err(Outcome::Garbage(format!(
            "rask answered HTTP {status}: {}",
            a["event"]["payload"]["message"]
                .as_str()
                .unwrap_or("(no message)")
        ))),
        _ if matches!(status, 502..=504) => Err(Outcome::Unreachable(format!(
            "a proxy answered HTTP {status} for rask: rask is not running behind it"
        ))),
        Some(_) => Err(Outcome::Garbage(format!(
            "rask answered HTTP {status} with JSON that is not an Alexa event"
        ))),
        None => Err(Outcome::Garbage(format!(
            "rask answered HTTP {status} with a body that is not JSON"
        ))),
    }
}

/// Whether `v` looks like an Alexa event: `event.header` with a namespace and a name.
fn is_event(v: &Value) -> bool {
    let header = &v["event"]["header"];
    header["namespace"].is_string() && header["name"].is_string()
}

/// The `ErrorResponse` the forwarder gives in rask's place. `AcceptGrant` can only fail with
/// `ACCEPT_GRANT_FAILED`; every other directive gets `kind`.
pub fn failure(directive: &Value, kind: ErrorType, message: &str) -> Value {
    let answer = match serde_json::from_value::<DirectiveMessage>(directive.clone()) {
        Ok(m) => {
            let d = m.directive;
            let kind = match (d.header.namespace.as_str(), d.header.name.as_str()) {
                ("Alexa.Authorization", "AcceptGrant") => ErrorType::AcceptGrantFailed,
                _ => kind,
            };
            EventMessage::error(&d, ErrorPayload::new(kind, message))
        }
        Err(_) => EventMessage {
            event: Event {
                header: Header::new("Alexa", "ErrorResponse"),
                endpoint: None,
                payload: EventPayload::ErrorResponse(ErrorPayload::new(kind, message)),
            },
            context: None,
        },
    };
    serde_json::to_value(answer).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_2xx_event_passes_unchanged() {
        let event = br#"{"event": {"header": {"namespace": "Alexa", "name": "Response"}}}"#;
        assert!(judge(200, event).is_ok());
        let refusal = br#"{"event": {"header": {"namespace": "Alexa", "name": "ErrorResponse"},
                           "payload": {"type": "INVALID_AUTHORIZATION_CREDENTIAL", "message": "does not match"}}}"#;
        assert_eq!(
            judge(401, refusal).unwrap_err(),
            Outcome::Garbage("rask answered HTTP 401: does not match".into())
        );
        assert!(matches!(judge(503, b"<html>"), Err(Outcome::Unreachable(_))));
        assert!(matches!(judge(500, b"<html>"), Err(Outcome::Garbage(_))));
        assert!(matches!(judge(200, b"{}"), Err(Outcome::Garbage(_))));
    }

    #[test]
    fn failures_keep_the_correlation_and_accept_grant_fails_as_its_own_type() {
        let turn_on = json!({"directive": {
            "header": {"namespace": "Alexa.PowerController", "name": "TurnOn", "messageId": "m",
                       "correlationToken": "c-1", "payloadVersion": "3"},
            "endpoint": {"scope": {"type": "BearerToken", "token": "t"}, "endpointId": "lamp"},
            "payload": {}}});
        let e = failure(&turn_on, ErrorType::BridgeUnreachable, "down");
        assert_eq!(e["event"]["header"]["name"], "ErrorResponse");
        assert_eq!(e["event"]["header"]["correlationToken"], "c-1");
        assert_eq!(e["event"]["payload"]["type"], "BRIDGE_UNREACHABLE");

        let grant = json!({"directive": {
            "header": {"namespace": "Alexa.Authorization", "name": "AcceptGrant", "messageId": "m", "payloadVersion": "3"},
            "payload": {"grant": {"type": "OAuth2.AuthorizationCode", "code": "c"},
                        "grantee": {"type": "BearerToken", "token": "t"}}}});
        let e = failure(&grant, ErrorType::BridgeUnreachable, "down");
        assert_eq!(e["event"]["header"]["namespace"], "Alexa.Authorization");
        assert_eq!(e["event"]["payload"]["type"], "ACCEPT_GRANT_FAILED");

        let e = failure(&json!({"not": "a directive"}), ErrorType::InternalError, "?");
        assert_eq!(e["event"]["payload"]["type"], "INTERNAL_ERROR");
    }
}
