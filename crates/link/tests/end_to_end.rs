//! Account linking driven by others: rask sim's linking driver (as the Alexa app does it),
//! a third-party OAuth client (requests-oauthlib), and a real browser (headless Chromium).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

use rask_sim::{Sim, SimConfig};
use rask_store::testing;
use serde_json::json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn the_sims_linking_driver_links_and_later_refreshes() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let (sim, _) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (skill, user) = {
            let mut w = sim.world();
            let skill = w
                .register_skill(
                    serde_json::from_value(json!({
                        "vendorId": VENDOR,
                        "accountLinking": {
                            "authorizationUri": format!("{}/oauth/authorize", s.url),
                            "tokenUri": format!("{}/oauth/token", s.url),
                            "clientId": CLIENT, "clientSecret": SECRET,
                            "scopes": ["smart_home"], "credentials": "HTTP_BASIC", "pkce": true
                        }
                    }))
                    .unwrap(),
                )
                .unwrap();
            w.add_user("alice", rask_sim::Region::Eu, vec![]).unwrap();
            (skill.skill_id, "alice")
        };
        let req = serde_json::from_value(json!({"username": "alice", "password": PASSWORD})).unwrap();
        let outcome = rask_sim::drivers::link::link(&sim, &skill, user, &req)
            .await
            .unwrap();
        assert!(outcome.linked, "{outcome:#?}");
        let v = s.validator.clone();
        let first = outcome.access_token.unwrap();
        assert_eq!(v.user(&first).await.unwrap().name, "alice");

        // Time passes: Alexa finds the access token expired and refreshes it.
        sim.world()
            .enablement_mut(&skill, user)
            .unwrap()
            .link
            .as_mut()
            .unwrap()
            .expires_at = Some(std::time::Instant::now());
        let second = rask_sim::drivers::link::fresh_access_token(&sim, &skill, user)
            .await
            .unwrap();
        assert_ne!(first, second);
        assert_eq!(v.user(&second).await.unwrap().name, "alice");

        let steps: Vec<String> = s
            .store
            .link_log(10)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .map(|e| e.step)
            .collect();
        assert_eq!(steps, ["authorize", "login", "consent", "token", "refresh"]);
    }
}

#[tokio::test]
async fn a_third_party_oauth_client_does_the_code_grant_and_a_refresh() {
    let s = Server::start(rask_store::Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    let python = {
        let status = Command::new("bash")
            .args(["-c", ". tests/python/env.sh && make_python_env"])
            .current_dir(root())
            .status();
        assert!(
            status.is_ok_and(|st| st.success()),
            "making the Python environment failed"
        );
        root().join("target/rask-python/bin/python")
    };
    let out = tokio::process::Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/oauth_client.py"))
        .env("RASK_URL", &s.url)
        .env("CLIENT_ID", CLIENT)
        .env("CLIENT_SECRET", SECRET)
        .env("REDIRECT_URI", REDIRECT)
        .env("USERNAME", "alice")
        .env("PASSWORD", PASSWORD)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("code grant ok"));
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("refresh ok "))
        .unwrap();
    assert_eq!(s.validator.clone().user(token).await.unwrap().name, "alice");
}

#[tokio::test]
async fn a_person_logs_in_and_consents_in_chromium() {
    let s = Server::start(rask_store::Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    let dir = root().join("tests/browser");
    let ok = Command::new("bash").arg(dir.join("ensure.sh")).status();
    assert!(ok.is_ok_and(|st| st.success()), "tests/browser/ensure.sh failed");
    let shots = root().join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = tokio::process::Command::new("node")
        .arg("link-pages.mjs")
        .current_dir(&dir)
        .env("AUTHORIZE_URL", s.authorize_url(&[]))
        .env("REDIRECT_URI", REDIRECT)
        .env("PASSWORD", PASSWORD)
        .env("SCREENSHOTS", &shots)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = stdout
        .lines()
        .find_map(|l| l.strip_prefix("code "))
        .expect("the browser reached Alexa's redirect");
    let t = s.exchange(code).await;
    assert_eq!(
        s.validator
            .clone()
            .user(t["access_token"].as_str().unwrap())
            .await
            .unwrap()
            .name,
        "alice"
    );
}
