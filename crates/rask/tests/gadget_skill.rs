//! A gadget skill from rask.toml, through the real `rask serve`, `rask sim` as the Echo and its
//! gadgets, and Mosquitto: launch with no gadget, one and two; one Endpoint Enumeration per
//! session; an intent's directive to each gadget with its slot in the payload; gadget events
//! published on MQTT and pressing the doorbell; stale tokens, unknown gadgets and oversized
//! payloads ignored with a valid answer; expiry; a response past 24 KB never sent; every
//! enumeration error answered in words.

mod common;

use std::time::Duration;

use common::mqtt::{broker, subscribe};
use common::start;
use rask_sim::drivers::custom::{self, RequestSpec};
use rask_sim::{Sim, SimConfig};
use serde_json::{Value, json};

fn spec(v: Value) -> RequestSpec {
    serde_json::from_value(v).unwrap()
}

fn robot(n: usize) -> rask_sim::world::Gadget {
    serde_json::from_value(json!({
        "endpointId": format!("amzn1.ask.endpoint.R{n}"), "friendlyName": format!("Robot {n}"),
        "capabilities": [{"type": "AlexaInterface", "interface": "Custom.Robot", "version": "1.0"}]
    }))
    .unwrap()
}

struct Skill {
    sim: Sim,
    skill_id: String,
    url: String,
    _server: common::Running,
}

