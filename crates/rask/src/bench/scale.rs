//! `rask bench scale`: rask as 1, 2 and 3 instances on one PostgreSQL database behind HAProxy
//! (as docs/scaling.md describes), on this machine:
//!
//! - directives per second: wrk posting TurnOn through the balancer, as `bench peers` does
//!   against one instance (the light's command published on MQTT);
//! - deliveries per second: doorbell presses through the balancer's webhook, each one
//!   `DoorbellPress` per granted user, until the simulator's Event Gateway has them all; every
//!   instance's delivery worker claims from the same outbox.
//!
//! Every instance, the balancer, the database, the broker, the simulator and the load share the
//! machine's cores: on a 2-core box more instances cannot mean more throughput, and the figures
//! say what the coordination through the database costs (docs/PERFORMANCE.md).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use super::peers::{Running, spawn_group, spawn_rask};

/// One row of the result.
struct Measured {
    instances: usize,
    directives: f64,
    p99_ms: f64,
    deliveries: f64,
    delivered: usize,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn config(dir: &Path, database: &str, sim_url: &str, broker: &str, n: usize) -> String {
    format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{database}\"\n\
         [[linking.clients]]\nid = \"alexa\"\nsecret_file = \"{d}/link-secret\"\nvendor_ids = [\"M2AAAAAAAAAAAA\"]\n\
         [alexa]\nlwa_client_id = \"bench\"\nlwa_client_secret_file = \"{d}/lwa-secret\"\napi = \"{sim_url}\"\n\
         secret_key_file = \"{d}/secret.key\"\n\
         [[devices]]\nid = \"front-door\"\nname = \"Front door\"\nkind = \"doorbell\"\nsecret_file = \"{d}/door-secret\"\n\
         [[devices]]\nid = \"light-1\"\nname = \"Light\"\nkind = \"light\"\ncommand_topic = \"rask-scale-{pid}/light-1/set\"\n\
         [mqtt]\nurl = \"{broker}\"\nclient_id = \"rask-scale-{pid}-{n}\"\n",
        d = dir.display(),
        pid = std::process::id(),
    )
}

/// HAProxy in front of `ports`, on `front`, checking each instance's /healthz.
fn balancer(dir: &Path, front: u16, ports: &[u16]) -> anyhow::Result<Running> {
    let servers: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("    server rask{i} 127.0.0.1:{p} check inter 500ms fall 2 rise 1\n"))
        .collect();
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    maxconn 4096\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 10s\n\
             frontend alexa\n    bind 127.0.0.1:{front}\n    default_backend rask\n\
             backend rask\n    balance roundrobin\n    option httpchk GET /healthz\n{servers}"
        ),
    )?;
    spawn_group(
        dir,
        &format!("haproxy -f {} -db", cfg.display()),
        &dir.join("haproxy.log"),
    )
}

async fn wait_healthy(url: &str) -> anyhow::Result<()> {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Ok(r) = reqwest::get(format!("{url}/healthz")).await
            && r.status() == 200
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{url} did not answer /healthz within 30 s")
}

/// wrk's requests/s and p99 (ms) for POSTs of `body` to `url`.
fn wrk(dir: &Path, url: &str, body: &[u8], seconds: u32) -> anyhow::Result<(f64, f64)> {
    let body_file = dir.join("turnon.json");
    std::fs::write(&body_file, body)?;
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "local f = assert(io.open(\"{}\", \"rb\"))\nwrk.method = \"POST\"\nwrk.body = f:read(\"*a\")\nf:close()\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n\
             function done(summary, latency, requests)\n  io.write(string.format(\"RESULT %d %d %d %d\\n\", summary.requests, summary.duration, latency:percentile(99), summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\nend\n",
            body_file.display()
        ),
    )?;
    let out = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s"), "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .context("cannot run wrk (apt-get install -y wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .with_context(|| format!("wrk gave no result: {text}"))?;
    let n: Vec<f64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
    anyhow::ensure!(n.len() == 4, "wrk's result line: {line}");
    anyhow::ensure!(n[3] == 0.0, "{} of wrk's requests failed", n[3]);
    Ok((n[0] / (n[1] / 1e6), n[2] / 1000.0))
}

