//! `rask check --evaluate`: this configuration's smart home, evaluated against the Works with
//! Alexa requirements by the embedded simulator, in this process, offline.
//!
//! What is evaluated is what Alexa would meet: the configuration's devices as rask announces
//! and answers for them, on a scratch SQLite database in a folder of its own under the
//! temporary directory, with the simulator as Alexa (its linking client, its LWA, its Event
//! Gateway). The devices are taken as virtual ones (their MQTT topics left out): nothing at
//! home moves, and no lock opens because a check ran. A device with a state webhook gets its
//! physical change through it. To evaluate the real devices as they answer, run
//! `rask sim evaluate` against a rask whose `[alexa] api` is a running `rask sim`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rask_sim::evaluate::{ChangeHook, Evaluation, EvaluationRequest};
use rask_sim::{Sim, SimConfig};
use serde_json::json;

use crate::config::{Alexa, Client, Config, Linking};

/// The linking login rask's scratch store gets for the evaluation.
const USER: &str = "evaluation";

/// Evaluates the configuration at `path` (the embedded default without one) and returns the
/// evaluation; its scratch folder is removed at the end.
pub async fn run(path: Option<&Path>) -> anyhow::Result<Evaluation> {
    remove_stale_folders();
    let dir = std::env::temp_dir().join(format!(
        "rask-evaluate-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = evaluate_in(path, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Folders of evaluations that were killed before they could remove their own (the console
/// stops one that runs too long): gone once they are an hour old.
fn remove_stale_folders() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let stale = e.file_name().to_string_lossy().starts_with("rask-evaluate-")
            && e.metadata().and_then(|m| m.modified()).is_ok_and(|t| {
                t.elapsed()
                    .is_ok_and(|age| age > std::time::Duration::from_secs(3600))
            });
        if stale {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

async fn evaluate_in(path: Option<&Path>, dir: &Path) -> anyhow::Result<Evaluation> {
    // Its secrets and database are nobody else's to read.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut config = match path {
        Some(p) => Config::load(Some(p)).map_err(|errors| {
            anyhow::anyhow!(
                "the configuration is not valid:\n  {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )
        })?,
        None => Config::embedded(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let embedded = path.is_none();
    let (sim, skill_id) = if embedded {
        // The embedded default is its own world: the demo's devices, user and simulator.
        let demo = crate::demo::Embedded::start(&mut config, addr, dir).await?;
        config.database.url = format!("sqlite://{}/rask.db", dir.display());
        (demo.sim.clone(), demo.skill_id.clone())
    } else {
        let (sim, sim_addr) =
            Sim::start(SimConfig::default(), "127.0.0.1:0".parse().expect("an address")).await?;
        let skill_id = scratch(&mut config, dir, &sim, &format!("http://{sim_addr}"), addr)?;
        (sim, skill_id)
    };
    let changes = change_hooks(&config, addr)?;
    let (app, store) = crate::serve::build(&config, !embedded).await?;
    let (username, password) = if embedded {
        crate::demo::Embedded::add_user(&store).await?;
        (crate::demo::USER.to_owned(), crate::demo::PASSWORD.to_owned())
    } else {
        let password = rask_link::random_token();
        let hash = rask_link::password::hash(&password)?;
        store
            .add_user(&uuid::Uuid::new_v4().to_string(), USER, &hash)
            .await?;
        (USER.to_owned(), password)
    };
    let limits = crate::listener::Limits {
        header: std::time::Duration::from_secs(10),
        body: std::time::Duration::from_secs(30),
        max_body: crate::serve::MAX_BODY_BYTES,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::listener::serve(listener, app, None, limits, async move {
        let _ = stopped.await;
    }));
    let sim_user = if embedded { crate::demo::USER } else { "owner" };
    let registry = config.registry(!embedded);
    let request = EvaluationRequest {
        username: Some(username),
        password: Some(password),
        changes,
        // The run waits for the device removed and added back below.
        wait_for_discovery_seconds: if registry.devices().is_empty() {
            0
        } else {
            DISCOVERY_WAIT
        },
        ..Default::default()
    };
    let (evaluation, ()) = tokio::join!(
        rask_sim::evaluate::evaluate(&sim, &skill_id, sim_user, request),
        remove_and_add(&sim, &store, &registry),
    );
    let _ = stop.send(());
    let _ = server.await;
    Ok(evaluation?)
}

/// How long the run waits for the DeleteReport and AddOrUpdateReport.
const DISCOVERY_WAIT: u64 = 15;

/// Once the run waits for a device to be added and removed, does what a restart after such a
/// configuration change does (`announce_changes`, as `rask serve` calls it at start): the
/// last device taken out (a DeleteReport to every granted user), then put back (an
/// AddOrUpdateReport). The delivery worker finds both in the outbox.
async fn remove_and_add(sim: &Sim, store: &rask_store::Store, registry: &rask_home::Registry) {
    let Some((_, fewer)) = registry.devices().split_last() else {
        return;
    };
    let fewer = rask_home::Registry::new(fewer.to_vec());
    // The run always ends (its waits are bounded), so this waits for it as long as it runs;
    // an evaluation that never opened (refused at once) is given a few seconds to show.
    let opened_by = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let state = sim
            .world()
            .evaluations
            .list()
            .first()
            .map(|e| (e.progress, e.waiting_for.clone()));
        match state {
            Some((rask_sim::evaluate::Progress::Running, Some(w))) if w.starts_with("add a device") => break,
            Some((rask_sim::evaluate::Progress::Running, _)) => {}
            None if std::time::Instant::now() < opened_by => {}
            _ => return,
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for r in [&fewer, registry] {
        if let Err(e) = rask_home::discovery::announce_changes(store, r).await {
            tracing::error!(error = %e, "the device change could not be announced");
        }
    }
}

/// Points `config` at a scratch world in `dir`: SQLite there, the simulator as Alexa with a
/// linking client and LWA client of its own, no forwarder, no MQTT, no custom skill, every
/// device virtual. Registers the skill of rask at `addr` in the simulator and returns its id.
fn scratch(
    config: &mut Config,
    dir: &Path,
    sim: &Sim,
    sim_url: &str,
    addr: std::net::SocketAddr,
) -> anyhow::Result<String> {
    let link_secret = rask_link::random_token();
    let lwa_secret = rask_link::random_token();
    let link_file = write_secret(dir, "link-client-secret", &link_secret)?;
    let lwa_file = write_secret(dir, "lwa-client-secret", &lwa_secret)?;
    config.database.url = format!("sqlite://{}/rask.db", dir.display());
    config.server.public_url = None;
    config.linking = Linking {
        clients: vec![Client {
            id: "rask-evaluation".into(),
            name: Some("Alexa (evaluation)".into()),
            secret_env: None,
            secret_file: Some(link_file),
            vendor_ids: vec![crate::demo::VENDOR.into()],
            redirect_uris: vec![],
            scopes: vec!["smart_home".into()],
            authentication: Some("basic".into()),
        }],
        ..Linking::default()
    };
    let window = config
        .alexa
        .as_ref()
        .map_or(rask_home::reports::CHANGE_REPORT_WINDOW.as_millis() as u64, |a| {
            a.change_report_window_ms
        });
    config.alexa = Some(Alexa {
        lwa_client_id: "rask-evaluation-lwa".into(),
        lwa_client_secret_env: None,
        lwa_client_secret_file: Some(lwa_file),
        region: "NA".into(),
        api: sim_url.to_owned(),
        secret_key_file: dir.join("secret.key"),
        doorbell_life_seconds: 30,
        change_report_window_ms: window,
        forwarder_secret_env: None,
        forwarder_secret_file: None,
        linking_client: None,
        linking_scope: None,
    });
    config.mqtt = None;
    config.skill = None;
    config.metrics = None;
    config.api_keys = Vec::new();
    for d in &mut config.devices {
        d.mqtt_topic = None;
        d.command_topic = None;
        d.state_topic = None;
        d.slow = false;
    }
    let registration = json!({
        "name": "rask (evaluation)", "vendorId": crate::demo::VENDOR,
        "smartHomeEndpoint": format!("http://{addr}/alexa/smarthome"),
        "lwaClientId": "rask-evaluation-lwa", "lwaClientSecret": lwa_secret,
        "accountLinking": {"authorizationUri": format!("http://{addr}/oauth/authorize"), "tokenUri": format!("http://{addr}/oauth/token"),
                           "clientId": "rask-evaluation", "clientSecret": link_secret, "scopes": ["smart_home"], "credentials": "HTTP_BASIC"}
    });
    let mut w = sim.world();
    let skill = w
        .register_skill(serde_json::from_value(registration)?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    w.add_user("owner", rask_sim::Region::Na, vec![])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(skill.skill_id)
}

fn write_secret(dir: &Path, name: &str, secret: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    crate::demo::write_private(&path, secret).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A change hook for each device with a state webhook (a secret) and a one-word change: the
/// embedded default's kitchen window, or a configuration's sensors, plugs and locks.
fn change_hooks(config: &Config, addr: std::net::SocketAddr) -> anyhow::Result<Vec<ChangeHook>> {
    let secrets = config.device_secrets().map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        )
    })?;
    Ok(config
        .devices
        .iter()
        .filter_map(|d| {
            Some(ChangeHook {
                endpoint_id: d.id.clone(),
                url: format!(
                    "http://{addr}/hooks/devices/{}/state",
                    url::form_urlencoded::byte_serialize(d.id.as_bytes()).collect::<String>()
                ),
                bearer: Some(secrets.get(&d.id)?.expose().to_owned()),
                bodies: change_bodies(&d.kind)?,
            })
        })
        .collect())
}

/// What a device of `kind` is told on its state webhook to change, twice, the second a change
/// whatever it was before; `None` for kinds whose change is not one word.
fn change_bodies(kind: &str) -> Option<Vec<String>> {
    let words: [&str; 2] = match kind {
        "contact_sensor" => ["closed", "open"],
        "motion_sensor" => ["clear", "motion"],
        "temperature_sensor" => ["20.5", "21.5"],
        "plug" => ["off", "on"],
        "lock" => ["unlocked", "locked"],
        _ => return None,
    };
    Some(words.iter().map(|w| (*w).to_owned()).collect())
}

/// Keeps the evaluation in the configured database for the owner's console (the embedded
/// default's own, without a configuration). A database that cannot be reached is said, not
/// fatal: the evaluation was printed.
pub async fn keep(path: Option<&Path>, e: &Evaluation) {
    let url = match path {
        Some(p) => match Config::load(Some(p)) {
            Ok(c) => c.database.url,
            Err(_) => return,
        },
        // The embedded default's database only where it already runs: a check must not
        // leave a data folder behind in a folder it was merely run from.
        None if Path::new(crate::demo::DATA_DIR).is_dir() => crate::demo::DATABASE_URL.to_owned(),
        None => return,
    };
    let kept = async {
        // Never made or migrated by a check: only a database rask already runs on.
        let store = rask_store::Store::connect_existing(&url).await?;
        let s = e.summary;
        let report = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
        store
            .keep_evaluation(
                [s.pass, s.fail, s.not_applicable, s.not_checked].map(|n| n as i64),
                &report,
            )
            .await
    };
    if let Err(err) = kept.await {
        crate::sim::say(&format!(
            "the evaluation could not be kept for the console ({}): {err}",
            rask_store::redact_url(&url)
        ));
    }
}
