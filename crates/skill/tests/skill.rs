//! A skill as its author sees it: routing, interceptors, attributes, errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask_model::custom::RequestEnvelope;
use rask_skill::{HandlerError, HandlerInput, MemoryPersistence, ResponseBuilder, Skill, SkillError};
use serde_json::{Value, json};

fn request(body: Value, session: Option<Value>) -> RequestEnvelope {
    let mut v = json!({
        "version": "1.0",
        "context": {"System": {
            "application": {"applicationId": "amzn1.ask.skill.test"},
            "user": {"userId": "amzn1.ask.account.ALICE"},
            "apiEndpoint": "https://api.eu.amazonalexa.com"
        }},
        "request": body,
    });
    if let Some(s) = session {
        v["session"] = s;
    }
    serde_json::from_value(v).unwrap()
}

fn launch() -> RequestEnvelope {
    request(
        json!({"type": "LaunchRequest", "requestId": "r-launch", "timestamp": "2026-12-02T10:00:00Z", "locale": "en-US"}),
        None,
    )
}

fn intent(name: &str, slots: Value, attributes: Value) -> RequestEnvelope {
    request(
        json!({"type": "IntentRequest", "requestId": "r-intent", "timestamp": "2026-12-02T10:00:00Z",
               "locale": "en-US", "dialogState": "COMPLETED",
               "intent": {"name": name, "confirmationStatus": "NONE", "slots": slots}}),
        Some(
            json!({"new": false, "sessionId": "s-1", "application": {"applicationId": "amzn1.ask.skill.test"},
                    "attributes": attributes, "user": {"userId": "amzn1.ask.account.ALICE"}}),
        ),
    )
}

fn of_type(kind: &str) -> RequestEnvelope {
    let mut body = json!({"type": kind, "requestId": "r-other", "timestamp": "2026-12-02T10:00:00Z"});
    if kind == "Messaging.MessageReceived" {
        body["message"] = json!({"ring": "front-door"});
    }
    request(body, None)
}

fn said(v: &rask_skill::Answer) -> String {
    let j: Value = serde_json::from_slice(&v.bytes).unwrap();
    j["response"]["outputSpeech"]["text"]
        .as_str()
        .or(j["response"]["outputSpeech"]["ssml"].as_str())
        .unwrap_or("")
        .to_owned()
}

async fn say(text: &'static str) -> Result<ResponseBuilder, HandlerError> {
    Ok(ResponseBuilder::new().speak(text))
}

#[tokio::test]
async fn requests_go_to_the_first_handler_that_takes_them() {
    async fn ring(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
        let room = input.slot_value("room").unwrap_or("front door").to_owned();
        Ok(ResponseBuilder::new().speak(format!("Ringing the {room}.")))
    }
    let skill = Skill::builder()
        .on_launch(|_| say("launch"))
        .on_intent("RingIntent", ring)
        .on_intent("AMAZON.HelpIntent", |_| say("help"))
        .on_skill_event(|_| say("skill event"))
        .on_list_event(|_| say("list event"))
        .on_message_received(|_| say("message"))
        .on_gadget_events(|_| say("gadget events"))
        .on_gadget_expired(|_| say("gadget expired"))
        .on_can_fulfill_intent(|_| say("can fulfill"))
        .on_exception_encountered(|_| say("exception"))
        .on_request("Connections.Response", |_| say("connections"))
        .on(
            |i: &HandlerInput| i.intent_name().is_some_and(|n| n.starts_with("AMAZON.")),
            |_| say("amazon"),
        )
        .fallback(|_| say("fallback"))
        .build();
    assert_eq!(said(&skill.invoke(launch()).await), "launch");
    let slots = json!({"room": {"name": "room", "value": "garage", "confirmationStatus": "NONE"}});
    assert_eq!(
        said(&skill.invoke(intent("RingIntent", slots, json!({}))).await),
        "Ringing the garage."
    );
    assert_eq!(
        said(&skill.invoke(intent("RingIntent", json!({}), json!({}))).await),
        "Ringing the front door."
    );
    assert_eq!(
        said(
            &skill
                .invoke(intent("AMAZON.HelpIntent", json!({}), json!({})))
                .await
        ),
        "help"
    );
    assert_eq!(
        said(
            &skill
                .invoke(intent("AMAZON.StopIntent", json!({}), json!({})))
                .await
        ),
        "amazon"
    );
    assert_eq!(
        said(&skill.invoke(intent("OtherIntent", json!({}), json!({}))).await),
        "fallback"
    );
    for (kind, answer) in [
        ("AlexaSkillEvent.SkillEnabled", "skill event"),
        ("AlexaHouseholdListEvent.ItemsCreated", "list event"),
        ("Messaging.MessageReceived", "message"),
        ("CanFulfillIntentRequest", "can fulfill"),
        ("System.ExceptionEncountered", "exception"),
        ("Connections.Response", "connections"),
        ("AudioPlayer.PlaybackStarted", "fallback"),
    ] {
        assert_eq!(said(&skill.invoke(of_type(kind)).await), answer, "{kind}");
    }
}

#[tokio::test]
async fn session_attributes_come_back_in_the_next_request() {
    async fn count(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
        let n = input
            .session_attribute("count")
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
            + 1;
        input.set_session_attribute("count", n);
        Ok(ResponseBuilder::new().speak(format!("{n}")).reprompt("again?"))
    }
    let skill = Skill::builder()
        .on_launch(count)
        .on_intent("CountIntent", count)
        .build();
    let first = skill.invoke(launch()).await;
    assert_eq!(
        first.envelope.session_attributes.as_ref().unwrap()["count"],
        json!(1)
    );
    let attrs = serde_json::to_value(first.envelope.session_attributes.unwrap()).unwrap();
    let second = skill.invoke(intent("CountIntent", json!({}), attrs)).await;
    assert_eq!(said(&second), "2");
    assert_eq!(second.envelope.response.should_end_session, Some(false));
}