/// The sim, a custom skill registered in it, and `rask serve` hosting it with `gadget_keys`.
async fn serve(name: &str, prefix: &str, gadget_keys: &str) -> Skill {
    let (sim, sim_addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{sim_addr}");
    let skill_id = sim
        .world()
        .register_skill(
            serde_json::from_value(json!({"name": "robots", "customEndpoint": "http://127.0.0.1:9/unset"}))
                .unwrap(),
        )
        .unwrap()
        .skill_id;
    sim.world()
        .add_user("alice", rask_sim::Region::Eu, vec![])
        .unwrap();
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("sim-root.pem");
    std::fs::write(&root, sim.signer().unwrap().root_pem()).unwrap();
    let extra = format!(
        r#"
[[devices]]
id = "front-door"
name = "Front door"
kind = "doorbell"
mqtt_topic = "{prefix}/front-door/press"

[mqtt]
url = "{broker}"
client_id = "{prefix}-rask"

[skill]
id = "{skill_id}"
launch = "Spinning your robots."
cert_mirror = "{sim_url}"
trust_root_file = "{root}"
interfaces = ["Custom.Robot"]
no_gadget = "No robot is connected."
{gadget_keys}
"#,
        broker = broker(),
        root = root.display(),
    );
    let config = common::smart_home_config(name, &sim_url, "EU", &extra);
    let server = start(
        &["serve", "--config", config.to_str().unwrap()],
        &[
            ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
            ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
        ],
    );
    let url = server.url();
    sim.world()
        .set_custom_endpoint(&skill_id, &format!("{url}/alexa/skill"))
        .unwrap();
    Skill {
        sim,
        skill_id,
        url,
        _server: server,
    }
}

impl Skill {
    async fn send(&self, v: Value) -> rask_sim::drivers::Exchange {
        custom::send(&self.sim, &self.skill_id, "alice", &spec(v))
            .await
            .unwrap()
    }

    fn pair(&self, n: usize) {
        self.sim
            .world()
            .set_gadgets("alice", (1..=n).map(robot).collect())
            .unwrap();
    }

    fn enumerations(&self) -> usize {
        self.sim.world().log.since(0, Some("endpoints")).len()
    }

    fn inbox(&self, n: usize) -> Vec<Value> {
        self.sim
            .world()
            .gadget_directives("alice", &format!("amzn1.ask.endpoint.R{n}"))
    }

    async fn event(&self, n: usize, name: &str, payload: Value) -> Value {
        let outcome = rask_sim::drivers::gadgets::gadget_event(
            &self.sim,
            "alice",
            &format!("amzn1.ask.endpoint.R{n}"),
            &serde_json::from_value(json!({"namespace": "Custom.Robot", "name": name, "payload": payload}))
                .unwrap(),
        )
        .await
        .unwrap();
        serde_json::to_value(outcome).unwrap()
    }

    /// Posts `request` in the session whose attributes are `attributes`, signed by the sim as
    /// Alexa signs: what Alexa would send for a stale or strange event.
    async fn signed(&self, request: Value, attributes: &Value) -> (u16, Value) {
        let mut request = request;
        request["requestId"] = json!("amzn1.echo-api.request.test");
        request["timestamp"] = json!(rask_model::timestamp::now_seconds());
        request["locale"] = json!("en-US");
        let body = serde_json::to_vec(&json!({
            "version": "1.0",
            "session": {"new": false, "sessionId": "amzn1.echo-api.session.test",
                        "application": {"applicationId": self.skill_id}, "attributes": attributes,
                        "user": {"userId": "amzn1.ask.account.test"}},
            "context": {"System": {"application": {"applicationId": self.skill_id},
                                   "user": {"userId": "amzn1.ask.account.test"}}},
            "request": request
        }))
        .unwrap();
        let signer = self.sim.signer().unwrap();
        let r = reqwest::Client::new()
            .post(format!("{}/alexa/skill", self.url))
            .header("SignatureCertChainUrl", signer.cert_url())
            .header("Signature-256", signer.sign(&body))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn said(ex: &rask_sim::drivers::Exchange) -> String {
    ex.received["response"]["outputSpeech"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_gadget_skill_from_the_configuration() {
    let prefix = format!("gadget-test-{}", std::process::id());
    let mut published = subscribe(&format!("{prefix}/#")).await;
    let s = serve(
        "gadget-skill",
        &prefix,
        &format!(
            r#"
launch_directive = {{ namespace = "Custom.Robot", name = "Spin", payload = '{{"speed": "slow"}}' }}
listen = {{ events = ["Spun", "Stuck"], seconds = 60 }}

[[skill.intents]]
name = "SpeedIntent"
say = "Spinning {{speed}}."
end_session = false
slot_defaults = {{ speed = "fast" }}
gadget_directive = {{ namespace = "Custom.Robot", name = "Spin", payload = '{{"speed": "{{speed}}", "note": "a \"quoted\" {{speed}}"}}' }}

[[skill.gadget_events]]
name = "Spun"
publish = {{ topic = "{prefix}/robots/{{gadget_id}}/spun", payload = '{{"gadget": "{{gadget}}", "event": "{{payload}}"}}' }}
say = "{{gadget}} spun."

[[skill.gadget_events]]
name = "Stuck"
press = "front-door"
"#
        ),
    )
    .await;

    // No gadget: said so, and the skill goes on.
    let none = s.send(json!({"type": "LaunchRequest"})).await;
    assert!(none.valid, "{none:#?}");
    assert_eq!(said(&none), "No robot is connected. Spinning your robots.");
    assert!(none.received["response"].get("directives").is_none());

    // One gadget, then two: each gets the launch's Spin.
    for n in [1, 2] {
        s.pair(n);
        let before = s.enumerations();
        let launch = s.send(json!({"type": "LaunchRequest"})).await;
        assert!(launch.valid, "{launch:#?}");
        assert_eq!(said(&launch), "Spinning your robots.");
        for g in 1..=n {
            let inbox = s.inbox(g);
            let last = inbox.last().unwrap();
            assert_eq!(
                last["header"],
                json!({"namespace": "Custom.Robot", "name": "Spin"})
            );
            assert_eq!(last["payload"], json!({"speed": "slow"}));
        }
        assert!(
            launch.received["response"].get("shouldEndSession").is_none(),
            "the event handler keeps the session: {launch:#?}"
        );
        // An intent in the same session: its slot in each directive, no second enumeration.
        let intent = s
            .send(json!({"type": "IntentRequest", "intent": "SpeedIntent", "slots": {"speed": "very fast"}}))
            .await;
        assert!(intent.valid, "{intent:#?}");
        assert_eq!(said(&intent), "Spinning very fast.");
        for g in 1..=n {
            assert_eq!(
                s.inbox(g).last().unwrap()["payload"],
                json!({"speed": "very fast", "note": "a \"quoted\" very fast"})
            );
        }
        assert_eq!(s.enumerations(), before + 1, "one enumeration per session");
    }

    // Robot 2 spins: published with its id and name, and said.
    let spun = s.event(2, "Spun", json!({"turns": 3})).await;
    assert_eq!(spun["delivered"], true, "{spun:#}");
    assert_eq!(spun["exchange"]["valid"], true, "{spun:#}");
    assert_eq!(
        spun["exchange"]["received"]["response"]["outputSpeech"]["text"],
        "Robot 2 spun."
    );
    let (topic, payload) = tokio::time::timeout(Duration::from_secs(10), published.recv())
        .await
        .expect("the event reached MQTT")
        .unwrap();
    assert_eq!(topic, format!("{prefix}/robots/amzn1.ask.endpoint.R2/spun"));
    assert_eq!(
        serde_json::from_str::<Value>(&payload).unwrap(),
        json!({"gadget": "Robot 2", "event": {"turns": 3}})
    );
    // Stuck presses the doorbell (its press goes to the outbox; rask answers in words or not).
    let stuck = s.event(1, "Stuck", json!("not an object")).await;
    assert_eq!(stuck["exchange"]["valid"], true, "{stuck:#}");

    // What Alexa would send for an old handler, a gadget not of this session, a huge payload:
    // a valid answer, nothing published, and the session still works.
    let attributes = spun["exchange"]["sent"]["session"]["attributes"].clone();
    let token = attributes["rask.eventHandlerToken"].as_str().unwrap().to_owned();
    let event = |token: &str, id: &str, payload: Value| {
        json!({"type": "CustomInterfaceController.EventsReceived", "token": token,
               "events": [{"header": {"namespace": "Custom.Robot", "name": "Spun"},
                           "endpoint": {"endpointId": id}, "payload": payload}]})
    };
    let (status, stale) = s
        .signed(
            event("an-old-handler", "amzn1.ask.endpoint.R1", json!({})),
            &attributes,
        )
        .await;
    assert_eq!((status, &stale["response"]), (200, &json!({})), "{stale:#}");
    let (status, stranger) = s
        .signed(event(&token, "amzn1.ask.endpoint.NOPE", json!({})), &attributes)
        .await;
    assert_eq!(status, 200);
    assert!(stranger["response"].get("outputSpeech").is_none(), "{stranger:#}");
    let (status, huge) = s
        .signed(
            event(&token, "amzn1.ask.endpoint.R1", json!({"blob": "x".repeat(6000)})),
            &attributes,
        )
        .await;
    assert_eq!(status, 200, "{huge:#}");
    assert_eq!(
        huge["response"]["outputSpeech"]["text"], "Robot 1 spun.",
        "said, not published"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), published.recv())
            .await
            .is_err(),
        "nothing published for the stale, strange or huge events"
    );
    // A body far past what Alexa sends: refused before anything reads it.
    let (status, _) = s
        .signed(
            event(
                &token,
                "amzn1.ask.endpoint.R1",
                json!({"blob": "x".repeat(200_000)}),
            ),
            &attributes,
        )
        .await;
    assert!(status == 413 || status == 400, "{status}");
    let again = s.event(1, "Spun", json!({"turns": 1})).await;
    assert_eq!(again["exchange"]["valid"], true);
    let (topic, _) = published.recv().await.unwrap();
    assert_eq!(topic, format!("{prefix}/robots/amzn1.ask.endpoint.R1/spun"));

    // Endpoint Enumeration failing, each way: said, not a failure.
    for status in [400, 401, 403, 500, 503] {
        s.sim
            .world()
            .faults
            .add(serde_json::from_value(json!({"target": "endpoints", "status": status})).unwrap());
        let failed = s.send(json!({"type": "LaunchRequest"})).await;
        assert!(failed.valid, "{status}: {failed:#?}");
        assert_eq!(
            said(&failed),
            "Sorry, I cannot reach your gadgets right now.",
            "{status}"
        );
    }
}

#[tokio::test]
async fn the_handler_expires_and_a_response_past_24_kb_is_never_sent() {
    let prefix = format!("gadget-expiry-{}", std::process::id());
    let s = serve(
        "gadget-expiry",
        &prefix,
        &format!(
            r#"
launch_directive = {{ namespace = "Custom.Robot", name = "Dance", payload = '{{"steps": "{}"}}' }}
listen = {{ seconds = 1, expired = "Time is up." }}
"#,
            "x".repeat(2000)
        ),
    )
    .await;
    s.pair(2);
    let launch = s.send(json!({"type": "LaunchRequest"})).await;
    assert!(launch.valid, "{launch:#?}");
    let mut expired = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        expired = s
            .sim
            .world()
            .log
            .since(0, Some("skill.custom"))
            .into_iter()
            .find(|e| e.name.as_deref() == Some("CustomInterfaceController.Expired"));
        if expired.is_some() {
            break;
        }
    }
    let expired = expired.expect("the sim sent Expired");
    assert!(expired.valid, "{expired:?}");
    assert_eq!(expired.body["response"]["outputSpeech"]["text"], "Time is up.");
    assert_eq!(expired.body["response"]["shouldEndSession"], true);

    // Thirty robots (sixteen kept for the session): sixteen 2 KB directives are over 24 KB.
    // Reported, never sent.
    s.pair(30);
    let too_big = s.send(json!({"type": "LaunchRequest"})).await;
    assert!(too_big.valid, "the apology is a valid answer: {too_big:#?}");
    assert!(too_big.received["response"].get("directives").is_none());
    assert!(s.inbox(16).is_empty(), "no robot received anything");
}
