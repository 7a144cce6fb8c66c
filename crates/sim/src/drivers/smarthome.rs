//! Smart-home directives, sent as Alexa sends them (through the skill's Lambda, here straight
//! to its endpoint), and the answer judged as Alexa would: schema, correlation token, the
//! right event for the directive.

use std::time::Instant;

use rask_model::check::{self, Finding, MessageKind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{DriverError, Exchange, link, post_json, record};
use crate::Sim;
use crate::world::{DiscoveredEndpoint, random_text};

/// A directive to send: which one, to which endpoint, with what payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectiveSpec {
    /// Such as `Alexa.PowerController`.
    pub namespace: String,
    /// Such as `TurnOn`.
    pub name: String,
    /// The target endpoint (not for Discover).
    #[serde(default)]
    pub endpoint_id: Option<String>,
    /// The payload (default `{}`).
    #[serde(default)]
    pub payload: Option<Value>,
    /// The instance, for RangeController, ModeController and ToggleController.
    #[serde(default)]
    pub instance: Option<String>,
}

/// Sends `spec` on behalf of `user`, with their account-linking token.
pub async fn send(
    sim: &Sim,
    skill_id: &str,
    user: &str,
    spec: &DirectiveSpec,
) -> Result<Exchange, DriverError> {
    let token = link::fresh_access_token(sim, skill_id, user).await?;
    let discover = spec.namespace == "Alexa.Discovery" && spec.name == "Discover";
    let mut header = json!({
        "namespace": spec.namespace, "name": spec.name, "payloadVersion": "3",
        "messageId": uuid::Uuid::new_v4().to_string(),
    });
    if let Some(i) = &spec.instance {
        header["instance"] = json!(i);
    }
    if !discover {
        header["correlationToken"] = json!(random_text(48));
    }
    let mut payload = spec.payload.clone().unwrap_or_else(|| json!({}));
    let mut directive = json!({ "header": header });
    if discover {
        payload["scope"] = json!({"type": "BearerToken", "token": token});
    } else {
        let endpoint_id = spec.endpoint_id.clone().ok_or_else(|| {
            DriverError::World(crate::world::WorldError::Invalid(format!(
                "{}.{} needs an endpointId",
                spec.namespace, spec.name
            )))
        })?;
        let cookie = {
            let w = sim.world();
            w.enablement(skill_id, user)?
                .endpoints
                .iter()
                .find(|e| e.endpoint_id == endpoint_id)
                .and_then(|e| e.cookie.clone())
                .unwrap_or_default()
        };
        directive["endpoint"] = json!({
            "scope": {"type": "BearerToken", "token": token},
            "endpointId": endpoint_id, "cookie": cookie,
        });
    }
    directive["payload"] = payload;
    exchange(sim, skill_id, user, json!({ "directive": directive })).await
}

/// Sends `AcceptGrant` with a fresh LWA grant code and the user's account-linking token as the
/// grantee, as Alexa does when a user enables a skill with event permission.
pub async fn accept_grant(sim: &Sim, skill_id: &str, user: &str) -> Result<Exchange, DriverError> {
    let token = link::fresh_access_token(sim, skill_id, user).await?;
    let code = sim.world().mint_grant_code(skill_id, user, Instant::now())?;
    let directive = json!({"directive": {
        "header": {"namespace": "Alexa.Authorization", "name": "AcceptGrant", "payloadVersion": "3",
                   "messageId": uuid::Uuid::new_v4().to_string()},
        "payload": {"grant": {"type": "OAuth2.AuthorizationCode", "code": code},
                    "grantee": {"type": "BearerToken", "token": token}}
    }});
    let mut ex = exchange(sim, skill_id, user, directive).await?;
    // A well-formed refusal is a valid answer, and still a failed grant: say so.
    if ex.error.is_none() && ex.received["event"]["header"]["name"] == "ErrorResponse" {
        let p = &ex.received["event"]["payload"];
        ex.error = Some(format!(
            "the skill refused the grant: {}: {}",
            p["type"].as_str().unwrap_or("?"),
            p["message"].as_str().unwrap_or("")
        ));
    }
    Ok(ex)
}

