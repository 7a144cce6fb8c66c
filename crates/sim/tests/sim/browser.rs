//! The console in a real browser: headless Chromium driven by Playwright (tests/browser).

use std::path::PathBuf;
use std::process::Command;

use crate::common::{Harness, doorbell};

/// The browser test directory, ready to run (tests/browser/ensure.sh).
pub fn browser_tests() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let ok = Command::new("bash").arg(dir.join("ensure.sh")).status();
    assert!(ok.is_ok_and(|s| s.success()), "tests/browser/ensure.sh failed");
    dir
}

#[tokio::test]
async fn the_console_in_chromium() {
    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;
    h.http
        .post(format!("{}/eu/v3/events", h.url))
        .bearer_auth(&lwa)
        .json(&doorbell(&lwa))
        .send()
        .await
        .unwrap();
    h.http
        .post(format!("{}/eu/v3/events", h.url))
        .bearer_auth("Atza|forged")
        .json(&doorbell("x"))
        .send()
        .await
        .unwrap();
    // A robot that received one directive.
    h.sim
        .world()
        .set_gadgets(
            "alice",
            vec![
                serde_json::from_value(
                    serde_json::json!({"endpointId": "amzn1.ask.endpoint.R1", "friendlyName": "Robot",
                "capabilities": [{"type": "AlexaInterface", "interface": "Custom.Robot", "version": "1.0"}]}),
                )
                .unwrap(),
            ],
        )
        .unwrap();
    h.sim.world().deliver_to_gadget(
        "alice",
        "amzn1.ask.endpoint.R1",
        serde_json::json!({"type": "CustomInterfaceController.SendDirective",
            "header": {"namespace": "Custom.Robot", "name": "Spin"},
            "endpoint": {"endpointId": "amzn1.ask.endpoint.R1"}, "payload": {"speed": 3}}),
    );
    // A notification alice holds.
    let held = h.sim.world().deliver_notification(
        &h.skill_id,
        rask_sim::Region::Eu,
        None,
        &rask_sim::world::Notification {
            name: "AMAZON.WeatherAlert.Activated".into(),
            reference_id: "storm-1".into(),
            stage: "development".into(),
            audience: "Multicast".into(),
            received_at: "2026-12-02T10:00:00Z".into(),
            expiry_time: "2026-12-02T11:00:00Z".into(),
            payload: serde_json::json!({"weatherAlert": {"source": "Example Weather", "alertType": "SNOW_STORM"}}),
        },
    );
    assert_eq!(held, 1);
    // An evaluation for a user who never linked: it stops at once, saying what it needs.
    h.sim
        .world()
        .add_user("bob", rask_sim::Region::Na, vec![])
        .unwrap();
    let stopped = rask_sim::evaluate::evaluate(&h.sim, &h.skill_id, "bob", Default::default())
        .await
        .unwrap();
    assert_eq!(stopped.progress, rask_sim::evaluate::Progress::Stopped);
    let dir = browser_tests();
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots/sim-console.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let out = tokio::process::Command::new("node")
        .arg("sim-console.mjs")
        .current_dir(&dir)
        .env("SIM_URL", &h.url)
        .env("SKILL_ID", &h.skill_id)
        .env("SCREENSHOT", &shot)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("console ok"));
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 1000,
        "a screenshot was taken"
    );
}
