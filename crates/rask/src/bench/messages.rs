//! `rask bench messages`: Skill Messaging messages from rask's HTTP API to the simulator's
//! 202, sustained, for users spread over the three regions; beside the ceiling, a bare client
//! (rask-cloud's Skill Messaging client, no API, no outbox) posting the same messages to the
//! same simulator with the delivery worker's concurrency.
//!
//! rask runs in this process as `rask serve` would (the same router, listener and worker),
//! on a fresh database; the users are recorded directly, as their first request would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rask_cloud::lwa::LwaClient;
use rask_cloud::region::Endpoints;
use rask_cloud::services::OutOfSession;
use rask_model::messaging::SkillMessageRequest;
use rask_model::region::Region;
use rask_sim::{Sim, SimConfig};
use serde_json::json;

const KEY: &str = "rask_bench_0123456789abcdef0123456789abcdef";

fn endpoint(r: Region) -> &'static str {
    match r {
        Region::Na => "https://api.amazonalexa.com",
        Region::Eu => "https://api.eu.amazonalexa.com",
        Region::Fe => "https://api.fe.amazonalexa.com",
    }
}

fn sim_region(r: Region) -> rask_sim::Region {
    match r {
        Region::Na => rask_sim::Region::Na,
        Region::Eu => rask_sim::Region::Eu,
        Region::Fe => rask_sim::Region::Fe,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs `rask bench messages`.
pub async fn run(
    database: Option<String>,
    users: usize,
    messages: usize,
    clients: usize,
) -> anyhow::Result<bool> {
    // Deliveries back to a skill would load the same machine in both runs: the skill has no
    // endpoint, and the sim's first retry is far off.
    let (sim, sim_addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse()?).await?;
    let sim_url = format!("http://{sim_addr}");
    let skill_id = sim
        .world()
        .register_skill(serde_json::from_value(
            json!({"name": "bench", "lwaClientId": "bench", "lwaClientSecret": "bench-secret"}),
        )?)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .skill_id;
    let url = super::doorbell::fresh_database(database.as_deref()).await?;
    crate::sim::say(&format!("database: {}", rask_store::redact_url(&url)));
    let dir = std::env::temp_dir().join(format!("rask-bench-messages-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let secret = dir.join("client-secret");
    std::fs::write(&secret, "bench-secret")?;
    let toml = format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{url}\"\n\
         [skill]\nid = \"{skill_id}\"\nverify_requests = false\nclient_id = \"bench\"\n\
         client_secret_file = \"{}\"\napi = \"{sim_url}\"\n\
         [[api_keys]]\nname = \"bench\"\nsha256 = \"{}\"\nactions = [\"messages\"]\nper_second = 100000\n",
        secret.display(),
        rask_store::digest(KEY)
    );
    let path = dir.join("rask.toml");
    std::fs::write(&path, toml)?;
    let config = crate::serve::load(Some(&path))?;
    let (app, store) = crate::serve::build(&config, true).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let rask_addr = listener.local_addr()?;
    let limits = crate::listener::Limits {
        header: Duration::from_secs(10),
        body: Duration::from_secs(10),
        max_body: crate::serve::MAX_BODY_BYTES,
    };
    tokio::spawn(crate::listener::serve(
        listener,
        app,
        None,
        limits,
        std::future::pending(),
    ));

    // The users, a third in each region, known to the sim and recorded by rask.
    let mut ids = Vec::with_capacity(users);
    for i in 0..users {
        let region = Region::ALL[i % 3];
        let name = format!("user-{i}");
        let id = {
            let mut w = sim.world();
            w.add_user(&name, sim_region(region), vec![])
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            w.enable(&skill_id, &name)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .user_id
                .clone()
        };
        store
            .record_skill_user(&skill_id, &id, endpoint(region), rask_store::now_ms())
            .await?;
        ids.push((id, region));
    }
    crate::sim::say(&format!(
        "{users} users in NA, EU and FE; {messages} messages; {clients} API clients at once"
    ));

    // rask: the API to the sim's 202, as rask records them.
    let http = reqwest::Client::new();
    let api = format!("http://{rask_addr}/api/v1/messages");
    let sem = Arc::new(tokio::sync::Semaphore::new(clients));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(messages);
    for n in 0..messages {
        let (http, api, user) = (http.clone(), api.clone(), ids[n % users].0.clone());
        let permit = sem.clone().acquire_owned().await?;
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let body = json!({"user": user, "data": {"n": n.to_string()}, "key": format!("bench-{n}")});
            let ok = http
                .post(&api)
                .bearer_auth(KEY)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status() == 202);
            drop(permit);
            (ok, t.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(messages);
    let mut accepted = 0;
    for t in tasks {
        let (ok, took) = t.await?;
        accepted += ok as usize;
        latencies.push(took);
    }
    let queued_in = start.elapsed();
    anyhow::ensure!(accepted == messages, "the API accepted {accepted} of {messages}");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (pending, _, failed) = store.service_call_counts().await?;
        anyhow::ensure!(failed == 0, "{failed} messages failed");
        if pending == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{pending} messages still pending after 600 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rask_rate = messages as f64 / start.elapsed().as_secs_f64();
    latencies.sort();
    crate::sim::say(&format!(
        "rask: {messages} messages from the API to the sim's 202 in {:.2} s: {rask_rate:.0}/s sustained \
         (all accepted by the API in {:.2} s; 202 from the API p50 {:.1} ms, p99 {:.1} ms)",
        start.elapsed().as_secs_f64(),
        queued_in.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    ));

    // The ceiling: the same messages, straight to the sim, the worker's concurrency.
    let endpoints = Endpoints::simulator(&sim_url);
    let client_http = rask_cloud::http_client(Duration::from_secs(10));
    let lwa = Arc::new(LwaClient::new(
        client_http.clone(),
        endpoints.token_url(),
        "bench",
        "bench-secret",
    ));
    let client = OutOfSession::new(client_http, lwa, endpoints);
    let sem = Arc::new(tokio::sync::Semaphore::new(
        rask_home::out_of_session::BATCH as usize,
    ));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(messages);
    for n in 0..messages {
        let (client, (user, region)) = (client.clone(), ids[n % users].clone());
        let permit = sem.clone().acquire_owned().await?;
        tasks.push(tokio::spawn(async move {
            let data = serde_json::from_value(json!({"n": n.to_string(), "messageId": format!("c-{n}")}))
                .unwrap_or_default();
            let ok = client
                .send_message(region, &user, &SkillMessageRequest::new(data))
                .await
                .is_ok();
            drop(permit);
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.context("a ceiling task")? as usize;
    }
    let ceiling = ok as f64 / start.elapsed().as_secs_f64();
    crate::sim::say(&format!(
        "ceiling: a bare client posted {ok} messages: {ceiling:.0}/s; rask sustains {:.0}% of it",
        100.0 * rask_rate / ceiling
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(true)
}
