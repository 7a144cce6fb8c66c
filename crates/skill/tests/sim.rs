//! rask-skill against `rask sim`: the sim signs as Alexa does, the verifier accepts its requests
//! through the sim's certificate mirror, and refuses each forgery the sim can send, with 400
//! and no handler run. Real HTTP on loopback both ways.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask_sim::drivers::custom::Forgery;
use rask_sim::{Sim, SimConfig};
use rask_skill::verify::Verifier;
use rask_skill::{HandlerError, HandlerInput, ResponseBuilder, Skill};
use serde_json::{Value, json};

async fn post(http: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let r = http.post(url).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_sims_signed_requests_pass_and_its_forgeries_are_refused() {
    let (sim, addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{addr}");
    let http = reqwest::Client::new();

    // The skill, on loopback, trusting only the sim's signing root, fetching through the sim.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let skill_url = format!("http://{}/alexa/skill", listener.local_addr().unwrap());
    let (s, reg) = post(
        &http,
        &format!("{sim_url}/sim/skills"),
        json!({"name": "Counter", "customEndpoint": skill_url}),
    )
    .await;
    assert_eq!(s, 201, "{reg}");
    let skill_id = reg["skillId"].as_str().unwrap().to_owned();
    let handled = Arc::new(AtomicUsize::new(0));
    let counted = handled.clone();
    let skill = Skill::builder()
        .skill_id(skill_id.clone())
        .on_launch(move |_: HandlerInput| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, HandlerError>(ResponseBuilder::new().speak("Welcome.").reprompt("Say count.")) }
        })
        .on_intent("CountIntent", |i: HandlerInput| async move {
            let n = i.session_attribute("n").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
            i.set_session_attribute("n", n);
            Ok(ResponseBuilder::new().speak(format!("{n}")).reprompt("Again?"))
        })
        .on_session_ended(|_| async { Ok(ResponseBuilder::new()) })
        .build();
    let root = sim.signer().unwrap().root_der().to_vec();
    let verifier = Verifier::amazon()
        .only_roots(&[root])
        .unwrap()
        .mirror(sim_url.parse().unwrap());
    let app = axum::Router::new().nest("/alexa/skill", rask_skill::service::router(skill, Some(verifier)));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (s, _) = post(
        &http,
        &format!("{sim_url}/sim/users"),
        json!({"name": "alice", "region": "EU"}),
    )
    .await;
    assert_eq!(s, 201);

    // A session: launch, two intents, the end; the sim's verdict valid on each answer.
    let requests = format!("{sim_url}/sim/skills/{skill_id}/users/alice/requests");
    let (_, launch) = post(&http, &requests, json!({"type": "LaunchRequest"})).await;
    assert_eq!(launch["status"], 200, "{launch:#}");
    assert_eq!(launch["valid"], true, "{launch:#}");
    for n in 1..=2 {
        let (_, turn) = post(
            &http,
            &requests,
            json!({"type": "IntentRequest", "intent": "CountIntent"}),
        )
        .await;
        assert_eq!(turn["valid"], true, "{turn:#}");
        assert_eq!(
            turn["received"]["response"]["outputSpeech"]["text"],
            format!("{n}")
        );
        assert_eq!(
            turn["sent"]["session"]["attributes"],
            if n == 1 { json!({}) } else { json!({"n": 1}) }
        );
    }
    let (_, ended) = post(&http, &requests, json!({"type": "SessionEndedRequest"})).await;
    assert_eq!(ended["status"], 200, "{ended:#}");

    // Every forgery: refused with 400, no handler run, and the sim says the skill did right.
    for forge in Forgery::ALL {
        let name = serde_json::to_value(forge).unwrap();
        let (_, ex) = post(&http, &requests, json!({"type": "LaunchRequest", "forge": name})).await;
        assert_eq!(ex["status"], 400, "{name}: {ex:#}");
        assert_eq!(ex["valid"], true, "{name}: {ex:#}");
    }
    assert_eq!(
        handled.load(Ordering::SeqCst),
        1,
        "only the real launch reached the handler"
    );
}
