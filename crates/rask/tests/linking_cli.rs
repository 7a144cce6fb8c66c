//! Account linking as an operator runs it: `rask user add`, `rask serve` with a config file,
//! Alexa (the sim) linking through it, and `rask link log` explaining what happened.

mod common;

use std::path::{Path, PathBuf};

use common::{rask, start};
use serde_json::json;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-link-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_config(d: &Path) -> PathBuf {
    let path = d.join("rask.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n\n[database]\nurl = \"sqlite://{}/data/rask.db\"\n\n\
             [[linking.clients]]\nid = \"alexa\"\nsecret_env = \"RASK_TEST_LINK_SECRET\"\nvendor_ids = [\"M2AAAAAAAAAAAA\"]\n\
             scopes = [\"smart_home\"]\nauthentication = \"basic\"\n",
            d.display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn an_operator_adds_a_user_serves_and_reads_the_linking_log() {
    let d = dir();
    let config = write_config(&d);
    let cfg = config.to_str().unwrap();

    let o = rask(
        &["user", "add", "alice", "--config", cfg],
        Some("correct horse battery\n"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "added user alice");
    let o = rask(
        &["user", "add", "alice", "--config", cfg],
        Some("another password\n"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("a user named alice already exists"));
    let o = rask(&["user", "add", "bob", "--config", cfg], Some("short\n"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("at least 8 characters"));

    let server = start(
        &["serve", "--config", cfg],
        &[("RASK_TEST_LINK_SECRET", "s3cret-for-alexa")],
    );
    assert!(
        server.first_line.starts_with("rask: listening on "),
        "{}",
        server.first_line
    );
    let url = server.url();
    assert_eq!(
        reqwest::get(format!("{url}/healthz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );

    let (sim, _) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let skill = sim
        .world()
        .register_skill(serde_json::from_value(json!({
            "vendorId": "M2AAAAAAAAAAAA",
            "accountLinking": {"authorizationUri": format!("{url}/oauth/authorize"), "tokenUri": format!("{url}/oauth/token"),
                               "clientId": "alexa", "clientSecret": "s3cret-for-alexa", "scopes": ["smart_home"]}
        })).unwrap())
        .unwrap()
        .skill_id;
    sim.world()
        .add_user("alice", rask_sim::Region::Na, vec![])
        .unwrap();
    let wrong = serde_json::from_value(json!({"username": "alice", "password": "not it"})).unwrap();
    let failed = rask_sim::drivers::link::link(&sim, &skill, "alice", &wrong)
        .await
        .unwrap();
    assert!(!failed.linked);
    let right =
        serde_json::from_value(json!({"username": "alice", "password": "correct horse battery"})).unwrap();
    let linked = rask_sim::drivers::link::link(&sim, &skill, "alice", &right)
        .await
        .unwrap();
    assert!(linked.linked, "{linked:#?}");

    let o = rask(&["link", "log", "--config", cfg], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = String::from_utf8_lossy(&o.stdout);
    assert!(
        log.contains("client alexa  user alice  from 127.0.0.1: FAILED at login: wrong password"),
        "{log}"
    );
    let heads: Vec<&str> = log.lines().filter(|l| !l.starts_with("    ")).collect();
    assert_eq!(heads.len(), 2, "{log}");
    assert!(heads[1].ends_with(": ok"), "{log}");
    assert!(
        !log.contains("s3cret-for-alexa") && !log.contains("correct horse"),
        "no secrets in the log"
    );
}

#[tokio::test]
async fn an_invalid_config_stops_serve_with_one_line_per_bad_key() {
    let d = dir();
    let bad = d.join("bad.toml");
    std::fs::write(&bad, "[linking]\naccess_token_seconds = 60\n[[linking.clients]]\nid = \"alexa\"\nauthentication = \"magic\"\n").unwrap();
    let o = rask(&["serve", "--config", bad.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for key in [
        "linking.access_token_seconds:",
        "linking.clients[0].secret_env:",
        "linking.clients[0].vendor_ids:",
        "linking.clients[0].authentication:",
    ] {
        assert!(err.contains(key), "{key} in {err}");
    }
    // Every error at once, each under its key: a misspelt key, a bad value, a rule broken.
    std::fs::write(
        &bad,
        "[server]\nbnid = \"x\"\nbind = \"localhost\"\n[linking]\naccess_token_seconds = 60\n",
    )
    .unwrap();
    for (command, code) in [("serve", 2), ("check", 1)] {
        let o = rask(&[command, "--config", bad.to_str().unwrap()], None);
        assert_eq!(o.status.code(), Some(code), "{command}");
        let err = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        for said in [
            "server.bnid: not a key rask knows",
            "server.bind: invalid socket address syntax (line 3 of bad.toml)",
            "linking.access_token_seconds:",
        ] {
            assert!(err.contains(said), "{command}: {said} in {err}");
        }
    }
    let o = rask(
        &["serve", "--config", d.join("missing.toml").to_str().unwrap()],
        None,
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read"));
}
