//! A custom skill from rask.toml, through the real `rask serve`: `rask sim` sends signed
//! requests as Alexa does; rask verifies them through the sim's certificate mirror, answers a
//! session, presses the doorbell, publishes to a real broker (Mosquitto) and sets a device
//! (commanded and confirmed over MQTT) for its intents, and refuses each forgery with 400,
//! running nothing.

mod common;

use std::time::Duration;

use common::mqtt::{broker, publish, subscribe};
use common::start;
use rask_sim::drivers::custom::{self, Forgery, RequestSpec};
use rask_sim::{Sim, SimConfig};
use serde_json::{Value, json};

fn spec(v: Value) -> RequestSpec {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn a_skill_from_the_configuration_answers_signed_requests_and_refuses_forgeries() {
    let (sim, sim_addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{sim_addr}");
    let skill_id = sim
        .world()
        .register_skill(
            serde_json::from_value(
                json!({"name": "front door", "customEndpoint": "http://127.0.0.1:9/unset"}),
            )
            .unwrap(),
        )
        .unwrap()
        .skill_id;
    sim.world()
        .add_user("alice", rask_sim::Region::Eu, vec![])
        .unwrap();
    let prefix = format!("skill-test-{}", std::process::id());
    let mut published = subscribe(&format!("{prefix}/#")).await;

    let dir = std::env::temp_dir().join(format!("custom-skill-{}", std::process::id()));
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

[[devices]]
id = "garage-light"
name = "Garage light"
kind = "light"
command_topic = "{prefix}/garage-light/set"
state_topic = "{prefix}/garage-light/state"
confirm_timeout_ms = 500

[mqtt]
url = "{broker}"
client_id = "{prefix}-rask"

[skill]
id = "{skill_id}"
launch = "Welcome to the front door."
cert_mirror = "{sim_url}"
trust_root_file = "{root}"

[[skill.intents]]
name = "RingIntent"
say = "Ringing the {{door}}."
slot_defaults = {{ door = "front door" }}
press = "front-door"

[[skill.intents]]
name = "PorchLightIntent"
say = "Porch light {{state}}."
end_session = false
publish = {{ topic = "{prefix}/porch-light/set", payload = "{{state}}" }}

[[skill.intents]]
name = "GarageIntent"
say = "The garage light is {{state}}."
end_session = false
set = {{ device = "garage-light", property = "power", value = "{{state}}" }}
"#,
        broker = broker(),
        root = root.display(),
    );
    let config = common::smart_home_config("custom-skill", &sim_url, "EU", &extra);
    let server = start(
        &["serve", "--config", config.to_str().unwrap()],
        &[
            ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
            ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
        ],
    );
    let url = server.url();
    assert!(url.starts_with("http://127.0.0.1:"), "{:?}", server.first_line);
    sim.world()
        .set_custom_endpoint(&skill_id, &format!("{url}/alexa/skill"))
        .unwrap();

    // A session: launch, two intents, the end; every answer valid.
    let launch = custom::send(&sim, &skill_id, "alice", &spec(json!({"type": "LaunchRequest"})))
        .await
        .unwrap();
    assert!(launch.valid, "{launch:#?}");
    assert_eq!(
        launch.received["response"]["outputSpeech"]["text"],
        "Welcome to the front door."
    );
    assert_eq!(launch.received["response"]["shouldEndSession"], false);

    let light = custom::send(
        &sim,
        &skill_id,
        "alice",
        &spec(json!({"type": "IntentRequest", "intent": "PorchLightIntent", "slots": {"state": "off"}})),
    )
    .await
    .unwrap();
    assert!(light.valid, "{light:#?}");
    assert_eq!(
        light.received["response"]["outputSpeech"]["text"],
        "Porch light off."
    );
    let (topic, payload) = tokio::time::timeout(Duration::from_secs(10), published.recv())
        .await
        .expect("the intent published")
        .unwrap();
    assert_eq!(
        (topic.as_str(), payload.as_str()),
        (format!("{prefix}/porch-light/set").as_str(), "off")
    );

    // Setting a device: the command goes out, the device confirms it, then rask speaks.
    let garage = |state: &str| {
        spec(json!({"type": "IntentRequest", "intent": "GarageIntent", "slots": {"state": state}}))
    };
    let asked = {
        let (sim, skill_id, off) = (sim.clone(), skill_id.clone(), garage("off"));
        tokio::spawn(async move { custom::send(&sim, &skill_id, "alice", &off).await })
    };
    let (topic, payload) = tokio::time::timeout(Duration::from_secs(10), published.recv())
        .await
        .expect("the intent commanded the light")
        .unwrap();
    assert_eq!(topic, format!("{prefix}/garage-light/set"));
    assert_eq!(
        serde_json::from_str::<Value>(&payload).unwrap(),
        json!({"power": "OFF"})
    );
    publish(&format!("{prefix}/garage-light/state"), r#"{"power": "OFF"}"#).await;
    let confirmed = asked.await.unwrap().unwrap();
    assert!(confirmed.valid, "{confirmed:#?}");
    assert_eq!(
        confirmed.received["response"]["outputSpeech"]["text"],
        "The garage light is off."
    );
    let (topic, _) = published.recv().await.unwrap();
    assert_eq!(topic, format!("{prefix}/garage-light/state"), "our own report");
    // Not confirmed: said plainly, the session goes on. Words that are no value: nothing sent.
    let silent = custom::send(&sim, &skill_id, "alice", &garage("on"))
        .await
        .unwrap();
    assert!(silent.valid, "{silent:#?}");
    assert_eq!(
        silent.received["response"]["outputSpeech"]["text"],
        "Sorry, Garage light is not responding."
    );
    let (topic, _) = published.recv().await.unwrap();
    assert_eq!(topic, format!("{prefix}/garage-light/set"));
    let nonsense = custom::send(&sim, &skill_id, "alice", &garage("purple"))
        .await
        .unwrap();
    assert!(nonsense.valid, "{nonsense:#?}");
    assert_eq!(
        nonsense.received["response"]["outputSpeech"]["text"],
        "Sorry, Garage light cannot be set to that."
    );
    assert_eq!(nonsense.sent["session"]["new"], false, "the session went on");

    let ended = custom::send(
        &sim,
        &skill_id,
        "alice",
        &spec(json!({"type": "SessionEndedRequest"})),
    )
    .await
    .unwrap();
    assert_eq!(ended.status, 200, "{ended:#?}");

    let again = custom::send(&sim, &skill_id, "alice", &spec(json!({"type": "LaunchRequest"})))
        .await
        .unwrap();
    assert!(again.valid, "{again:#?}");
    let ring = custom::send(
        &sim,
        &skill_id,
        "alice",
        &spec(json!({"type": "IntentRequest", "intent": "RingIntent"})),
    )
    .await
    .unwrap();
    assert!(ring.valid, "{ring:#?}");
    assert_eq!(
        ring.received["response"]["outputSpeech"]["text"],
        "Ringing the front door."
    );
    assert_eq!(ring.received["response"]["shouldEndSession"], true);
    assert_eq!(
        ring.sent["session"]["new"], false,
        "one session from launch to ring"
    );

    // Every forgery: 400, nothing run (no more publishes, no more speech).
    for forge in Forgery::ALL {
        let name = serde_json::to_value(forge).unwrap();
        let ex = custom::send(
            &sim,
            &skill_id,
            "alice",
            &spec(json!({"type": "IntentRequest", "intent": "PorchLightIntent", "slots": {"state": "on"}, "forge": name})),
        )
        .await
        .unwrap();
        assert_eq!(ex.status, 400, "{name}: {ex:#?}");
        assert!(ex.valid, "{name}: {ex:#?}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), published.recv())
            .await
            .is_err(),
        "a forged request published nothing"
    );

    // Bytes that are not an Alexa request at all: 400, and rask carries on.
    for body in [&b""[..], b"{", b"\xff\xfe", b"[]", b"{\"version\":1}"] {
        let r = reqwest::Client::new()
            .post(format!("{url}/alexa/skill"))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
    let again = custom::send(&sim, &skill_id, "alice", &spec(json!({"type": "LaunchRequest"})))
        .await
        .unwrap();
    assert!(again.valid, "{again:#?}");
}

#[tokio::test]
async fn turning_verification_off_is_said_at_every_start() {
    let extra = "[skill]\nid = \"amzn1.ask.skill.test\"\nverify_requests = false\n";
    let config = common::smart_home_config("custom-skill-unverified", "http://127.0.0.1:9", "NA", extra);
    let server = common::start_command(
        {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rask"));
            cmd.args(["serve", "--config", config.to_str().unwrap()])
                .env("RASK_LOG", "error")
                .env("RASK_TEST_LINK_SECRET", "link-secret-0123456789")
                .env("RASK_TEST_LWA_SECRET", "rask-lwa-secret");
            cmd
        },
        // listening, account linking, smart home, custom skill, the warning, the database.
        6,
    );
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.contains("WARNING skill.verify_requests = false")),
        "{:#?}",
        server.lines
    );
}
