//! `rask serve` with `[alexa]` and `[[devices]]`: Alexa (the sim) links, grants and discovers
//! through the real binary; the key that seals LWA tokens is made private on first start.

mod common;

use common::{rask, start};
use serde_json::json;

#[tokio::test]
async fn grant_and_discovery_through_rask_serve() {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{addr}");
    let config = common::smart_home_config(
        "rask-smarthome-cli",
        &sim_url,
        "EU",
        &format!(
            "[[devices]]\nid = \"gate\"\nname = \"Garden gate\"\nkind = \"doorbell\"\nsecret_env = \"RASK_TEST_GATE_SECRET\"\nmqtt_topic = \"rask-test/{pid}/gate\"\n\
             [mqtt]\nurl = \"{mqtt}\"\nclient_id = \"rask-test-{pid}\"\n",
            pid = std::process::id(),
            mqtt = std::env::var("RASK_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into()),
        ),
    );
    let cfg = config.to_str().unwrap();
    let o = rask(
        &["user", "add", "alice", "--config", cfg],
        Some("correct horse battery\n"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let server = start(
        &["serve", "--config", cfg],
        &[
            ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
            ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
            ("RASK_TEST_GATE_SECRET", "gate-secret-0123456789"),
        ],
    );
    let url = server.url();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config.with_file_name("secret.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the sealing key is private");
    }

    let skill = common::link_and_grant(&sim, &url, rask_sim::Region::Eu).await;
    let spec = serde_json::from_value(json!({"namespace": "Alexa.Discovery", "name": "Discover"})).unwrap();
    let discover = rask_sim::drivers::smarthome::send(&sim, &skill, "alice", &spec)
        .await
        .unwrap();
    assert!(discover.valid, "{discover:#?}");
    let endpoints = discover.received["event"]["payload"]["endpoints"]
        .as_array()
        .unwrap();
    assert_eq!(endpoints.len(), 1, "the configured devices, not the demo");
    assert_eq!(endpoints[0]["friendlyName"], "Garden gate");

    // The gate is pressed: rask's own worker takes the press to the sim's EU gateway.
    let r = reqwest::Client::new()
        .post(format!("{url}/hooks/devices/gate/press"))
        .bearer_auth("gate-secret-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = sim.world().log.since(0, Some("gateway"));
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 1, "the press reached the gateway");
    assert!(seen[0].valid, "{:#?}", seen[0]);
    assert_eq!(seen[0].region.as_deref(), Some("EU"));
    assert_eq!(seen[0].body["event"]["endpoint"]["endpointId"], "gate");

    // From the command line too, and rask status explains each user's state.
    let o = rask(&["press", "gate", "--config", cfg], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("queued 1 DoorbellPress event"));
    for _ in 0..100 {
        if sim.world().log.since(0, Some("gateway")).len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sim.world().log.since(0, Some("gateway")).len(), 2);
    let o = rask(&["status", "--config", cfg], None);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("alice: active (EU)"), "{out}");
    assert!(
        out.contains("DoorbellPress of gate, attempt 1: delivered"),
        "{out}"
    );
    let o = rask(&["press", "nope", "--config", cfg], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("the devices are: gate"));

    // And over MQTT, through a real broker.
    let broker = url::Url::parse(
        &std::env::var("RASK_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into()),
    )
    .unwrap();
    let mut opts = rumqttc::MqttOptions::new(
        format!("rask-test-pub-{}", std::process::id()),
        broker.host_str().unwrap(),
        broker.port().unwrap_or(1883),
    );
    opts.set_keep_alive(std::time::Duration::from_secs(5));
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 8);
    let poller = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    client
        .publish(
            format!("rask-test/{}/gate", std::process::id()),
            rumqttc::QoS::AtLeastOnce,
            false,
            b"pressed".to_vec(),
        )
        .await
        .unwrap();
    for _ in 0..100 {
        if sim.world().log.since(0, Some("gateway")).len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    poller.abort();
    assert_eq!(
        sim.world().log.since(0, Some("gateway")).len(),
        3,
        "the MQTT press arrived too"
    );
}