#[tokio::test]
async fn persistent_attributes_load_when_asked_and_save_once_when_changed() {
    async fn visit(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
        let seen = input.persistent_attributes().await?;
        let n = seen.get("visits").and_then(Value::as_u64).unwrap_or(0) + 1;
        input.set_persistent_attribute("visits", n).await?;
        input.set_persistent_attribute("last", "launch").await?;
        Ok(ResponseBuilder::new().speak(format!("visit {n}")))
    }
    async fn peek(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
        let seen = input.persistent_attributes().await?;
        input.set_persistent_attribute("last", "launch").await?; // the same value: no change
        Ok(ResponseBuilder::new().speak(format!("{}", seen["visits"])))
    }
    let store = MemoryPersistence::default();
    let skill = Skill::builder()
        .persistence(store.clone())
        .on_launch(visit)
        .on_intent("PeekIntent", peek)
        .on_intent("QuietIntent", |_| say("no attributes touched"))
        .build();
    assert_eq!(said(&skill.invoke(launch()).await), "visit 1");
    assert_eq!(said(&skill.invoke(launch()).await), "visit 2");
    assert_eq!(store.saves(), 2, "one save per request that changed them");
    assert_eq!(
        said(&skill.invoke(intent("PeekIntent", json!({}), json!({}))).await),
        "2"
    );
    skill.invoke(intent("QuietIntent", json!({}), json!({}))).await;
    assert_eq!(store.saves(), 2, "unchanged or untouched: nothing written");
}

#[tokio::test]
async fn a_failing_handler_gets_a_spoken_apology_and_the_error_is_kept() {
    let skill = Skill::builder()
        .on_launch(|_| async { Err::<ResponseBuilder, _>(HandlerError::msg("the database is on fire")) })
        .build();
    let answer = skill.invoke(launch()).await;
    assert_eq!(
        said(&answer),
        "Sorry, something went wrong. Please try again later."
    );
    assert_eq!(answer.envelope.response.should_end_session, Some(true));
    assert!(
        matches!(answer.error.as_deref(), Some(SkillError::Handler(e)) if e.to_string() == "the database is on fire")
    );

    // No handler at all: the same, naming what was not handled.
    let answer = skill.invoke(intent("Nobody", json!({}), json!({}))).await;
    assert!(matches!(answer.error.as_deref(), Some(SkillError::NoHandler(w)) if w == "IntentRequest Nobody"));

    // Persistent attributes with no adapter: a clear error, not a panic.
    let skill = Skill::builder()
        .on_launch(|i: HandlerInput| async move {
            i.persistent_attributes().await?;
            Ok(ResponseBuilder::new())
        })
        .build();
    let answer = skill.invoke(launch()).await;
    assert!(
        answer
            .error
            .unwrap()
            .to_string()
            .contains("give the skill builder a persistence adapter")
    );
}

#[tokio::test]
async fn error_handlers_answer_and_see_what_broke_alexas_limits() {
    let skill = Skill::builder()
        .on_launch(|_| async { Ok(ResponseBuilder::new().speak("x".repeat(9000))) })
        .on_intent("BigIntent", |_| async {
            Ok(ResponseBuilder::new().speak("here").send_gadget_directive(
                ["g1"],
                "Custom.Blob",
                "Fill",
                json!({"blob": "y".repeat(30_000)}),
            ))
        })
        .on_error(|_: HandlerInput, e: Arc<SkillError>| async move {
            Ok(ResponseBuilder::new().speak(format!("I could not answer: {e}")))
        })
        .build();
    let long = skill.invoke(launch()).await;
    assert_eq!(
        said(&long),
        "I could not answer: the response cannot be sent: outputSpeech is 9000 characters; Alexa takes at most 7999"
    );
    let big = skill.invoke(intent("BigIntent", json!({}), json!({}))).await;
    let text = said(&big);
    assert!(
        text.contains(
            "over Alexa's 24576; the biggest part is directives[0] (CustomInterfaceController.SendDirective)"
        ),
        "{text}"
    );
    assert!(big.bytes.len() < 24 * 1024);
}

#[tokio::test]
async fn interceptors_run_around_every_handler_in_order() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counted = seen.clone();
    let skill = Skill::builder()
        .request_interceptor(move |i: HandlerInput| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                i.set_request_attribute("greeting", "Hello");
                Ok(())
            }
        })
        .on_launch(|i: HandlerInput| async move {
            let g = i.request_attribute("greeting").unwrap();
            Ok(ResponseBuilder::new().speak(format!("{}, {}", g.as_str().unwrap(), i.user_id())))
        })
        .response_interceptor(|_: HandlerInput, r: ResponseBuilder| async move {
            Ok(r.simple_card("Seen", "by the interceptor"))
        })
        .build();
    let answer = skill.invoke(launch()).await;
    assert_eq!(said(&answer), "Hello, amzn1.ask.account.ALICE");
    assert!(answer.envelope.response.card.is_some());
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // A request interceptor that fails: the handler does not run.
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let skill = Skill::builder()
        .request_interceptor(|_: HandlerInput| async { Err(HandlerError::msg("refused by the interceptor")) })
        .on_launch(move |_| {
            r2.fetch_add(1, Ordering::SeqCst);
            say("ran")
        })
        .build();
    let answer = skill.invoke(launch()).await;
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(answer.error.is_some());
}
