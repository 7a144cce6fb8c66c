//! A burst of MQTT state messages bigger than every queue, through Mosquitto with its default
//! limits into the real binary: 20,000 states of 200 sensors paced at 4,000 a second, with 50
//! doorbell presses among them. Every press reaches the Event Gateway, and each sensor's last
//! state is the one stored: nothing rask acknowledged was lost, and the broker dropped nothing.

mod common;

use std::time::{Duration, Instant};

use common::start;
use rumqttc::{AsyncClient, MqttOptions, QoS};

const SENSORS: usize = 200;
const STATES: usize = 20_000;
const PRESSES: usize = 50;
const PER_SECOND: usize = 4_000;

fn broker() -> url::Url {
    url::Url::parse(&std::env::var("RASK_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_burst_of_states_loses_nothing_and_presses_never_wait_behind_it() {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let pid = std::process::id();
    let prefix = format!("rask-test/{pid}-burst");
    let mut devices = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"rask-burst-{pid}\"\n\
         [[devices]]\nid = \"bell\"\nname = \"Bell\"\nkind = \"doorbell\"\nmqtt_topic = \"{prefix}/bell\"\n",
        broker()
    );
    for i in 0..SENSORS {
        devices.push_str(&format!(
            "[[devices]]\nid = \"t{i}\"\nname = \"Sensor {i}\"\nkind = \"temperature_sensor\"\nstate_topic = \"{prefix}/t{i}\"\n"
        ));
    }
    let config = common::smart_home_config("rask-burst", &format!("http://{addr}"), "NA", &devices);
    let cfg = config.to_str().unwrap();
    common::add_user(cfg, "alice");
    let server = start(
        &["serve", "--config", cfg],
        &[
            ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
            ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
        ],
    );
    common::link_and_grant(&sim, &server.url(), rask_sim::Region::Na).await;
    // Subscribed by now: the link took a while; give the subscription a moment more.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let b = broker();
    let mut opts = MqttOptions::new(
        format!("burst-{pid}"),
        b.host_str().unwrap(),
        b.port().unwrap_or(1883),
    );
    opts.set_keep_alive(Duration::from_secs(10));
    opts.set_inflight(1000);
    let (client, mut events) = AsyncClient::new(opts, 10_000);
    let driver = tokio::spawn(async move {
        loop {
            if events.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let mut last = vec![0usize; SENSORS];
    let started = Instant::now();
    let every = STATES / PRESSES;
    let tick = Duration::from_millis(10);
    let per_tick = PER_SECOND / 100;
    for n in 0..STATES {
        if n % per_tick == 0 {
            tokio::time::sleep_until((started + tick * (n / per_tick) as u32).into()).await;
        }
        // Each sensor counts its own messages (a temperature rask takes: under 1000).
        let (sensor, count) = (n % SENSORS, n / SENSORS);
        last[sensor] = count;
        client
            .publish(
                format!("{prefix}/t{sensor}"),
                QoS::AtLeastOnce,
                false,
                format!("{count}"),
            )
            .await
            .unwrap();
        if n % every == every / 2 {
            client
                .publish(format!("{prefix}/bell"), QoS::AtLeastOnce, false, "pressed")
                .await
                .unwrap();
        }
    }
    let published_in = started.elapsed();

    let presses = || {
        sim.world()
            .log
            .since(0, Some("gateway"))
            .into_iter()
            .filter(|e| {
                e.status == 202 && e.name.as_deref() == Some("Alexa.DoorbellEventSource.DoorbellPress")
            })
            .count()
    };
    let store = rask_store::Store::connect(&format!(
        "sqlite://{}/rask.db",
        config.parent().unwrap().display()
    ))
    .await
    .unwrap();
    let stored_last = |store: rask_store::Store, last: Vec<usize>| async move {
        let mut behind = 0;
        for (i, n) in last.iter().enumerate() {
            let s = store.device_state(&format!("t{i}")).await.unwrap();
            let v: serde_json::Value = s
                .value("temperature")
                .and_then(|v| serde_json::from_str(v).ok())
                .unwrap_or_default();
            if v["value"].as_f64() != Some(*n as f64) {
                behind += 1;
            }
        }
        behind
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let behind = stored_last(store.clone(), last.clone()).await;
        if presses() == PRESSES && behind == 0 {
            break;
        }
        if Instant::now() >= deadline {
            let rows = sqlx::query("SELECT status, outcome, COUNT(*) AS n FROM outbox WHERE kind = 'DoorbellPress' GROUP BY status, outcome")
                .fetch_all(store.pool())
                .await
                .unwrap();
            let rows: Vec<String> = rows
                .iter()
                .map(|r| {
                    use sqlx::Row;
                    format!(
                        "{} {:?} {}",
                        r.get::<String, _>("status"),
                        r.get::<Option<String>, _>("outcome"),
                        r.get::<i64, _>("n")
                    )
                })
                .collect();
            panic!(
                "published in {published_in:?}; {} of {PRESSES} presses delivered, {behind} of {SENSORS} sensors without their last state; presses in the outbox: {rows:?}",
                presses()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    driver.abort();
    eprintln!(
        "published {STATES} states and {PRESSES} presses in {published_in:?}; all stored and delivered"
    );
}
