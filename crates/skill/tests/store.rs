//! Persistent attributes and users' regions in rask-store, across a restart, on both databases.

use rask_model::custom::RequestEnvelope;
use rask_skill::{HandlerError, HandlerInput, ResponseBuilder, Skill, StorePersistence};
use rask_store::Store;
use rask_store::testing;
use serde_json::{Value, json};

fn launch(endpoint: &str) -> RequestEnvelope {
    serde_json::from_value(json!({
        "version": "1.0",
        "session": {"new": true, "sessionId": "s", "application": {"applicationId": "amzn1.ask.skill.count"},
                    "user": {"userId": "amzn1.ask.account.BOB"}},
        "context": {"System": {
            "application": {"applicationId": "amzn1.ask.skill.count"},
            "user": {"userId": "amzn1.ask.account.BOB"},
            "apiEndpoint": endpoint
        }},
        "request": {"type": "LaunchRequest", "requestId": "r", "timestamp": "2026-12-02T10:00:00Z", "locale": "en-GB"}
    }))
    .unwrap()
}

async fn visit(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
    let n = input
        .persistent_attributes()
        .await?
        .get("visits")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        + 1;
    input.set_persistent_attribute("visits", n).await?;
    Ok(ResponseBuilder::new().speak(format!("Visit number {n}.")))
}

fn skill(store: Store) -> Skill {
    Skill::builder()
        .skill_id("amzn1.ask.skill.count")
        .persistence(StorePersistence::new(store, "amzn1.ask.skill.count"))
        .on_launch(visit)
        .build()
}

fn said(a: &rask_skill::Answer) -> String {
    let v: Value = serde_json::from_slice(&a.bytes).unwrap();
    v["response"]["outputSpeech"]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn a_counter_survives_a_restart_and_the_region_is_recorded() {
    for url in [testing::sqlite_url(), testing::postgres_url().await] {
        let store = Store::connect(&url).await.unwrap();
        let s = skill(store.clone());
        assert_eq!(
            said(&s.invoke(launch("https://api.eu.amazonalexa.com")).await),
            "Visit number 1."
        );
        assert_eq!(
            said(&s.invoke(launch("https://api.eu.amazonalexa.com")).await),
            "Visit number 2."
        );
        store.pool().close().await;
        drop(s);

        // Started again on the same database.
        let store = Store::connect(&url).await.unwrap();
        let s = skill(store.clone());
        let a = s.invoke(launch("https://api.fe.amazonalexa.com")).await;
        assert!(a.error.is_none(), "{:?}", a.error);
        assert_eq!(said(&a), "Visit number 3.");
        let seen = store
            .skill_user("amzn1.ask.skill.count", "amzn1.ask.account.BOB")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            seen.api_endpoint, "https://api.fe.amazonalexa.com",
            "the latest region wins"
        );
    }
}

fn skill_event(kind: &str, body: Value) -> RequestEnvelope {
    serde_json::from_value(json!({
        "version": "1.0",
        "context": {"System": {
            "application": {"applicationId": "amzn1.ask.skill.count"},
            "user": {"userId": "amzn1.ask.account.BOB"},
            "apiEndpoint": "https://api.eu.amazonalexa.com"
        }},
        "request": {"type": kind, "requestId": "r", "timestamp": "2026-12-02T10:00:00Z", "body": body}
    }))
    .unwrap()
}

#[tokio::test]
async fn skill_events_are_recorded_without_a_handler_and_a_failed_record_asks_alexa_again() {
    for url in [testing::sqlite_url(), testing::postgres_url().await] {
        let store = Store::connect(&url).await.unwrap();
        let s = skill(store.clone());
        let a = s
            .invoke(skill_event(
                "AlexaSkillEvent.ProactiveSubscriptionChanged",
                json!({"subscriptions": [{"eventName": "AMAZON.OrderStatus.Updated"}]}),
            ))
            .await;
        assert!(a.error.is_none() && !a.retry, "{:?}", a.error);
        let a = s
            .invoke(skill_event(
                "AlexaSkillEvent.SkillDisabled",
                json!({"userInformation": {"persistenceStatus": "PERSISTED"}}),
            ))
            .await;
        assert!(a.error.is_none(), "answered with no handler: {:?}", a.error);
        let user = store
            .skill_user("amzn1.ask.account.BOB", "amzn1.ask.account.BOB")
            .await
            .unwrap();
        assert_eq!(user, None, "kept under the skill, not the user");
        let user = store
            .skill_user("amzn1.ask.skill.count", "amzn1.ask.account.BOB")
            .await
            .unwrap()
            .unwrap();
        assert!(user.disabled_at.is_some());
        assert_eq!(
            user.subscriptions,
            Some(vec!["AMAZON.OrderStatus.Updated".to_string()])
        );
        // Back: any request clears it.
        s.invoke(launch("https://api.eu.amazonalexa.com")).await;
        let user = store
            .skill_user("amzn1.ask.skill.count", "amzn1.ask.account.BOB")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.disabled_at, None);
    }
}

/// Keeps nothing: every write fails, as a database that went away does.
struct Unwritable;

impl rask_skill::PersistenceAdapter for Unwritable {
    fn load<'a>(
        &'a self,
        _: &'a str,
    ) -> rask_skill::attributes::BoxFuture<'a, Result<Option<rask_skill::AttributeMap>, String>> {
        Box::pin(async { Err("the database is gone".to_owned()) })
    }
    fn save<'a>(
        &'a self,
        _: &'a str,
        _: &'a rask_skill::AttributeMap,
    ) -> rask_skill::attributes::BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err("the database is gone".to_owned()) })
    }
    fn record_skill_event<'a>(
        &'a self,
        _: &'a str,
        _: &'a rask_skill::SkillEvent,
    ) -> rask_skill::attributes::BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Err("the database is gone".to_owned()) })
    }
}

#[tokio::test]
async fn what_cannot_be_recorded_or_handled_out_of_session_is_asked_for_again() {
    let s = Skill::builder()
        .persistence(Unwritable)
        .on_launch(visit)
        .on_message_received(|_| async {
            Err::<ResponseBuilder, HandlerError>(HandlerError::msg("the broker is down"))
        })
        .build();
    let a = s
        .invoke(skill_event("AlexaSkillEvent.SkillDisabled", json!({})))
        .await;
    assert!(a.retry && a.error.is_some(), "{:?}", a.error);
    let mut message = serde_json::to_value(skill_event("AlexaSkillEvent.SkillEnabled", json!({}))).unwrap();
    message["request"] = json!({"type": "Messaging.MessageReceived", "requestId": "r",
                                "timestamp": "2026-12-02T10:00:00Z", "message": {"order": "1"}});
    let a = s.invoke(serde_json::from_value(message).unwrap()).await;
    assert!(
        a.retry,
        "a message the handler could not take is sent again: {:?}",
        a.error
    );
    let a = s.invoke(launch("https://api.eu.amazonalexa.com")).await;
    assert!(
        a.error.is_some() && !a.retry,
        "a user hears the apology; nothing to send again"
    );
}
