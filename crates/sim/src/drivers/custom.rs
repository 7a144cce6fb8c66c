//! Custom-skill requests as Alexa sends them, with sessions: `LaunchRequest`, `IntentRequest`,
//! `SessionEndedRequest`; and `Messaging.MessageReceived` deliveries for the Skill Messaging API.
//!
//! Every request carries `context.System.apiEndpoint` (the sim, in the user's region) and a
//! fresh `apiAccessToken` that the sim's Endpoint Enumeration accepts.

use std::time::Instant;

use rask_model::check::{self, Finding, MessageKind};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{DriverError, Exchange, link, post_bytes, record};
use crate::Sim;
use crate::world::SessionState;

/// A request to send.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestSpec {
    /// `LaunchRequest`, `IntentRequest` or `SessionEndedRequest`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For IntentRequest: the intent's name.
    #[serde(default)]
    pub intent: Option<String>,
    /// For IntentRequest: slot values by slot name.
    #[serde(default)]
    pub slots: Map<String, Value>,
    /// For SessionEndedRequest: USER_INITIATED (default), ERROR or EXCEEDED_MAX_REPROMPTS.
    #[serde(default)]
    pub reason: Option<String>,
    /// Locale (default en-US).
    #[serde(default)]
    pub locale: Option<String>,
    /// Send what an attacker or a broken proxy would instead of what Alexa sends: the skill
    /// must refuse it with HTTP 400 (the sim's verdict says whether it did).
    #[serde(default)]
    pub forge: Option<Forgery>,
    /// For the gadget requests the sim sends itself (`CustomInterfaceController.*`): the
    /// request's fields beyond its type.
    #[serde(skip)]
    pub gadget: Option<Value>,
}

impl RequestSpec {
    /// A gadget request (`CustomInterfaceController.EventsReceived` or `.Expired`) in the
    /// session, with these fields.
    pub fn gadget(kind: &str, fields: Value) -> Self {
        RequestSpec {
            kind: kind.to_owned(),
            intent: None,
            slots: Map::new(),
            reason: None,
            locale: None,
            forge: None,
            gadget: Some(fields),
        }
    }
}

/// A request Alexa would never send, to show a skill refusing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Forgery {
    /// No signature headers at all.
    Unsigned,
    /// A signature over other bytes.
    BadSignature,
    /// The body changed after it was signed.
    ChangedBody,
    /// Signed, but sent ten minutes after its timestamp.
    OldTimestamp,
    /// Signed, for another skill's id.
    OtherSkill,
    /// Signed, with a certificate URL that breaks Amazon's rules (port 563).
    BadCertUrl,
}

impl Forgery {
    /// Every forgery, for tests that try them all.
    pub const ALL: [Forgery; 6] = [
        Forgery::Unsigned,
        Forgery::BadSignature,
        Forgery::ChangedBody,
        Forgery::OldTimestamp,
        Forgery::OtherSkill,
        Forgery::BadCertUrl,
    ];
}

fn system(
    sim: &Sim,
    skill_id: &str,
    user: &str,
    access_token: Option<&str>,
) -> Result<(Value, Value), DriverError> {
    let mut w = sim.world();
    let u = w.user(user)?.clone();
    let e = w.enablement(skill_id, user)?.clone();
    let api_token = w.mint_api_token(skill_id, user, Instant::now());
    drop(w);
    let mut user_obj = json!({ "userId": e.user_id });
    if let Some(t) = access_token {
        user_obj["accessToken"] = json!(t);
    }
    let system = json!({
        "application": {"applicationId": skill_id},
        "user": user_obj,
        "device": {"deviceId": u.device_id, "supportedInterfaces": {"CustomInterfaceController": {}}},
        "apiEndpoint": sim.region_url(u.region),
        "apiAccessToken": api_token,
    });
    Ok((system, user_obj))
}

fn linked_token(sim: &Sim, skill_id: &str, user: &str) -> bool {
    sim.world()
        .enablement(skill_id, user)
        .is_ok_and(|e| e.link.is_some())
}

