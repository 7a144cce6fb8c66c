//! `rask sim evaluate`: the Works with Alexa evaluation, against rask's embedded default
//! through the CLI, against a configured rask that adds and removes a device, against a small
//! skill broken on purpose, and against one that hangs.

mod common;

use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};

/// The rows of an evaluation that failed, as (requirement, endpoint).
fn failed(evaluation: &Value) -> Vec<(String, Option<String>)> {
    evaluation["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "fail")
        .map(|r| {
            (
                r["requirement"].as_str().unwrap().to_owned(),
                r["endpoint"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// The row of `requirement` about `endpoint`.
fn row<'a>(evaluation: &'a Value, requirement: &str, endpoint: Option<&str>) -> &'a Value {
    evaluation["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["requirement"].as_str().unwrap().starts_with(requirement) && r["endpoint"].as_str() == endpoint
        })
        .unwrap_or_else(|| panic!("no row {requirement:?} for {endpoint:?} in {evaluation:#}"))
}

#[tokio::test]
async fn the_embedded_default_passes_every_row_that_applies() {
    let d = common::fresh_dir("evaluate-embedded");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(&d)
        .env("RASK_LOG", "warn")
        .env_remove("RASK_SECRET_KEY");
    let server = common::start_command(cmd, 17);
    let text = server.lines.join("\n");
    let sim = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("simulator console:"))
        .unwrap()
        .trim()
        .trim_end_matches("/sim/")
        .to_owned();
    let skill = text
        .lines()
        .find_map(|l| l.split("sim link ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    let window = common::printed_secret(&text, "kitchen-window/state");
    let changes = d.join("changes.json");
    std::fs::write(
        &changes,
        json!([{"endpointId": "kitchen-window", "url": format!("{}/hooks/devices/kitchen-window/state", server.url()),
                "bearer": window, "bodies": ["closed", "open"]}])
        .to_string(),
    )
    .unwrap();

    let out = common::rask(
        &[
            "sim",
            "evaluate",
            &skill,
            "demo",
            "--username",
            "demo",
            "--password",
            "demo-password",
            "--changes",
            changes.to_str().unwrap(),
            "--sim",
            &sim,
            "--json",
        ],
        None,
    );
    let e: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{e:#}");
    assert_eq!(e["progress"], "done");
    assert_eq!(failed(&e), vec![], "{e:#}");
    // What was checked, and passed, for each kind.
    for (requirement, endpoint) in [
        ("Link accounts", None),
        ("Handle AcceptGrant", None),
        ("Target version 3", None),
        ("Refresh the Event Gateway access token", None),
        ("Answer each directive within 8 seconds", None),
        ("Every answer is valid", None),
        ("Answer every directive", Some("hall-light")),
        ("Answer a value outside", Some("hall-light")),
        (
            "Always report the state of all capability properties",
            Some("hall-light"),
        ),
        ("Answer ReportState with a StateReport", Some("front-door")),
        ("Send a ChangeReport within 3 seconds", Some("kitchen-window")),
        (
            "Always report the state of all capability properties",
            Some("kitchen-window"),
        ),
        ("Implement EndpointHealth", Some("kitchen-window")),
    ] {
        assert_eq!(
            row(&e, requirement, endpoint)["verdict"],
            "pass",
            "{requirement} {endpoint:?}: {e:#}"
        );
    }
    // And what does not apply, said so.
    assert_eq!(
        row(&e, "Answer every directive", Some("kitchen-window"))["verdict"],
        "not_applicable"
    );
    assert_eq!(
        row(&e, "Answer a value outside", Some("front-door"))["verdict"],
        "not_applicable"
    );
    assert_eq!(
        row(&e, "Send a ChangeReport within 3 seconds", Some("hall-light"))["verdict"],
        "not_checked",
        "no hook was given for the light"
    );
    assert!(e["latency"]["count"].as_u64().unwrap() >= 10, "{e:#}");

    // The table a person reads: the same verdicts, and the exit code says it passed.
    let table = common::rask(
        &[
            "sim",
            "evaluate",
            &skill,
            "demo",
            "--changes",
            changes.to_str().unwrap(),
            "--sim",
            &sim,
        ],
        None,
    );
    let printed = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{printed}");
    assert!(
        printed.contains("ok    Send a ChangeReport within 3 seconds of a physical change of a proactively reported property [kitchen-window]"),
        "{printed}"
    );
    assert!(printed.contains(" failed, "), "{printed}");
}

/// A small smart-home skill with account linking that always lets Alexa in, broken on purpose
/// as a configuration says.
#[derive(Clone)]
struct Broken {
    /// The payloadVersion of every answer.
    version: &'static str,
    /// Whether an Alexa.Response carries EndpointHealth.
    health_in_response: bool,
    /// A directive name it never answers.
    hang_on: Option<&'static str>,
}

async fn broken_skill(b: Broken) -> String {
    let app = Router::new()
        .route(
            "/authorize",
            get(
                |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    let to = format!(
                        "{}?code=a-code&state={}",
                        q.get("redirect_uri").cloned().unwrap_or_default(),
                        q.get("state").cloned().unwrap_or_default()
                    );
                    axum::response::Redirect::to(&to)
                },
            ),
        )
        .route(
            "/token",
            post(|| async {
                axum::Json(json!({"access_token": uuid_like(), "token_type": "bearer",
                                  "expires_in": 3600, "refresh_token": uuid_like()}))
            }),
        )
        .route("/change", post(|| async { "changed, and nobody told" }))
        .route("/smarthome", post(answer))
        .with_state(b);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn uuid_like() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn answer(State(b): State<Broken>, axum::Json(d): axum::Json<Value>) -> axum::Json<Value> {
    let h = &d["directive"]["header"];
    let name = h["name"].as_str().unwrap_or("");
    if b.hang_on == Some(name) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let header = |namespace: &str, name: &str| {
        let mut v = json!({"namespace": namespace, "name": name, "payloadVersion": b.version,
                           "messageId": "5f8a426e-01e4-4cc9-8b79-65f8bd0fd8a4"});
        if let Some(t) = h["correlationToken"].as_str() {
            v["correlationToken"] = json!(t);
        }
        v
    };
    let now = rask_model::timestamp::now_millis();
    let power = json!({"namespace": "Alexa.PowerController", "name": "powerState", "value": "ON",
                       "timeOfSample": now, "uncertaintyInMilliseconds": 0});
    let health = json!({"namespace": "Alexa.EndpointHealth", "name": "connectivity", "value": {"value": "OK"},
                        "timeOfSample": now, "uncertaintyInMilliseconds": 0});
    let endpoint = json!({"endpointId": "lamp"});
    axum::Json(match name {
        "Discover" => json!({"event": {
        "header": {"namespace": "Alexa.Discovery", "name": "Discover.Response", "payloadVersion": b.version,
                   "messageId": "5f8a426e-01e4-4cc9-8b79-65f8bd0fd8a4"},
        "payload": {"endpoints": [{
            "endpointId": "lamp", "manufacturerName": "Broken Inc", "friendlyName": "Lamp",
            "description": "A lamp", "displayCategories": ["LIGHT"],
            "additionalAttributes": {"manufacturer": "Broken Inc", "model": "L1"},
            "capabilities": [
                {"type": "AlexaInterface", "interface": "Alexa", "version": "3"},
                {"type": "AlexaInterface", "interface": "Alexa.PowerController", "version": "3",
                 "properties": {"supported": [{"name": "powerState"}], "retrievable": true, "proactivelyReported": true}},
                {"type": "AlexaInterface", "interface": "Alexa.EndpointHealth", "version": "3",
                 "properties": {"supported": [{"name": "connectivity"}], "retrievable": true, "proactivelyReported": true}}
            ]}]}}}),
        "AcceptGrant" => {
            json!({"event": {"header": header("Alexa.Authorization", "AcceptGrant.Response"), "payload": {}}})
        }
        "ReportState" => {
            json!({"event": {"header": header("Alexa", "StateReport"), "endpoint": endpoint, "payload": {}},
                                "context": {"properties": [power, health]}})
        }
        _ => {
            let mut properties = vec![power];
            if b.health_in_response {
                properties.push(health);
            }
            json!({"event": {"header": header("Alexa", "Response"), "endpoint": endpoint, "payload": {}},
                   "context": {"properties": properties}})
        }
    })
}

/// Registers the broken skill at `url` in `sim`, with its one user "eve".
fn register(sim: &rask_sim::Sim, url: &str) -> String {
    let registration = json!({
        "name": "broken", "smartHomeEndpoint": format!("{url}/smarthome"),
        "accountLinking": {"authorizationUri": format!("{url}/authorize"), "tokenUri": format!("{url}/token"),
                           "clientId": "alexa", "clientSecret": "whatever-it-is"}
    });
    let mut w = sim.world();
    let skill = w
        .register_skill(serde_json::from_value(registration).unwrap())
        .unwrap()
        .skill_id;
    let _ = w.add_user("eve", rask_sim::Region::Na, vec![]);
    skill
}

/// Starts an evaluation through the sim's HTTP API and waits for its end.
async fn evaluate_over_http(sim_url: &str, skill: &str, body: Value) -> Value {
    let client = reqwest::Client::new();
    let started = client
        .post(format!("{sim_url}/sim/skills/{skill}/evaluations"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let answer: Value = started.json().await.unwrap();
    assert_eq!(answer["url"], location);
    for _ in 0..600 {
        let e: Value = client.get(&location).send().await.unwrap().json().await.unwrap();
        if e["progress"] != "running" {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the evaluation did not end within a minute");
}

#[tokio::test]
async fn a_broken_skill_fails_exactly_the_rows_it_breaks() {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{addr}");
    let url = broken_skill(Broken {
        version: "2",
        health_in_response: false,
        hang_on: None,
    })
    .await;
    let skill = register(&sim, &url);
    let e = evaluate_over_http(
        &sim_url,
        &skill,
        json!({"user": "eve", "username": "eve", "password": "any",
               "changes": [{"endpointId": "lamp", "url": format!("{url}/change")}]}),
    )
    .await;
    assert_eq!(e["progress"], "done", "{e:#}");
    assert_eq!(
        failed(&e),
        vec![
            ("Target version 3 of the Smart Home API".to_owned(), None),
            (
                "Always report the state of all capability properties, including those defined by EndpointHealth"
                    .to_owned(),
                Some("lamp".to_owned())
            ),
            (
                "Send a ChangeReport within 3 seconds of a physical change of a proactively reported property"
                    .to_owned(),
                Some("lamp".to_owned())
            ),
        ],
        "{e:#}"
    );
    let version = row(&e, "Target version 3", None)["detail"].as_str().unwrap();
    assert!(version.contains(r#"payloadVersion "2""#), "{version}");
    let health = row(&e, "Always report the state", Some("lamp"))["detail"]
        .as_str()
        .unwrap();
    assert!(
        health.contains("the Alexa.Response to TurnOn lacks Alexa.EndpointHealth.connectivity"),
        "{health}"
    );
    assert!(
        !health.contains("StateReport"),
        "its StateReport was right: {health}"
    );
    let change = row(&e, "Send a ChangeReport", Some("lamp"))["detail"]
        .as_str()
        .unwrap();
    assert!(
        change.contains("no ChangeReport reached the Event Gateway within 3 s"),
        "{change}"
    );
    assert_eq!(e["summary"]["fail"], 3);
    // The link's token was refreshed mid-run, through the broken skill's token URI.
    assert_eq!(row(&e, "Link accounts", None)["verdict"], "pass", "{e:#}");

    // Listed, and found by id; an unknown one is a clear 404.
    let list: Value = reqwest::get(format!("{sim_url}/sim/evaluations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["evaluations"][0]["id"], e["id"]);
    let missing = reqwest::get(format!("{sim_url}/sim/evaluations/999"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // Without a login for an unlinked user, it stops at once and says what to give.
    sim.world()
        .add_user("mallory", rask_sim::Region::Na, vec![])
        .unwrap();
    let stopped = evaluate_over_http(&sim_url, &skill, json!({"user": "mallory"})).await;
    assert_eq!(stopped["progress"], "stopped");
    assert!(
        stopped["error"]
            .as_str()
            .unwrap()
            .contains("give the login for the skill's linking page"),
        "{stopped:#}"
    );
}

#[tokio::test]
async fn a_skill_that_hangs_past_8_s_is_reported_and_the_run_goes_on() {
    let (sim, _) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = broken_skill(Broken {
        version: "3",
        health_in_response: true,
        hang_on: Some("TurnOff"),
    })
    .await;
    let skill = register(&sim, &url);
    let request = serde_json::from_value(json!({"username": "eve", "password": "any"})).unwrap();
    let e = rask_sim::evaluate::evaluate(&sim, &skill, "eve", request)
        .await
        .unwrap();
    let e = serde_json::to_value(&e).unwrap();
    assert_eq!(e["progress"], "done", "{e:#}");
    let timely = row(&e, "Answer each directive within 8 seconds", None);
    assert_eq!(timely["verdict"], "fail");
    assert!(
        timely["detail"]
            .as_str()
            .unwrap()
            .contains("Alexa.PowerController.TurnOff {} to lamp: no answer within 8000 ms"),
        "{timely:#}"
    );
    let directives = row(&e, "Answer every directive", Some("lamp"));
    assert_eq!(directives["verdict"], "fail");
    assert!(
        directives["detail"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{directives:#}"
    );
    // It carried on: the rows after the hang were decided, and only those two failed.
    assert_eq!(failed(&e).len(), 2, "{e:#}");
    assert_eq!(
        row(&e, "Always report the state", Some("lamp"))["verdict"],
        "pass"
    );
    assert!(e["latency"]["maxMs"].as_u64().unwrap() >= 8_000, "{e:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_passes_and_a_device_added_and_removed_is_announced() {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{addr}");
    // Every kind rask bridges that takes directives, on MQTT, with a hub that confirms each
    // command by echoing it as the device's state: the evaluation drives each, in range and
    // out of it.
    let prefix = format!("rask-evaluate-{}", std::process::id());
    let _hub = echo_hub(&prefix).await;
    let device = |id: &str, name: &str, kind: &str| {
        format!(
            "[[devices]]\nid = \"{id}\"\nname = \"{name}\"\nkind = \"{kind}\"\n\
             command_topic = \"{prefix}/{id}/set\"\nstate_topic = \"{prefix}/{id}\"\n"
        )
    };
    // And one the hub does not serve: it never confirms, so rask says it cannot be reached.
    let dead = format!(
        "[[devices]]\nid = \"attic\"\nname = \"Attic light\"\nkind = \"light\"\n\
         command_topic = \"{prefix}-unplugged/attic/set\"\nstate_topic = \"{prefix}-unplugged/attic\"\nconfirm_timeout_ms = 200\n"
    );
    let light = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"rask-evaluate-{}\"\n{}{}{}{}{dead}",
        common::mqtt::broker(),
        std::process::id(),
        device("porch", "Porch light", "light"),
        device("blind", "Kitchen blind", "blind"),
        device("shutter", "Bedroom shutter", "shutter"),
        device("door", "Back door", "lock"),
    );
    let fan = device("fan", "Fan", "plug");
    let config = common::smart_home_config("rask-evaluate-added", &sim_url, "NA", &light);
    let config = config.to_str().unwrap().to_owned();
    // One port for every start: the skill's URLs in the sim stay right across restarts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))).unwrap();
    let envs = [
        ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
        ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
    ];
    common::add_user(&config, "alice");
    let serve = || common::start(&["serve", "--config", &config], &envs);
    let server = serve();
    let skill = common::link_and_grant(&sim, &server.url(), rask_sim::Region::Na).await;
    drop(server);
    // A device added, and a restart: rask tells Alexa. Then it is removed again.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}{fan}")).unwrap();
    let server = serve();
    wait_for_gateway(&sim, "Alexa.Discovery.AddOrUpdateReport").await;
    drop(server);
    std::fs::write(&config, &text).unwrap();
    let _server = serve();
    wait_for_gateway(&sim, "Alexa.Discovery.DeleteReport").await;
    let e = rask_sim::evaluate::evaluate(&sim, &skill, "alice", Default::default())
        .await
        .unwrap();
    let e = serde_json::to_value(&e).unwrap();
    for (requirement, endpoint) in [
        ("Answer every directive", "porch"),
        ("Answer every directive", "blind"),
        ("Answer every directive", "shutter"),
        ("Answer every directive", "door"),
        ("Answer a value outside", "porch"),
        ("Answer a value outside", "blind"),
        ("Answer a value outside", "shutter"),
        ("Always report the state of all capability properties", "door"),
        ("Answer ReportState with a StateReport", "shutter"),
    ] {
        assert_eq!(
            row(&e, requirement, Some(endpoint))["verdict"],
            "pass",
            "{requirement} {endpoint}: {e:#}"
        );
    }
    assert_eq!(
        row(&e, "Send AddOrUpdateReport", None)["verdict"],
        "pass",
        "{e:#}"
    );
    assert_eq!(row(&e, "Send DeleteReport", None)["verdict"], "pass", "{e:#}");
    assert_eq!(failed(&e), vec![], "{e:#}");
}

/// A home hub on the broker that confirms every command under `prefix/+/set` by publishing
/// the device's whole state with the command applied, as zigbee2mqtt does (the light starts
/// off at full brightness).
async fn echo_hub(prefix: &str) -> tokio::task::JoinHandle<()> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let b = common::mqtt::broker();
    let mut opts = MqttOptions::new(
        format!("hub-{prefix}"),
        b.host_str().unwrap(),
        b.port().unwrap_or(1883),
    );
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = AsyncClient::new(opts, 64);
    client
        .subscribe(format!("{prefix}/+/set"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    let mut subscribed_tx = Some(subscribed_tx);
    let mut states: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    let task = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = subscribed_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = p.topic.trim_end_matches("/set").to_owned();
                    let state = states
                        .entry(topic.clone())
                        .or_insert_with(|| json!({"power": "OFF", "brightness": 100}));
                    if let Ok(Value::Object(command)) = serde_json::from_slice::<Value>(&p.payload) {
                        for (k, v) in command {
                            state[k] = v;
                        }
                    }
                    let (c, body) = (client.clone(), state.to_string());
                    tokio::spawn(async move {
                        let _ = c.publish(topic, QoS::AtLeastOnce, false, body).await;
                    });
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), subscribed)
        .await
        .expect("the hub subscribes")
        .unwrap();
    task
}

async fn wait_for_gateway(sim: &rask_sim::Sim, name: &str) {
    for _ in 0..200 {
        if sim
            .world()
            .log
            .since(0, Some("gateway"))
            .iter()
            .any(|e| e.valid && e.name.as_deref() == Some(name))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {name} reached the Event Gateway");
}

/// `rask check --evaluate` on a configuration: its devices taken as virtual ones (nothing at
/// home moves), a sensor changed through its webhook; the rest of rask check runs as ever.
#[test]
fn rask_check_evaluates_a_configuration_offline() {
    let extra = "[mqtt]\nurl = \"mqtt://127.0.0.1:1\"\n\
                 [[devices]]\nid = \"porch\"\nname = \"Porch light\"\nkind = \"light\"\ncommand_topic = \"h/porch/set\"\nstate_topic = \"h/porch\"\n\
                 [[devices]]\nid = \"back-door\"\nname = \"Back door\"\nkind = \"lock\"\ncommand_topic = \"h/lock/set\"\nstate_topic = \"h/lock\"\nsecret_env = \"RASK_TEST_GARAGE_SECRET\"\n\
                 [[devices]]\nid = \"kettle\"\nname = \"Kettle\"\nkind = \"plug\"\ncommand_topic = \"h/kettle/set\"\nstate_topic = \"h/kettle\"\nsecret_env = \"RASK_TEST_GARAGE_SECRET\"\n\
                 [[devices]]\nid = \"hall\"\nname = \"Hall\"\nkind = \"motion_sensor\"\nsecret_env = \"RASK_TEST_GARAGE_SECRET\"\n\
                 [[devices]]\nid = \"cellar\"\nname = \"Cellar\"\nkind = \"temperature_sensor\"\nsecret_env = \"RASK_TEST_GARAGE_SECRET\"\n\
                 [[devices]]\nid = \"garage\"\nname = \"Garage door\"\nkind = \"contact_sensor\"\nsecret_env = \"RASK_TEST_GARAGE_SECRET\"\n";
    let config = common::smart_home_config("rask-evaluate-check", "http://127.0.0.1:1", "NA", extra);
    let out = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["check", "--evaluate", "--config", config.to_str().unwrap()])
        .env("RASK_LOG", "warn")
        .env("RASK_TEST_LINK_SECRET", "link-secret-0123456789")
        .env("RASK_TEST_LWA_SECRET", "rask-lwa-secret")
        .env("RASK_TEST_GARAGE_SECRET", "garage-secret-0123456789abcdef")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "ok    Answer every directive of the interfaces the endpoint declares with Alexa.Response [porch]",
        "ok    Answer every directive of the interfaces the endpoint declares with Alexa.Response [back-door]",
        "ok    Send a ChangeReport within 3 seconds of a physical change of a proactively reported property [garage]",
        "ok    Send a ChangeReport within 3 seconds of a physical change of a proactively reported property [hall]",
        "ok    Send a ChangeReport within 3 seconds of a physical change of a proactively reported property [cellar]",
        "ok    Send a ChangeReport within 3 seconds of a physical change of a proactively reported property [kettle]",
        "ok    Send a ChangeReport within 3 seconds of a physical change of a proactively reported property [back-door]",
        "ok    Always report the state of all capability properties, including those defined by EndpointHealth [garage]",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(text.contains(" passed, 0 failed, "), "{text}");
    // The configured LWA at port 1 is unreachable: rask check says so, and exits 1 for it.
    assert!(text.contains("FAIL  alexa credentials"), "{text}");
    assert_eq!(out.status.code(), Some(1));
}
