//! Running the real `rask` binary in tests: one-shot commands, and servers that print their
//! address on their first line and are killed when dropped.

#![allow(dead_code)]

pub mod mqtt;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};

/// A running `rask` server, killed when dropped.
pub struct Running {
    child: Child,
    /// Its first line of output.
    pub first_line: String,
    /// Its first lines, when more were asked for.
    pub lines: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL at the end of the first line ("... listening on URL").
    pub fn url(&self) -> String {
        self.first_line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Starts `rask ARGS` with `envs`, waits for its first line, and keeps draining its output so
/// later lines have somewhere to go.
pub fn start(args: &[&str], envs: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(args)
        .env("RASK_LOG", "warn")
        .env_remove("RASK_SECRET_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    start_command(cmd, 1)
}

/// Starts a prepared command, waits for its first `lines` lines, and keeps draining the rest.
pub fn start_command(cmd: Command, lines: usize) -> Running {
    start_logging(cmd, lines, Stdio::null())
}

/// [`start_command`], with the server's log (standard error) going to `log`.
pub fn start_logging(mut cmd: Command, lines: usize, log: impl Into<Stdio>) -> Running {
    cmd.stdout(Stdio::piped()).stderr(log);
    let mut child = cmd.spawn().expect("rask starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut read = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        read.push(line.trim_end().to_owned());
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Running {
        child,
        first_line: read.first().cloned().unwrap_or_default(),
        lines: read,
    }
}

/// Runs the line of `text` (what `rask serve` printed) that contains `step`, as a person would
/// paste it into a shell in `dir`, with no rask on PATH; panics with its output if it fails.
pub fn run_printed(text: &str, step: &str, dir: &std::path::Path) {
    let line = text
        .lines()
        .find(|l| l.contains(step))
        .unwrap_or_else(|| panic!("no {step:?} line in {text}"));
    let ran = Command::new("sh")
        .args(["-c", line.trim()])
        .current_dir(dir)
        .env("PATH", "/usr/bin:/bin")
        .env("RASK_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{line}\n{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
}

/// The device secret in the printed `curl -H 'Authorization: Bearer SECRET' .../HOOK` line.
pub fn printed_secret(text: &str, hook: &str) -> String {
    text.lines()
        .find(|l| l.contains(hook))
        .and_then(|l| l.split("Bearer ").nth(1))
        .and_then(|s| s.split('\'').next())
        .unwrap_or_else(|| panic!("no {hook:?} line in {text}"))
        .to_owned()
}

/// A fresh, empty folder under the temporary directory for this test process.
pub fn fresh_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `rask ARGS` to completion, with `stdin` if given.
pub fn rask(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(args)
        .env("RASK_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rask starts");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// Writes `rask.toml` into a fresh temporary directory named after `name`, for a smart-home
/// `rask serve` against the sim at `sim_url` in `region` ("NA", "EU" or "FE"): the linking
/// client and LWA client that [`link_and_grant`] registers, SQLite in that directory, and
/// `extra` (devices, MQTT) appended. Returns the config file's path.
pub fn smart_home_config(name: &str, sim_url: &str, region: &str, extra: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let config = d.join("rask.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{dir}/rask.db\"\n\
             [[linking.clients]]\nid = \"alexa\"\nsecret_env = \"RASK_TEST_LINK_SECRET\"\nvendor_ids = [\"M2AAAAAAAAAAAA\"]\n\
             [alexa]\nlwa_client_id = \"rask-lwa\"\nlwa_client_secret_env = \"RASK_TEST_LWA_SECRET\"\nregion = \"{region}\"\napi = \"{sim_url}\"\n\
             secret_key_file = \"{dir}/secret.key\"\n{extra}",
            dir = d.display()
        ),
    )
    .unwrap();
    config
}

/// Registers the skill of a `rask serve` at `url` in the sim (the test configs' client
/// "alexa"/"link-secret-0123456789" and LWA client "rask-lwa"/"rask-lwa-secret"), adds alice in `region`,
/// links her account (password "correct horse battery") and grants. Returns the skill id.
pub async fn link_and_grant(sim: &rask_sim::Sim, url: &str, region: rask_sim::Region) -> String {
    link_and_grant_via(sim, url, &format!("{url}/alexa/smarthome"), region).await
}

/// [`link_and_grant`] with Alexa sending smart-home directives to `endpoint` (a forwarder in
/// front of rask, say) instead of straight to rask.
pub async fn link_and_grant_via(
    sim: &rask_sim::Sim,
    url: &str,
    endpoint: &str,
    region: rask_sim::Region,
) -> String {
    let skill = register_skill(sim, url, endpoint);
    link_and_grant_user(sim, &skill, "alice", region).await;
    skill
}

/// Registers the test configs' skill in the sim, linking through the rask at `url` and sending
/// smart-home directives to `endpoint`. Returns the skill id.
pub fn register_skill(sim: &rask_sim::Sim, url: &str, endpoint: &str) -> String {
    let registration = serde_json::json!({
        "vendorId": "M2AAAAAAAAAAAA", "smartHomeEndpoint": endpoint,
        "lwaClientId": "rask-lwa", "lwaClientSecret": "rask-lwa-secret",
        "accountLinking": {"authorizationUri": format!("{url}/oauth/authorize"), "tokenUri": format!("{url}/oauth/token"),
                           "clientId": "alexa", "clientSecret": "link-secret-0123456789"}
    });
    sim.world()
        .register_skill(serde_json::from_value(registration).unwrap())
        .unwrap()
        .skill_id
}

/// Adds `name` to the sim in `region`, links their account (password "correct horse battery",
/// as rask's user `name` must have) and grants.
pub async fn link_and_grant_user(sim: &rask_sim::Sim, skill: &str, name: &str, region: rask_sim::Region) {
    sim.world().add_user(name, region, vec![]).unwrap();
    let req =
        serde_json::from_value(serde_json::json!({"username": name, "password": "correct horse battery"}))
            .unwrap();
    let link = rask_sim::drivers::link::link(sim, skill, name, &req)
        .await
        .unwrap();
    assert!(link.linked, "{link:#?}");
    let grant = rask_sim::drivers::smarthome::accept_grant(sim, skill, name)
        .await
        .unwrap();
    assert!(grant.valid, "{grant:#?}");
    assert_eq!(grant.received["event"]["header"]["name"], "AcceptGrant.Response");
}

/// Points the config file at `path` to the database `url` instead of its SQLite file.
pub fn use_database(path: &std::path::Path, url: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("[database]\nurl = \"").unwrap();
    let end = start + text[start..].find("\"\n").unwrap() + 2;
    let text = format!("{}[database]\nurl = \"{url}\"\n{}", &text[..start], &text[end..]);
    std::fs::write(path, text).unwrap();
}

/// Adds the rask user `name` with the tests' password.
pub fn add_user(config: &str, name: &str) {
    let o = rask(
        &["user", "add", name, "--config", config],
        Some("correct horse battery\n"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A `rask sim` with one custom skill in it, and the sim's signing root saved in a fresh folder:
/// what a `[skill]` section needs to trust the sim (`cert_mirror = url`, `trust_root_file =
/// root`).
pub struct CustomSim {
    /// The simulator.
    pub sim: rask_sim::Sim,
    /// Its URL.
    pub url: String,
    /// The skill's id.
    pub skill_id: String,
    /// The fresh folder.
    pub dir: std::path::PathBuf,
    /// The signing root's PEM file in it.
    pub root: std::path::PathBuf,
}

/// [`CustomSim`] with `config`; `client`: the skill's client id, its secret `{client}-secret`
/// (for Skill Messaging and Proactive Events).
pub async fn custom_sim(name: &str, config: rask_sim::SimConfig, client: Option<&str>) -> CustomSim {
    let (sim, addr) = rask_sim::Sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut registration = serde_json::json!({"name": name, "customEndpoint": "http://127.0.0.1:9/unset"});
    if let Some(c) = client {
        registration["lwaClientId"] = c.into();
        registration["lwaClientSecret"] = format!("{c}-secret").into();
    }
    let skill_id = sim
        .world()
        .register_skill(serde_json::from_value(registration).unwrap())
        .unwrap()
        .skill_id;
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("sim-root.pem");
    std::fs::write(&root, sim.signer().unwrap().root_pem()).unwrap();
    CustomSim {
        sim,
        url: format!("http://{addr}"),
        skill_id,
        dir,
        root,
    }
}

/// The rows of an evaluation that failed, as (requirement, endpoint).
pub fn evaluation_failures(evaluation: &serde_json::Value) -> Vec<(String, Option<String>)> {
    evaluation["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] == "fail")
        .map(|r| {
            (
                r["requirement"].as_str().unwrap().to_owned(),
                r["endpoint"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// The row of `requirement` about `endpoint`.
pub fn evaluation_row<'a>(
    evaluation: &'a serde_json::Value,
    requirement: &str,
    endpoint: Option<&str>,
) -> &'a serde_json::Value {
    evaluation["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["requirement"].as_str().unwrap().starts_with(requirement) && r["endpoint"].as_str() == endpoint
        })
        .unwrap_or_else(|| panic!("no row {requirement:?} for {endpoint:?} in {evaluation:#}"))
}
