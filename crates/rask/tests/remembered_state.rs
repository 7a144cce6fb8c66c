//! What rask keeps in memory to answer fast (token answers, device state, the Discover
//! answer) stays honest, with the real binary: a link revoked on one instance is refused by
//! another on the same PostgreSQL database within the validator's cache life, Discover's
//! answer (made once) follows a changed configuration, and ReportState after a SIGKILL and a
//! restart reports only what was stored, with the time it was sampled.

mod common;

use std::time::{Duration, Instant};

use common::start;
use serde_json::{Value, json};

const ENV: [(&str, &str); 2] = [
    ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
    ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
];

async fn start_sim() -> (rask_sim::Sim, String) {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (sim, format!("http://{addr}"))
}

/// `[mqtt]` for the broker the tests use, and lights rask commands over it without hearing
/// back (no state topic: rask's record of them is what it last told them).
fn lights(name: &str, lights: &[(&str, &str)]) -> String {
    let broker = std::env::var("RASK_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let pid = std::process::id();
    let mut out = format!("[mqtt]\nurl = \"{broker}\"\nclient_id = \"{name}-{pid}\"\n");
    for (id, friendly) in lights {
        out += &format!(
            "[[devices]]\nid = \"{id}\"\nname = \"{friendly}\"\nkind = \"light\"\ncommand_topic = \"rask-test/{pid}-{name}/{id}/set\"\n"
        );
    }
    out
}

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// A directive as Alexa sends it, with `token` as its bearer token.
fn directive(namespace: &str, name: &str, endpoint: Option<&str>, token: &str) -> Value {
    let mut d = json!({"directive": {
        "header": {"namespace": namespace, "name": name, "messageId": uuid::Uuid::new_v4().to_string(),
                   "correlationToken": "c0rr3lat10n", "payloadVersion": "3"},
        "payload": {}
    }});
    match endpoint {
        Some(id) => {
            d["directive"]["endpoint"] =
                json!({"scope": {"type": "BearerToken", "token": token}, "endpointId": id})
        }
        None => d["directive"]["payload"] = json!({"scope": {"type": "BearerToken", "token": token}}),
    }
    d
}

/// Posts `d` to the rask at `url`; the answer, checked against Amazon's schema.
async fn send(url: &str, d: &Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{url}/alexa/smarthome"))
        .json(d)
        .send()
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    let verdict = rask_model::check::check_value(&answer);
    assert!(verdict.is_valid(), "{answer:#}\n{:?}", verdict.findings);
    answer
}

/// The answer's event name, or its error type.
fn outcome(answer: &Value) -> String {
    let e = &answer["event"];
    e["payload"]["type"]
        .as_str()
        .or(e["header"]["name"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_revoked_on_one_instance_is_refused_by_another_within_the_cache_life() {
    let (sim, sim_url) = start_sim().await;
    let database = rask_store::testing::postgres_url().await;
    let first = common::smart_home_config("rask-revoke-two", &sim_url, "NA", "");
    common::use_database(&first, &database);
    let second = first.with_file_name("second.toml");
    std::fs::copy(&first, &second).unwrap();
    let (a, b) = (first.to_str().unwrap(), second.to_str().unwrap());
    common::add_user(a, "alice");
    let one = start(&["serve", "--config", a], &ENV);
    let two = start(&["serve", "--config", b], &ENV);
    let skill = common::link_and_grant(&sim, &one.url(), rask_sim::Region::Na).await;
    let token = rask_sim::drivers::link::fresh_access_token(&sim, &skill, "alice")
        .await
        .unwrap();
    let discover = || directive("Alexa.Discovery", "Discover", None, &token);
    // Both instances know the token now (and keep its answer for their cache life).
    assert_eq!(outcome(&send(&one.url(), &discover()).await), "Discover.Response");
    assert_eq!(outcome(&send(&two.url(), &discover()).await), "Discover.Response");

    let r = reqwest::Client::new()
        .post(format!("{}/oauth/revoke", one.url()))
        .basic_auth("alexa", Some("link-secret-0123456789"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let revoked_at = Instant::now();
    assert_eq!(
        outcome(&send(&one.url(), &discover()).await),
        "INVALID_AUTHORIZATION_CREDENTIAL",
        "the instance that revoked refuses at once"
    );
    loop {
        let answer = outcome(&send(&two.url(), &discover()).await);
        if answer == "INVALID_AUTHORIZATION_CREDENTIAL" {
            break;
        }
        assert_eq!(answer, "Discover.Response");
        assert!(
            revoked_at.elapsed() < rask_link::CACHE_LIFE + Duration::from_secs(2),
            "the other instance still accepts the token past the cache life"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A TurnOn is refused as well: no part of the hot path trusts the old answer.
    let d = directive("Alexa.PowerController", "TurnOn", Some("lamp"), &token);
    assert_eq!(
        outcome(&send(&two.url(), &d).await),
        "INVALID_AUTHORIZATION_CREDENTIAL"
    );
}

/// A property's value and its time of sample (ms) in a StateReport.
fn sampled(answer: &Value, name: &str) -> (Value, i64) {
    let p = answer["context"]["properties"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {answer:#}"));
    let at = time::OffsetDateTime::parse(
        p["timeOfSample"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    (p["value"].clone(), (at.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_state_after_sigkill_reports_only_what_was_stored_with_its_time() {
    for database in [None, Some(rask_store::testing::postgres_url().await)] {
        let (sim, sim_url) = start_sim().await;
        let name = if database.is_some() {
            "rask-honest-pg"
        } else {
            "rask-honest"
        };
        let config = common::smart_home_config(
            name,
            &sim_url,
            "NA",
            &lights(name, &[("lamp", "Lamp"), ("spot", "Spot")]),
        );
        if let Some(url) = &database {
            common::use_database(&config, url);
        }
        let cfg = config.to_str().unwrap();
        common::add_user(cfg, "alice");
        let server = start(&["serve", "--config", cfg], &ENV);
        let url = server.url();
        let skill = common::link_and_grant(&sim, &url, rask_sim::Region::Na).await;
        let token = rask_sim::drivers::link::fresh_access_token(&sim, &skill, "alice")
            .await
            .unwrap();
        let power = |name: &str, device: &str| directive("Alexa.PowerController", name, Some(device), &token);

        let on_at = now_ms();
        assert_eq!(outcome(&send(&url, &power("TurnOn", "lamp")).await), "Response");
        assert_eq!(outcome(&send(&url, &power("TurnOn", "spot")).await), "Response");
        // The behind-writer has long committed these.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // The same state again changes nothing worth a write; the spot goes off, and rask dies
        // at once: that write may or may not have reached the store.
        assert_eq!(outcome(&send(&url, &power("TurnOn", "lamp")).await), "Response");
        let off_at = now_ms();
        assert_eq!(outcome(&send(&url, &power("TurnOff", "spot")).await), "Response");
        drop(server);
        let killed_at = now_ms();
        tokio::time::sleep(Duration::from_millis(1100)).await;

        let again = start(&["serve", "--config", cfg], &ENV);
        let restarted_at = now_ms();
        let report = |device: &str| directive("Alexa", "ReportState", Some(device), &token);
        let lamp = send(&again.url(), &report("lamp")).await;
        assert_eq!(outcome(&lamp), "StateReport", "{lamp:#}");
        let (value, at) = sampled(&lamp, "powerState");
        assert_eq!(value, "ON");
        assert!(
            (on_at..on_at + 1000).contains(&at),
            "the lamp's state is dated when it was first stored ({at}, turned on at {on_at}), \
             not at the restart ({restarted_at})"
        );
        let spot = send(&again.url(), &report("spot")).await;
        let (value, at) = sampled(&spot, "powerState");
        match value.as_str() {
            Some("OFF") => assert!(
                (off_at..=killed_at).contains(&at),
                "OFF is dated when it was sent ({at} not in {off_at}..={killed_at})"
            ),
            Some("ON") => assert!(
                (on_at..on_at + 1000).contains(&at),
                "the stored ON keeps its own time ({at}, turned on at {on_at})"
            ),
            _ => panic!("{spot:#}"),
        }
        assert!(at < restarted_at);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_follows_a_changed_configuration() {
    let (sim, sim_url) = start_sim().await;
    let config = common::smart_home_config(
        "rask-discover-change",
        &sim_url,
        "NA",
        &lights("rask-discover-change", &[("lamp", "Lamp"), ("plug", "Kettle")]),
    );
    let cfg = config.to_str().unwrap();
    common::add_user(cfg, "alice");
    let server = start(&["serve", "--config", cfg], &ENV);
    let skill = common::link_and_grant(&sim, &server.url(), rask_sim::Region::Na).await;
    let token = rask_sim::drivers::link::fresh_access_token(&sim, &skill, "alice")
        .await
        .unwrap();
    let names = |answer: &Value| -> Vec<String> {
        answer["event"]["payload"]["endpoints"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer:#}"))
            .iter()
            .map(|e| {
                format!(
                    "{}={}",
                    e["endpointId"].as_str().unwrap(),
                    e["friendlyName"].as_str().unwrap()
                )
            })
            .collect()
    };
    let discover = directive("Alexa.Discovery", "Discover", None, &token);
    let before = send(&server.url(), &discover).await;
    assert_eq!(names(&before), ["lamp=Lamp", "plug=Kettle"]);
    let again = send(&server.url(), &discover).await;
    assert_ne!(
        again["event"]["header"]["messageId"], before["event"]["header"]["messageId"],
        "each answer has its own messageId"
    );
    drop(server);

    // The kettle is gone and the lamp has a new name.
    let text = std::fs::read_to_string(&config).unwrap();
    let plug = text.find("[[devices]]\nid = \"plug\"").unwrap();
    // (The lamp's lines end where the kettle's begin.)
    std::fs::write(
        &config,
        text[..plug].replace("name = \"Lamp\"", "name = \"Reading lamp\""),
    )
    .unwrap();
    let server = start(&["serve", "--config", cfg], &ENV);
    let after = send(&server.url(), &discover).await;
    assert_eq!(names(&after), ["lamp=Reading lamp"]);
}
