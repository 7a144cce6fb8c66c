//! `rask sim` as a user runs it: the real binary serving on a free port, driven by its own
//! subcommands, over HTTP and HTTPS.

mod common;

use std::process::Output;

use common::{Running, rask};
use serde_json::Value;

fn start(extra: &[&str]) -> Running {
    let mut args = vec!["sim", "--bind", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let sim = common::start(&args, &[]);
    assert!(
        sim.first_line
            .starts_with("rask sim: Alexa's cloud, simulated, listening on "),
        "{}",
        sim.first_line
    );
    sim
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&o.stdout)))
}

#[tokio::test]
async fn serves_on_a_free_port_and_is_driven_from_the_command_line() {
    let sim = start(&[]);
    assert!(sim.url().starts_with("http://127.0.0.1:"), "{}", sim.url());
    let health = reqwest::get(format!("{}/healthz", sim.url())).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    let o = rask(
        &["sim", "user", "bob", "--region", "FE", "--sim", &sim.url()],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json(&o)["region"], "FE");

    let o = rask(
        &[
            "sim",
            "skill",
            "--sim",
            &sim.url(),
            "--name",
            "Doorbell",
            "--smart-home",
            "http://127.0.0.1:9/smarthome",
        ],
        None,
    );
    assert!(o.status.success());
    let skill = json(&o)["skillId"].as_str().unwrap().to_owned();
    assert!(skill.starts_with("amzn1.ask.skill."));

    // Nothing is linked: the driver says so and the command fails.
    let o = rask(&["sim", "grant", &skill, "bob", "--sim", &sim.url()], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        json(&o)["error"].as_str().unwrap().contains("has never enabled"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    let o = rask(
        &[
            "sim",
            "fault",
            "gateway",
            "--status",
            "503",
            "--count",
            "2",
            "--sim",
            &sim.url(),
        ],
        None,
    );
    assert!(o.status.success());
    assert_eq!(json(&o)["queued"]["count"], 2);

    // The queued fault answers the next gateway call with Amazon's 503.
    let r = reqwest::Client::new()
        .post(format!("{}/fe/v3/events", sim.url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["payload"]["code"], "SERVICE_UNAVAILABLE_EXCEPTION");

    let o = rask(&["sim", "events", "--api", "gatway", "--sim", &sim.url()], None);
    assert!(!o.status.success(), "a misspelt API is no empty list");
    let err = String::from_utf8_lossy(&o.stdout);
    assert!(
        err.contains("no API \\\"gatway\\\"") && err.contains("gateway"),
        "{err}"
    );
    let o = rask(&["sim", "events", "--api", "gateway", "--sim", &sim.url()], None);
    let events = json(&o)["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], 503);

    let o = rask(
        &["sim", "directive", &skill, "bob", "NoDot", "--sim", &sim.url()],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("NAMESPACE.NAME"));

    // Bob's robot: its inbox, and an event while no skill listens.
    let robot = "amzn1.ask.endpoint.BOB1";
    let r = reqwest::Client::new()
        .put(format!("{}/sim/users/bob/gadgets", sim.url()))
        .json(&serde_json::json!([{"endpointId": robot, "friendlyName": "Robot",
            "capabilities": [{"type": "AlexaInterface", "interface": "Custom.Robot", "version": "1.0"}]}]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let o = rask(&["sim", "gadget", "bob", robot, "--sim", &sim.url()], None);
    assert!(o.status.success());
    assert_eq!(json(&o), serde_json::json!([]));
    let event = |endpoint: &str| {
        rask(
            &[
                "sim",
                "gadget-event",
                "bob",
                endpoint,
                "--namespace",
                "Custom.Robot",
                "--name",
                "Spun",
                "--payload",
                r#"{"turns": 2}"#,
                "--sim",
                &sim.url(),
            ],
            None,
        )
    };
    let o = event(robot);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(json(&o)["delivered"], false);
    assert!(json(&o)["reason"].as_str().unwrap().contains("no skill session"));
    let o = event("amzn1.ask.endpoint.NOT-BOBS");
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
}

#[tokio::test]
async fn serves_https_with_a_local_ca_and_refuses_plain_http_cleanly() {
    let dir = std::env::temp_dir().join(format!("rask-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    let sim = start(&["--tls", "--ca-out", ca.to_str().unwrap()]);
    assert!(sim.url().starts_with("https://127.0.0.1:"), "{}", sim.url());
    let pem = std::fs::read(&ca).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let r = client.get(format!("{}/healthz", sim.url())).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");

    let plain = sim.url().replacen("https://", "http://", 1);
    let r = reqwest::get(format!("{plain}/healthz")).await.unwrap();
    assert_eq!(r.status(), 400, "plain HTTP is told, not served");
    assert!(r.text().await.unwrap().contains("use an https:// URL"));
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting
            .get(format!("{}/healthz", sim.url()))
            .send()
            .await
            .is_err(),
        "an unknown CA is not trusted"
    );
    // The server is still fine afterwards.
    let r = client.get(format!("{}/healthz", sim.url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
