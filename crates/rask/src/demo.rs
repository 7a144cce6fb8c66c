//! The embedded default: `rask serve` with no configuration, and `rask demo`.
//!
//! Without a configuration file rask runs a complete home on this machine: the demo devices,
//! SQLite under `./rask-data/demo` (its own database and key, never a configured instance's
//! `./rask-data/rask.db`), the built-in simulator playing Alexa on its own port, a demo user
//! and the demo skill registered in the simulator, with its secrets in files beside them
//! (mode 0600). `rask demo` then walks F1 to F5 in one process: link the
//! account, grant, discover, press the doorbell and see the Event Gateway accept it, turn on
//! the light, and open the window to see its ChangeReport.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use rask_sim::{Sim, SimConfig};
use rask_store::{Store, StoreError};
use serde_json::json;

use crate::config::{Alexa, Client, Config, DeviceSection, Linking};

/// The demo user's login.
pub const USER: &str = "demo";
/// The demo user's password (a demo: printed, not secret).
pub const PASSWORD: &str = "demo-password";
/// The demo skill's vendor id.
pub const VENDOR: &str = "MRASKDEMO";
/// The demo custom skill's client id (its Permissions page, were it Amazon's).
pub const DEMO_SKILL_CLIENT: &str = "rask-demo-skill";
/// The file under `rask-data/demo` naming the demo custom skill of the last embedded start.
pub const DEMO_SKILL_FILE: &str = "demo-skill-id";
/// Why a grant of an earlier embedded start no longer works.
pub const EARLIER_GRANT: &str = "made with the simulator of an earlier start, which is gone; \
     link the account and grant again (the commands below, or rask demo)";
/// The embedded default's own folder: its database, sealing key and secrets, apart from a
/// configured instance's `rask-data/rask.db`, which a forgotten `--config` must never touch.
pub const DATA_DIR: &str = "rask-data/demo";
/// The embedded default's database.
pub const DATABASE_URL: &str = "sqlite://rask-data/demo/rask.db";
/// The embedded default's sealing key.
pub const SECRET_KEY_FILE: &str = "rask-data/demo/secret.key";

/// The embedded default's custom skill, for `rask message` and `rask notify` run without a
/// configuration in the folder `rask serve` ran in: its id, and that it has a client.
pub fn embedded_skill() -> Option<crate::custom_skill::SkillSection> {
    let id = std::fs::read_to_string(Path::new(DATA_DIR).join(DEMO_SKILL_FILE)).ok()?;
    Some(crate::custom_skill::SkillSection {
        id: id.trim().to_owned(),
        client_id: Some(DEMO_SKILL_CLIENT.into()),
        ..Default::default()
    })
}

/// The simulator and the demo skill in it.
pub struct Embedded {
    /// The simulator.
    pub sim: Sim,
    /// Its URL.
    pub sim_url: String,
    /// The demo skill's id in it.
    pub skill_id: String,
    /// The demo custom skill's id in it ("Alexa, open the front door").
    pub custom_skill_id: String,
    /// The demo user's id for that skill (`context.System.user.userId`).
    pub custom_user_id: String,
    /// The doorbell's trigger secret.
    pub doorbell_secret: String,
    /// The kitchen window contact's webhook secret.
    pub window_secret: String,
}

