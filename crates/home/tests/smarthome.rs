//! `/alexa/smarthome` driven by rask sim as Alexa drives it, on SQLite and PostgreSQL: link,
//! AcceptGrant (the LWA token then works at the sim's gateway), Discover, and every
//! ErrorResponse the issue names. Every answer must be a valid Alexa event.

mod common;

use common::{Home, home};
use rask_cloud::gateway::EventGateway;
use rask_cloud::region::Endpoints;
use rask_model::region::Region;
use rask_model::smarthome::EventMessage;
use rask_store::{Store, testing};
use serde_json::{Value, json};

async fn directive(
    h: &Home,
    namespace: &str,
    name: &str,
    endpoint: Option<&str>,
) -> rask_sim::drivers::Exchange {
    let spec = serde_json::from_value(json!({"namespace": namespace, "name": name, "endpointId": endpoint}))
        .unwrap();
    rask_sim::drivers::smarthome::send(&h.sim, &h.skill, "alice", &spec)
        .await
        .unwrap()
}

fn error_type(ex: &rask_sim::drivers::Exchange) -> &str {
    assert_eq!(
        ex.received["event"]["header"]["name"], "ErrorResponse",
        "{:#}",
        ex.received
    );
    ex.received["event"]["payload"]["type"].as_str().unwrap()
}

#[tokio::test]
async fn accept_grant_then_events_reach_the_gateway_and_discovery_lists_the_devices() {
    for store in testing::both().await {
        let h = home(store).await;
        let ex = rask_sim::drivers::smarthome::accept_grant(&h.sim, &h.skill, "alice")
            .await
            .unwrap();
        assert!(ex.valid, "{ex:#?}");
        assert_eq!(ex.received["event"]["header"]["name"], "AcceptGrant.Response");

        let alice = h.store.user_by_name("alice").await.unwrap().unwrap();
        let grant = h
            .store
            .grant(&h.sealer, &alice.id)
            .await
            .unwrap()
            .expect("a grant was stored");
        assert_eq!(grant.region, "EU");
        // The stored LWA token is the user's own: the sim's gateway takes it.
        let gateway = EventGateway::new(reqwest::Client::new(), Endpoints::simulator(&h.sim_url));
        let press = EventMessage::doorbell_press("front-door", &grant.access_token, time_now());
        gateway
            .send(Region::Eu, &grant.access_token, &press)
            .await
            .unwrap();

        let ex = directive(&h, "Alexa.Discovery", "Discover", None).await;
        assert!(ex.valid, "{ex:#?}");
        let endpoints = ex.received["event"]["payload"]["endpoints"].as_array().unwrap();
        let ids: Vec<&str> = endpoints
            .iter()
            .map(|e| e["endpointId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["front-door", "hall-light", "kitchen-window"]);
        let door = &endpoints[0];
        assert_eq!(door["displayCategories"], json!(["DOORBELL"]));
        assert!(
            door["capabilities"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["interface"] == "Alexa.DoorbellEventSource" && c["proactivelyReported"] == true)
        );
    }
}

#[tokio::test]
async fn lwa_refusing_the_code_is_accept_grant_failed() {
    let h = home(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    let r = reqwest::Client::new()
        .post(format!("{}/sim/faults", h.sim_url))
        .json(&json!({"target": "lwa", "status": 400, "code": "invalid_grant"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let ex = rask_sim::drivers::smarthome::accept_grant(&h.sim, &h.skill, "alice")
        .await
        .unwrap();
    assert!(ex.valid, "an ErrorResponse is a valid answer: {ex:#?}");
    assert_eq!(ex.received["event"]["header"]["namespace"], "Alexa.Authorization");
    assert_eq!(error_type(&ex), "ACCEPT_GRANT_FAILED");
    assert!(
        ex.received["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
    );
    let alice = h.store.user_by_name("alice").await.unwrap().unwrap();
    assert!(
        h.store.grant(&h.sealer, &alice.id).await.unwrap().is_none(),
        "nothing stored"
    );
}

#[tokio::test]
async fn every_error_response() {
    let h = home(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    let ex = directive(&h, "Alexa.PowerController", "TurnOn", Some("no-such-thing")).await;
    assert_eq!(error_type(&ex), "NO_SUCH_ENDPOINT");
    assert!(ex.valid, "{ex:#?}");
    // A directive the device's kind does not have.
    let ex = directive(&h, "Alexa.LockController", "Lock", Some("hall-light")).await;
    assert_eq!(error_type(&ex), "INVALID_DIRECTIVE");
    assert!(ex.valid, "{ex:#?}");
    let ex = directive(&h, "Alexa.Teleporter", "Beam", Some("hall-light")).await;
    assert_eq!(error_type(&ex), "INVALID_DIRECTIVE");

    let post = |body: String| {
        let url = format!("{}/alexa/smarthome", h.url);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "a Lambda answers 200 with an event");
            let v: Value = r.json().await.unwrap();
            let report = rask_model::check::check_value(&v);
            assert!(report.is_valid(), "{:?}: {v:#}", report.findings);
            v
        }
    };
    let turn_on = |token: &str| {
        json!({"directive": {
            "header": {"namespace": "Alexa.PowerController", "name": "TurnOn", "payloadVersion": "3", "messageId": "m-1", "correlationToken": "c-1"},
            "endpoint": {"scope": {"type": "BearerToken", "token": token}, "endpointId": "hall-light"}, "payload": {}}})
        .to_string()
    };
    let v = post(turn_on("forged")).await;
    assert_eq!(v["event"]["payload"]["type"], "INVALID_AUTHORIZATION_CREDENTIAL");
    assert_eq!(v["event"]["header"]["correlationToken"], "c-1");

    // An access token past its life.
    let alice = h.store.user_by_name("alice").await.unwrap().unwrap();
    let family = rask_store::oauth::NewFamily {
        id: "old".into(),
        client_id: "alexa".into(),
        user_id: alice.id,
        scope: "smart_home".into(),
    };
    let tokens = rask_store::oauth::NewTokens {
        access_hash: rask_store::digest("expired-token"),
        access_expires_at: rask_store::now_ms() - 1,
        refresh_hash: rask_store::digest("its-refresh"),
    };
    assert!(
        h.store
            .issue_family(&family, None, &tokens, rask_store::now_ms())
            .await
            .unwrap()
    );
    let v = post(turn_on("expired-token")).await;
    assert_eq!(v["event"]["payload"]["type"], "EXPIRED_AUTHORIZATION_CREDENTIAL");

    let v = post("{not json".into()).await;
    assert_eq!(v["event"]["payload"]["type"], "INVALID_DIRECTIVE");
    let v = post(json!({"directive": {"header": {"namespace": "Alexa.PowerController"}}}).to_string()).await;
    assert_eq!(v["event"]["payload"]["type"], "INVALID_DIRECTIVE");
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
