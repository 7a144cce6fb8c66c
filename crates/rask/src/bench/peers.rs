//! `rask bench peers`: rask in the shared side-by-side benchmark with its peers, in one go.
//!
//! The harness (`shared/bench`, copied somewhere writable and set up as its README says) has
//! the load driver (`run.sh`, wrk on loopback), the request bodies Alexa sends, and the peers:
//! a bare hyper server answering fixed bytes (the limit), and the ASK SDK for Python and for
//! Node answering the reference skill. This command:
//!
//! 1. starts `rask sim` in this process and `rask serve` (this same executable) as a child,
//!    with the reference skill's 50 devices (doorbell-1..5, light-1..45) on SQLite, its lights'
//!    commands published to the MQTT broker (`RASK_TEST_MQTT_URL`, by default
//!    mqtt://127.0.0.1:1883);
//! 2. links a user through rask's own login pages as Alexa does, and writes that user's access
//!    token into the harness's smart-home request bodies;
//! 3. runs each server in turn, `run.sh` `--runs` times each, as `run-all.sh` would;
//! 4. checks rask's answers against the official schema and prints one table: requests/s,
//!    p50/p99, peak memory, and rask's ratios to each peer, all from this one session.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

/// A server of the comparison.
struct Peer {
    name: &'static str,
    url: &'static str,
    command: &'static str,
}

/// The peers as `run-all.sh` starts them (from the harness directory).
const PEERS: &[Peer] = &[
    Peer {
        name: "limit",
        url: "http://127.0.0.1:8080",
        command: "env PORT=8080 limit/target/release/limit",
    },
    Peer {
        name: "python",
        url: "http://127.0.0.1:8081",
        command: "env PORT=8081 WORKERS=2 python/.venv/bin/gunicorn --chdir python -c python/gunicorn.conf.py app:app",
    },
    Peer {
        name: "node",
        url: "http://127.0.0.1:8082",
        command: "env PORT=8082 WORKERS=2 node node/server.js",
    },
];

/// One row of `run.sh`'s table.
#[derive(Debug, Clone)]
struct Row {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
    bytes: u64,
    rss: f64,
}

/// A child process group, stopped when dropped.
pub(super) struct Running(pub(super) Child);

impl Drop for Running {
    fn drop(&mut self) {
        // The peers fork workers: end the whole group. (`--` first: procps' kill reads
        // `-TERM -PID` otherwise, and took the run's own session down with it.)
        let pid = self.0.id() as i32;
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &format!("-{pid}")])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn spawn_group(dir: &Path, command: &str, log: &Path) -> anyhow::Result<Running> {
    let log = std::fs::File::create(log)?;
    let child = Command::new("setsid")
        .args(command.split(' '))
        .current_dir(dir)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {command}"))?;
    Ok(Running(child))
}

/// Waits until `url` answers a POST of `body` with 200 (30 s at most).
async fn wait_ready(url: &str, body: &[u8]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Ok(r) = http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
        {
            if r.status() == 200 {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("{url} did not answer 200 within 30 s")
}

/// The harness's table rows: request type → row.
fn parse_table(md: &str) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    for line in md.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 7 || !cells[0].starts_with("smarthome-") && !cells[0].starts_with("custom-") {
            continue;
        }
        let num = |s: &str| s.parse::<f64>().ok();
        if let (Some(rps), Some(p50), Some(p99), Some(errors), Some(bytes), Some(rss)) = (
            num(cells[1]),
            num(cells[2]),
            num(cells[3]),
            cells[4].parse().ok(),
            cells[5].parse().ok(),
            num(cells[6]),
        ) {
            out.insert(
                cells[0].to_owned(),
                Row {
                    rps,
                    p50,
                    p99,
                    errors,
                    bytes,
                    rss,
                },
            );
        }
    }
    out
}

