//! `rask bench mqtt`: device states in over MQTT, through a real broker, into the store.
//!
//! For each rate: a fresh database, rask's MQTT bridge and state writer in this process, and a
//! publisher sending temperature readings of many sensors with QoS 1 at that rate. Reported:
//! how many messages were stored (rask acknowledges each once it is stored; the difference is
//! what the broker dropped when its queue for rask overflowed), and the rate they were stored
//! at, from the first publish to the last commit. Publisher, broker and rask share the machine.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use rask_home::devices::{Device, DeviceKind, Registry};
use rask_home::mqtt::MqttBridge;
use rask_home::state::DeviceStates;
use rask_home::triggers::Triggers;
use rask_store::Store;
use rumqttc::{AsyncClient, MqttOptions, QoS};

/// Runs `rask bench mqtt`.
pub async fn run(
    broker: Option<String>,
    database: Option<String>,
    messages: usize,
    sensors: usize,
    rates: Vec<u32>,
) -> anyhow::Result<bool> {
    let broker = broker
        .or_else(|| std::env::var("RASK_TEST_MQTT_URL").ok())
        .unwrap_or_else(|| "mqtt://127.0.0.1:1883".into());
    let sensors = sensors.clamp(1, 10_000);
    for rate in rates {
        let url = super::doorbell::fresh_database(database.as_deref()).await?;
        let store = Store::connect(&url).await.context("the benchmark database")?;
        let prefix = format!("rask-bench/{}", uuid::Uuid::new_v4().simple());
        let mut devices = Vec::new();
        let mut topics = HashMap::new();
        for i in 0..sensors {
            let id = format!("t{i}");
            let mut d = Device::new(
                &id,
                &format!("Sensor {i}"),
                "bench",
                DeviceKind::TemperatureSensor,
            );
            let topic = format!("{prefix}/{id}");
            d.wiring.state_topic = Some(topic.clone());
            topics.insert(topic, id);
            devices.push(d);
        }
        let registry = Registry::new(devices);
        let states = DeviceStates::new(store.clone());
        let triggers = Triggers::new(
            store.clone(),
            registry.clone(),
            HashMap::new(),
            Default::default(),
        );
        let bridge = MqttBridge::new(
            &broker,
            &format!("rask-bench-{}", uuid::Uuid::new_v4().simple()),
            HashMap::new(),
            triggers,
        )?
        .with_states(topics, Arc::new(registry), states.clone());
        let counts = bridge.counts();
        let handle = bridge.spawn();
        // Connected and subscribed.
        tokio::time::sleep(Duration::from_millis(1000)).await;

        let b = url::Url::parse(&broker)?;
        let mut opts = MqttOptions::new(
            format!("bench-publisher-{}", uuid::Uuid::new_v4().simple()),
            b.host_str().unwrap_or("127.0.0.1"),
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
        let started = Instant::now();
        let tick = Duration::from_millis(10);
        let per_tick = (rate as usize / 100).max(1);
        for n in 0..messages {
            if n % per_tick == 0 {
                tokio::time::sleep_until((started + tick * (n / per_tick) as u32).into()).await;
            }
            let (sensor, count) = (n % sensors, (n / sensors) % 1000);
            client
                .publish(
                    format!("{prefix}/t{sensor}"),
                    QoS::AtLeastOnce,
                    false,
                    count.to_string(),
                )
                .await?;
        }
        let published = started.elapsed();
        // Until everything is stored, or nothing more comes for 3 s.
        let mut last = (0, Instant::now());
        let stored_at = loop {
            let stored = counts.stored.load(Ordering::Relaxed) as usize;
            if stored >= messages {
                break started.elapsed();
            }
            if stored != last.0 {
                last = (stored, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(3) {
                break last.1 - started;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let stored = counts.stored.load(Ordering::Relaxed) as usize;
        crate::sim::say(&format!(
            "rate {rate}/s: published {messages} in {:.2} s; stored {stored} ({} not received: dropped by the broker) \
             in {:.2} s: {:.0} messages/s stored",
            published.as_secs_f64(),
            messages.saturating_sub(stored),
            stored_at.as_secs_f64(),
            stored as f64 / stored_at.as_secs_f64().max(1e-9)
        ));
        driver.abort();
        handle.abort();
    }
    Ok(true)
}
