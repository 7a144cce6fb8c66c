//! Skill Messaging, Proactive Events and Endpoint Enumeration: success paths, delivery to the
//! skill, and every documented error.

use std::time::Duration;

use rask_sim::SimConfig;
use serde_json::{Value, json};

use crate::common::{Harness, PASSWORD};

async fn send(h: &Harness, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = h.http.post(format!("{}{path}", h.url)).json(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn wait_for<F: Fn(&Harness) -> bool>(h: &Harness, what: &str, f: F) {
    for _ in 0..100 {
        if f(h) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn messages_received(h: &Harness) -> Vec<Value> {
    h.skill
        .state
        .lock()
        .unwrap()
        .custom_requests
        .iter()
        .filter(|r| r["request"]["type"] == "Messaging.MessageReceived")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_skill_message_is_accepted_and_delivered_to_the_skill() {
    let h = Harness::start().await;
    assert_eq!(h.link("alice", PASSWORD).await["linked"], true);
    let user_id = h.user_id("alice");
    let token = h.client_token("alexa:skill_messaging").await;
    let (s, b) = send(
        &h,
        &format!("/eu/v1/skillmessages/users/{user_id}"),
        Some(&token),
        &json!({"data": {"listId": "L1", "op": "sync"}, "expiresAfterSeconds": 60}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    wait_for(&h, "the delivery", |h| !messages_received(h).is_empty()).await;
    let m = &messages_received(&h)[0];
    assert_eq!(m["request"]["message"], json!({"listId": "L1", "op": "sync"}));
    assert!(m.get("session").is_none(), "out of session: no session object");
    assert_eq!(m["context"]["System"]["user"]["userId"], user_id.as_str());
    assert!(
        m["context"]["System"]["user"]["accessToken"]
            .as_str()
            .unwrap()
            .starts_with("link-")
    );
    assert!(
        m["context"]["System"]["apiEndpoint"]
            .as_str()
            .unwrap()
            .ends_with("/eu")
    );
    let report = rask_model::check::check_value(m);
    assert!(
        report.is_valid(),
        "the sim's request is itself valid: {:?}",
        report.findings
    );
}

#[tokio::test]
async fn undelivered_messages_are_retried() {
    let config = SimConfig {
        message_retry_initial: Duration::from_millis(100),
        ..Default::default()
    };
    let h = Harness::with_config(config).await;
    h.sim.world().enable(&h.skill_id, "alice").unwrap();
    h.skill.state.lock().unwrap().fail_custom = 2;
    let token = h.client_token("alexa:skill_messaging").await;
    let (s, _) = send(
        &h,
        &format!("/eu/v1/skillmessages/users/{}", h.user_id("alice")),
        Some(&token),
        &json!({"data": {}}),
    )
    .await;
    assert_eq!(s, 202);
    wait_for(&h, "three attempts", |h| messages_received(h).len() == 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        messages_received(&h).len(),
        3,
        "no more attempts after the skill accepted"
    );
    let deliveries = h.events("skill.messaging").await;
    assert_eq!(
        deliveries
            .iter()
            .map(|e| e["status"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
}

#[tokio::test]
async fn skill_messaging_errors() {
    let h = Harness::start().await;
    h.sim.world().enable(&h.skill_id, "alice").unwrap();
    let user_id = h.user_id("alice");
    let path = format!("/eu/v1/skillmessages/users/{user_id}");
    let token = h.client_token("alexa:skill_messaging").await;
    let wrong_scope = h.client_token("alexa::proactive_events").await;
    let data = json!({"data": {"k": "v"}});

    let (s, b) = send(&h, &path, None, &data).await;
    assert_eq!((s, b["code"].as_u64()), (403, Some(403)));
    let (s, _) = send(&h, &path, Some(&wrong_scope), &data).await;
    assert_eq!(s, 403);
    let (s, _) = send(&h, &path, Some("Atc|forged"), &data).await;
    assert_eq!(s, 403);
    let (s, _) = send(
        &h,
        "/eu/v1/skillmessages/users/amzn1.ask.account.NOBODY",
        Some(&token),
        &data,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = send(
        &h,
        &format!("/na/v1/skillmessages/users/{user_id}"),
        Some(&token),
        &data,
    )
    .await;
    assert_eq!(s, 404, "the user lives in EU");
    let (s, b) = send(&h, &path, Some(&token), &json!({"expiresAfterSeconds": 60})).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = send(
        &h,
        &path,
        Some(&token),
        &json!({"data": {}, "expiresAfterSeconds": 86401}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b["message"].as_str().unwrap().contains("expiresAfterSeconds"));
    let (s, _) = send(
        &h,
        &path,
        Some(&token),
        &json!({"data": {"big": "x".repeat(7000)}}),
    )
    .await;
    assert_eq!(s, 400);
    h.post("/sim/faults", json!({"target": "messaging", "status": 429}))
        .await;
    let (s, _) = send(&h, &path, Some(&token), &data).await;
    assert_eq!(s, 429);
}

fn proactive_body(audience: Value, reference: &str) -> Value {
    let now = time::OffsetDateTime::now_utc();
    json!({
        "timestamp": rask_model::timestamp::seconds(now),
        "referenceId": reference,
        "expiryTime": rask_model::timestamp::seconds(now + time::Duration::hours(1)),
        "event": {"name": "AMAZON.MessageAlert.Activated", "payload": {
            "state": {"status": "UNREAD", "freshness": "NEW"},
            "messageGroup": {"creator": {"name": "Front door"}, "count": 1, "urgency": "URGENT"}}},
        "localizedAttributes": [{"locale": "en-US"}],
        "relevantAudience": audience
    })
}

#[tokio::test]
async fn proactive_events() {
    let h = Harness::start().await;
    h.sim.world().enable(&h.skill_id, "alice").unwrap();
    let token = h.client_token("alexa::proactive_events").await;
    let dev = "/eu/v1/proactiveEvents/stages/development";
    let unicast = json!({"type": "Unicast", "payload": {"user": h.user_id("alice")}});

    let (s, b) = send(&h, dev, Some(&token), &proactive_body(unicast.clone(), "ring-1")).await;
    assert_eq!(s, 202, "{b}");
    let (s, _) = send(
        &h,
        dev,
        Some(&token),
        &proactive_body(json!({"type": "Multicast", "payload": {}}), "ring-1"),
    )
    .await;
    assert_eq!(s, 202, "the same id to another audience is no duplicate");
    let (s, b) = send(&h, dev, Some(&token), &proactive_body(unicast.clone(), "ring-1")).await;
    assert_eq!((s, b["code"].as_u64()), (409, Some(409)));
    let (s, _) = send(
        &h,
        "/eu/v1/proactiveEvents",
        Some(&token),
        &proactive_body(unicast.clone(), "ring-1"),
    )
    .await;
    assert_eq!(s, 202, "live is another stage");

    let messaging = h.client_token("alexa:skill_messaging").await;
    let (s, _) = send(
        &h,
        dev,
        Some(&messaging),
        &proactive_body(unicast.clone(), "ring-2"),
    )
    .await;
    assert_eq!(s, 403);
    let mut bad = proactive_body(unicast.clone(), "ring-3");
    bad["event"]["name"] = json!("AMAZON.DoorbellRing.Activated");
    let (s, b) = send(&h, dev, Some(&token), &bad).await;
    assert_eq!(s, 400);
    assert!(b["message"].as_str().unwrap().contains("/event/name"));
    let (s, _) = send(
        &h,
        dev,
        Some(&token),
        &proactive_body(
            json!({"type": "Unicast", "payload": {"user": "amzn1.ask.account.NOBODY"}}),
            "ring-4",
        ),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = send(&h, dev, Some(&token), &json!({"referenceId": "x"})).await;
    assert_eq!(s, 400);

    let events = h.events("proactive").await;
    assert_eq!(events.iter().filter(|e| e["valid"] == true).count(), 3);
}

#[tokio::test]
async fn endpoint_enumeration_with_the_api_access_token_of_a_request() {
    let h = Harness::start().await;
    let gadget = json!({"endpointId": "amzn1.ask.endpoint.ABC123", "friendlyName": "Robot",
                        "capabilities": [{"type": "AlexaInterface", "interface": "Custom.Robot", "version": "1.0"}]});
    let r = h
        .http
        .put(format!("{}/sim/users/alice/gadgets", h.url))
        .json(&json!([gadget]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, ex) = h
        .post(
            &format!("/sim/skills/{}/users/alice/requests", h.skill_id),
            json!({"type": "LaunchRequest"}),
        )
        .await;
    assert_eq!(s, 200);
    let system = &ex["sent"]["context"]["System"];
    let endpoint = system["apiEndpoint"].as_str().unwrap();
    let token = system["apiAccessToken"].as_str().unwrap();

    let r = h
        .http
        .get(format!("{endpoint}/v1/endpoints"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"endpoints": [gadget]}));

    let r = h
        .http
        .get(format!("{endpoint}/v1/endpoints"))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Amazon's model of this error has a string code (the ASK SDKs fail on a number).
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED", "{body}");
    assert!(body["message"].is_string());
    let r = h
        .http
        .get(format!("{endpoint}/v1/endpoints"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = h
        .http
        .get(format!("{}/fe/v1/endpoints", h.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "alice's token is for EU");
    h.post("/sim/faults", json!({"target": "endpoints", "status": 500}))
        .await;
    let r = h
        .http
        .get(format!("{endpoint}/v1/endpoints"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "INTERNAL_SERVER_ERROR", "{body}");
}
