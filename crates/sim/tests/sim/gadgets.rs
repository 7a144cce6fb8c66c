//! The sim as the Echo and its gadgets: directives delivered per gadget, answers Alexa would
//! refuse ending the session with ERROR, gadget events through the event handler's filter, and
//! `Expired` when its time runs out.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Harness, PASSWORD};

fn robot(id: &str) -> Value {
    json!({"endpointId": id, "friendlyName": id,
           "capabilities": [{"type": "AlexaInterface", "interface": "Custom.Robot", "version": "1.0"}]})
}

fn spin(to: &[&str], handler: Option<Value>) -> Value {
    let mut directives: Vec<Value> = to
        .iter()
        .map(|id| {
            json!({"type": "CustomInterfaceController.SendDirective",
                   "header": {"namespace": "Custom.Robot", "name": "Spin"},
                   "endpoint": {"endpointId": id}, "payload": {"speed": 3}})
        })
        .collect();
    directives.extend(handler);
    json!({"version": "1.0", "response": {"outputSpeech": {"type": "PlainText", "text": "Spinning"},
                                          "directives": directives}})
}

fn start_handler(token: &str, action: &str, ms: u64) -> Value {
    json!({"type": "CustomInterfaceController.StartEventHandler", "token": token,
           "eventFilter": {"filterExpression": {"==": [{"var": "header.name"}, "Spun"]},
                           "filterMatchAction": action},
           "expiration": {"durationInMilliseconds": ms, "expirationPayload": {"why": "time"}}})
}

struct Gadgets {
    h: Harness,
    requests: String,
}

impl Gadgets {
    async fn start() -> Gadgets {
        let h = Harness::start().await;
        h.link("alice", PASSWORD).await;
        let r = h
            .http
            .put(format!("{}/sim/users/alice/gadgets", h.url))
            .json(&json!([
                robot("amzn1.ask.endpoint.R1"),
                robot("amzn1.ask.endpoint.R2")
            ]))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let requests = format!("/sim/skills/{}/users/alice/requests", h.skill_id);
        Gadgets { h, requests }
    }

    /// Sends an IntentRequest the test skill answers with `answer`.
    async fn answered(&self, answer: Value) -> Value {
        self.h
            .skill
            .state
            .lock()
            .unwrap()
            .custom_answers
            .push_back(answer);
        self.h
            .post(
                &self.requests,
                json!({"type": "IntentRequest", "intent": "GoIntent"}),
            )
            .await
            .1
    }

