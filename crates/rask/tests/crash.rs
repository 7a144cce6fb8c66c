//! Crash safety with the real binary: rask is SIGKILLed while presses are in flight and
//! started again; every press still within its useful life is delivered. Delivery is at least
//! once: a press is sent twice only when the kill fell between the gateway's 202 and rask
//! recording it, and the test counts those.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{rask, start};
use serde_json::json;

#[tokio::test]
async fn sigkill_with_presses_in_flight_loses_none() {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{addr}");
    let config = common::smart_home_config(
        "rask-crash",
        &sim_url,
        "NA",
        "[[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"doorbell\"\nsecret_env = \"RASK_TEST_DOOR_SECRET\"\n",
    );
    let cfg = config.to_str().unwrap();
    let env = [
        ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
        ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
        ("RASK_TEST_DOOR_SECRET", "door-secret-0123456789"),
    ];
    assert!(
        rask(
            &["user", "add", "alice", "--config", cfg],
            Some("correct horse battery\n")
        )
        .status
        .success()
    );
    let first = start(&["serve", "--config", cfg], &env);
    let url = first.url();

    let _skill = common::link_and_grant(&sim, &url, rask_sim::Region::Na).await;

    // Every gateway call now hangs for 1.5 s: presses are in flight when rask dies.
    let http = reqwest::Client::new();
    http.post(format!("{sim_url}/sim/faults"))
        .json(&json!({"target": "gateway", "hangMs": 1500, "count": 5}))
        .send()
        .await
        .unwrap();
    const PRESSES: usize = 5;
    for _ in 0..PRESSES {
        let r = http
            .post(format!("{url}/hooks/devices/door/press"))
            .bearer_auth("door-secret-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "acknowledged only once in the outbox");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    drop(first); // SIGKILL
    http.delete(format!("{sim_url}/sim/faults")).send().await.unwrap();

    let _second = start(&["serve", "--config", cfg], &env);
    // The dead worker's claims come free after its 12 s lease; the presses live 30 s.
    let mut ids = HashSet::new();
    let mut accepted = 0;
    for _ in 0..400 {
        let log = sim.world().log.since(0, Some("gateway"));
        let ok: Vec<_> = log.iter().filter(|e| e.status == 202).collect();
        accepted = ok.len();
        ids = ok
            .iter()
            .map(|e| {
                e.body["event"]["header"]["messageId"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        if ids.len() == PRESSES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ids.len(), PRESSES, "every press delivered after the crash");
    let duplicates = accepted - ids.len();
    eprintln!(
        "presses: {PRESSES}, gateway 202s: {accepted}, sent twice because the kill fell after a 202: {duplicates}"
    );
    assert!(
        duplicates <= PRESSES,
        "at most the presses in flight at the kill are sent twice"
    );
}
