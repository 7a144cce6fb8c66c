//! Control and state through the real `rask serve`, a real MQTT broker (Mosquitto) and rask
//! sim as Alexa: directives become MQTT commands confirmed by a home hub played by the test,
//! sensors' states become ChangeReports at the sim's gateway, ReportState, deferred answers,
//! the documented errors, and proactive discovery after a configuration change.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::start;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

fn broker() -> url::Url {
    url::Url::parse(&std::env::var("RASK_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into()))
        .unwrap()
}

/// A home hub on the broker: it records every command under `prefix/+/set`, and confirms
/// some by publishing the device's new state, as real hubs do.
struct Hub {
    client: AsyncClient,
    commands: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hub {
    async fn start(prefix: &str) -> Hub {
        let b = broker();
        let mut opts = MqttOptions::new(
            format!("hub-{}", prefix.replace('/', "-")),
            b.host_str().unwrap(),
            b.port().unwrap_or(1883),
        );
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut events) = AsyncClient::new(opts, 64);
        client
            .subscribe(format!("{prefix}/+/set"), QoS::AtLeastOnce)
            .await
            .unwrap();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let (seen, replier, prefix) = (commands.clone(), client.clone(), prefix.to_owned());
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let payload = String::from_utf8_lossy(&p.payload).into_owned();
                        seen.lock().unwrap().push((p.topic.clone(), payload.clone()));
                        let device = p
                            .topic
                            .trim_start_matches(&format!("{prefix}/"))
                            .trim_end_matches("/set");
                        let reply = confirm(device, &payload);
                        if let Some((delay, state)) = reply {
                            let (r, topic) = (replier.clone(), format!("{prefix}/{device}"));
                            tokio::spawn(async move {
                                tokio::time::sleep(delay).await;
                                let _ = r.publish(topic, QoS::AtLeastOnce, false, state).await;
                            });
                        }
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
        Hub {
            client,
            commands,
            task,
        }
    }

    fn commands(&self) -> Vec<(String, String)> {
        self.commands.lock().unwrap().clone()
    }

    async fn publish(&self, topic: String, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .await
            .unwrap();
    }
}

/// How the hub's devices answer a command: the lamp echoes its JSON, the plug its plain
/// value, the blind nests its position, the shutter takes 1.5 s, the lock unlocks but jams
/// when locking, the fan and the awning never answer.
fn confirm(device: &str, payload: &str) -> Option<(Duration, String)> {
    let now = Duration::ZERO;
    match device {
        "lamp" => Some((now, payload.to_owned())),
        "plug" => Some((now, payload.to_owned())),
        "blind" => {
            let v: Value = serde_json::from_str(payload).ok()?;
            Some((now, json!({"state": {"position": v["position"]}}).to_string()))
        }
        "lock" if payload.contains("UNLOCKED") => Some((now, payload.to_owned())),
        "lock" => Some((now, r#"{"lock": "jammed"}"#.to_owned())),
        "shutter" => Some((
            Duration::from_millis(1500),
            payload.to_lowercase().replace("position.", ""),
        )),
        _ => None,
    }
}

/// The home: every kind, wired to the hub under `prefix`.
fn devices(prefix: &str, pid: u32, name: &str) -> String {
    let b = broker();
    format!(
        "change_report_window_ms = 1000\n\
         [mqtt]\nurl = \"{b}\"\nclient_id = \"rask-{name}-{pid}\"\n\
         [[devices]]\nid = \"lamp\"\nname = \"Lamp\"\nkind = \"light\"\ncommand_topic = \"{p}/lamp/set\"\nstate_topic = \"{p}/lamp\"\n\
         [[devices]]\nid = \"plug\"\nname = \"Kettle\"\nkind = \"plug\"\ncommand_topic = \"{p}/plug/set\"\nstate_topic = \"{p}/plug\"\n\
         [devices.command_templates]\npower = \"{{value}}\"\n\
         [[devices]]\nid = \"blind\"\nname = \"Blind\"\nkind = \"blind\"\ncommand_topic = \"{p}/blind/set\"\nstate_topic = \"{p}/blind\"\n\
         [devices.state_fields]\nposition = \"state.position\"\n\
         [[devices]]\nid = \"shutter\"\nname = \"Shutter\"\nkind = \"shutter\"\ncommand_topic = \"{p}/shutter/set\"\nstate_topic = \"{p}/shutter\"\n\
         slow = true\nconfirm_timeout_ms = 5000\n[devices.command_templates]\nmode = \"{{value}}\"\n\
         [[devices]]\nid = \"awning\"\nname = \"Awning\"\nkind = \"shutter\"\ncommand_topic = \"{p}/awning/set\"\nstate_topic = \"{p}/awning\"\n\
         slow = true\nconfirm_timeout_ms = 300\n\
         [[devices]]\nid = \"lock\"\nname = \"Front lock\"\nkind = \"lock\"\ncommand_topic = \"{p}/lock/set\"\nstate_topic = \"{p}/lock\"\n\
         [[devices]]\nid = \"fan\"\nname = \"Fan\"\nkind = \"plug\"\ncommand_topic = \"{p}/fan/set\"\nstate_topic = \"{p}/fan\"\nconfirm_timeout_ms = 500\n\
         [[devices]]\nid = \"door\"\nname = \"Back door\"\nkind = \"contact_sensor\"\nstate_topic = \"{p}/door\"\n\
         [[devices]]\nid = \"hall\"\nname = \"Hall\"\nkind = \"motion_sensor\"\nstate_topic = \"{p}/hall\"\noffline_after_seconds = 3\n\
         [[devices]]\nid = \"thermo\"\nname = \"Cellar\"\nkind = \"temperature_sensor\"\nstate_topic = \"{p}/thermo\"\nsecret_env = \"RASK_TEST_THERMO_SECRET\"\n",
        p = prefix,
    )
}

/// rask sim on a free loopback port.
async fn start_sim() -> (rask_sim::Sim, std::net::SocketAddr) {
    rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Adds the user the sim links as ("alice", "correct horse battery").
fn add_alice(config: &str) {
    common::add_user(config, "alice");
}

struct Home {
    sim: rask_sim::Sim,
    skill: String,
    url: String,
    hub: Hub,
    prefix: String,
    _server: common::Running,
}

async fn home(name: &str) -> Home {
    let (sim, addr) = start_sim().await;
    let pid = std::process::id();
    let prefix = format!("rask-test/{pid}-{name}");
    let config = common::smart_home_config(
        name,
        &format!("http://{addr}"),
        "NA",
        &devices(&prefix, pid, name),
    );
    let cfg = config.to_str().unwrap();
    add_alice(cfg);
    let hub = Hub::start(&prefix).await;
    let server = start(&["serve", "--config", cfg], &ENV);
    let url = server.url();
    let skill = common::link_and_grant(&sim, &url, rask_sim::Region::Na).await;
    Home {
        sim,
        skill,
        url,
        hub,
        prefix,
        _server: server,
    }
}

const ENV: [(&str, &str); 3] = [
    ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
    ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
    ("RASK_TEST_THERMO_SECRET", "thermo-secret-0123456789"),
];

impl Home {
    async fn directive(&self, spec: Value) -> rask_sim::drivers::Exchange {
        let spec = serde_json::from_value(spec).unwrap();
        rask_sim::drivers::smarthome::send(&self.sim, &self.skill, "alice", &spec)
            .await
            .unwrap()
    }

    /// Gateway events named `name` about `endpoint`, waiting up to 5 s for at least `n`.
    async fn gateway(&self, name: &str, endpoint: Option<&str>, n: usize) -> Vec<rask_sim::log::Entry> {
        let mut found = Vec::new();
        for _ in 0..100 {
            found = self
                .sim
                .world()
                .log
                .since(0, Some("gateway"))
                .into_iter()
                .filter(|e| e.name.as_deref() == Some(name))
                .filter(|e| endpoint.is_none_or(|id| e.body["event"]["endpoint"]["endpointId"] == id))
                .collect();
            if found.len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        found
    }
}

async fn scrape(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of `series` (its name and labels as printed) in a scrape.
fn series(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

fn context_value<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["context"]["properties"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .map(|p| &p["value"])
        .unwrap_or(&Value::Null)
}

fn error_type(ex: &rask_sim::drivers::Exchange) -> &str {
    ex.received["event"]["payload"]["type"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directives_become_mqtt_commands_confirmed_by_the_device() {
    let h = home("rask-control").await;
    let p = &h.prefix;

    let discover = h
        .directive(json!({"namespace": "Alexa.Discovery", "name": "Discover"}))
        .await;
    assert!(discover.valid, "{discover:#?}");
    assert_eq!(
        discover.received["event"]["payload"]["endpoints"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    let on = h
        .directive(json!({"namespace": "Alexa.PowerController", "name": "TurnOn", "endpointId": "lamp"}))
        .await;
    assert!(on.valid, "{on:#?}");
    assert_eq!(on.received["event"]["header"]["name"], "Response");
    assert_eq!(context_value(&on.received, "powerState"), "ON");
    assert_eq!(
        context_value(&on.received, "connectivity"),
        &json!({"value": "OK"})
    );
    assert_eq!(
        h.hub.commands(),
        [(format!("{p}/lamp/set"), r#"{"power": "ON"}"#.to_owned())]
    );

    // Out of range: the documented error, and nothing reaches the device.
    let bright = h
        .directive(
            json!({"namespace": "Alexa.BrightnessController", "name": "SetBrightness",
                          "endpointId": "lamp", "payload": {"brightness": 140}}),
        )
        .await;
    assert!(bright.valid, "{bright:#?}");
    assert_eq!(error_type(&bright), "VALUE_OUT_OF_RANGE");
    assert_eq!(
        bright.received["event"]["payload"]["validRange"],
        json!({"minimumValue": 0, "maximumValue": 100})
    );
    let dim = h
        .directive(
            json!({"namespace": "Alexa.BrightnessController", "name": "AdjustBrightness",
                          "endpointId": "lamp", "payload": {"brightnessDelta": -30}}),
        )
        .await;
    assert_eq!(
        error_type(&dim),
        "ENDPOINT_UNREACHABLE",
        "no brightness heard yet: {dim:#?}"
    );
    let set = h
        .directive(
            json!({"namespace": "Alexa.BrightnessController", "name": "SetBrightness",
                          "endpointId": "lamp", "payload": {"brightness": 40}}),
        )
        .await;
    assert!(set.valid, "{set:#?}");
    assert_eq!(context_value(&set.received, "brightness"), 40);
    assert_eq!(
        context_value(&set.received, "powerState"),
        "ON",
        "the rest of the state too"
    );
    let dim = h
        .directive(
            json!({"namespace": "Alexa.BrightnessController", "name": "AdjustBrightness",
                          "endpointId": "lamp", "payload": {"brightnessDelta": -30}}),
        )
        .await;
    assert_eq!(context_value(&dim.received, "brightness"), 10, "{dim:#?}");

    // A plain template, and a state in a nested JSON field.
    let off = h
        .directive(json!({"namespace": "Alexa.PowerController", "name": "TurnOff", "endpointId": "plug"}))
        .await;
    assert!(off.valid, "{off:#?}");
    let blind = h
        .directive(
            json!({"namespace": "Alexa.RangeController", "name": "SetRangeValue", "instance": "Blind.Lift",
                          "endpointId": "blind", "payload": {"rangeValue": 40}}),
        )
        .await;
    assert!(blind.valid, "{blind:#?}");
    let position = blind.received["context"]["properties"][0].clone();
    assert_eq!(position["instance"], "Blind.Lift");
    assert_eq!(position["value"], 40);
    let up = h
        .directive(json!({"namespace": "Alexa.RangeController", "name": "AdjustRangeValue", "instance": "Blind.Lift",
                          "endpointId": "blind", "payload": {"rangeValueDelta": 90, "rangeValueDeltaDefault": false}}))
        .await;
    assert_eq!(context_value(&up.received, "rangeValue"), 100, "clamped: {up:#?}");

    // A lock that jams.
    let lock = h
        .directive(json!({"namespace": "Alexa.LockController", "name": "Lock", "endpointId": "lock"}))
        .await;
    assert!(lock.valid, "{lock:#?}");
    assert_eq!(lock.received["event"]["header"]["name"], "Response", "{lock:#?}");
    assert_eq!(
        context_value(&lock.received, "lockState"),
        "JAMMED",
        "Alexa tells the user"
    );

    // A device that never confirms.
    let fan = h
        .directive(json!({"namespace": "Alexa.PowerController", "name": "TurnOn", "endpointId": "fan"}))
        .await;
    assert!(fan.valid, "{fan:#?}");
    assert_eq!(error_type(&fan), "ENDPOINT_UNREACHABLE");
    let unlock = h
        .directive(json!({"namespace": "Alexa.LockController", "name": "Unlock", "endpointId": "lock"}))
        .await;
    assert!(unlock.valid, "{unlock:#?}");
    assert_eq!(context_value(&unlock.received, "lockState"), "UNLOCKED");

    // A shutter slower than Alexa waits: deferred, then the answer through the gateway.
    let wrong = h
        .directive(
            json!({"namespace": "Alexa.ModeController", "name": "SetMode", "instance": "Blinds.Position",
                          "endpointId": "shutter", "payload": {"mode": "Position.Sideways"}}),
        )
        .await;
    assert_eq!(error_type(&wrong), "INVALID_VALUE", "{wrong:#?}");
    let down = h
        .directive(
            json!({"namespace": "Alexa.ModeController", "name": "SetMode", "instance": "Blinds.Position",
                          "endpointId": "shutter", "payload": {"mode": "Position.Down"}}),
        )
        .await;
    assert!(down.valid, "{down:#?}");
    assert_eq!(down.received["event"]["header"]["name"], "DeferredResponse");
    let later = h.gateway("Alexa.Response", Some("shutter"), 1).await;
    assert_eq!(later.len(), 1, "the deferred answer");
    assert!(later[0].valid, "{:#?}", later[0]);
    assert_eq!(
        later[0].body["event"]["header"]["correlationToken"],
        down.sent["directive"]["header"]["correlationToken"]
    );
    assert_eq!(context_value(&later[0].body, "mode"), "Position.Down");

    // A slow device that never confirms: the error follows through the gateway too.
    let stuck = h
        .directive(
            json!({"namespace": "Alexa.ModeController", "name": "SetMode", "instance": "Blinds.Position",
                          "endpointId": "awning", "payload": {"mode": "Position.Up"}}),
        )
        .await;
    assert_eq!(
        stuck.received["event"]["header"]["name"], "DeferredResponse",
        "{stuck:#?}"
    );
    let failed = h.gateway("Alexa.ErrorResponse", Some("awning"), 1).await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0].valid, "{:#?}", failed[0]);
    assert_eq!(failed[0].body["event"]["payload"]["type"], "ENDPOINT_UNREACHABLE");
    assert_eq!(
        failed[0].body["event"]["header"]["correlationToken"],
        stuck.sent["directive"]["header"]["correlationToken"]
    );

    // ReportState answers from what the devices confirmed.
    let lamp = h
        .directive(json!({"namespace": "Alexa", "name": "ReportState", "endpointId": "lamp"}))
        .await;
    assert!(lamp.valid, "{lamp:#?}");
    assert_eq!(context_value(&lamp.received, "brightness"), 10);
    assert_eq!(context_value(&lamp.received, "powerState"), "ON");

    let sent: Vec<(String, String)> = h.hub.commands();
    let expected = [
        (format!("{p}/lamp/set"), r#"{"power": "ON"}"#),
        (format!("{p}/lamp/set"), r#"{"brightness": 40}"#),
        (format!("{p}/lamp/set"), r#"{"brightness": 10}"#),
        (format!("{p}/plug/set"), "OFF"),
        (format!("{p}/blind/set"), r#"{"position": 40}"#),
        (format!("{p}/blind/set"), r#"{"position": 100}"#),
        (format!("{p}/lock/set"), r#"{"lock": "LOCKED"}"#),
        (format!("{p}/fan/set"), r#"{"power": "ON"}"#),
        (format!("{p}/lock/set"), r#"{"lock": "UNLOCKED"}"#),
        (format!("{p}/shutter/set"), "Position.Down"),
        (format!("{p}/awning/set"), r#"{"mode": "Position.Up"}"#),
    ];
    let expected: Vec<(String, String)> = expected.into_iter().map(|(t, v)| (t, v.to_owned())).collect();
    assert_eq!(
        sent, expected,
        "one publish per accepted directive, none for refused ones"
    );
    // And /metrics says so: the broker connected, the commands out, the confirmations in.
    let metrics = scrape(&h.url).await;
    assert_eq!(series(&metrics, "rask_mqtt_connected"), Some(1.0), "{metrics}");
    assert!(
        series(&metrics, r#"rask_mqtt_messages_total{direction="out"}"#) >= Some(expected.len() as f64),
        "{metrics}"
    );
    assert!(
        series(&metrics, r#"rask_mqtt_messages_total{direction="in"}"#) >= Some(1.0),
        "{metrics}"
    );

    // What Alexa asked for is reported back as a voice-caused change.
    let changes = h.gateway("Alexa.ChangeReport", Some("lamp"), 1).await;
    assert!(!changes.is_empty());
    assert!(changes.iter().all(|c| c.valid), "{changes:#?}");
    assert_eq!(
        changes[0].body["event"]["payload"]["change"]["cause"]["type"],
        "VOICE_INTERACTION"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_states_become_change_reports_and_state_reports() {
    let h = home("rask-sensors").await;
    let p = &h.prefix;
    // rask is subscribed once a confirmed command has gone round.
    let on = h
        .directive(json!({"namespace": "Alexa.PowerController", "name": "TurnOn", "endpointId": "plug"}))
        .await;
    assert!(on.valid, "{on:#?}");

    let never = h
        .directive(json!({"namespace": "Alexa", "name": "ReportState", "endpointId": "door"}))
        .await;
    assert_eq!(
        error_type(&never),
        "ENDPOINT_UNREACHABLE",
        "nothing heard yet: {never:#?}"
    );

    // A burst inside the window (1 s) is one report, with the last value.
    for state in ["open", "closed", "open"] {
        h.hub.publish(format!("{p}/door"), state).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reports = h.gateway("Alexa.ChangeReport", Some("door"), 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reports_after = h.gateway("Alexa.ChangeReport", Some("door"), 1).await;
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports_after.len(), 1, "coalesced: {reports_after:#?}");
    let report = &reports[0];
    assert!(report.valid, "{report:#?}");
    let change = &report.body["event"]["payload"]["change"];
    assert_eq!(change["cause"]["type"], "PHYSICAL_INTERACTION");
    assert_eq!(change["properties"][0]["value"], "DETECTED");
    // Heard for the first time: connected, a change of its own.
    assert_eq!(change["properties"][1]["name"], "connectivity");
    assert_eq!(change["properties"][1]["value"], json!({"value": "OK"}));

    let state = h
        .directive(json!({"namespace": "Alexa", "name": "ReportState", "endpointId": "door"}))
        .await;
    assert!(state.valid, "{state:#?}");
    assert_eq!(state.received["event"]["header"]["name"], "StateReport");
    assert_eq!(context_value(&state.received, "detectionState"), "DETECTED");

    // A malformed state is ignored; the sensor is reported again once it is silent too long.
    h.hub.publish(format!("{p}/hall"), "banana").await;
    h.hub.publish(format!("{p}/hall"), r#"{"motion": true}"#).await;
    let motion = h.gateway("Alexa.ChangeReport", Some("hall"), 1).await;
    assert_eq!(motion.len(), 1);
    assert_eq!(
        motion[0].body["event"]["payload"]["change"]["properties"][0]["value"],
        "DETECTED"
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let silent = h
        .directive(json!({"namespace": "Alexa", "name": "ReportState", "endpointId": "hall"}))
        .await;
    assert!(silent.valid, "{silent:#?}");
    assert_eq!(
        context_value(&silent.received, "connectivity"),
        &json!({"value": "UNREACHABLE"})
    );
    // Alexa is told, once, and told again when the sensor is back.
    let health = |e: &rask_sim::log::Entry| e.body["event"]["payload"]["change"]["properties"].clone();
    let gone = h.gateway("Alexa.ChangeReport", Some("hall"), 2).await;
    assert_eq!(gone.len(), 2, "{gone:#?}");
    assert!(gone[1].valid, "{:#?}", gone[1]);
    assert_eq!(
        gone[1].body["event"]["payload"]["change"]["cause"]["type"],
        "PERIODIC_POLL"
    );
    assert_eq!(health(&gone[1])[0]["name"], "connectivity");
    assert_eq!(health(&gone[1])[0]["value"], json!({"value": "UNREACHABLE"}));
    h.hub.publish(format!("{p}/hall"), r#"{"motion": true}"#).await;
    let back = h.gateway("Alexa.ChangeReport", Some("hall"), 3).await;
    assert_eq!(back.len(), 3, "{back:#?}");
    assert_eq!(health(&back[2])[0]["value"], json!({"value": "OK"}));
    assert_eq!(
        context_value(&back[2].body, "detectionState"),
        "DETECTED",
        "unchanged: context"
    );

    // A lock turned by hand, reported as a hub does.
    h.hub
        .publish(format!("{p}/lock"), r#"{"lock": "unlocked"}"#)
        .await;
    let lock = h.gateway("Alexa.ChangeReport", Some("lock"), 1).await;
    assert_eq!(lock.len(), 1);
    assert!(lock[0].valid, "{:#?}", lock[0]);
    assert_eq!(
        lock[0].body["event"]["payload"]["change"]["properties"][0]["value"],
        "UNLOCKED"
    );

    // A thermometer posts through its webhook, naming the cause.
    let post = |body: &'static str, secret: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/hooks/devices/thermo/state", h.url))
            .bearer_auth(secret)
            .body(body)
            .send()
    };
    let r = post(
        r#"{"temperature": 21.5, "cause": "periodic_poll"}"#,
        "thermo-secret-0123456789",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"changed": ["temperature"]})
    );
    assert_eq!(
        post(r#"{"temperature": 22}"#, "wrong").await.unwrap().status(),
        401
    );
    let r = post(r#"{"humidity": 40}"#, "thermo-secret-0123456789")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("temperature"));
    let temp = h.gateway("Alexa.ChangeReport", Some("thermo"), 1).await;
    assert_eq!(temp.len(), 1);
    assert!(temp[0].valid, "{:#?}", temp[0]);
    let change = &temp[0].body["event"]["payload"]["change"];
    assert_eq!(change["cause"]["type"], "PERIODIC_POLL");
    assert_eq!(
        change["properties"][0]["value"],
        json!({"value": 21.5, "scale": "CELSIUS"})
    );
    let state = h
        .directive(json!({"namespace": "Alexa", "name": "ReportState", "endpointId": "thermo"}))
        .await;
    assert!(state.valid, "{state:#?}");
    assert_eq!(
        context_value(&state.received, "temperature"),
        &json!({"value": 21.5, "scale": "CELSIUS"})
    );
    // A sensor takes no commands.
    let on = h
        .directive(json!({"namespace": "Alexa.PowerController", "name": "TurnOn", "endpointId": "thermo"}))
        .await;
    assert!(on.valid, "{on:#?}");
    assert_eq!(error_type(&on), "INVALID_DIRECTIVE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_configuration_is_announced_to_every_granted_user() {
    let (sim, addr) = start_sim().await;
    let pid = std::process::id();
    let prefix = format!("rask-test/{pid}-announce");
    let home = devices(&prefix, pid, "announce");
    let config = common::smart_home_config("rask-announce", &format!("http://{addr}"), "NA", &home);
    let cfg = config.to_str().unwrap();
    add_alice(cfg);
    let server = start(&["serve", "--config", cfg], &ENV);
    let url = server.url();
    common::link_and_grant(&sim, &url, rask_sim::Region::Na).await;
    drop(server);
    let announced = |sim: &rask_sim::Sim, name: &str| {
        sim.world()
            .log
            .since(0, Some("gateway"))
            .into_iter()
            .filter(|e| e.name.as_deref() == Some(name))
            .collect::<Vec<_>>()
    };
    assert!(announced(&sim, "Alexa.Discovery.AddOrUpdateReport").is_empty());

    // The kettle is gone and the lamp has a new name.
    let text = std::fs::read_to_string(&config).unwrap();
    let plug_start = text.find("[[devices]]\nid = \"plug\"").unwrap();
    let plug_end = plug_start + text[plug_start + 1..].find("[[devices]]").unwrap() + 1;
    let text = format!("{}{}", &text[..plug_start], &text[plug_end..])
        .replace("name = \"Lamp\"", "name = \"Reading lamp\"");
    std::fs::write(&config, text).unwrap();
    let _server = start(&["serve", "--config", cfg], &ENV);
    let mut added = Vec::new();
    let mut deleted = Vec::new();
    for _ in 0..100 {
        added = announced(&sim, "Alexa.Discovery.AddOrUpdateReport");
        deleted = announced(&sim, "Alexa.Discovery.DeleteReport");
        if !added.is_empty() && !deleted.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(added.len(), 1, "{added:#?}");
    assert!(added[0].valid, "{:#?}", added[0]);
    let endpoints = added[0].body["event"]["payload"]["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "only what changed");
    assert_eq!(endpoints[0]["friendlyName"], "Reading lamp");
    assert_eq!(deleted.len(), 1, "{deleted:#?}");
    assert!(deleted[0].valid, "{:#?}", deleted[0]);
    assert_eq!(
        deleted[0].body["event"]["payload"]["endpoints"],
        json!([{"endpointId": "plug"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_cannot_be_reached_is_bridge_unreachable() {
    let (sim, addr) = start_sim().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let home = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\n\
         [[devices]]\nid = \"lamp\"\nname = \"Lamp\"\nkind = \"light\"\ncommand_topic = \"x/lamp/set\"\nstate_topic = \"x/lamp\"\n"
    );
    let config = common::smart_home_config("rask-no-broker", &format!("http://{addr}"), "NA", &home);
    let cfg = config.to_str().unwrap();
    add_alice(cfg);
    let server = start(&["serve", "--config", cfg], &ENV);
    let skill = common::link_and_grant(&sim, &server.url(), rask_sim::Region::Na).await;
    let spec = serde_json::from_value(
        json!({"namespace": "Alexa.PowerController", "name": "TurnOn", "endpointId": "lamp"}),
    )
    .unwrap();
    let on = rask_sim::drivers::smarthome::send(&sim, &skill, "alice", &spec)
        .await
        .unwrap();
    assert!(on.valid, "{on:#?}");
    assert_eq!(error_type(&on), "BRIDGE_UNREACHABLE");
    let metrics = scrape(&server.url()).await;
    assert_eq!(series(&metrics, "rask_mqtt_connected"), Some(0.0), "{metrics}");
    assert_eq!(
        series(
            &metrics,
            r#"rask_directives_total{namespace="Alexa.PowerController",name="TurnOn",outcome="BRIDGE_UNREACHABLE"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        on.received["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("not connected")
    );
}

/// More topics than rumqttc's request queue holds (64): subscribing must not wait on the
/// event loop that sends the requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_with_many_topics_subscribes_to_all_of_them() {
    let (sim, addr) = start_sim().await;
    let pid = std::process::id();
    let prefix = format!("rask-test/{pid}-many");
    let mut home = format!(
        "change_report_window_ms = 100\n[mqtt]\nurl = \"{}\"\nclient_id = \"rask-many-{pid}\"\n",
        broker()
    );
    for i in 0..150 {
        home.push_str(&format!(
            "[[devices]]\nid = \"door-{i}\"\nname = \"Door {i}\"\nkind = \"contact_sensor\"\nstate_topic = \"{prefix}/door-{i}\"\n"
        ));
    }
    let config = common::smart_home_config("rask-many", &format!("http://{addr}"), "NA", &home);
    let cfg = config.to_str().unwrap();
    add_alice(cfg);
    let server = start(&["serve", "--config", cfg], &ENV);
    common::link_and_grant(&sim, &server.url(), rask_sim::Region::Na).await;
    let hub = Hub::start(&prefix).await;
    // rask is subscribed once one door is heard; then every one is.
    let heard = |sim: &rask_sim::Sim| {
        sim.world()
            .log
            .since(0, Some("gateway"))
            .iter()
            .filter_map(|e| {
                e.body["event"]["endpoint"]["endpointId"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect::<std::collections::BTreeSet<String>>()
    };
    for _ in 0..100 {
        hub.publish(format!("{prefix}/door-0"), "open").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !heard(&sim).is_empty() {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 1..150 {
        hub.publish(format!("{prefix}/door-{i}"), "open").await;
    }
    let mut reported = 0;
    for _ in 0..100 {
        reported = heard(&sim).len();
        if reported == 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reported, 150, "every sensor's state reached Alexa");
}

/// Two instances on one PostgreSQL database, both subscribed: a sensor's change is recorded by
/// both and reported to Alexa once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgresql_report_a_change_once() {
    let (sim, addr) = start_sim().await;
    let pid = std::process::id();
    let prefix = format!("rask-test/{pid}-two");
    let database = rask_store::testing::postgres_url().await;
    let home = format!(
        "change_report_window_ms = 200\n[mqtt]\nurl = \"{}\"\nclient_id = \"rask-two-a-{pid}\"\n\
         [[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"contact_sensor\"\nstate_topic = \"{prefix}/door\"\n",
        broker()
    );
    let first = common::smart_home_config("rask-two", &format!("http://{addr}"), "NA", &home);
    common::use_database(&first, &database);
    let text = std::fs::read_to_string(&first).unwrap();
    let second = first.with_file_name("second.toml");
    std::fs::write(&second, text.replace("rask-two-a-", "rask-two-b-")).unwrap();
    let (a, b) = (first.to_str().unwrap(), second.to_str().unwrap());
    add_alice(a);
    let one = start(&["serve", "--config", a], &ENV);
    let _two = start(&["serve", "--config", b], &ENV);
    common::link_and_grant(&sim, &one.url(), rask_sim::Region::Na).await;
    let hub = Hub::start(&prefix).await;
    let reports = |sim: &rask_sim::Sim| {
        sim.world()
            .log
            .since(0, Some("gateway"))
            .into_iter()
            .filter(|e| e.name.as_deref() == Some("Alexa.ChangeReport"))
            .collect::<Vec<_>>()
    };
    // Both instances are subscribed once a state has gone round; give the second a moment.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    hub.publish(format!("{prefix}/door"), "open").await;
    for _ in 0..100 {
        if !reports(&sim).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = reports(&sim);
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert!(seen[0].valid, "{:#?}", seen[0]);
}