    async fn inbox(&self, id: &str) -> Vec<Value> {
        self.h
            .http
            .get(format!("{}/sim/users/alice/gadgets/{id}/directives", self.h.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn event(&self, id: &str, name: &str) -> (u16, Value) {
        self.h
            .post(
                &format!("/sim/users/alice/gadgets/{id}/events"),
                json!({"namespace": "Custom.Robot", "name": name, "payload": {"turns": 1}}),
            )
            .await
    }

    fn last_request(&self) -> Value {
        self.h
            .skill
            .state
            .lock()
            .unwrap()
            .custom_requests
            .last()
            .cloned()
            .unwrap()
    }
}

#[tokio::test]
async fn directives_reach_each_gadget_and_events_come_back_through_the_filter() {
    let g = Gadgets::start().await;
    g.h.post(&g.requests, json!({"type": "LaunchRequest"})).await;
    let ex = g
        .answered(spin(
            &["amzn1.ask.endpoint.R1", "amzn1.ask.endpoint.R2"],
            Some(start_handler("t1", "SEND", 60_000)),
        ))
        .await;
    assert_eq!(ex["valid"], true, "{ex:#}");
    for id in ["amzn1.ask.endpoint.R1", "amzn1.ask.endpoint.R2"] {
        let inbox = g.inbox(id).await;
        assert_eq!(inbox.len(), 1, "{id}");
        assert_eq!(inbox[0]["header"]["name"], "Spin");
    }

    let (s, passed) = g.event("amzn1.ask.endpoint.R1", "Spun").await;
    assert_eq!(s, 200, "{passed}");
    assert_eq!(passed["delivered"], true, "{passed:#}");
    let sent = g.last_request();
    assert_eq!(
        sent["request"]["type"],
        "CustomInterfaceController.EventsReceived"
    );
    assert_eq!(sent["request"]["token"], "t1");
    assert_eq!(
        sent["request"]["events"][0]["endpoint"]["endpointId"],
        "amzn1.ask.endpoint.R1"
    );
    assert_eq!(sent["session"]["new"], false, "in the session");

    let (_, filtered) = g.event("amzn1.ask.endpoint.R2", "Wobbled").await;
    assert_eq!(filtered["delivered"], false);
    assert!(
        filtered["reason"].as_str().unwrap().contains("filter"),
        "{filtered}"
    );

    // The skill stops it in its answer to an event: later events go nowhere.
    g.h.skill.state.lock().unwrap().custom_answers.push_back(json!({"version": "1.0",
        "response": {"directives": [{"type": "CustomInterfaceController.StopEventHandler", "token": "t1"}]}}));
    assert_eq!(
        g.event("amzn1.ask.endpoint.R1", "Spun").await.1["delivered"],
        true
    );
    let (_, after) = g.event("amzn1.ask.endpoint.R1", "Spun").await;
    assert_eq!(after["delivered"], false, "{after:#}");

    // Not a gadget of alice's, or not its interface: refused.
    assert_eq!(g.event("amzn1.ask.endpoint.NOPE", "Spun").await.0, 400);
    let (s, _) =
        g.h.post(
            "/sim/users/alice/gadgets/amzn1.ask.endpoint.R1/events",
            json!({"namespace": "Alexa.Other", "name": "Spun"}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn send_and_terminate_passes_one_event_and_expiry_sends_expired() {
    let g = Gadgets::start().await;
    g.h.post(&g.requests, json!({"type": "LaunchRequest"})).await;
    g.answered(spin(
        &["amzn1.ask.endpoint.R1"],
        Some(start_handler("once", "SEND_AND_TERMINATE", 60_000)),
    ))
    .await;
    assert_eq!(
        g.event("amzn1.ask.endpoint.R1", "Spun").await.1["delivered"],
        true
    );
    assert_eq!(
        g.event("amzn1.ask.endpoint.R1", "Spun").await.1["delivered"],
        false
    );

    g.answered(spin(
        &["amzn1.ask.endpoint.R1"],
        Some(start_handler("short", "SEND", 200)),
    ))
    .await;
    let mut expired = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let last = g.last_request();
        if last["request"]["type"] == "CustomInterfaceController.Expired" {
            expired = Some(last);
            break;
        }
    }
    let expired = expired.expect("Expired was sent when the handler's time ran out");
    assert_eq!(expired["request"]["token"], "short");
    assert_eq!(expired["request"]["expirationPayload"], json!({"why": "time"}));
    assert_eq!(
        g.event("amzn1.ask.endpoint.R1", "Spun").await.1["delivered"],
        false,
        "it is over"
    );
}

#[tokio::test]
async fn an_answer_alexa_would_refuse_ends_the_session_with_error() {
    let g = Gadgets::start().await;
    g.h.post(&g.requests, json!({"type": "LaunchRequest"})).await;
    let ex = g
        .answered(spin(&["amzn1.ask.endpoint.R1", "amzn1.ask.endpoint.NOPE"], None))
        .await;
    assert_eq!(ex["valid"], false);
    assert!(
        ex["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "gadget"),
        "{ex:#}"
    );
    let ended = g.last_request();
    assert_eq!(ended["request"]["type"], "SessionEndedRequest");
    assert_eq!(ended["request"]["reason"], "ERROR");
    assert_eq!(ended["request"]["error"]["type"], "INVALID_RESPONSE");
    assert!(
        g.inbox("amzn1.ask.endpoint.R1").await.is_empty(),
        "nothing of it was carried out"
    );
    let (_, next) = g.h.post(&g.requests, json!({"type": "LaunchRequest"})).await;
    assert_eq!(next["sent"]["session"]["new"], true);

    // Over 24 KB: refused the same way.
    let mut big = spin(&["amzn1.ask.endpoint.R1"], None);
    big["response"]["directives"][0]["payload"] = json!({"pattern": "x".repeat(30_000)});
    let ex = g.answered(big).await;
    assert_eq!(ex["valid"], false);
    assert_eq!(g.last_request()["request"]["reason"], "ERROR");
    assert!(g.inbox("amzn1.ask.endpoint.R1").await.is_empty());
}

#[tokio::test]
async fn a_handler_started_again_with_its_token_is_not_ended_by_the_first_ones_timer() {
    let g = Gadgets::start().await;
    g.h.post(&g.requests, json!({"type": "LaunchRequest"})).await;
    // The same handler twice, 250 ms apart: the first one's timer fires 150 ms into the second.
    let handler = || {
        spin(
            &["amzn1.ask.endpoint.R1"],
            Some(start_handler("same", "SEND", 400)),
        )
    };
    g.answered(handler()).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    g.answered(handler()).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (_, during) = g.event("amzn1.ask.endpoint.R1", "Spun").await;
    assert_eq!(
        during["delivered"], true,
        "the first start's timer ended the second: {during:#}"
    );
}