async fn exchange(sim: &Sim, skill_id: &str, user: &str, sent: Value) -> Result<Exchange, DriverError> {
    let url = sim
        .world()
        .skill(skill_id)?
        .smart_home_endpoint
        .clone()
        .ok_or_else(|| DriverError::NoEndpoint(skill_id.to_owned(), "smart-home"))?;
    let (status, received, error) = post_json(sim.client(), &url, &sent).await;
    let findings = if error.is_some() {
        Vec::new()
    } else {
        judge(&sent, status, &received)
    };
    let name = format!(
        "{}.{}",
        sent["directive"]["header"]["namespace"].as_str().unwrap_or(""),
        sent["directive"]["header"]["name"].as_str().unwrap_or("")
    );

    if findings.is_empty() && error.is_none() && name == "Alexa.Discovery.Discover" {
        let endpoints = received["event"]["payload"]["endpoints"]
            .as_array()
            .map(|eps| {
                eps.iter()
                    .map(|e| DiscoveredEndpoint {
                        endpoint_id: e["endpointId"].as_str().unwrap_or("").to_owned(),
                        cookie: e["cookie"].as_object().cloned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(e) = sim.world().enablement_mut(skill_id, user) {
            e.endpoints = endpoints;
        }
    }

    Ok(record(
        sim,
        ("skill.smarthome", name),
        (skill_id, user),
        sent,
        (status, received, error),
        findings,
        false,
    ))
}

/// What is wrong with `received` as the answer to `sent`.
fn judge(sent: &Value, status: u16, received: &Value) -> Vec<Finding> {
    let mut f = Vec::new();
    if status != 200 {
        f.push(Finding::new(
            "",
            "status",
            format!("the skill answered HTTP {status}; Alexa needs 200 with an event"),
        ));
    }
    let report = check::check_value(received);
    if report.kind != Some(MessageKind::SmartHomeEvent) {
        f.push(Finding::new(
            "",
            "kind",
            format!("the answer is a {}, not a smart-home event", report.describe()),
        ));
        return f;
    }
    f.extend(report.findings);
    let d = &sent["directive"]["header"];
    let e = &received["event"]["header"];
    let (dns, dname) = (
        d["namespace"].as_str().unwrap_or(""),
        d["name"].as_str().unwrap_or(""),
    );
    let (ens, ename) = (
        e["namespace"].as_str().unwrap_or(""),
        e["name"].as_str().unwrap_or(""),
    );
    let expected: &[(&str, &str)] = match (dns, dname) {
        ("Alexa.Discovery", "Discover") => &[("Alexa.Discovery", "Discover.Response")],
        ("Alexa.Authorization", "AcceptGrant") => &[
            ("Alexa.Authorization", "AcceptGrant.Response"),
            ("Alexa.Authorization", "ErrorResponse"),
        ],
        ("Alexa", "ReportState") => &[
            ("Alexa", "StateReport"),
            ("Alexa", "ErrorResponse"),
            ("Alexa", "DeferredResponse"),
        ],
        _ => &[
            ("Alexa", "Response"),
            ("Alexa", "ErrorResponse"),
            ("Alexa", "DeferredResponse"),
        ],
    };
    let interface_answer =
        (ens == dns && (ename == "Response" || ename == "ErrorResponse")) && dns != "Alexa.Discovery";
    if !expected.contains(&(ens, ename)) && !interface_answer {
        f.push(Finding::new(
            "/event/header/name",
            "answer",
            format!("{ens}.{ename} does not answer {dns}.{dname}"),
        ));
    }
    if let Some(token) = d["correlationToken"].as_str() {
        if e["correlationToken"].as_str() != Some(token) {
            f.push(Finding::new(
                "/event/header/correlationToken",
                "correlationToken",
                "the answer must carry the directive's correlationToken",
            ));
        }
    }
    if let Some(id) = sent["directive"]["endpoint"]["endpointId"].as_str() {
        let answered = received["event"]["endpoint"]["endpointId"].as_str();
        if ename != "DeferredResponse" && answered.is_some_and(|a| a != id) {
            f.push(Finding::new(
                "/event/endpoint/endpointId",
                "endpointId",
                format!(
                    "the answer is about {:?}, the directive was for {id:?}",
                    answered.unwrap_or("")
                ),
            ));
        }
    }
    f
}