fn request_base(kind: &str, locale: &str) -> Value {
    json!({
        "type": kind,
        "requestId": format!("amzn1.echo-api.request.{}", uuid::Uuid::new_v4()),
        "timestamp": rask_model::timestamp::now_seconds(),
        "locale": locale,
    })
}

fn invalid(why: String) -> DriverError {
    DriverError::World(crate::world::WorldError::Invalid(why))
}

/// Sends a request in the user's session with the skill, opening one where needed.
pub async fn send(
    sim: &Sim,
    skill_id: &str,
    user: &str,
    spec: &RequestSpec,
) -> Result<Exchange, DriverError> {
    {
        let mut w = sim.world();
        w.skill(skill_id)?;
        w.enable(skill_id, user)?;
    }
    let token = if linked_token(sim, skill_id, user) {
        Some(link::fresh_access_token(sim, skill_id, user).await?)
    } else {
        None
    };
    let (system, user_obj) = system(sim, skill_id, user, token.as_deref())?;
    let locale = spec.locale.clone().unwrap_or_else(|| "en-US".into());
    let mut request = request_base(&spec.kind, &locale);
    match spec.kind.as_str() {
        "LaunchRequest" => {}
        "IntentRequest" => {
            let name = spec.intent.clone().ok_or_else(|| {
                DriverError::World(crate::world::WorldError::Invalid(
                    "an IntentRequest needs an intent".into(),
                ))
            })?;
            let slots: Map<String, Value> = spec
                .slots
                .iter()
                .map(|(k, v)| {
                    let value = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                    // A slot the user did not fill has no value at all, as Alexa sends it.
                    let slot = if value.is_empty() {
                        json!({"name": k, "confirmationStatus": "NONE"})
                    } else {
                        json!({"name": k, "value": value, "confirmationStatus": "NONE"})
                    };
                    (k.clone(), slot)
                })
                .collect();
            request["intent"] = json!({"name": name, "confirmationStatus": "NONE", "slots": slots});
        }
        "SessionEndedRequest" => {
            let reason = spec.reason.clone().unwrap_or_else(|| "USER_INITIATED".into());
            if !["USER_INITIATED", "ERROR", "EXCEEDED_MAX_REPROMPTS"].contains(&reason.as_str()) {
                return Err(invalid(format!(
                    "reason {reason:?}: Alexa ends a session for USER_INITIATED, ERROR or EXCEEDED_MAX_REPROMPTS"
                )));
            }
            let open = sim
                .world()
                .enablement(skill_id, user)
                .is_ok_and(|e| e.session.is_some());
            if !open {
                return Err(invalid(
                    "there is no open session to end: Alexa sends SessionEndedRequest only for one (send a LaunchRequest first)".into(),
                ));
            }
            if reason == "ERROR" {
                // Alexa says what went wrong with the skill's last response.
                request["error"] =
                    json!({"type": "INVALID_RESPONSE", "message": "The skill's response could not be used."});
            }
            request["reason"] = json!(reason);
        }
        "CustomInterfaceController.EventsReceived" | "CustomInterfaceController.Expired"
            if spec.gadget.is_some() =>
        {
            let open = sim
                .world()
                .enablement(skill_id, user)
                .is_ok_and(|e| e.session.is_some());
            if !open {
                return Err(invalid("gadget events come only in an open session".into()));
            }
            if let Some(Value::Object(fields)) = &spec.gadget {
                for (k, v) in fields {
                    request[k.as_str()] = v.clone();
                }
            }
        }
        other => {
            return Err(DriverError::World(crate::world::WorldError::Invalid(format!(
                "the sim sends LaunchRequest, IntentRequest or SessionEndedRequest, not {other} (gadget events: POST /sim/users/{{user}}/gadgets/{{endpointId}}/events)"
            ))));
        }
    }
    let session = {
        let mut w = sim.world();
        let e = w.enablement_mut(skill_id, user)?;
        if spec.kind == "LaunchRequest" || e.session.is_none() {
            e.session = Some(SessionState {
                session_id: format!("amzn1.echo-api.session.{}", uuid::Uuid::new_v4()),
                attributes: Map::new(),
                new: true,
                dialog: None,
                event_handler: None,
            });
        }
        let s = e.session.clone().expect("just ensured");
        if let Some(intent) = spec.intent.as_deref().filter(|_| spec.kind == "IntentRequest") {
            let state = if s.dialog.as_deref() == Some(intent) {
                "IN_PROGRESS"
            } else {
                "STARTED"
            };
            request["dialogState"] = json!(state);
        }
        json!({
            "new": s.new, "sessionId": s.session_id,
            "application": {"applicationId": skill_id},
            "attributes": s.attributes, "user": user_obj,
        })
    };
    let mut sent =
        json!({"version": "1.0", "session": session, "context": {"System": system}, "request": request});
    match spec.forge {
        Some(Forgery::OldTimestamp) => {
            let old = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
            sent["request"]["timestamp"] = json!(rask_model::timestamp::seconds(old));
        }
        Some(Forgery::OtherSkill) => {
            let other = json!({"applicationId": "amzn1.ask.skill.00000000-0000-0000-0000-000000000000"});
            sent["context"]["System"]["application"] = other.clone();
            sent["session"]["application"] = other;
        }
        _ => {}
    }
    let ex = exchange(sim, skill_id, user, sent, "skill.custom", &spec.kind, spec.forge).await?;
    if spec.forge.is_some() {
        // Alexa never sent it: the session is as it was.
        return Ok(ex);
    }

    if ex.status == 200 && spec.kind != "SessionEndedRequest" && super::gadgets::refused(&ex.findings) {
        // Alexa does not act on such an answer: it ends the session and tells the skill why.
        let ended = RequestSpec {
            kind: "SessionEndedRequest".into(),
            intent: None,
            slots: Map::new(),
            reason: Some("ERROR".into()),
            locale: None,
            forge: None,
            gadget: None,
        };
        Box::pin(send(sim, skill_id, user, &ended)).await?;
        return Ok(ex);
    }
    let mut w = sim.world();
    if let Ok(e) = w.enablement_mut(skill_id, user) {
        let ends = spec.kind == "SessionEndedRequest"
            || ex.received["response"]["shouldEndSession"] == json!(true)
            || ex.status != 200;
        if ends {
            e.session = None;
        } else if let Some(s) = e.session.as_mut() {
            s.new = false;
            if let Some(a) = ex.received["sessionAttributes"].as_object() {
                s.attributes = a.clone();
            }
            s.dialog = dialog_continued(spec, &ex.received);
        }
    }
    drop(w);
    // After the session has the answer's attributes: a handler's Expired carries them.
    if ex.status == 200 {
        super::gadgets::act(sim, skill_id, user, &ex.received);
    }
    Ok(ex)
}

