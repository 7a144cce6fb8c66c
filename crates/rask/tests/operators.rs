//! What an operator can do to links, and what the smart-home endpoint then refuses, with the
//! real binary and rask sim as Alexa: `rask link revoke`, `rask user passwd` and `rask user
//! remove`; a revocation through `/oauth/revoke` refused at once; another skill's token
//! refused; short secrets stop the start.

mod common;

use std::time::{Duration, Instant};

use common::{rask, start};
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

/// What Discover answers for `user` now: the event's name, or the error type.
async fn discover(sim: &rask_sim::Sim, skill: &str, user: &str) -> String {
    let spec = serde_json::from_value(json!({"namespace": "Alexa.Discovery", "name": "Discover"})).unwrap();
    match rask_sim::drivers::smarthome::send(sim, skill, user, &spec).await {
        Ok(x) => {
            let e = &x.received["event"];
            match e["payload"]["type"].as_str() {
                Some(t) => t.to_owned(),
                None => e["header"]["name"].as_str().unwrap_or_default().to_owned(),
            }
        }
        Err(e) => format!("driver: {e}"),
    }
}

async fn relink(sim: &rask_sim::Sim, skill: &str, user: &str, password: &str) -> bool {
    let req = serde_json::from_value(json!({"username": user, "password": password})).unwrap();
    rask_sim::drivers::link::link(sim, skill, user, &req)
        .await
        .map(|l| l.linked)
        .unwrap_or(false)
}

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_links_are_refused_here_at_once_and_from_the_command_line_within_the_cache_life() {
    let (sim, sim_url) = start_sim().await;
    let config = common::smart_home_config("rask-operators-revoke", &sim_url, "NA", "");
    let cfg = config.to_str().unwrap();
    common::add_user(cfg, "alice");
    let server = start(&["serve", "--config", cfg], &ENV);
    let url = server.url();
    let skill = common::link_and_grant(&sim, &url, rask_sim::Region::Na).await;
    assert_eq!(discover(&sim, &skill, "alice").await, "Discover.Response");

    // The operator ends every link of alice's: refused within the validator's cache life.
    let said = stdout(&rask(&["link", "revoke", "alice", "--config", cfg], None));
    assert!(said.starts_with("alice: 1 link revoked"), "{said}");
    let revoked_at = Instant::now();
    loop {
        let answer = discover(&sim, &skill, "alice").await;
        if answer == "INVALID_AUTHORIZATION_CREDENTIAL" {
            break;
        }
        assert_eq!(answer, "Discover.Response");
        assert!(
            revoked_at.elapsed() < rask_link::CACHE_LIFE + Duration::from_secs(2),
            "still accepted after the cache life"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = stdout(&rask(&["link", "log", "--config", cfg], None));
    assert!(log.contains("revoked by the operator"), "{log}");

    // Linked again; then revoked through /oauth/revoke on this same rask: the very next
    // directive is refused.
    assert!(relink(&sim, &skill, "alice", "correct horse battery").await);
    assert_eq!(discover(&sim, &skill, "alice").await, "Discover.Response");
    let token = rask_sim::drivers::link::fresh_access_token(&sim, &skill, "alice")
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{url}/oauth/revoke"))
        .basic_auth("alexa", Some("link-secret-0123456789"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        discover(&sim, &skill, "alice").await,
        "INVALID_AUTHORIZATION_CREDENTIAL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_and_a_removed_user() {
    let (sim, sim_url) = start_sim().await;
    let config = common::smart_home_config("rask-operators-users", &sim_url, "NA", "");
    let cfg = config.to_str().unwrap();
    common::add_user(cfg, "alice");
    let server = start(&["serve", "--config", cfg], &ENV);
    let skill = common::link_and_grant(&sim, &server.url(), rask_sim::Region::Na).await;

    let said = stdout(&rask(
        &["user", "passwd", "alice", "--config", cfg],
        Some("a new and longer passphrase\n"),
    ));
    assert!(said.contains("password of alice is changed"), "{said}");
    assert!(
        !relink(&sim, &skill, "alice", "correct horse battery").await,
        "the old password"
    );
    assert!(relink(&sim, &skill, "alice", "a new and longer passphrase").await);
    let o = rask(&["user", "passwd", "nobody", "--config", cfg], Some("x\n"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no user named nobody"));

    let said = stdout(&rask(&["user", "remove", "alice", "--config", cfg], None));
    assert!(said.starts_with("removed alice"), "{said}");
    let gone = Instant::now();
    while discover(&sim, &skill, "alice").await != "INVALID_AUTHORIZATION_CREDENTIAL" {
        assert!(gone.elapsed() < rask_link::CACHE_LIFE + Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let users = stdout(&rask(&["user", "list", "--config", cfg], None));
    assert!(!users.contains("alice"), "{users}");
    let status = stdout(&rask(&["status", "--config", cfg], None));
    assert!(!status.contains("alice"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_to_another_linking_client_is_refused() {
    let (sim, sim_url) = start_sim().await;
    let config = common::smart_home_config("rask-operators-client", &sim_url, "NA", "");
    let text = std::fs::read_to_string(&config).unwrap();
    let second_client = "[[linking.clients]]\nid = \"other-skill\"\nsecret_env = \"RASK_TEST_LINK_SECRET\"\nvendor_ids = [\"M2AAAAAAAAAAAA\"]\n[alexa]\n";
    std::fs::write(&config, text.replacen("[alexa]\n", second_client, 1)).unwrap();
    let cfg = config.to_str().unwrap();
    common::add_user(cfg, "alice");

    // Two clients and none named: the start is refused, naming the key.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["serve", "--config", cfg, "--bind", "127.0.0.1:0"])
        .envs(ENV)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("alexa.linking_client"), "{err}");

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("[alexa]\n", "[alexa]\nlinking_client = \"alexa\"\n", 1),
    )
    .unwrap();
    let server = start(&["serve", "--config", cfg], &ENV);
    let url = server.url();
    let skill = common::link_and_grant(&sim, &url, rask_sim::Region::Na).await;
    assert_eq!(discover(&sim, &skill, "alice").await, "Discover.Response");

    // Another skill links alice's account through the same rask, with the other client.
    let other: Value = json!({
        "vendorId": "M2AAAAAAAAAAAA",
        "smartHomeEndpoint": format!("{url}/alexa/smarthome"),
        "accountLinking": {"authorizationUri": format!("{url}/oauth/authorize"), "tokenUri": format!("{url}/oauth/token"),
                           "clientId": "other-skill", "clientSecret": "link-secret-0123456789"}
    });
    let other = sim
        .world()
        .register_skill(serde_json::from_value(other).unwrap())
        .unwrap();
    sim.world().enable(&other.skill_id, "alice").unwrap();
    assert!(relink(&sim, &other.skill_id, "alice", "correct horse battery").await);
    assert_eq!(
        discover(&sim, &other.skill_id, "alice").await,
        "INVALID_AUTHORIZATION_CREDENTIAL",
        "the other skill's token is not this skill's"
    );
}

#[tokio::test]
async fn short_secrets_stop_the_start_naming_their_keys() {
    let config = common::smart_home_config(
        "rask-operators-short",
        "http://127.0.0.1:9",
        "NA",
        "[[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"doorbell\"\nsecret_env = \"RASK_TEST_DOOR_SECRET\"\n",
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RASK_TEST_LINK_SECRET", "short")
        .env("RASK_TEST_LWA_SECRET", "rask-lwa-secret")
        .env("RASK_TEST_DOOR_SECRET", "1234")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("linking.clients[0].secret_env: the secret has 5 characters; use at least 16"),
        "{err}"
    );
    assert!(
        err.contains("devices[0].secret_env: the secret has 4 characters; use at least 16"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_sealing_key_stops_the_start_and_status_never_makes_one() {
    let (sim, sim_url) = start_sim().await;
    let config = common::smart_home_config("rask-operators-key", &sim_url, "NA", "");
    let cfg = config.to_str().unwrap();
    common::add_user(cfg, "alice");
    let server = start(&["serve", "--config", cfg], &ENV);
    common::link_and_grant(&sim, &server.url(), rask_sim::Region::Na).await;
    drop(server);

    // The same database, started from a place where the key file is not.
    let elsewhere = config.with_file_name("elsewhere").join("secret.key");
    let text = std::fs::read_to_string(&config).unwrap();
    let moved = config.with_file_name("moved.toml");
    let key_line = format!(
        "secret_key_file = \"{}\"",
        config.with_file_name("secret.key").display()
    );
    assert!(text.contains(&key_line), "{text}");
    std::fs::write(
        &moved,
        text.replace(
            &key_line,
            &format!("secret_key_file = \"{}\"", elsewhere.display()),
        ),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["serve", "--config", moved.to_str().unwrap()])
        .envs(ENV)
        .env_remove("RASK_SECRET_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&elsewhere.display().to_string()), "{err}");
    assert!(err.contains("holds 1 grants"), "{err}");
    assert!(!elsewhere.exists(), "no new key was made");

    // rask status reads states without a key, says what is wrong, and makes no key.
    let status = stdout(&rask(&["status", "--config", moved.to_str().unwrap()], None));
    assert!(status.contains("no sealing key at"), "{status}");
    assert!(status.contains("alice: active (NA)"), "{status}");
    assert!(!elsewhere.exists(), "status made no key");

    // Another key in its place: refused too, counting the grant it cannot open.
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::write(&elsewhere, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["serve", "--config", moved.to_str().unwrap()])
        .envs(ENV)
        .env_remove("RASK_SECRET_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("opens 0 of the 1 stored grants (1 cannot be opened)"),
        "{err}"
    );

    // The right key still starts.
    let again = start(&["serve", "--config", cfg], &ENV);
    assert!(again.url().starts_with("http://"), "{}", again.first_line);
}
