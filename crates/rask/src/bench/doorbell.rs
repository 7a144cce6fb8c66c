//! `rask bench doorbell`: how fast presses reach the Event Gateway, against `rask sim` on
//! loopback.
//!
//! 1. Latency: presses at a steady rate for one granted user; press-to-gateway p50 and p99
//!    (from the outbox write to the gateway's 202, as rask records them).
//! 2. Throughput: with many granted users (each press is one event per user), the highest
//!    sustained rate of delivered events.
//! 3. The ceiling: a bare HTTP client posting the same events to the same simulator with the
//!    same concurrency, no storage at all, run at once after each throughput run; rounds of
//!    the two, and the median share, because this shared machine's speed drifts within
//!    seconds. Each phase also says what it cost in CPU per event, the figure to compare
//!    when a change is measured (it drifts far less than the rates).
//!
//! Users and grants are made directly (no login pages), so only delivery is measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rask_cloud::gateway::EventGateway;
use rask_cloud::lwa::LwaClient;
use rask_cloud::region::{Endpoints, Region};
use rask_home::Registry;
use rask_home::delivery::Delivery;
use rask_home::triggers::Triggers;
use rask_model::smarthome::EventMessage;
use rask_sim::{Sim, SimConfig};
use rask_store::Store;
use rask_store::sealer::Sealer;

struct Rig {
    store: Store,
    sim: Sim,
    endpoints: Endpoints,
    sealer: Sealer,
}

async fn rig(database: &str) -> anyhow::Result<Rig> {
    use base64::Engine;
    let (sim, addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse()?).await?;
    let store = Store::connect(database).await.context("the benchmark database")?;
    // A throwaway key: the benchmark's grants are not kept.
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(rask_link::random_token())?;
    let key = base64::engine::general_purpose::STANDARD.encode(raw);
    Ok(Rig {
        store,
        sim,
        endpoints: Endpoints::simulator(&format!("http://{addr}")),
        sealer: Sealer::from_base64(&key)?,
    })
}

/// Makes `n` users granted in the simulator and in rask; returns their LWA tokens.
async fn grant_users(r: &Rig, n: usize) -> anyhow::Result<Vec<String>> {
    let skill = r
        .sim
        .world()
        .register_skill(serde_json::from_value(
            serde_json::json!({"lwaClientId": "bench", "lwaClientSecret": "bench-secret"}),
        )?)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .skill_id;
    grant_users_in(&r.sim, &skill, &r.store, &r.sealer, &r.endpoints, n).await
}

/// [`grant_users`] for a skill already in the simulator whose LWA client is
/// `bench`/`bench-secret`, into a given store (`rask bench scale`'s, which rask serve
/// instances share).
pub(super) async fn grant_users_in(
    sim: &Sim,
    skill: &str,
    store: &Store,
    sealer: &Sealer,
    endpoints: &Endpoints,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let lwa = LwaClient::new(
        rask_cloud::http_client(Duration::from_secs(10)),
        endpoints.token_url(),
        "bench",
        "bench-secret",
    );
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("user-{i}");
        let code = {
            let mut w = sim.world();
            w.add_user(&name, rask_sim::Region::Na, vec![])
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            w.enable(skill, &name).map_err(|e| anyhow::anyhow!("{e}"))?;
            w.mint_grant_code(skill, &name, Instant::now())
                .map_err(|e| anyhow::anyhow!("{e}"))?
        };
        let t = lwa.exchange_code(&code).await?;
        let id = uuid::Uuid::new_v4().to_string();
        store.add_user(&id, &name, "bench").await?;
        let expires = rask_store::now_ms() + t.expires_in as i64 * 1000;
        store
            .save_grant(
                sealer,
                &id,
                "NA",
                &t.access_token,
                t.refresh_token.as_deref().unwrap_or(""),
                expires,
            )
            .await?;
        tokens.push(t.access_token);
    }
    Ok(tokens)
}

fn worker(r: &Rig) -> Delivery {
    let lwa = Arc::new(LwaClient::new(
        rask_cloud::http_client(Duration::from_secs(10)),
        r.endpoints.token_url(),
        "bench",
        "bench-secret",
    ));
    Delivery::new(
        r.store.clone(),
        r.sealer.clone(),
        lwa,
        EventGateway::new(
            rask_cloud::http_client(Duration::from_secs(10)),
            r.endpoints.clone(),
        ),
    )
}

