//! The embedded default as a new user meets it: `rask demo` walks F1 to F5 and says so, and
//! `rask serve` with no configuration prints what to open and what to run next. Its data is its
//! own: a forgotten `--config` never touches a configured instance's, a command run from the
//! wrong folder makes no database, and a restart says the earlier grants are gone.

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
    assert!(
        !d.join("rask-data").exists(),
        "the demo keeps its data to itself, apart from a rask serve running here"
    );
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
    let server = common::start_command(cmd, 21);
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
    // The printed commands work as printed, from the same folder, with no rask on PATH.
    assert!(text.contains("cargo install --path crates/rask"), "{text}");
    for step in ["sim link ", "sim grant ", "sim directive "] {
        common::run_printed(&text, step, &d);
    }
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
    let server = common::start_command(cmd, 21);
    let text = server.lines.join("\n");
    let word_after = |prefix: &str| {
        text.lines()
            .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest))
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

fn run_in(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(args)
        .current_dir(dir)
        .env("RASK_LOG", "warn")
        .env_remove("RASK_SECRET_KEY")
        .env_remove("RASK_DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn serve_embedded(dir: &std::path::Path, lines: usize) -> common::Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(dir)
        .env("RASK_LOG", "warn")
        .env_remove("RASK_SECRET_KEY")
        .env_remove("RASK_DATABASE_URL");
    common::start_command(cmd, lines)
}

/// A configured instance keeps `rask-data/rask.db`; `rask serve` without `--config` in the same
/// folder runs on its own database beside it and adds nothing to the instance's.
#[test]
fn a_forgotten_config_never_touches_a_configured_instance() {
    let d = fresh_dir("forgotten-config");
    std::fs::write(d.join("rask.toml"), "[server]\nbind = \"127.0.0.1:0\"\n").unwrap();
    let (code, _, err) = run_in(
        &d,
        &["user", "add", "alice", "--config", "rask.toml"],
        Some("alice-pw\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(d.join("rask-data/rask.db").exists());
    let demo = serve_embedded(&d, 21);
    assert!(
        demo.first_line.starts_with("rask: listening"),
        "{}",
        demo.first_line
    );
    drop(demo);
    let (code, out, err) = run_in(&d, &["user", "list", "--config", "rask.toml"], None);
    assert_eq!((code, out.as_str()), (0, "alice\n"), "{err}");
    assert!(err.contains("database: sqlite://rask-data/rask.db"), "{err}");
    let (code, out, err) = run_in(&d, &["user", "list"], None);
    assert_eq!(
        (code, out.as_str()),
        (0, "demo\n"),
        "the embedded default's own users"
    );
    assert!(err.contains("database: sqlite://rask-data/demo/rask.db"), "{err}");
}

/// `rask status`, `rask user list` and `rask press` in a folder rask never ran in: a clear
/// refusal naming the database, and no fresh `rask-data` (nor a key) left behind.
#[test]
fn commands_from_another_folder_make_no_database() {
    let d = fresh_dir("another-folder");
    for args in [
        &["status"][..],
        &["user", "list"],
        &["press", "front-door"],
        &["link", "log"],
    ] {
        let (code, _, err) = run_in(&d, args, None);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("there is no database at rask-data/demo/rask.db") && err.contains("rask serve"),
            "{args:?}: {err}"
        );
    }
    assert!(!d.join("rask-data").exists(), "nothing made");
    let (code, out, _) = run_in(&d, &["check"], None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("checked the embedded default"), "{out}");
    assert!(!d.join("rask-data").exists(), "check makes nothing either");
}

/// The embedded simulator keeps its grants in memory: after a restart they are marked
/// revoked with the reason, the start says so before the commands that link again, and a
/// press that nobody hears fails instead of saying "queued 0".
#[test]
fn a_restart_says_the_earlier_grants_are_gone() {
    let d = fresh_dir("restart");
    let first = serve_embedded(&d, 21);
    let text = first.lines.join("\n");
    let command = |name: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.contains(&format!("rask sim {name} ")))
            .unwrap_or_else(|| panic!("no rask sim {name} in {text}"))
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect()
    };
    let (code, _, err) = run_in(&d, &["press", "front-door"], None);
    assert_eq!(code, 2, "nobody granted yet: {err}");
    assert!(err.contains("no user has granted events yet"), "{err}");
    for step in ["link", "grant"] {
        let args = command(step);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = run_in(&d, &args, None);
        assert_eq!(code, 0, "{step}: {err}");
    }
    let (_, out, _) = run_in(&d, &["status"], None);
    assert!(out.contains("active"), "{out}");
    // A skill whose linking client rask does not know: rask's page refuses it, and the sim
    // quotes what the page says, not its markup.
    let sim = command("link").last().unwrap().clone();
    let rask_url = first.lines[0]
        .trim_start_matches("rask: listening on ")
        .to_owned();
    let (code, out, err) = run_in(
        &d,
        &[
            "sim",
            "skill",
            "--sim",
            &sim,
            "--authorization-uri",
            &format!("{rask_url}/oauth/authorize"),
            "--token-uri",
            &format!("{rask_url}/oauth/token"),
            "--client-id",
            "nobody-knows-me",
            "--client-secret",
            "whatever-secret",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let stranger: serde_json::Value = serde_json::from_str(&out).unwrap();
    let stranger = stranger["skillId"].as_str().unwrap().to_owned();
    let (code, out, err) = run_in(
        &d,
        &[
            "sim",
            "link",
            &stranger,
            "demo",
            "--username",
            "demo",
            "--password",
            "demo-password",
            "--sim",
            &sim,
        ],
        None,
    );
    let said = format!("{out}{err}");
    assert_ne!(code, 0, "{said}");
    assert!(said.contains("the page says:"), "{said}");
    assert!(
        !said.contains("<html") && !said.contains("<!doctype"),
        "no markup: {said}"
    );
    drop(first);

    let second = serve_embedded(&d, 22);
    let text = second.lines.join("\n");
    assert!(
        text.contains("1 grant from an earlier start marked revoked"),
        "{text}"
    );
    let (_, out, _) = run_in(&d, &["status"], None);
    assert!(
        out.contains("revoked") && out.contains("simulator of an earlier start"),
        "{out}"
    );
    drop(second);
}
