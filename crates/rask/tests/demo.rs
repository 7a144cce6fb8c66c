//! The embedded default as a new user meets it: `rask demo` walks F1 to F5 and says so, and
//! `rask serve` with no configuration prints what to open and what to run next.

mod common;

use std::process::Command;

fn fresh_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn rask_demo_walks_f1_to_f4() {
    let d = fresh_dir("demo");
    let o = Command::new(env!("CARGO_BIN_EXE_rask"))
        .arg("demo")
        .env("RASK_LOG", "warn")
        .env_remove("RASK_SECRET_KEY")
        .current_dir(&d)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for step in [
        "F1 account linked",
        "F2 AcceptGrant",
        "F3 Discover: 3 devices",
        "F4 doorbell pressed",
        "F4 the Event Gateway accepted it (202)",
        "F5 \"Alexa, turn on the hall light\": Alexa.Response",
        "F5 the Event Gateway accepted its ChangeReport",
        "F9 \"turn the hall light off\"",
        "F8 two robots paired",
        "F8 no robot paired",
    ] {
        assert!(out.contains(step), "{step:?} missing from:\n{out}");
    }
    assert!(d.join("rask-data/rask.db").exists(), "SQLite under ./rask-data");
    // A second run in the same place works too (the demo user and secrets are reused).
    let again = Command::new(env!("CARGO_BIN_EXE_rask"))
        .arg("demo")
        .env("RASK_LOG", "warn")
        .env_remove("RASK_SECRET_KEY")
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[tokio::test]
async fn serve_without_a_configuration_runs_the_embedded_demo() {
    let d = fresh_dir("serve-demo");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(&d)
        .env("RASK_LOG", "warn")
        .env_remove("RASK_SECRET_KEY");
    let server = common::start_command(cmd, 11);
    assert!(
        server
            .first_line
            .starts_with("rask: listening on http://127.0.0.1:"),
        "{}",
        server.first_line
    );
    let text = server.lines.join("\n");
    assert!(text.contains("embedded demo (no --config)"), "{text}");
    assert!(
        text.contains("rask sim link ") && text.contains("--username demo --password demo-password"),
        "{text}"
    );
    let health = reqwest::get(format!("{}/healthz", server.url())).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let console = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("simulator console:"))
        .unwrap()
        .trim()
        .to_owned();
    let page = reqwest::get(&console).await.unwrap().text().await.unwrap();
    assert!(
        page.contains("rask demo"),
        "the demo skill is registered in the simulator"
    );
}

/// `rask message` from the folder the embedded default runs in, with no configuration: the
/// demo user opens the demo skill, and the message reaches it through the simulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rask_message_works_against_the_embedded_default() {
    let d = fresh_dir("serve-demo-message");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(&d)
        .env("RASK_LOG", "warn")
        .env_remove("RASK_SECRET_KEY");
    let server = common::start_command(cmd, 19);
    let text = server.lines.join("\n");
    let word_after = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {text}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let user = word_after("rask message ");
    let console = word_after("simulator console:");
    let sim = console.trim_end_matches("/sim/").to_owned();
    let launch = text
        .lines()
        .find(|l| l.contains("LaunchRequest"))
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .to_owned();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rask"))
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap()
    };
    let opened = run(&["sim", "request", &launch, "demo", "LaunchRequest", "--sim", &sim]);
    assert!(
        opened.status.success(),
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    let sent = run(&["message", &user, "note=hello"]);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let out = String::from_utf8_lossy(&sent.stdout);
    assert!(out.contains("queued") && out.contains("(NA)"), "{out}");
    let mut delivered = false;
    for _ in 0..100 {
        let log: serde_json::Value = reqwest::get(format!("{sim}/sim/events?api=skill.messaging"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        delivered = log["events"].as_array().is_some_and(|e| {
            e.iter()
                .any(|e| e["status"] == 200 && e["sent"]["request"]["message"]["note"] == "hello")
        });
        if delivered {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(delivered, "the message reached the demo skill");
}