async fn measure(
    admin: &str,
    n: usize,
    users: usize,
    presses: usize,
    seconds: u32,
) -> anyhow::Result<Measured> {
    let database = rask_store::testing::postgres_url_on(admin)
        .await
        .context("making a database on the PostgreSQL server")?;
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse()?).await?;
    let sim_url = format!("http://{addr}");
    let dir = std::env::temp_dir().join(format!("rask-bench-scale-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let secret = rask_link::random_token();
    for f in ["link-secret", "door-secret"] {
        std::fs::write(dir.join(f), &secret)?;
    }
    std::fs::write(dir.join("lwa-secret"), "bench-secret")?;
    let broker = std::env::var("RASK_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into());
    let config_path = dir.join("rask.toml");
    std::fs::write(&config_path, config(&dir, &database, &sim_url, &broker, n))?;
    let config_arg = config_path.to_str().unwrap_or_default().to_owned();

    // The first instance makes the schema and the sealing key; the others join them.
    let mut instances = Vec::new();
    let mut ports = Vec::new();
    for i in 0..n {
        let (running, url) = spawn_rask(
            &["serve", "--config", &config_arg],
            &dir.join(format!("rask{i}.log")),
        )?;
        let port: u16 = url.rsplit(':').next().unwrap_or_default().parse()?;
        ports.push(port);
        instances.push(running);
    }
    let front = free_port()?;
    let _haproxy = balancer(&dir, front, &ports)?;
    let url = format!("http://127.0.0.1:{front}");
    wait_healthy(&url).await?;

    // A user linked through the balancer, for the directives.
    let store = rask_store::Store::connect(&database).await?;
    let password = rask_link::random_token();
    store
        .add_user(
            &uuid::Uuid::new_v4().to_string(),
            "bench",
            &rask_link::password::hash(&password)?,
        )
        .await?;
    let (skill, token) =
        super::peers::link_bench_user(&sim, &url, "bench", "bench-secret", &secret, &password).await?;
    let turn_on = serde_json::to_vec(&json!({"directive": {
        "header": {"namespace": "Alexa.PowerController", "name": "TurnOn", "payloadVersion": "3",
                   "messageId": "bench-1", "correlationToken": "bench-correlation"},
        "endpoint": {"scope": {"type": "BearerToken", "token": token}, "endpointId": "light-1"},
        "payload": {}
    }}))?;
    let (directives, p99_ms) = wrk(&dir, &format!("{url}/alexa/smarthome"), &turn_on, seconds)?;

    // Granted users, then presses through the balancer: every instance's worker delivers.
    let sealer = store.sealer(&dir.join("secret.key")).await?;
    let endpoints = rask_cloud::region::Endpoints::simulator(&sim_url);
    super::doorbell::grant_users_in(&sim, &skill, &store, &sealer, &endpoints, users).await?;
    let http = reqwest::Client::new();
    let start = Instant::now();
    for _ in 0..presses {
        let r = http
            .post(format!("{url}/hooks/devices/front-door/press"))
            .bearer_auth(&secret)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 202, "a press was answered {}", r.status());
    }
    let end = Instant::now() + Duration::from_secs(600);
    while store.any_pending_events().await? {
        anyhow::ensure!(Instant::now() < end, "events still pending after 600 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let delivered = sim
        .world()
        .log
        .since(0, Some("gateway"))
        .iter()
        .filter(|e| e.status == 202 && e.name.as_deref() == Some("Alexa.DoorbellEventSource.DoorbellPress"))
        .count();
    drop(instances);
    Ok(Measured {
        instances: n,
        directives,
        p99_ms,
        deliveries: delivered as f64 / elapsed,
        delivered,
    })
}

/// Runs `rask bench scale`.
pub async fn run(
    database: Option<String>,
    counts: Vec<usize>,
    users: usize,
    presses: usize,
    seconds: u32,
) -> anyhow::Result<bool> {
    for tool in ["haproxy", "wrk"] {
        anyhow::ensure!(
            Command::new(tool).arg("-v").output().is_ok(),
            "{tool} is not installed: apt-get install -y {tool}"
        );
    }
    let admin = database.unwrap_or_else(rask_store::testing::postgres_admin_url);
    anyhow::ensure!(
        admin.starts_with("postgres"),
        "--database must be a PostgreSQL server: instances share one"
    );
    let mut rows = Vec::new();
    for n in counts {
        crate::sim::say(&format!("{n} instance(s)..."));
        let m = measure(&admin, n, users, presses, seconds).await?;
        crate::sim::say(&format!(
            "{n} instance(s): {:.0} directives/s (p99 {:.2} ms), {:.0} deliveries/s ({} delivered)",
            m.directives, m.p99_ms, m.deliveries, m.delivered
        ));
        rows.push(m);
    }
    println!();
    println!(
        "| instances | TurnOn directives/s | p99 ms | deliveries/s | delivered | ÷ one instance (directives, deliveries) |"
    );
    println!("|---:|---:|---:|---:|---:|---|");
    let first = rows
        .first()
        .map(|m| (m.directives, m.deliveries))
        .unwrap_or((1.0, 1.0));
    for m in &rows {
        println!(
            "| {} | {:.0} | {:.2} | {:.0} | {} | {:.2}, {:.2} |",
            m.instances,
            m.directives,
            m.p99_ms,
            m.deliveries,
            m.delivered,
            m.directives / first.0,
            m.deliveries / first.1
        );
    }
    Ok(true)
}
