//! A real broker (Mosquitto) from the test's side: what rask publishes, and what a device
//! publishes to rask.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// A client id part no other test of this run uses.
fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The broker the tests use (`RASK_TEST_MQTT_URL`).
pub fn broker() -> url::Url {
    url::Url::parse(&std::env::var("RASK_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into()))
        .unwrap()
}

/// Everything published under `topic`, as it arrives.
pub async fn subscribe(topic: &str) -> tokio::sync::mpsc::UnboundedReceiver<(String, String)> {
    let b = broker();
    let mut opts = MqttOptions::new(
        format!("skill-test-{}-{}", std::process::id(), rand_suffix()),
        b.host_str().unwrap(),
        b.port().unwrap_or(1883),
    );
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = AsyncClient::new(opts, 64);
    client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let mut ready_tx = Some(ready_tx);
    tokio::spawn(async move {
        let _client = client;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(r) = ready_tx.take() {
                        let _ = r.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), String::from_utf8_lossy(&p.payload).into_owned()));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .expect("subscribed")
        .unwrap();
    rx
}

/// Publishes one message, as a device reporting its state would.
pub async fn publish(topic: &str, payload: &str) {
    let b = broker();
    let opts = MqttOptions::new(
        format!("skill-test-device-{}-{}", std::process::id(), rand_suffix()),
        b.host_str().unwrap(),
        b.port().unwrap_or(1883),
    );
    let (client, mut events) = AsyncClient::new(opts, 8);
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(Event::Incoming(Packet::PubAck(_))) = events.poll().await {
                return;
            }
        }
    })
    .await
    .expect("the broker took the state");
}
