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
