//! A custom Alexa skill in Rust: "Alexa, open counter", "add three", "stop". The count is kept
//! per user in SQLite (or PostgreSQL with DATABASE_URL), what this session added in its session
//! attributes, and every request is verified as Amazon requires. With SIM_URL set, it trusts
//! that `rask sim`'s signing root and fetches signing certificates from it; without, it takes
//! only Amazon's.

use rask_skill::verify::Verifier;
use rask_skill::{HandlerError, HandlerInput, ResponseBuilder, Skill, StorePersistence};
use serde_json::Value;

async fn count(input: &HandlerInput) -> Result<u64, HandlerError> {
    let saved = input.persistent_attributes().await?;
    Ok(saved.get("count").and_then(Value::as_u64).unwrap_or(0))
}

async fn launch(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
    let n = count(&input).await?;
    Ok(ResponseBuilder::new()
        .speak(format!("The count is {n}. Say add, or add three."))
        .reprompt("Say add, or add three."))
}

async fn add(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
    let by: u64 = input.slot_value("by").and_then(|v| v.parse().ok()).unwrap_or(1);
    let n = count(&input).await? + by;
    // Saved once, when the request ends, because it changed.
    input.set_persistent_attribute("count", n).await?;
    // Comes back with the session's next request.
    let added = input
        .session_attribute("added")
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
        + by;
    input.set_session_attribute("added", added);
    Ok(ResponseBuilder::new()
        .speak(format!("Added {by}. The count is {n}."))
        .reprompt("Add more, or say stop."))
}

async fn stop(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
    let added = input
        .session_attribute("added")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    Ok(ResponseBuilder::new()
        .speak(format!("You added {added} this time. Goodbye."))
        .end_session(Some(true)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let skill_id =
        std::env::var("SKILL_ID").map_err(|_| anyhow::anyhow!("set SKILL_ID to the skill's id"))?;
    let database =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://counter-data/counter.db".into());
    let store = rask_store::Store::connect(&database).await?;
    let skill = Skill::builder()
        .skill_id(skill_id.clone())
        .persistence(StorePersistence::new(store, skill_id))
        .on_launch(launch)
        .on_intent("AddIntent", add)
        .on_intent("AMAZON.StopIntent", stop)
        .on_intent("AMAZON.CancelIntent", stop)
        .on_session_ended(|_| async { Ok(ResponseBuilder::new()) })
        .build();
    let mut verifier = Verifier::amazon();
    if let Ok(sim) = std::env::var("SIM_URL") {
        let root = reqwest::get(format!("{sim}/sim/signing-root.pem"))
            .await?
            .bytes()
            .await?;
        verifier = verifier.trust_root_pem(&root)?.mirror(sim.parse()?);
    }
    let app = axum::Router::new().nest("/alexa/skill", rask_skill::service::router(skill, Some(verifier)));
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!(
        "counter skill: listening on http://{}/alexa/skill",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
