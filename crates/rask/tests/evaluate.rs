//! `rask sim evaluate` and `rask check --evaluate` against rask: the embedded default through
//! the CLI, every kind on MQTT with a device added and removed, a configuration offline.
//! (Against skills broken on purpose: evaluate_broken.rs.)

mod common;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

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
    assert_eq!(common::evaluation_failures(&e), vec![], "{e:#}");
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
            common::evaluation_row(&e, requirement, endpoint)["verdict"],
            "pass",
            "{requirement} {endpoint:?}: {e:#}"
        );
    }
    // And what does not apply, said so.
    assert_eq!(
        common::evaluation_row(&e, "Answer every directive", Some("kitchen-window"))["verdict"],
        "not_applicable"
    );
    assert_eq!(
        common::evaluation_row(&e, "Answer a value outside", Some("front-door"))["verdict"],
        "not_applicable"
    );
    assert_eq!(
        common::evaluation_row(&e, "Send a ChangeReport within 3 seconds", Some("hall-light"))["verdict"],
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
            common::evaluation_row(&e, requirement, Some(endpoint))["verdict"],
            "pass",
            "{requirement} {endpoint}: {e:#}"
        );
    }
    assert_eq!(
        common::evaluation_row(&e, "Send AddOrUpdateReport", None)["verdict"],
        "pass",
        "{e:#}"
    );
    assert_eq!(
        common::evaluation_row(&e, "Send DeleteReport", None)["verdict"],
        "pass",
        "{e:#}"
    );
    assert_eq!(common::evaluation_failures(&e), vec![], "{e:#}");
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
    let check = |flag: &str| {
        Command::new(env!("CARGO_BIN_EXE_rask"))
            .args(["check", flag, "--config", config.to_str().unwrap()])
            .env("RASK_LOG", "warn")
            .env("RASK_TEST_LINK_SECRET", "link-secret-0123456789")
            .env("RASK_TEST_LWA_SECRET", "rask-lwa-secret")
            .env("RASK_TEST_GARAGE_SECRET", "garage-secret-0123456789abcdef")
            .output()
            .unwrap()
    };
    let out = check("--evaluate");
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
        "ok    Send AddOrUpdateReport to the Event Gateway when a device is added or changed",
        "ok    Send DeleteReport to the Event Gateway when a device is removed",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(text.contains(" passed, 0 failed, "), "{text}");
    // The configured LWA at port 1 is unreachable: rask check says so, and exits 1 for it.
    assert!(text.contains("FAIL  alexa credentials"), "{text}");
    assert_eq!(out.status.code(), Some(1));
    // The evaluation alone reaches for nothing outside: it passes, and says only its rows.
    let only = check("--evaluate-only");
    let text = String::from_utf8_lossy(&only.stdout);
    assert_eq!(only.status.code(), Some(0), "{text}");
    assert!(!text.contains("credentials"), "{text}");
    assert!(text.contains(" passed, 0 failed, "), "{text}");
}
