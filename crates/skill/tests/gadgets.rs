//! Gadgets from a skill: Endpoint Enumeration against `rask sim` once per session, a directive
//! per gadget, an event handler whose token the skill keeps, and events from any other
//! handler ignored.

use std::time::{Duration, Instant};

use rask_model::custom::{FilterMatchAction, RequestEnvelope};
use rask_sim::{Sim, SimConfig};
use rask_skill::gadgets::{EVENT_HANDLER_KEY, EventHandler, GADGETS_KEY, GadgetError};
use rask_skill::{Answer, HandlerError, HandlerInput, ResponseBuilder, Skill, SkillError};
use serde_json::{Value, json};

const SKILL: &str = "amzn1.ask.skill.robots";

struct World {
    sim: Sim,
    api: String,
    token: String,
}

fn gadget(id: &str, interface: &str) -> Value {
    json!({"endpointId": id, "friendlyName": format!("Gadget {id}"),
           "capabilities": [{"type": "AlexaInterface", "interface": interface, "version": "1.0"}]})
}

async fn world(gadgets: Vec<Value>) -> World {
    let (sim, addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let skill = sim
        .world()
        .register_skill(serde_json::from_value(json!({"name": "robots"})).unwrap())
        .unwrap()
        .skill_id;
    let gadgets = gadgets
        .into_iter()
        .map(|g| serde_json::from_value(g).unwrap())
        .collect();
    sim.world()
        .add_user("alice", rask_sim::Region::Eu, gadgets)
        .unwrap();
    let token = sim.world().mint_api_token(&skill, "alice", Instant::now());
    World {
        sim,
        api: format!("http://{addr}/eu"),
        token,
    }
}

impl World {
    fn request(&self, request: Value, attributes: Value) -> RequestEnvelope {
        let mut request = request;
        request["requestId"] = json!("amzn1.echo-api.request.1");
        request["timestamp"] = json!("2026-12-02T10:00:00Z");
        request["locale"] = json!("en-US");
        serde_json::from_value(json!({
            "version": "1.0",
            "session": {"new": attributes.is_null(), "sessionId": "amzn1.echo-api.session.1",
                        "application": {"applicationId": SKILL}, "attributes": attributes,
                        "user": {"userId": "amzn1.ask.account.ALICE"}},
            "context": {"System": {
                "application": {"applicationId": SKILL},
                "user": {"userId": "amzn1.ask.account.ALICE"},
                "apiEndpoint": self.api, "apiAccessToken": self.token
            }},
            "request": request
        }))
        .unwrap()
    }

    fn enumerations(&self) -> usize {
        self.sim.world().log.since(0, Some("endpoints")).len()
    }
}

/// Spins every robot and listens for their "Spun" events for 30 s.
async fn spin(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
    let robots = match input.gadgets("Custom.Robot").await {
        Ok(r) => r,
        Err(GadgetError::Enumeration(_)) => {
            return Ok(ResponseBuilder::new().speak("I cannot reach your gadgets right now."));
        }
        Err(e) => return Err(e.into()),
    };
    if robots.is_empty() {
        return Ok(ResponseBuilder::new()
            .speak("No robot is connected.")
            .end_session(Some(true)));
    }
    let speed = input.slot_value("speed").unwrap_or("slow").to_owned();
    Ok(ResponseBuilder::new()
        .speak(format!("Spinning {} robots.", robots.len()))
        .send_gadget_directive(
            robots.iter().map(|g| g.endpoint_id.clone()),
            "Custom.Robot",
            "Spin",
            json!({"speed": speed}),
        )
        .start_event_handler(
            &EventHandler::new(Duration::from_secs(30))
                .filter(
                    json!({"==": [{"var": "header.name"}, "Spun"]}),
                    FilterMatchAction::Send,
                )
                .expiration_payload(json!({"why": "time"})),
        ))
}

async fn heard(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
    Ok(ResponseBuilder::new().speak(format!("Heard from {}.", input.request_type())))
}

fn skill() -> Skill {
    Skill::builder()
        .skill_id(SKILL)
        .on_launch(spin)
        .on_intent("SpinIntent", spin)
        .on_gadget_events(heard)
        .on_gadget_expired(heard)
        .build()
}

fn wire(a: &Answer) -> Value {
    serde_json::from_slice(&a.bytes).unwrap()
}

#[tokio::test]
async fn gadgets_are_listed_once_per_session_and_each_gets_its_directive() {
    let w = world(vec![
        gadget("amzn1.ask.endpoint.R1", "Custom.Robot"),
        gadget("amzn1.ask.endpoint.R2", "Custom.Robot"),
        gadget("amzn1.ask.endpoint.L1", "Alexa.Gadget.StateListener"),
    ])
    .await;
    let s = skill();
    let launch = wire(
        &s.invoke(w.request(json!({"type": "LaunchRequest"}), Value::Null))
            .await,
    );
    let ids: Vec<&Value> = launch["response"]["directives"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["type"] == "CustomInterfaceController.SendDirective")
        .map(|d| &d["endpoint"]["endpointId"])
        .collect();
    assert_eq!(
        ids,
        [&json!("amzn1.ask.endpoint.R1"), &json!("amzn1.ask.endpoint.R2")]
    );
    let attrs = &launch["sessionAttributes"];
    assert_eq!(
        attrs[GADGETS_KEY].as_array().unwrap().len(),
        2,
        "only Custom. gadgets are kept"
    );
    assert!(attrs[EVENT_HANDLER_KEY].is_string(), "{launch:#}");
    assert!(
        launch["response"].get("shouldEndSession").is_none(),
        "left out, so that the event handler keeps the session: {launch:#}"
    );
    assert_eq!(w.enumerations(), 1);

    // The next turn of the session: from the session attributes, no second call.
    let turn = wire(
        &s.invoke(w.request(
            json!({"type": "IntentRequest", "intent": {"name": "SpinIntent", "confirmationStatus": "NONE",
                   "slots": {"speed": {"name": "speed", "value": "fast", "confirmationStatus": "NONE"}}}}),
            attrs.clone(),
        ))
        .await,
    );
    assert_eq!(
        turn["response"]["directives"][1]["payload"],
        json!({"speed": "fast"})
    );
    assert_eq!(w.enumerations(), 1, "enumerated once per session");
}

#[tokio::test]
async fn no_gadget_or_an_enumeration_failure_is_said_plainly() {
    let w = world(vec![gadget(
        "amzn1.ask.endpoint.L1",
        "Alexa.Gadget.StateListener",
    )])
    .await;
    let s = skill();
    let none = wire(
        &s.invoke(w.request(json!({"type": "LaunchRequest"}), Value::Null))
            .await,
    );
    assert_eq!(none["response"]["outputSpeech"]["text"], "No robot is connected.");
    for status in [400, 401, 403, 500, 503] {
        w.sim
            .world()
            .faults
            .add(serde_json::from_value(json!({"target": "endpoints", "status": status})).unwrap());
        let failed = s
            .invoke(w.request(json!({"type": "LaunchRequest"}), Value::Null))
            .await;
        assert!(failed.error.is_none(), "{status}: answered by the handler");
        assert_eq!(
            wire(&failed)["response"]["outputSpeech"]["text"],
            "I cannot reach your gadgets right now.",
            "{status}"
        );
    }
}

#[tokio::test]
async fn events_reach_the_handler_only_with_the_sessions_token() {
    let w = world(vec![gadget("amzn1.ask.endpoint.R1", "Custom.Robot")]).await;
    let s = skill();
    let launch = wire(
        &s.invoke(w.request(json!({"type": "LaunchRequest"}), Value::Null))
            .await,
    );
    let attrs = launch["sessionAttributes"].clone();
    let token = attrs[EVENT_HANDLER_KEY].as_str().unwrap().to_owned();
    let event = |token: &str| {
        json!({"type": "CustomInterfaceController.EventsReceived", "token": token,
               "events": [{"header": {"namespace": "Custom.Robot", "name": "Spun"},
                           "endpoint": {"endpointId": "amzn1.ask.endpoint.R1"}, "payload": {"turns": 3}}]})
    };

    let ours = wire(&s.invoke(w.request(event(&token), attrs.clone())).await);
    assert_eq!(
        ours["response"]["outputSpeech"]["text"],
        "Heard from CustomInterfaceController.EventsReceived."
    );
    assert_eq!(
        ours["sessionAttributes"][EVENT_HANDLER_KEY],
        json!(token),
        "still running"
    );

    let stale = wire(&s.invoke(w.request(event("an-old-handler"), attrs.clone())).await);
    assert_eq!(
        stale["response"],
        json!({}),
        "nothing said, no handler run: {stale:#}"
    );
    assert_eq!(s.stale_events(), 1);

    let expired = wire(
        &s.invoke(w.request(
            json!({"type": "CustomInterfaceController.Expired", "token": token,
                   "expirationPayload": {"why": "time"}}),
            attrs.clone(),
        ))
        .await,
    );
    assert_eq!(
        expired["response"]["outputSpeech"]["text"],
        "Heard from CustomInterfaceController.Expired."
    );
    assert!(
        expired["sessionAttributes"].get(EVENT_HANDLER_KEY).is_none(),
        "the handler is over: {expired:#}"
    );
    // After it expired, its events are stale too.
    let late = wire(
        &s.invoke(w.request(event(&token), expired["sessionAttributes"].clone()))
            .await,
    );
    assert_eq!(late["response"], json!({}));
    assert_eq!(s.stale_events(), 2);
}

#[tokio::test]
async fn directives_too_big_together_or_a_handler_too_long_are_reported_not_sent() {
    let w = world(
        (0..40)
            .map(|i| gadget(&format!("amzn1.ask.endpoint.R{i}"), "Custom.Robot"))
            .collect(),
    )
    .await;
    async fn big(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
        let robots = input.gadgets("Custom.Robot").await?;
        Ok(ResponseBuilder::new().speak("Spinning.").send_gadget_directive(
            robots.iter().map(|g| g.endpoint_id.clone()),
            "Custom.Robot",
            "Spin",
            json!({"pattern": "x".repeat(5000)}),
        ))
    }
    async fn long(_: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
        Ok(ResponseBuilder::new().start_event_handler(&EventHandler::new(Duration::from_secs(91))))
    }
    let s = Skill::builder()
        .skill_id(SKILL)
        .on_launch(big)
        .on_intent("LongIntent", long)
        .build();
    let a = s
        .invoke(w.request(json!({"type": "LaunchRequest"}), Value::Null))
        .await;
    let error = a.error.as_ref().expect("reported").to_string();
    assert!(
        error.contains("over Alexa's 24576")
            && error.contains("the biggest part is directives[")
            && error.contains("(CustomInterfaceController.SendDirective)"),
        "{error}"
    );
    assert!(
        wire(&a)["response"].get("directives").is_none(),
        "the apology, not the directives"
    );
    let a = s
        .invoke(w.request(
            json!({"type": "IntentRequest", "intent": {"name": "LongIntent", "confirmationStatus": "NONE"}}),
            json!({}),
        ))
        .await;
    assert!(
        matches!(a.error.as_deref(), Some(SkillError::Response(_))),
        "{:?}",
        a.error
    );
    assert!(a.error.unwrap().to_string().contains("91000 ms"));
}

#[tokio::test]
async fn a_response_that_cannot_leave_changes_no_handler_and_a_one_event_handler_ends_with_it() {
    let w = world(vec![gadget("amzn1.ask.endpoint.R1", "Custom.Robot")]).await;
    async fn replace(_: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
        // A new handler in an answer too long to send.
        Ok(ResponseBuilder::new()
            .speak("x".repeat(9000))
            .start_event_handler(&EventHandler::new(Duration::from_secs(10))))
    }
    async fn once(_: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
        Ok(ResponseBuilder::new().start_event_handler(
            &EventHandler::new(Duration::from_secs(10))
                .filter(json!(true), FilterMatchAction::SendAndTerminate),
        ))
    }
    let s = Skill::builder()
        .skill_id(SKILL)
        .on_launch(spin)
        .on_intent("ReplaceIntent", replace)
        .on_intent("OnceIntent", once)
        .on_gadget_events(heard)
        .on_error(|_: HandlerInput, _| async { Ok(ResponseBuilder::new().speak("That did not work.")) })
        .build();
    let launch = wire(
        &s.invoke(w.request(json!({"type": "LaunchRequest"}), Value::Null))
            .await,
    );
    let attrs = launch["sessionAttributes"].clone();
    let intent =
        |name: &str| json!({"type": "IntentRequest", "intent": {"name": name, "confirmationStatus": "NONE"}});
    let failed = wire(&s.invoke(w.request(intent("ReplaceIntent"), attrs.clone())).await);
    assert_eq!(failed["response"]["outputSpeech"]["text"], "That did not work.");
    assert_eq!(
        failed["sessionAttributes"][EVENT_HANDLER_KEY], attrs[EVENT_HANDLER_KEY],
        "the running handler's token, not the one never started"
    );

    let started = wire(&s.invoke(w.request(intent("OnceIntent"), attrs.clone())).await);
    let attrs = started["sessionAttributes"].clone();
    let token = attrs[EVENT_HANDLER_KEY].as_str().unwrap().to_owned();
    let event = json!({"type": "CustomInterfaceController.EventsReceived", "token": token,
        "events": [{"header": {"namespace": "Custom.Robot", "name": "Spun"},
                    "endpoint": {"endpointId": "amzn1.ask.endpoint.R1"}, "payload": {}}]});
    let first = wire(&s.invoke(w.request(event.clone(), attrs)).await);
    assert_eq!(
        first["response"]["outputSpeech"]["text"],
        "Heard from CustomInterfaceController.EventsReceived."
    );
    assert!(
        first["sessionAttributes"].get(EVENT_HANDLER_KEY).is_none(),
        "its one event ended it: {first:#}"
    );
    let late = wire(
        &s.invoke(w.request(event, first["sessionAttributes"].clone()))
            .await,
    );
    assert_eq!(late["response"], json!({}));
}
