//! Amazon's own Python clients (ask-sdk-core's LwaClient, SkillMessagingServiceClient and
//! ProactiveEventsServiceClient), with their api_endpoint pointed at the sim, must succeed.
//! The Python environment is made on first use under target/ (scripts/test does the same).

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::common::Harness;

/// The Python of `target/rask-python`, with tests/python/requirements.txt installed (made
/// here on first use when scripts/test has not made it).
pub fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new("bash")
        .args(["-c", ". tests/python/env.sh && make_python_env"])
        .current_dir(&root)
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "making the Python environment failed (python3 -m venv, pip install)"
    );
    root.join("target/rask-python/bin/python")
}

#[tokio::test]
async fn amazons_python_service_clients_work_against_the_sim() {
    // Amazon's SDK refuses plain HTTP, as Amazon's APIs are HTTPS only: the sim serves TLS.
    let h = Harness::start_tls().await;
    assert!(h.url.starts_with("https://"));
    h.sim.world().enable(&h.skill_id, "alice").unwrap();
    let ca = std::env::temp_dir().join(format!("rask-sim-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, h.ca_pem.as_deref().unwrap()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sim/sdk_clients.py");
    let py = python();
    let user_id = h.user_id("alice");
    let out = tokio::process::Command::new(py)
        .arg(script)
        .env("SIM_URL", format!("{}/eu", h.url))
        .env("LWA_URL", &h.url)
        .env("CLIENT_ID", &h.lwa.0)
        .env("CLIENT_SECRET", &h.lwa.1)
        .env("USER_ID", &user_id)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("lwa ok") && stdout.contains("messaging ok") && stdout.contains("proactive ok"),
        "{stdout}"
    );

    let events = h.events("proactive").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["valid"], true, "{:#}", events[0]);
    let messages = h.events("messaging").await;
    assert_eq!(messages[0]["valid"], true);
    assert_eq!(messages[0]["body"]["data"], json!({"reminder_id": "r-42"}));
}
