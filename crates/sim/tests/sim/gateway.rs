//! `POST /v3/events`: the black-box doorbell scenario, then every refusal the gateway gives.

use serde_json::{Value, json};

use crate::common::{Harness, doorbell};

async fn post_event(h: &Harness, region: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = h.http.post(format!("{}{region}/v3/events", h.url)).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn code(body: &Value) -> &str {
    assert_eq!(body["header"]["namespace"], "System");
    assert_eq!(body["header"]["name"], "Exception");
    body["payload"]["code"].as_str().unwrap()
}

#[tokio::test]
async fn a_linked_and_granted_skill_posts_a_doorbell_press_the_sim_records_as_valid() {
    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;

    let (status, body) = post_event(&h, "/eu", Some(&lwa), &doorbell(&lwa)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, Value::String(String::new()), "202 has an empty body");
    let events = h.events("gateway").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["valid"], true);
    assert_eq!(events[0]["name"], "Alexa.DoorbellEventSource.DoorbellPress");
    assert_eq!(events[0]["user"], "alice");
    assert_eq!(events[0]["region"], "EU");

    // Expire the token: the next post gets 401 INVALID_ACCESS_TOKEN_EXCEPTION.
    let (s, _) = h
        .post("/sim/faults", json!({"action": "expireTokens", "user": "alice"}))
        .await;
    assert_eq!(s, 200);
    let (status, body) = post_event(&h, "/eu", Some(&lwa), &doorbell(&lwa)).await;
    assert_eq!(status, 401);
    assert_eq!(code(&body), "INVALID_ACCESS_TOKEN_EXCEPTION");
    assert!(
        body["payload"]["description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let events = h.events("gateway").await;
    assert_eq!(events[1]["valid"], false);
}

#[tokio::test]
async fn token_refusals() {
    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;
    let (s, b) = post_event(&h, "/eu", None, &doorbell(&lwa)).await;
    assert_eq!((s, code(&b)), (401, "INVALID_ACCESS_TOKEN_EXCEPTION"));
    let (s, b) = post_event(&h, "/eu", Some("Atza|forged"), &doorbell("Atza|forged")).await;
    assert_eq!((s, code(&b)), (401, "INVALID_ACCESS_TOKEN_EXCEPTION"));
    let client = h.client_token("alexa:skill_messaging").await;
    let (s, b) = post_event(&h, "/eu", Some(&client), &doorbell(&client)).await;
    assert_eq!(
        (s, code(&b)),
        (401, "INVALID_ACCESS_TOKEN_EXCEPTION"),
        "a client token speaks for no user"
    );
    // The wrong region's gateway does not know the user's grant.
    let (s, b) = post_event(&h, "/na", Some(&lwa), &doorbell(&lwa)).await;
    assert_eq!((s, code(&b)), (403, "SKILL_NEVER_ENABLED_EXCEPTION"));
    assert!(b["payload"]["description"].as_str().unwrap().contains("EU"));
    let (s, _) = post_event(&h, "", Some(&lwa), &doorbell(&lwa)).await;
    assert_eq!(s, 403, "the bare root is North America");
}

#[tokio::test]
async fn body_refusals() {
    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;

    let mut bad = doorbell(&lwa);
    bad["event"]["payload"]["timestamp"] = json!("2018-10-18T11:44:18.485Z");
    let (s, b) = post_event(&h, "/eu", Some(&lwa), &bad).await;
    assert_eq!((s, code(&b)), (400, "INVALID_REQUEST_EXCEPTION"));
    assert!(
        b["payload"]["description"]
            .as_str()
            .unwrap()
            .contains("/event/payload/timestamp")
    );
    let logged = h.events("gateway").await;
    assert_eq!(logged[0]["findings"][0]["path"], "/event/payload/timestamp");

    let r = h
        .http
        .post(format!("{}/eu/v3/events", h.url))
        .bearer_auth(&lwa)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let other = doorbell("Atza|someone-else");
    let (s, b) = post_event(&h, "/eu", Some(&lwa), &other).await;
    assert_eq!((s, code(&b)), (400, "INVALID_REQUEST_EXCEPTION"));
    assert!(
        b["payload"]["description"]
            .as_str()
            .unwrap()
            .contains("scope token")
    );

    let discover =
        serde_json::to_value(rask_model::smarthome::EventMessage::discover_response(vec![])).unwrap();
    let (s, _) = post_event(&h, "/eu", Some(&lwa), &discover).await;
    assert_eq!(s, 400, "a Discover.Response is an answer, never a gateway event");

    let mut huge = doorbell(&lwa);
    huge["context"] = json!({"properties": [], "padding": "x".repeat(1_100_000)});
    let (s, b) = post_event(&h, "/eu", Some(&lwa), &huge).await;
    assert_eq!((s, code(&b)), (413, "REQUEST_ENTITY_TOO_LARGE_EXCEPTION"));
}

#[tokio::test]
async fn permission_and_enablement_refusals() {
    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;
    let (s, _) = h
        .post(
            "/sim/faults",
            json!({"action": "disableSkill", "user": "alice", "skillId": h.skill_id}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = post_event(&h, "/eu", Some(&lwa), &doorbell(&lwa)).await;
    assert_eq!((s, code(&b)), (403, "SKILL_NEVER_ENABLED_EXCEPTION"));

    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;
    h.sim.world().remove_skill(&h.skill_id).unwrap();
    let (s, b) = post_event(&h, "/eu", Some(&lwa), &doorbell(&lwa)).await;
    assert_eq!((s, code(&b)), (404, "SKILL_NOT_FOUND_EXCEPTION"));

    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;
    h.sim.world().remove_user("alice").unwrap();
    let (s, b) = post_event(&h, "/eu", Some(&lwa), &doorbell(&lwa)).await;
    assert_eq!((s, code(&b)), (404, "ACCOUNT_NOT_FOUND_EXCEPTION"));
}

#[tokio::test]
async fn insufficient_permission() {
    let h = Harness::start().await;
    // A second skill without the Send Alexa Events permission, granted by alice.
    let (s, reg) = h
        .post(
            "/sim/skills",
            json!({"sendEvents": false, "smartHomeEndpoint": format!("{}/smarthome", h.skill.url),
                   "lwaClientId": "no-events", "lwaClientSecret": "no-events-secret"}),
        )
        .await;
    assert_eq!(s, 201);
    let skill = reg["skillId"].as_str().unwrap();
    let grant_code = {
        let mut w = h.sim.world();
        w.enable(skill, "alice").unwrap();
        w.mint_grant_code(skill, "alice", std::time::Instant::now())
            .unwrap()
    };
    let t: Value = h
        .http
        .post(format!("{}/auth/o2/token", h.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &grant_code),
            ("client_id", "no-events"),
            ("client_secret", "no-events-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = t["access_token"].as_str().unwrap();
    let (s, b) = post_event(&h, "/eu", Some(token), &doorbell(token)).await;
    assert_eq!((s, code(&b)), (403, "INSUFFICIENT_PERMISSION_EXCEPTION"));
}

#[tokio::test]
async fn injected_faults_answer_with_amazons_codes() {
    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;
    for (status, expected) in [
        (429, "THROTTLING_EXCEPTION"),
        (500, "INTERNAL_SERVICE_EXCEPTION"),
        (503, "SERVICE_UNAVAILABLE_EXCEPTION"),
        (401, "INVALID_ACCESS_TOKEN_EXCEPTION"),
    ] {
        h.post("/sim/faults", json!({"target": "gateway", "status": status}))
            .await;
        let (s, b) = post_event(&h, "/eu", Some(&lwa), &doorbell(&lwa)).await;
        assert_eq!((s, code(&b)), (status, expected));
    }
    h.post(
        "/sim/faults",
        json!({"target": "gateway", "status": 403, "code": "INSUFFICIENT_PERMISSION_EXCEPTION"}),
    )
    .await;
    let (s, b) = post_event(&h, "/eu", Some(&lwa), &doorbell(&lwa)).await;
    assert_eq!((s, code(&b)), (403, "INSUFFICIENT_PERMISSION_EXCEPTION"));

    // A hang delays the normal answer.
    h.post("/sim/faults", json!({"target": "gateway", "hangMs": 300}))
        .await;
    let started = std::time::Instant::now();
    let (s, _) = post_event(&h, "/eu", Some(&lwa), &doorbell(&lwa)).await;
    assert_eq!(s, 202);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    let (s, _) = h
        .post("/sim/faults", json!({"target": "gateway", "status": 200}))
        .await;
    assert_eq!(s, 400, "a fault's status is an error");
    let (s, _) = h
        .post("/sim/faults", json!({"target": "moon", "status": 500}))
        .await;
    assert_eq!(s, 400);
}
