//! The benchmark's reference skill written on rask-skill, as the peers write it on the ASK SDKs
//! (`shared/bench`'s README, "The reference skill"), and served the way rask serves
//! `/alexa/skill`: rask's listener, StorePersistence on SQLite (so the user's region is
//! recorded, as every rask skill does), and, with a simulator given, every request verified
//! against that simulator's signing root. `rask bench peers` starts it as a child process
//! (`rask bench reference-skill`), once with verification off, as the peers run, and once on.

use std::path::Path;

use anyhow::Context;
use rask_skill::verify::Verifier;
use rask_skill::{HandlerError, HandlerInput, ResponseBuilder, Skill, StorePersistence};
use serde_json::json;

/// The skill id the harness's requests carry.
pub const SKILL_ID: &str = "amzn1.ask.skill.6f1e2d3c-4b5a-4978-8a1b-2c3d4e5f6a7b";

/// The reference skill: launch chimes the doorbell gadget, RingIntent says which door,
/// Messaging.MessageReceived answers an empty response.
pub fn reference(persistence: StorePersistence) -> Skill {
    Skill::builder()
        .skill_id(SKILL_ID)
        .persistence(persistence)
        .on_launch(|_: HandlerInput| async {
            Ok::<_, HandlerError>(
                ResponseBuilder::new()
                    .speak_ssml("Welcome to the doorbell skill")
                    .reprompt_ssml("Say ring to ring the doorbell")
                    .end_session(Some(false))
                    .send_gadget_directive(
                        ["amzn1.ask.endpoint.ABC123"],
                        "Custom.Doorbell",
                        "Chime",
                        json!({"times": 2}),
                    ),
            )
        })
        .on_intent("RingIntent", |input: HandlerInput| async move {
            let door = input.slot_value("door").unwrap_or("the door");
            // SSML, as the SDKs' speak() makes it: the slot is what the user said, escaped.
            Ok(ResponseBuilder::new()
                .speak_ssml(format!("Ringing {}", rask_skill::ssml::escape(door)))
                .end_session(Some(true)))
        })
        .on_message_received(|_: HandlerInput| async { Ok(ResponseBuilder::new()) })
        .build()
}

/// Serves the reference skill at `bind` + `/alexa/skill` until stopped; says where on its first
/// line. `sim`: verify every request, trusting that simulator's root and fetching its chains.
pub async fn serve(bind: String, sim: Option<String>, data: &Path) -> anyhow::Result<bool> {
    std::fs::create_dir_all(data)?;
    let store = rask_store::Store::connect(&format!("sqlite://{}/skill.db", data.display())).await?;
    let skill = reference(StorePersistence::new(store, SKILL_ID));
    let verifier = match &sim {
        Some(sim) => {
            let root = reqwest::get(format!("{sim}/sim/signing-root.pem"))
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            Some(
                Verifier::amazon()
                    .trust_root_pem(&root)?
                    .mirror(sim.parse().context("--sim")?),
            )
        }
        None => None,
    };
    let app = axum::Router::new().nest("/alexa/skill", rask_skill::service::router(skill, verifier));
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    println!("reference skill: listening on http://{}", listener.local_addr()?);
    let limits = crate::listener::Limits {
        header: std::time::Duration::from_secs(10),
        body: std::time::Duration::from_secs(10),
        max_body: rask_skill::service::MAX_REQUEST_BYTES,
    };
    crate::listener::serve(listener, app, None, limits, crate::sim::shutdown_signal()).await;
    Ok(true)
}

/// What is wrong with `answer` to the harness's `request_type`, as the harness's validate.py
/// checks the reference behaviour; empty when it is right.
pub fn check(request_type: &str, answer: &serde_json::Value) -> Vec<&'static str> {
    let r = &answer["response"];
    let mut problems = Vec::new();
    if answer["version"] != "1.0" {
        problems.push("version");
    }
    match request_type {
        "custom-launch" => {
            let chime = json!([{
                "type": "CustomInterfaceController.SendDirective",
                "header": {"namespace": "Custom.Doorbell", "name": "Chime"},
                "endpoint": {"endpointId": "amzn1.ask.endpoint.ABC123"},
                "payload": {"times": 2}
            }]);
            if r["outputSpeech"]["ssml"] != "<speak>Welcome to the doorbell skill</speak>" {
                problems.push("outputSpeech");
            }
            if r.get("reprompt").is_none() {
                problems.push("reprompt");
            }
            if r["shouldEndSession"] != false {
                problems.push("shouldEndSession");
            }
            if r["directives"] != chime {
                problems.push("directives");
            }
            if answer["sessionAttributes"] != json!({"visits": 3, "lastDoor": "front door", "chimeTimes": 2})
            {
                problems.push("sessionAttributes");
            }
        }
        "custom-ring-intent" => {
            if r["outputSpeech"]["ssml"] != "<speak>Ringing front door</speak>" {
                problems.push("outputSpeech");
            }
            if r["shouldEndSession"] != true {
                problems.push("shouldEndSession");
            }
        }
        "custom-message-received" if *r != json!({}) => problems.push("response not empty"),
        _ => {}
    }
    problems
}