/// Runs `run.sh` for one server `runs` times; its rows per type, one per run. `before_run`
/// is called before each (the signed bodies are signed afresh there).
#[allow(clippy::too_many_arguments)]
fn drive(
    harness: &Path,
    name: &str,
    url: &str,
    runs: u32,
    types: &[String],
    results: &Path,
    pid: u32,
    before_run: &dyn Fn() -> anyhow::Result<()>,
) -> anyhow::Result<BTreeMap<String, Vec<Row>>> {
    let mut rows: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for r in 1..=runs {
        before_run()?;
        let out_dir = results.join(format!("{name}-run{r}"));
        let out = Command::new(harness.join("run.sh"))
            .arg(url)
            .current_dir(harness)
            .env("TYPES", types.join(" "))
            .env("OUT_DIR", &out_dir)
            .env("SERVER_PID", pid.to_string())
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run the harness's run.sh")?;
        let md = String::from_utf8_lossy(&out.stdout).into_owned();
        std::fs::write(results.join(format!("{name}-run{r}.md")), &md)?;
        crate::sim::say(&format!("{name} run {r}:\n{}", md.trim_end()));
        for (t, row) in parse_table(&md) {
            rows.entry(t).or_default().push(row);
        }
    }
    Ok(rows)
}

/// The reference skill's devices, as rask.toml: 5 doorbells, 45 lights. A light's command is
/// published on its MQTT command topic and trusted once the broker has it (no state topic):
/// rask does the work a real bridge does, the peers only answer.
fn reference_config(dir: &Path, sim_url: &str, broker: &str) -> String {
    let mut c = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{d}/rask.db\"\n\
         [[linking.clients]]\nid = \"alexa\"\nsecret_file = \"{d}/link-secret\"\nvendor_ids = [\"M2AAAAAAAAAAAA\"]\n\
         [alexa]\nlwa_client_id = \"bench-lwa\"\nlwa_client_secret_file = \"{d}/lwa-secret\"\napi = \"{sim_url}\"\n\
         secret_key_file = \"{d}/secret.key\"\n",
        d = dir.display()
    );
    for i in 1..=5 {
        c.push_str(&format!(
            "[[devices]]\nid = \"doorbell-{i}\"\nname = \"Doorbell {i}\"\nkind = \"doorbell\"\nsecret_file = \"{}/door-secret\"\n",
            dir.display()
        ));
    }
    for i in 1..=45 {
        c.push_str(&format!(
            "[[devices]]\nid = \"light-{i}\"\nname = \"Light {i}\"\nkind = \"light\"\ncommand_topic = \"rask-bench/light-{i}/set\"\n"
        ));
    }
    c.push_str(&format!(
        "[mqtt]\nurl = \"{broker}\"\nclient_id = \"rask-bench-{}\"\n",
        std::process::id()
    ));
    c
}