fn secret_file(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, String)> {
    let path = dir.join(name);
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok((path, s.trim().to_owned()));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let secret = rask_link::random_token();
    write_private(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    Ok((path, secret))
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(contents.as_bytes())
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

impl Embedded {
    /// Starts the simulator, fills `config` with the demo's linking client, `[alexa]` pointing at
    /// the simulator and the demo devices, and registers the demo skill for rask at `rask`.
    /// Its secrets, and the demo skill's id, go in `dir` ([`DATA_DIR`] for `rask serve`).
    pub async fn start(config: &mut Config, rask: SocketAddr, dir: &Path) -> anyhow::Result<Embedded> {
        let (sim, sim_addr) =
            Sim::start(SimConfig::default(), "127.0.0.1:0".parse().expect("an address")).await?;
        let sim_url = format!("http://{sim_addr}");
        let (link_file, link_secret) = secret_file(dir, "link-client-secret")?;
        let (lwa_file, lwa_secret) = secret_file(dir, "lwa-client-secret")?;
        let (door_file, doorbell_secret) = secret_file(dir, "front-door-secret")?;
        let (window_file, window_secret) = secret_file(dir, "kitchen-window-secret")?;
        config.linking = Linking {
            clients: vec![Client {
                id: "rask-demo".into(),
                name: Some("Alexa (simulated)".into()),
                secret_env: None,
                secret_file: Some(link_file),
                vendor_ids: vec![VENDOR.into()],
                redirect_uris: vec![],
                scopes: vec!["smart_home".into()],
                authentication: Some("basic".into()),
            }],
            ..Linking::default()
        };
        config.alexa = Some(Alexa {
            lwa_client_id: "rask-demo-lwa".into(),
            lwa_client_secret_env: None,
            lwa_client_secret_file: Some(lwa_file),
            region: "NA".into(),
            api: sim_url.clone(),
            secret_key_file: dir.join("secret.key"),
            doorbell_life_seconds: 30,
            change_report_window_ms: rask_home::reports::CHANGE_REPORT_WINDOW.as_millis() as u64,
            // The simulator drives /alexa/smarthome directly, as no Lambda stands between.
            forwarder_secret_env: None,
            forwarder_secret_file: None,
            linking_client: None,
            linking_scope: None,
        });
        let device = |id: &str, name: &str, kind: &str, secret_file: Option<PathBuf>| DeviceSection {
            id: id.into(),
            name: name.into(),
            description: None,
            kind: kind.into(),
            secret_env: None,
            secret_file,
            ..DeviceSection::default()
        };
        config.devices = vec![
            device("front-door", "Front door", "doorbell", Some(door_file)),
            device("hall-light", "Hall light", "light", None),
            device(
                "kitchen-window",
                "Kitchen window",
                "contact_sensor",
                Some(window_file),
            ),
        ];
        let registration = json!({
            "name": "rask demo", "vendorId": VENDOR,
            "smartHomeEndpoint": format!("http://{rask}/alexa/smarthome"),
            "lwaClientId": "rask-demo-lwa", "lwaClientSecret": lwa_secret,
            "accountLinking": {"authorizationUri": format!("http://{rask}/oauth/authorize"), "tokenUri": format!("http://{rask}/oauth/token"),
                               "clientId": "rask-demo", "clientSecret": link_secret, "scopes": ["smart_home"], "credentials": "HTTP_BASIC"}
        });
        let skill_id = {
            let mut w = sim.world();
            let skill = w
                .register_skill(serde_json::from_value(registration)?)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            w.add_user(USER, rask_sim::Region::Na, vec![])
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            skill.skill_id
        };
        // The custom skill: "Alexa, open the front door", signed as Alexa signs, verified by
        // rask against the simulator's signing root, which it trusts only here.
        // Its own client, as a skill's Permissions page gives one, for Skill Messaging and
        // Proactive Events from rask message, rask notify and the API.
        let (skill_client_file, skill_client_secret) = secret_file(dir, "skill-client-secret")?;
        let custom = json!({"name": "front door", "customEndpoint": format!("http://{rask}/alexa/skill"),
                            "lwaClientId": DEMO_SKILL_CLIENT, "lwaClientSecret": skill_client_secret});
        let (custom_skill_id, custom_user_id) = {
            let mut w = sim.world();
            let id = w
                .register_skill(serde_json::from_value(custom)?)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .skill_id;
            let user = w
                .enable(&id, USER)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .user_id
                .clone();
            (id, user)
        };
        // For rask message and rask notify run from this folder without a configuration.
        std::fs::write(dir.join(DEMO_SKILL_FILE), &custom_skill_id)
            .with_context(|| format!("cannot write {}", dir.join(DEMO_SKILL_FILE).display()))?;
        let signer = sim.signer().map_err(|e| anyhow::anyhow!("{e}"))?;
        config.skill = Some(crate::custom_skill::SkillSection {
            id: custom_skill_id.clone(),
            launch: "Welcome to the front door. Say ring the bell.".into(),
            reprompt: Some("Say ring the bell, or stop.".into()),
            help: "Say ring the bell, and every Echo in the house announces the front door.".into(),
            stop: "Goodbye.".into(),
            fallback: "Sorry, I can only ring the bell. Say ring the bell.".into(),
            intents: vec![
                crate::custom_skill::IntentSection {
                    name: "RingIntent".into(),
                    say: "Ringing the {door}.".into(),
                    slot_defaults: [("door".to_owned(), "front door".to_owned())].into(),
                    end_session: true,
                    press: Some("front-door".into()),
                    ..Default::default()
                },
                crate::custom_skill::IntentSection {
                    name: "LightIntent".into(),
                    say: "The hall light is {state}.".into(),
                    slot_defaults: [("state".to_owned(), "on".to_owned())].into(),
                    end_session: true,
                    set: Some(crate::custom_skill::SetDevice {
                        device: "hall-light".into(),
                        property: "power".into(),
                        value: "{state}".into(),
                    }),
                    ..Default::default()
                },
            ],
            verify_requests: true,
            cert_mirror: Some(sim_url.clone()),
            trust_root_file: None,
            trust_root_der: Some(signer.root_der().to_vec()),
            // The seed's robot: launched with gadgets paired, every one spins.
            interfaces: vec!["Custom.Robot".into()],
            no_gadget: "No robot is connected to your Echo.".into(),
            launch_directive: Some(crate::custom_skill::gadgets::GadgetDirective {
                namespace: "Custom.Robot".into(),
                name: "Spin".into(),
                payload: r#"{"direction": "clockwise", "turns": 2}"#.into(),
            }),
            listen: None,
            gadget_events: Vec::new(),
            client_id: Some(DEMO_SKILL_CLIENT.into()),
            client_secret_env: None,
            client_secret_file: Some(skill_client_file),
            api: sim_url.clone(),
            messages: None,
        });
        Ok(Embedded {
            sim,
            sim_url,
            skill_id,
            custom_skill_id,
            custom_user_id,
            doorbell_secret,
            window_secret,
        })
    }

    /// Adds the demo user to rask's store if missing.
    pub async fn add_user(store: &Store) -> anyhow::Result<()> {
        let hash = rask_link::password::hash(PASSWORD)?;
        match store
            .add_user(&uuid::Uuid::new_v4().to_string(), USER, &hash)
            .await
        {
            Ok(_) | Err(StoreError::Duplicate(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks revoked the grants an earlier start left in the embedded default's database: they
    /// were made with that start's simulator, which kept them in memory and is gone, so every
    /// event for them would be refused. Returns how many, for [`Embedded::print_next_steps`]
    /// to say, before how to link and grant again.
    pub async fn retire_earlier_grants(store: &Store) -> anyhow::Result<usize> {
        use rask_store::grants::GrantState;
        let mut n = 0;
        for g in store.grant_statuses().await? {
            if matches!(g.state, GrantState::Active | GrantState::Refreshing) {
                store
                    .set_grant_state(&g.user_id, GrantState::Revoked, Some(EARLIER_GRANT))
                    .await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// What to open and what to run next; `retired`: the grants of an earlier start that
    /// [`Embedded::retire_earlier_grants`] found.
    pub fn print_next_steps(&self, rask: SocketAddr, retired: usize) {
        let sim = &self.sim_url;
        let skill = &self.skill_id;
        let me = crate::invoked::rask();
        if retired > 0 {
            crate::sim::say(&format!(
                "  {retired} grant{} from an earlier start marked revoked: {EARLIER_GRANT}",
                if retired == 1 { "" } else { "s" }
            ));
        }
        let mut lines = vec![
            "  embedded demo (no --config): demo devices, its own SQLite under ./rask-data/demo, the simulator as Alexa"
                .to_owned(),
            format!("  simulator console:  {sim}/sim/"),
            format!("next, as Alexa would (or all at once: {me} demo):"),
            format!("  {me} sim link {skill} {USER} --username {USER} --password {PASSWORD} --sim {sim}"),
            format!("  {me} sim grant {skill} {USER} --sim {sim}"),
            format!("  {me} sim directive {skill} {USER} Alexa.Discovery.Discover --sim {sim}"),
            format!(
                "  curl -X POST -H 'Authorization: Bearer {}' http://{rask}/hooks/devices/front-door/press",
                self.doorbell_secret
            ),
            format!(
                "  then see the DoorbellPress arrive at {sim}/sim/  ({me} status shows each user's state)"
            ),
            format!(
                "  {me} sim directive {skill} {USER} Alexa.PowerController.TurnOn --endpoint hall-light --sim {sim}"
            ),
            format!(
                "  curl -X POST -H 'Authorization: Bearer {}' -d open http://{rask}/hooks/devices/kitchen-window/state",
                self.window_secret
            ),
            format!(
                "  {me} sim request {} {USER} LaunchRequest --sim {sim}",
                self.custom_skill_id
            ),
            format!(
                "  {me} sim request {} {USER} IntentRequest --intent RingIntent --sim {sim}",
                self.custom_skill_id
            ),
            format!(
                "  {me} sim request {} {USER} IntentRequest --intent LightIntent --slot state=off --sim {sim}",
                self.custom_skill_id
            ),
            format!(
                "  {me} message {} note=hello   (once the skill was opened: see it delivered at {sim}/sim/)",
                self.custom_user_id
            ),
            format!("  {me} check --evaluate   (will it pass Works with Alexa? checked offline: docs/evaluate.md)"),
        ];
        if crate::invoked::needs_path() {
            lines.insert(
                3,
                "  (no rask on PATH, so these name this binary by its path; `cargo install --path crates/rask` puts rask on PATH)"
                    .to_owned(),
            );
        }
        for line in lines {
            crate::sim::say(&line);
        }
    }
}

/// Runs `rask demo`: F1 to F5 against an embedded server and simulator, each step timed. It
/// keeps everything in a folder of its own under the temporary directory, removed at the end:
/// a `rask serve` running the embedded default in this folder keeps its data, grants and
/// outbox to itself.
pub async fn run() -> anyhow::Result<bool> {
    let dir = std::env::temp_dir().join(format!("rask-demo-{}", std::process::id()));
    let walked = walk(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    walked
}

async fn walk(dir: &Path) -> anyhow::Result<bool> {
    let started = Instant::now();
    let step = |what: &str| crate::sim::say(&format!("[{:>6} ms] {what}", started.elapsed().as_millis()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = Config::embedded();
    config.database.url = format!("sqlite://{}/rask.db", dir.display());
    let demo = Embedded::start(&mut config, addr, dir).await?;
    step(&format!("simulator (Alexa's side) at {}", demo.sim_url));
    let (app, store) = crate::serve::build(&config, true).await?;
    Embedded::add_user(&store).await?;
    let limits = crate::listener::Limits {
        header: std::time::Duration::from_secs(10),
        body: std::time::Duration::from_secs(30),
        max_body: crate::serve::MAX_BODY_BYTES,
    };
    tokio::spawn(crate::listener::serve(
        listener,
        app,
        None,
        limits,
        std::future::pending(),
    ));
    step(&format!("rask at http://{addr}, with the demo user {USER:?}"));

    let req = serde_json::from_value(json!({"username": USER, "password": PASSWORD}))?;
    let link = rask_sim::drivers::link::link(&demo.sim, &demo.skill_id, USER, &req).await?;
    anyhow::ensure!(
        link.linked,
        "F1 account linking failed: {}",
        link.error.unwrap_or_default()
    );
    step("F1 account linked: Alexa signed in on rask's login page, consented, and got tokens");

    let grant = rask_sim::drivers::smarthome::accept_grant(&demo.sim, &demo.skill_id, USER).await?;
    anyhow::ensure!(
        grant.valid && grant.error.is_none(),
        "F2 AcceptGrant failed: {} {}",
        grant.error.unwrap_or_default(),
        grant.received
    );
    step("F2 AcceptGrant: rask exchanged the grant code at LWA and sealed the user's tokens");

    let spec = serde_json::from_value(json!({"namespace": "Alexa.Discovery", "name": "Discover"}))?;
    let discover = rask_sim::drivers::smarthome::send(&demo.sim, &demo.skill_id, USER, &spec).await?;
    anyhow::ensure!(discover.valid, "F3 discovery failed: {:?}", discover.findings);
    let n = discover.received["event"]["payload"]["endpoints"]
        .as_array()
        .map_or(0, Vec::len);
    step(&format!(
        "F3 Discover: {n} devices, each answer valid under Amazon's schema"
    ));

    let r = reqwest::Client::new()
        .post(format!("http://{addr}/hooks/devices/front-door/press"))
        .bearer_auth(&demo.doorbell_secret)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 202, "F4 the press was refused: {}", r.status());
    step("F4 doorbell pressed: the DoorbellPress is in the outbox");
    let press = wait_for_gateway(&demo.sim, "Alexa.DoorbellEventSource.DoorbellPress", "front-door")
        .await
        .context("F4 the press did not reach the Event Gateway within 5 s")?;
    anyhow::ensure!(press.valid, "F4 the gateway refused the press: {:?}", press.error);
    step("F4 the Event Gateway accepted it (202), valid under Amazon's schema: every Echo would announce it");

    let spec = serde_json::from_value(
        json!({"namespace": "Alexa.PowerController", "name": "TurnOn", "endpointId": "hall-light"}),
    )?;
    let on = rask_sim::drivers::smarthome::send(&demo.sim, &demo.skill_id, USER, &spec).await?;
    anyhow::ensure!(
        on.valid && on.received["event"]["header"]["name"] == "Response",
        "F5 TurnOn failed: {}",
        on.received
    );
    step("F5 \"Alexa, turn on the hall light\": Alexa.Response with powerState ON in its context");

    // Closed then open: a change whatever the window was left as by an earlier run.
    for state in ["closed", "open"] {
        let r = reqwest::Client::new()
            .post(format!("http://{addr}/hooks/devices/kitchen-window/state"))
            .bearer_auth(&demo.window_secret)
            .body(state)
            .send()
            .await?;
        anyhow::ensure!(
            r.status() == 200,
            "F5 the window's state was refused: {}",
            r.status()
        );
    }
    step("F5 the kitchen window opens (its webhook): the change is stored");
    let change = wait_for_gateway(&demo.sim, "Alexa.ChangeReport", "kitchen-window")
        .await
        .context("F5 the window's ChangeReport did not reach the Event Gateway within 5 s")?;
    anyhow::ensure!(
        change.valid,
        "F5 the gateway refused the ChangeReport: {:?}",
        change.error
    );
    anyhow::ensure!(
        change.body["event"]["payload"]["change"]["properties"][0]["value"] == "DETECTED",
        "F5 the ChangeReport does not say the window is open: {}",
        change.body
    );
    step("F5 the Event Gateway accepted its ChangeReport (detectionState DETECTED): routines can follow it");

    let launch = serde_json::from_value(json!({"type": "LaunchRequest"}))?;
    let open = rask_sim::drivers::custom::send(&demo.sim, &demo.custom_skill_id, USER, &launch).await?;
    anyhow::ensure!(
        open.valid,
        "F9 the LaunchRequest failed: {} {:?}",
        open.received,
        open.findings
    );
    step(&format!(
        "F9 \"Alexa, open the front door\": a signed LaunchRequest, verified; rask said {}",
        open.received["response"]["outputSpeech"]["text"]
    ));
    let ring = serde_json::from_value(json!({"type": "IntentRequest", "intent": "RingIntent"}))?;
    let rang = rask_sim::drivers::custom::send(&demo.sim, &demo.custom_skill_id, USER, &ring).await?;
    anyhow::ensure!(
        rang.valid,
        "F9 the RingIntent failed: {} {:?}",
        rang.received,
        rang.findings
    );
    step(&format!(
        "F9 \"ring the bell\": rask said {} and pressed the front door",
        rang.received["response"]["outputSpeech"]["text"]
    ));
    let light = serde_json::from_value(
        json!({"type": "IntentRequest", "intent": "LightIntent", "slots": {"state": "off"}}),
    )?;
    let off = rask_sim::drivers::custom::send(&demo.sim, &demo.custom_skill_id, USER, &light).await?;
    anyhow::ensure!(
        off.valid,
        "F9 the LightIntent failed: {} {:?}",
        off.received,
        off.findings
    );
    let spec = serde_json::from_value(
        json!({"namespace": "Alexa", "name": "ReportState", "endpointId": "hall-light"}),
    )?;
    let state = rask_sim::drivers::smarthome::send(&demo.sim, &demo.skill_id, USER, &spec).await?;
    let power = state.received["context"]["properties"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "powerState"))
        .map(|p| p["value"].clone());
    anyhow::ensure!(
        power == Some(json!("OFF")),
        "F9 the LightIntent did not turn the hall light off: {}",
        state.received
    );
    step(&format!(
        "F9 \"turn the hall light off\": rask said {}, and ReportState now says powerState OFF",
        off.received["response"]["outputSpeech"]["text"]
    ));
    let forged = serde_json::from_value(json!({"type": "LaunchRequest", "forge": "changed-body"}))?;
    let refused = rask_sim::drivers::custom::send(&demo.sim, &demo.custom_skill_id, USER, &forged).await?;
    anyhow::ensure!(
        refused.status == 400,
        "F9 a request changed after Alexa signed it was answered {}",
        refused.status
    );
    step("F9 the same request changed after signing: refused with 400, no handler ran");

    // F8: the same skill with two robots paired to the Echo.
    let robots = [
        "amzn1.ask.endpoint.demo-robot-1",
        "amzn1.ask.endpoint.demo-robot-2",
    ];
    let paired = robots
        .iter()
        .enumerate()
        .map(|(i, id)| {
            serde_json::from_value(
                json!({"endpointId": id, "friendlyName": format!("Robot {}", i + 1),
                "capabilities": [{"type": "AlexaInterface", "interface": "Custom.Robot", "version": "1.0"}]}),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    demo.sim
        .world()
        .set_gadgets(USER, paired)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let spun = rask_sim::drivers::custom::send(&demo.sim, &demo.custom_skill_id, USER, &launch).await?;
    anyhow::ensure!(
        spun.valid,
        "F8 the LaunchRequest failed: {} {:?}",
        spun.received,
        spun.findings
    );
    for id in robots {
        let got = demo.sim.world().gadget_directives(USER, id);
        anyhow::ensure!(
            got.last().is_some_and(|d| d["header"]["name"] == "Spin"),
            "F8 {id} received no Spin: {got:?}"
        );
    }
    step(
        "F8 two robots paired: the launch found them (Endpoint Enumeration) and each received Custom.Robot Spin",
    );
    demo.sim
        .world()
        .set_gadgets(USER, Vec::new())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let none = rask_sim::drivers::custom::send(&demo.sim, &demo.custom_skill_id, USER, &launch).await?;
    anyhow::ensure!(
        none.received["response"]["outputSpeech"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("No robot is connected")),
        "F8 with no robot, the launch said {}",
        none.received["response"]["outputSpeech"]
    );
    step("F8 no robot paired: rask says that no robot is connected");
    Ok(true)
}

/// The first gateway event `name` about `endpoint`, waiting up to 5 s.
async fn wait_for_gateway(sim: &Sim, name: &str, endpoint: &str) -> Option<rask_sim::log::Entry> {
    for _ in 0..200 {
        let found = sim.world().log.since(0, Some("gateway")).into_iter().find(|e| {
            e.name.as_deref() == Some(name) && e.body["event"]["endpoint"]["endpointId"] == endpoint
        });
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}