/// The intent whose dialog `answer` continues: the one a `Dialog.Delegate`, `ElicitSlot`,
/// `ConfirmSlot` or `ConfirmIntent` names in `updatedIntent`, else the request's own.
fn dialog_continued(spec: &RequestSpec, answer: &Value) -> Option<String> {
    const DIALOG: [&str; 4] = [
        "Dialog.Delegate",
        "Dialog.ElicitSlot",
        "Dialog.ConfirmSlot",
        "Dialog.ConfirmIntent",
    ];
    let directive = answer["response"]["directives"]
        .as_array()?
        .iter()
        .find(|d| d["type"].as_str().is_some_and(|t| DIALOG.contains(&t)))?;
    directive["updatedIntent"]["name"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| spec.intent.clone().filter(|_| spec.kind == "IntentRequest"))
}

/// Delivers one Skill Messaging message as `Messaging.MessageReceived`: no session, the linked
/// token if any. True when the skill accepted it (HTTP 200).
pub async fn deliver_message(sim: &Sim, skill_id: &str, user: &str, data: &Map<String, Value>) -> bool {
    let token = if linked_token(sim, skill_id, user) {
        link::fresh_access_token(sim, skill_id, user).await.ok()
    } else {
        None
    };
    let Ok((system, _)) = system(sim, skill_id, user, token.as_deref()) else {
        return false;
    };
    let mut request = request_base("Messaging.MessageReceived", "en-US");
    request["message"] = Value::Object(data.clone());
    let sent = json!({"version": "1.0", "context": {"System": system}, "request": request});
    match exchange(
        sim,
        skill_id,
        user,
        sent,
        "skill.messaging",
        "Messaging.MessageReceived",
        None,
    )
    .await
    {
        Ok(ex) => ex.status == 200,
        Err(_) => false,
    }
}