/// Starts this executable with `args` in its own process group, and reads the URL it says it
/// listens on from the end of its first line.
pub(super) fn spawn_rask(args: &[&str], log: &Path) -> anyhow::Result<(Running, String)> {
    let log = std::fs::File::create(log)?;
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(args)
        // What `rask serve` runs with unless told otherwise (its request span is then live);
        // RASK_LOG, when set, is passed on.
        .env(
            "RASK_LOG",
            std::env::var("RASK_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::piped())
        .stderr(log)
        .process_group(0)
        .spawn()?;
    let mut first = String::new();
    {
        use std::io::BufRead;
        let out = child.stdout.take().context("rask's output")?;
        let mut reader = std::io::BufReader::new(out);
        reader.read_line(&mut first)?;
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    }
    let running = Running(child);
    let url = first
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http"))
        .with_context(|| format!("rask {} did not say where it listens: {first:?}", args[0]))?
        .to_owned();
    Ok((running, url))
}

/// Starts rask serve for the reference skill and links a user; returns the server, its URL
/// and the user's access token.
async fn start_rask(work: &Path, results: &Path) -> anyhow::Result<(Running, rask_sim::Sim, String, String)> {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse()?).await?;
    let sim_url = format!("http://{addr}");
    let secret = rask_link::random_token();
    for f in ["link-secret", "lwa-secret", "door-secret"] {
        std::fs::write(work.join(f), &secret)?;
    }
    let config = work.join("rask.toml");
    let broker = std::env::var("RASK_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    std::fs::write(&config, reference_config(work, &sim_url, &broker))?;
    let store = rask_store::Store::connect(&format!("sqlite://{}/rask.db", work.display())).await?;
    let password = rask_link::random_token();
    store
        .add_user(
            &uuid::Uuid::new_v4().to_string(),
            "bench",
            &rask_link::password::hash(&password)?,
        )
        .await?;
    drop(store);
    let (running, url) = spawn_rask(
        &["serve", "--config", config.to_str().unwrap_or_default()],
        &results.join("rask.server.log"),
    )?;
    let (_, token) = link_bench_user(&sim, &url, "bench-lwa", &secret, &secret, &password).await?;
    Ok((running, sim, url, token))
}

/// Registers a smart-home skill in `sim` whose account linking is the rask at `url` (client
/// `alexa`/`link_secret`, LWA client `lwa_id`/`lwa_secret`), and links the sim user `bench` to
/// rask's user `bench` (`password`) through rask's pages. Returns the skill id and the user's
/// access token.
pub(super) async fn link_bench_user(
    sim: &rask_sim::Sim,
    url: &str,
    lwa_id: &str,
    lwa_secret: &str,
    link_secret: &str,
    password: &str,
) -> anyhow::Result<(String, String)> {
    let registration = json!({
        "vendorId": "M2AAAAAAAAAAAA", "smartHomeEndpoint": format!("{url}/alexa/smarthome"),
        "lwaClientId": lwa_id, "lwaClientSecret": lwa_secret,
        "accountLinking": {"authorizationUri": format!("{url}/oauth/authorize"), "tokenUri": format!("{url}/oauth/token"),
                           "clientId": "alexa", "clientSecret": link_secret}
    });
    let skill = sim
        .world()
        .register_skill(serde_json::from_value(registration)?)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .skill_id;
    sim.world()
        .add_user("bench", rask_sim::Region::Na, vec![])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let req = serde_json::from_value(json!({"username": "bench", "password": password}))?;
    let link = rask_sim::drivers::link::link(sim, &skill, "bench", &req).await?;
    anyhow::ensure!(link.linked, "the bench user could not link: {link:?}");
    let token = rask_sim::drivers::link::fresh_access_token(sim, &skill, "bench").await?;
    Ok((skill, token))
}

/// Copies the harness's request bodies with `token` in place of the fixed one.
fn bodies_with_token(harness: &Path, token: &str) -> anyhow::Result<()> {
    let fixed = "linked-account-token-3f9a1c";
    for t in ["smarthome-discover", "smarthome-turnon", "smarthome-acceptgrant"] {
        let path = harness.join("requests").join(format!("{t}.json"));
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let original = harness.join("requests").join(format!("{t}.json.orig"));
        if !original.exists() {
            std::fs::write(&original, &text)?;
        }
        let text = std::fs::read_to_string(&original)?;
        std::fs::write(&path, text.replace(fixed, token))?;
    }
    Ok(())
}

fn mean(rows: &[Row], f: impl Fn(&Row) -> f64) -> f64 {
    if rows.is_empty() {
        return 0.0;
    }
    rows.iter().map(f).sum::<f64>() / rows.len() as f64
}

/// Runs `rask bench peers`.
pub async fn run(
    harness: PathBuf,
    runs: u32,
    types: Vec<String>,
    servers: Vec<String>,
) -> anyhow::Result<bool> {
    let harness = harness
        .canonicalize()
        .with_context(|| format!("the harness directory {}", harness.display()))?;
    for need in ["run.sh", "post.lua", "requests/smarthome-discover.json"] {
        anyhow::ensure!(
            harness.join(need).exists(),
            "{} has no {need}: copy shared/bench there and set it up (its README)",
            harness.display()
        );
    }
    anyhow::ensure!(
        Command::new("wrk").arg("-v").output().is_ok(),
        "wrk is not installed: apt-get install -y wrk"
    );
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let results = harness.join("results").join(format!("rask-{stamp}"));
    std::fs::create_dir_all(&results)?;
    let work = std::env::temp_dir().join(format!("rask-bench-peers-{stamp}"));
    std::fs::create_dir_all(&work)?;
    crate::sim::say(&format!("results: {}", results.display()));

    let (smart_home, custom): (Vec<String>, Vec<String>) =
        types.iter().cloned().partition(|t| t.starts_with("smarthome-"));
    let wants = |name: &str| servers.iter().any(|s| s == name);
    let (rask, sim, rask_url, token) = start_rask(&work, &results).await?;
    bodies_with_token(&harness, &token)?;
    let mut all: BTreeMap<String, BTreeMap<String, Vec<Row>>> = BTreeMap::new();
    let launch = std::fs::read(harness.join("requests/custom-launch.json"))?;
    let unsigned = || Ok(());
    // rask first (rask serve for the smart-home requests, the reference skill on rask-skill
    // for the custom ones), then each peer, one at a time.
    if wants("rask") && !smart_home.is_empty() {
        let rows = drive(
            &harness,
            "rask",
            &rask_url,
            runs,
            &smart_home,
            &results,
            rask.0.id(),
            &unsigned,
        )?;
        all.entry("rask".into()).or_default().extend(rows);
    }
    drop(rask);
    let data = work.join("skill");
    let data_arg = data.to_str().unwrap_or_default().to_owned();
    if wants("rask") && !custom.is_empty() {
        let (skill, url) = spawn_rask(
            &["bench", "reference-skill", "--data", &data_arg],
            &results.join("rask-skill.server.log"),
        )?;
        let rows = drive(
            &harness,
            "rask-skill",
            &url,
            runs,
            &custom,
            &results,
            skill.0.id(),
            &unsigned,
        )?;
        all.entry("rask".into()).or_default().extend(rows);
    }
    if wants("rask-verified") && !custom.is_empty() {
        let signer = sim.signer().map_err(|e| anyhow::anyhow!("{e}"))?;
        let signed = super::signed::SignedHarness::new(&harness, &work.join("signed"), &custom)?;
        let sim_url = sim.base_url().to_owned();
        let (skill, url) = spawn_rask(
            &["bench", "reference-skill", "--data", &data_arg, "--sim", &sim_url],
            &results.join("rask-verified.server.log"),
        )?;
        let rows = drive(
            signed.dir(),
            "rask-verified",
            &url,
            runs,
            &custom,
            &results,
            skill.0.id(),
            &|| signed.sign(&signer),
        )?;
        all.insert("rask-verified".into(), rows);
    }
    for peer in PEERS.iter().filter(|p| wants(p.name)) {
        let binary = peer.command.split(' ').nth(2).unwrap_or_default();
        if peer.name == "limit" && !harness.join(binary).exists() {
            crate::sim::say(&format!(
                "limit: skipped, not built: (cd {}/limit && cargo build --release)",
                harness.display()
            ));
            continue;
        }
        let running = spawn_group(
            &harness,
            peer.command,
            &results.join(format!("{}.server.log", peer.name)),
        )?;
        if let Err(e) = wait_ready(&format!("{}/alexa/skill", peer.url), &launch).await {
            crate::sim::say(&format!("{}: skipped: {e}", peer.name));
            continue;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pid = running.0.id();
        all.insert(
            peer.name.to_owned(),
            drive(
                &harness, peer.name, peer.url, runs, &types, &results, pid, &unsigned,
            )?,
        );
        drop(running);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let valid = check_kept(&results, &smart_home, &custom);
    print_tables(&all, &types, runs);
    println!("\nraw output: {}", results.display());
    Ok(valid)
}

/// rask's answers, as the harness kept them: smart home against the official schema (and
/// the wanted answer, since an ErrorResponse is valid too, and cheaper than the work), custom
/// against the reference behaviour.
fn check_kept(results: &Path, smart_home: &[String], custom: &[String]) -> bool {
    let mut valid = true;
    let kept = |dir: &str, t: &str| -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(results.join(dir).join(format!("{t}.response.json"))).ok()?;
        match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                crate::sim::say(&format!("{dir} {t}: not JSON: {e}"));
                Some(serde_json::Value::Null)
            }
        }
    };
    for t in smart_home {
        let Some(v) = kept("rask-run1", t) else { continue };
        let verdict = rask_model::check::check_value(&v);
        let wanted = match t.as_str() {
            "smarthome-discover" => "Discover.Response",
            "smarthome-acceptgrant" => "AcceptGrant.Response",
            _ => "Response",
        };
        let named = v["event"]["header"]["name"].as_str().unwrap_or_default();
        if named != wanted {
            crate::sim::say(&format!(
                "rask {t}: answered {named} ({}), not {wanted}: its figures do not count",
                v["event"]["payload"]["type"].as_str().unwrap_or("?")
            ));
            valid = false;
        }
        crate::sim::say(&format!(
            "rask {t}: {}",
            if verdict.is_valid() {
                "valid under Amazon's schema".to_owned()
            } else {
                format!("INVALID: {:?}", verdict.findings)
            }
        ));
        valid &= verdict.is_valid();
    }
    for dir in ["rask-skill-run1", "rask-verified-run1"] {
        for t in custom {
            let Some(v) = kept(dir, t) else { continue };
            let problems = super::skill::check(t, &v);
            crate::sim::say(&format!(
                "{dir} {t}: {}",
                if problems.is_empty() {
                    "the reference behaviour".to_owned()
                } else {
                    format!("WRONG: {}", problems.join(", "))
                }
            ));
            valid &= problems.is_empty();
        }
    }
    valid
}

/// The figures, and rask's ratios to each peer.
fn print_tables(all: &BTreeMap<String, BTreeMap<String, Vec<Row>>>, types: &[String], runs: u32) {
    println!();
    println!(
        "| request | server | req/s (mean of {runs}) | p50 ms | p99 ms | errors | resp B | peak RSS MB |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for t in types {
        for (server, rows) in all {
            if let Some(rs) = rows.get(t) {
                println!(
                    "| {t} | {server} | {:.0} | {:.2} | {:.2} | {} | {} | {:.1} |",
                    mean(rs, |r| r.rps),
                    mean(rs, |r| r.p50),
                    mean(rs, |r| r.p99),
                    rs.iter().map(|r| r.errors).sum::<u64>(),
                    rs.first().map(|r| r.bytes).unwrap_or(0),
                    rs.iter().map(|r| r.rss).fold(0.0, f64::max)
                );
            }
        }
    }
    let stat = |server: &str, t: &str, f: fn(&Row) -> f64| {
        all.get(server).and_then(|r| r.get(t)).map(|rs| mean(rs, f))
    };
    println!();
    println!("| request | server | ÷ limit | ÷ Node | ÷ Python | p99 vs Node / Python |");
    println!("|---|---|---:|---:|---:|---|");
    for t in types {
        for server in ["rask", "rask-verified"] {
            let Some(ours) = stat(server, t, |r| r.rps) else {
                continue;
            };
            let ratio = |peer: &str| match stat(peer, t, |r| r.rps) {
                Some(b) if b > 0.0 => format!("{:.2}", ours / b),
                _ => "-".into(),
            };
            let p = |s: &str| {
                stat(s, t, |r| r.p99)
                    .map(|v| format!("{v:.2}"))
                    .unwrap_or_else(|| "-".into())
            };
            println!(
                "| {t} | {server} | {} | {} | {} | {} ms vs {} / {} ms |",
                ratio("limit"),
                ratio("node"),
                ratio("python"),
                p(server),
                p("node"),
                p("python")
            );
        }
    }
    println!();
    for t in types {
        if let (Some(off), Some(on)) = (stat("rask", t, |r| r.rps), stat("rask-verified", t, |r| r.rps))
            && off > 0.0
        {
            println!(
                "{t}: verification costs {:.1} % of requests/s",
                (1.0 - on / off) * 100.0
            );
        }
    }
}
