//! The drivers, against the test skill: account linking through real HTML pages, AcceptGrant,
//! directives with verdicts, and custom-skill sessions.

use serde_json::{Value, json};

use crate::common::{Harness, PASSWORD};

#[tokio::test]
async fn linking_follows_login_and_consent_and_uses_basic() {
    let h = Harness::start().await;
    let l = h.link("alice", PASSWORD).await;
    assert_eq!(l["linked"], true, "{l:#}");
    let steps: Vec<String> = l["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert!(steps.iter().any(|s| s.starts_with("login form")), "{steps:?}");
    assert!(steps.iter().any(|s| s.contains("consent")), "{steps:?}");
    assert!(
        steps.iter().any(|s| s.contains("redirected back to Alexa")),
        "{steps:?}"
    );
    assert!(h.skill.state.lock().unwrap().basic_seen);
    let e = h.sim.world().enablement(&h.skill_id, "alice").unwrap().clone();
    assert!(e.link.unwrap().access_token.starts_with("link-"));
    // The redirect URI is Amazon's, for alice's region.
    let authorize = steps.iter().find(|s| s.starts_with("GET ")).unwrap();
    assert!(authorize.contains("layla.amazon.com"), "{authorize}");
}

#[tokio::test]
async fn a_wrong_password_says_so() {
    let h = Harness::start().await;
    let (status, l) = h
        .post(
            &format!("/sim/skills/{}/users/alice/link", h.skill_id),
            json!({"username": "alice", "password": "nope"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(l["linked"], false);
    let error = l["error"].as_str().unwrap();
    assert!(
        error.contains("wrong user name or password") && error.contains("Wrong user name or password"),
        "{error}"
    );
    let logged = h.events("linking").await;
    assert_eq!(logged[0]["valid"], false);
}

#[tokio::test]
async fn a_short_token_lifetime_fails_the_link() {
    let h = Harness::start().await;
    h.skill.state.lock().unwrap().expires_in = 60;
    let l = h.link("alice", PASSWORD).await;
    assert_eq!(l["linked"], false);
    assert!(l["error"].as_str().unwrap().contains("at least 360"), "{l}");
}

#[tokio::test]
async fn expired_link_tokens_are_refreshed_before_a_directive() {
    let h = Harness::start().await;
    h.link("alice", PASSWORD).await;
    let old = {
        let mut w = h.sim.world();
        let e = w.enablement_mut(&h.skill_id, "alice").unwrap();
        let link = e.link.as_mut().unwrap();
        link.expires_at = Some(std::time::Instant::now());
        link.access_token.clone()
    };
    let (_, ex) = h
        .post(
            &format!("/sim/skills/{}/users/alice/directives", h.skill_id),
            json!({"namespace": "Alexa.Discovery", "name": "Discover"}),
        )
        .await;
    assert_eq!(ex["valid"], true, "{ex:#}");
    let sent = ex["sent"]["directive"]["payload"]["scope"]["token"]
        .as_str()
        .unwrap();
    assert_ne!(sent, old, "a fresh token was used");
}

#[tokio::test]
async fn directives_and_their_verdicts() {
    let h = Harness::start().await;
    h.link_and_grant().await;
    let path = format!("/sim/skills/{}/users/alice/directives", h.skill_id);

    let (s, ex) = h
        .post(&path, json!({"namespace": "Alexa.Discovery", "name": "Discover"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(ex["valid"], true, "{ex:#}");
    assert_eq!(ex["received"]["event"]["header"]["name"], "Discover.Response");

    let (_, ex) = h
        .post(
            &path,
            json!({"namespace": "Alexa.PowerController", "name": "TurnOn", "endpointId": "front-door"}),
        )
        .await;
    assert_eq!(ex["valid"], true, "{ex:#}");
    assert_eq!(
        ex["sent"]["directive"]["endpoint"]["cookie"],
        json!({"wire": "gpio-17"}),
        "the cookie from discovery comes back"
    );

    let (_, ex) = h
        .post(
            &path,
            json!({"namespace": "Alexa", "name": "ReportState", "endpointId": "hall-light"}),
        )
        .await;
    assert_eq!(ex["valid"], true, "{ex:#}");

    // The test skill forgets the correlation token on TurnOff: the sim must catch it.
    let (_, ex) = h
        .post(
            &path,
            json!({"namespace": "Alexa.PowerController", "name": "TurnOff", "endpointId": "hall-light"}),
        )
        .await;
    assert_eq!(ex["valid"], false);
    assert_eq!(ex["findings"][0]["rule"], "correlationToken", "{ex:#}");
    let logged = h.events("skill.smarthome").await;
    assert_eq!(logged.last().unwrap()["valid"], false);

    let (s, e) = h
        .post(
            &path,
            json!({"namespace": "Alexa.PowerController", "name": "TurnOn"}),
        )
        .await;
    assert_eq!(s, 400, "TurnOn needs an endpoint: {e}");
    let (s, _) = h
        .post(
            &format!("/sim/skills/{}/users/bob/directives", h.skill_id),
            json!({"namespace": "Alexa", "name": "ReportState", "endpointId": "x"}),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn an_unreachable_skill_is_a_recorded_failure() {
    let h = Harness::start().await;
    h.link("alice", PASSWORD).await;
    let (s, reg) = h
        .post(
            "/sim/skills",
            json!({"smartHomeEndpoint": "http://127.0.0.1:9/smarthome", "accountLinking": {
                "authorizationUri": format!("{}/authorize", h.skill.url), "tokenUri": format!("{}/token", h.skill.url),
                "clientId": crate::common::CLIENT_ID, "clientSecret": crate::common::CLIENT_SECRET}}),
        )
        .await;
    assert_eq!(s, 201);
    let skill = reg["skillId"].as_str().unwrap();
    let (_, l) = h
        .post(
            &format!("/sim/skills/{skill}/users/alice/link"),
            json!({"username": "alice", "password": PASSWORD}),
        )
        .await;
    assert_eq!(l["linked"], true);
    let (_, ex) = h
        .post(
            &format!("/sim/skills/{skill}/users/alice/directives"),
            json!({"namespace": "Alexa.Discovery", "name": "Discover"}),
        )
        .await;
    assert_eq!(ex["status"], 0);
    assert!(
        ex["error"].as_str().unwrap().contains("could not be reached"),
        "{ex}"
    );
}

#[tokio::test]
async fn custom_requests_keep_a_session() {
    let h = Harness::start().await;
    h.link("alice", PASSWORD).await;
    let path = format!("/sim/skills/{}/users/alice/requests", h.skill_id);
    let (_, launch) = h.post(&path, json!({"type": "LaunchRequest"})).await;
    assert_eq!(launch["valid"], true, "{launch:#}");
    assert_eq!(launch["sent"]["session"]["new"], true);
    let session_id = launch["sent"]["session"]["sessionId"].clone();

    let (_, turn) = h
        .post(
            &path,
            json!({"type": "IntentRequest", "intent": "CountIntent", "slots": {"n": "3"}}),
        )
        .await;
    assert_eq!(turn["valid"], true);
    assert_eq!(turn["sent"]["session"]["new"], false);
    assert_eq!(turn["sent"]["session"]["sessionId"], session_id);
    assert_eq!(
        turn["sent"]["session"]["attributes"],
        json!({"count": 1}),
        "attributes come back"
    );
    assert_eq!(turn["sent"]["request"]["intent"]["slots"]["n"]["value"], "3");
    assert_eq!(turn["received"]["response"]["outputSpeech"]["text"], "Turn 2");

    let (_, stop) = h
        .post(
            &path,
            json!({"type": "IntentRequest", "intent": "AMAZON.StopIntent"}),
        )
        .await;
    assert_eq!(stop["received"]["response"]["shouldEndSession"], true);
    let (_, next) = h
        .post(&path, json!({"type": "IntentRequest", "intent": "CountIntent"}))
        .await;
    assert_eq!(next["sent"]["session"]["new"], true, "the session ended");
    assert_ne!(next["sent"]["session"]["sessionId"], session_id);

    let (_, ended) = h
        .post(
            &path,
            json!({"type": "SessionEndedRequest", "reason": "USER_INITIATED"}),
        )
        .await;
    assert_eq!(ended["sent"]["request"]["reason"], "USER_INITIATED");
    let (s, _) = h.post(&path, json!({"type": "CanFulfillIntentRequest"})).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn session_ends_and_slots_are_sent_as_alexa_sends_them() {
    let h = Harness::start().await;
    h.link("alice", PASSWORD).await;
    let path = format!("/sim/skills/{}/users/alice/requests", h.skill_id);
    // No open session: Alexa sends no SessionEndedRequest.
    let (s, e) = h.post(&path, json!({"type": "SessionEndedRequest"})).await;
    assert_eq!(s, 400, "{e}");
    let (_, launch) = h.post(&path, json!({"type": "LaunchRequest"})).await;
    assert_eq!(launch["valid"], true, "{launch:#}");
    // A slot the user left empty has no value.
    let (_, turn) = h
        .post(
            &path,
            json!({"type": "IntentRequest", "intent": "CountIntent", "slots": {"n": ""}}),
        )
        .await;
    assert_eq!(
        turn["sent"]["request"]["intent"]["slots"]["n"],
        json!({"name": "n", "confirmationStatus": "NONE"})
    );
    // A reason Alexa never sends is refused; ERROR carries its error object.
    let (s, e) = h
        .post(&path, json!({"type": "SessionEndedRequest", "reason": "BORED"}))
        .await;
    assert_eq!(s, 400, "{e}");
    let (_, ended) = h
        .post(&path, json!({"type": "SessionEndedRequest", "reason": "ERROR"}))
        .await;
    assert_eq!(ended["sent"]["request"]["reason"], "ERROR");
    assert_eq!(ended["sent"]["request"]["error"]["type"], "INVALID_RESPONSE");
    assert_eq!(ended["sent"]["session"]["new"], false);
}

#[tokio::test]
async fn dialog_state_follows_the_dialog() {
    let h = Harness::start().await;
    h.link("alice", PASSWORD).await;
    let path = format!("/sim/skills/{}/users/alice/requests", h.skill_id);
    h.post(&path, json!({"type": "LaunchRequest"})).await;
    let state = |ex: &Value| ex["sent"]["request"]["dialogState"].clone();
    let (_, first) = h
        .post(&path, json!({"type": "IntentRequest", "intent": "BookIntent"}))
        .await;
    assert_eq!(state(&first), "STARTED", "{first:#}");
    // The skill delegated: the next turn of the same intent is in progress.
    let (_, second) = h
        .post(
            &path,
            json!({"type": "IntentRequest", "intent": "BookIntent", "slots": {"done": "yes"}}),
        )
        .await;
    assert_eq!(state(&second), "IN_PROGRESS");
    // That answer ended the dialog (no Dialog directive): the next one starts again.
    let (_, other) = h
        .post(&path, json!({"type": "IntentRequest", "intent": "CountIntent"}))
        .await;
    assert_eq!(state(&other), "STARTED");
    let (_, again) = h
        .post(&path, json!({"type": "IntentRequest", "intent": "BookIntent"}))
        .await;
    assert_eq!(state(&again), "STARTED");
    assert_eq!(again["valid"], true, "{again:#}");
}

#[tokio::test]
async fn a_second_skill_with_the_same_lwa_client_id_is_refused() {
    let h = Harness::start().await;
    let (s, body) = h
        .post(
            "/sim/skills",
            json!({"customEndpoint": "http://127.0.0.1:9/a", "lwaClientId": h.lwa.0}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body.to_string().contains("each skill has its own LWA client"),
        "{body}"
    );
}

#[tokio::test]
async fn a_grant_the_skill_refuses_is_said_to_have_failed() {
    let h = Harness::start().await;
    h.link("alice", PASSWORD).await;
    // The skill's code exchange at LWA fails: it answers AcceptGrant with an ErrorResponse.
    let (s, _) = h
        .post("/sim/faults", json!({"target": "lwa", "status": 500, "count": 5}))
        .await;
    assert_eq!(s, 201);
    let (_, grant) = h
        .post(
            &format!("/sim/skills/{}/users/alice/grant", h.skill_id),
            json!({}),
        )
        .await;
    assert_eq!(
        grant["received"]["event"]["header"]["name"], "ErrorResponse",
        "{grant:#}"
    );
    assert!(
        grant["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("the skill refused the grant: ACCEPT_GRANT_FAILED")),
        "{grant:#}"
    );
}