async fn wait_delivered(store: &Store, deadline: Duration) -> anyhow::Result<()> {
    let end = Instant::now() + deadline;
    while store.any_pending_events().await? {
        anyhow::ensure!(
            Instant::now() < end,
            "events still pending after {} s",
            deadline.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A fresh database: beside the PostgreSQL one named (so runs never see each other's rows),
/// or a new SQLite file.
pub(super) async fn fresh_database(given: Option<&str>) -> anyhow::Result<String> {
    Ok(match given {
        Some(url) if url.starts_with("postgres") => rask_store::testing::postgres_url_on(url)
            .await
            .context("making a database on the server")?,
        Some(url) => url.to_owned(),
        None => rask_store::testing::sqlite_url(),
    })
}

/// Runs `rask bench doorbell`.
pub async fn run(
    database: Option<String>,
    rate: u32,
    seconds: u32,
    users: usize,
    presses: usize,
    rounds: usize,
) -> anyhow::Result<bool> {
    anyhow::ensure!(rounds > 0, "--rounds must be at least 1");
    let url = fresh_database(database.as_deref()).await?;
    crate::sim::say(&format!("database: {}", rask_store::redact_url(&url)));

    // 1. Latency at a steady rate, one granted user.
    let r = rig(&url).await?;
    grant_users(&r, 1).await?;
    let w = worker(&r);
    let triggers = Triggers::new(r.store.clone(), Registry::demo(), Default::default(), w.waker())
        .handing_to(w.entrance());
    w.clone().spawn();
    let total = rate as usize * seconds as usize;
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    for i in 0..total {
        let due = start + gap * i as u32;
        tokio::time::sleep_until(due.into()).await;
        triggers.press("front-door").await?;
    }
    wait_delivered(&r.store, Duration::from_secs(60)).await?;
    let lat = r.store.delivery_latencies().await?;
    crate::sim::say(&format!(
        "latency: {} presses at {rate}/s: p50 {} ms, p99 {} ms, max {} ms",
        lat.len(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0)
    ));

    // 2 and 3, in rounds: rask's throughput with many granted users, then the ceiling (a
    // bare client, the same events, the same concurrency, no storage) at once after it, so
    // that each share compares two phases a few seconds apart on this shared machine.
    let url2 = fresh_database(database.as_deref()).await?;
    let r = rig(&url2).await?;
    let tokens = grant_users(&r, users).await?;
    let w = worker(&r);
    let triggers = Triggers::new(r.store.clone(), Registry::demo(), Default::default(), w.waker())
        .handing_to(w.entrance());
    w.clone().spawn();
    let gateway = EventGateway::new(
        rask_cloud::http_client(Duration::from_secs(10)),
        r.endpoints.clone(),
    );
    let delivered = users * presses;
    let mut shares = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let (start, cpu) = (Instant::now(), super::cpu_seconds());
        for _ in 0..presses {
            triggers.press("front-door").await?;
        }
        wait_delivered(&r.store, Duration::from_secs(600)).await?;
        let rate_rask = delivered as f64 / start.elapsed().as_secs_f64();
        let cpu_rask = super::cpu_per(cpu, delivered);

        let (start, cpu) = (Instant::now(), super::cpu_seconds());
        let sem = Arc::new(tokio::sync::Semaphore::new(rask_home::delivery::CONCURRENCY));
        let mut tasks = Vec::new();
        for _ in 0..presses {
            for t in &tokens {
                let (g, t, permit) = (gateway.clone(), t.clone(), sem.clone().acquire_owned().await?);
                tasks.push(tokio::spawn(async move {
                    let e = EventMessage::doorbell_press("front-door", &t, time::OffsetDateTime::now_utc());
                    let ok = g.send(Region::Na, &t, &e).await.is_ok();
                    drop(permit);
                    ok
                }));
            }
        }
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap_or(false) as usize;
        }
        let ceiling = ok as f64 / start.elapsed().as_secs_f64();
        let cpu_ceiling = super::cpu_per(cpu, ok);
        let share = 100.0 * rate_rask / ceiling;
        shares.push(share);
        crate::sim::say(&format!(
            "round {round}: rask delivered {delivered} events to {users} users: {rate_rask:.0} events/s \
             ({cpu_rask} of CPU per event); a bare client posted {ok}: {ceiling:.0} events/s ({cpu_ceiling}); \
             rask sustains {share:.0}% of it"
        ));
    }
    shares.sort_by(f64::total_cmp);
    crate::sim::say(&format!(
        "rask sustains {:.0}% of the ceiling (median of {rounds} rounds; {})",
        shares[shares.len() / 2],
        shares
            .iter()
            .map(|s| format!("{s:.0}%"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(true)
}