/// Sends a skill event (`AlexaSkillEvent.SkillDisabled`, `.ProactiveSubscriptionChanged`)
/// with `body` to the skill, out of session and signed; whether the skill took it (200).
pub async fn deliver_skill_event(sim: &Sim, skill_id: &str, user: &str, kind: &str, body: Value) -> bool {
    let Ok((system, _)) = system(sim, skill_id, user, None) else {
        return false;
    };
    let mut request = request_base(kind, "en-US");
    request["body"] = body;
    let sent = json!({"version": "1.0", "context": {"System": system}, "request": request});
    match exchange(sim, skill_id, user, sent, "skill.events", kind, None).await {
        Ok(ex) => ex.status == 200,
        Err(_) => false,
    }
}

async fn exchange(
    sim: &Sim,
    skill_id: &str,
    user: &str,
    sent: Value,
    api: &str,
    name: &str,
    forge: Option<Forgery>,
) -> Result<Exchange, DriverError> {
    let url = sim
        .world()
        .skill(skill_id)?
        .custom_endpoint
        .clone()
        .ok_or_else(|| DriverError::NoEndpoint(skill_id.to_owned(), "custom"))?;
    let mut body = serde_json::to_vec(&sent).unwrap_or_default();
    let signer = sim.signer().map_err(|e| DriverError::Signing(e.to_string()))?;
    let mut cert_url = signer.cert_url();
    let mut signature = signer.sign(&body);
    match forge {
        Some(Forgery::BadSignature) => signature = signer.sign(b"not this body"),
        Some(Forgery::ChangedBody) => {
            // Still the same JSON to a parser: only the bytes differ from what was signed.
            body.extend_from_slice(b"\n");
        }
        Some(Forgery::BadCertUrl) => {
            cert_url = cert_url.replace("s3.amazonaws.com/", "s3.amazonaws.com:563/");
        }
        _ => {}
    }
    let headers = match forge {
        Some(Forgery::Unsigned) => Vec::new(),
        _ => vec![("SignatureCertChainUrl", cert_url), ("Signature-256", signature)],
    };
    let (status, received, error) = post_bytes(sim.client(), &url, body, &headers).await;
    let findings = match forge {
        Some(_) if status == 400 => Vec::new(),
        Some(f) => vec![Finding::new(
            "",
            "status",
            format!(
                "the skill answered HTTP {status} to a forged request ({}); it must refuse it with 400 and run no handler",
                serde_json::to_value(f)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        )],
        None if error.is_some() => Vec::new(),
        None => {
            let mut f = judge(status, &received);
            f.extend(super::gadgets::unpaired(sim, user, &received));
            f
        }
    };
    Ok(record(
        sim,
        (api, name.to_owned()),
        (skill_id, user),
        sent,
        (status, received, error),
        findings,
        forge.is_some(),
    ))
}

fn judge(status: u16, received: &Value) -> Vec<Finding> {
    let mut f = Vec::new();
    if status != 200 {
        f.push(Finding::new(
            "",
            "status",
            format!("the skill answered HTTP {status}; Alexa needs 200 with a response"),
        ));
    }
    let report = check::check_value(received);
    if report.kind != Some(MessageKind::CustomSkillResponse) {
        f.push(Finding::new(
            "",
            "kind",
            format!(
                "the answer is a {}, not a custom-skill response",
                report.describe()
            ),
        ));
        return f;
    }
    f.extend(report.findings);
    f
}
