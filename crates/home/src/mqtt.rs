//! rask's MQTT client (rumqttc, against a real broker such as Mosquitto): doorbell presses and
//! device states in, commands out.
//!
//! Each doorbell may name a topic; a message on it is a press when its payload is empty,
//! `press`, `pressed`, `1`, `on` or `true` (any case), or a JSON object whose `event` is
//! `press`. A device's state topic carries a plain value or a JSON object
//! ([`crate::capabilities::read_state`]), optionally with a `cause`. Anything else is
//! malformed: logged, counted, and dropped; nothing crashes. Messages are acknowledged (QoS 1)
//! once stored (presses in the outbox, states in the state table); a database that refuses is
//! tried again a few times (3 s of pauses) first. The client reconnects and subscribes again by
//! itself. The session is clean: messages published while rask is down are not replayed to
//! it, so that an hour-old press does not ring.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rask_model::smarthome::CauseType;
use rask_store::device_state::Hearing;
use rask_store::now_ms;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter};
use tokio::sync::mpsc::error::TrySendError;

use crate::capabilities::read_state;
use crate::devices::{Device, Registry};
use crate::state::{DeviceStates, stated_cause};
use crate::triggers::Triggers;

/// Why a broker URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("MQTT broker URL {url:?}: {problem}")]
pub struct MqttUrlError {
    /// The URL.
    pub url: String,
    /// What is wrong.
    pub problem: String,
}

/// What a payload on a doorbell's topic means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// A press.
    Press,
    /// Not a press rask understands.
    Malformed,
}

/// Reads a doorbell payload by the documented rules.
pub fn read_payload(bytes: &[u8]) -> Payload {
    let text = String::from_utf8_lossy(bytes);
    let t = text.trim();
    if t.is_empty()
        || ["press", "pressed", "1", "on", "true"]
            .iter()
            .any(|w| t.eq_ignore_ascii_case(w))
    {
        return Payload::Press;
    }
    match serde_json::from_str::<serde_json::Value>(t) {
        Ok(v)
            if v.get("event")
                .and_then(|e| e.as_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("press")) =>
        {
            Payload::Press
        }
        _ => Payload::Malformed,
    }
}

/// Why a command could not be handed to the broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The connection to the broker is down; nothing was queued.
    #[error("the MQTT broker is not connected")]
    NotConnected,
    /// The client's queue is closed.
    #[error("the MQTT client stopped: {0}")]
    Client(#[from] rumqttc::ClientError),
}

/// Publishes commands to devices, only while the broker is connected: a command queued while
/// it is down would move a blind minutes after Alexa was told it failed.
#[derive(Clone)]
pub struct MqttPublisher {
    client: AsyncClient,
    connected: Arc<AtomicBool>,
}

impl MqttPublisher {
    /// Whether the broker is connected now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Publishes `payload` on `topic` with QoS 1.
    pub async fn publish(&self, topic: &str, payload: String) -> Result<(), PublishError> {
        if !self.connected() {
            return Err(PublishError::NotConnected);
        }
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into_bytes())
            .await?;
        Ok(())
    }
}

/// Device state topics and what reads them.
struct StateTopics {
    topics: HashMap<String, String>,
    registry: Arc<Registry>,
    states: DeviceStates,
}

/// rask's MQTT client: doorbell presses and device states in, commands out.
pub struct MqttBridge {
    events: rumqttc::EventLoop,
    inbound: Inbound,
}

/// What handles incoming messages (apart from the event loop, which is not `Sync`).
struct Inbound {
    client: AsyncClient,
    connected: Arc<AtomicBool>,
    presses: HashMap<String, String>,
    triggers: Triggers,
    states: Option<StateTopics>,
    malformed: Arc<AtomicU64>,
}

impl MqttBridge {
    /// A client of the broker at `url` (`mqtt://[user:password@]host[:port]`), taking presses
    /// on `presses` (topic → doorbell id).
    pub fn new(
        url: &str,
        client_id: &str,
        presses: HashMap<String, String>,
        triggers: Triggers,
    ) -> Result<Self, MqttUrlError> {
        let bad = |problem: &str| MqttUrlError {
            url: rask_store::redact_url(url),
            problem: problem.to_owned(),
        };
        let u = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if u.scheme() != "mqtt" {
            return Err(bad("use mqtt://HOST:PORT (TLS brokers are not supported yet)"));
        }
        let host = u.host_str().ok_or_else(|| bad("no host"))?;
        let mut options = MqttOptions::new(client_id, host, u.port().unwrap_or(1883));
        options.set_keep_alive(Duration::from_secs(10));
        options.set_manual_acks(true);
        // rumqttc's 10 KiB default would turn a long subscription list or a large retained
        // state into a reconnect loop.
        options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        if !u.username().is_empty() {
            options.set_credentials(u.username(), u.password().unwrap_or(""));
        }
        let (client, events) = AsyncClient::new(options, 64);
        Ok(MqttBridge {
            events,
            inbound: Inbound {
                client,
                connected: Arc::new(AtomicBool::new(false)),
                presses,
                triggers,
                states: None,
                malformed: Arc::new(AtomicU64::new(0)),
            },
        })
    }

    /// Malformed messages so far.
    pub fn malformed(&self) -> Arc<AtomicU64> {
        self.inbound.malformed.clone()
    }

    /// Also reads device states on `topics` (topic → device id) into `states`.
    pub fn with_states(
        mut self,
        topics: HashMap<String, String>,
        registry: Arc<Registry>,
        states: DeviceStates,
    ) -> Self {
        self.inbound.states = Some(StateTopics {
            topics,
            registry,
            states,
        });
        self
    }

    /// What publishes commands through this client.
    pub fn publisher(&self) -> MqttPublisher {
        MqttPublisher {
            client: self.inbound.client.clone(),
            connected: self.inbound.connected.clone(),
        }
    }

    /// Runs forever: subscribes on every (re)connection, turns presses into outbox rows and
    /// states into stored values. The event loop never waits on the database or on its own
    /// request queue: messages go to a worker task, which stores and acknowledges them in
    /// order.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let MqttBridge { mut events, inbound } = self;
        let inbound = Arc::new(inbound);
        let (inbox, mut work) = tokio::sync::mpsc::channel::<rumqttc::Publish>(INBOX);
        let worker = inbound.clone();
        tokio::spawn(async move {
            while let Some(p) = work.recv().await {
                worker.handle(p).await;
            }
        });
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => inbound.subscribe(),
                    Ok(Event::Incoming(Packet::Publish(p))) => match inbox.try_send(p) {
                        Ok(()) => {}
                        Err(TrySendError::Full(p)) => {
                            tracing::error!(topic = %p.topic, "rask cannot keep up with MQTT: {INBOX} messages wait already; this one is dropped");
                            let _ = inbound.client.try_ack(&p);
                        }
                        Err(TrySendError::Closed(p)) => {
                            tracing::error!(topic = %p.topic, "the MQTT worker has stopped; messages are no longer handled");
                        }
                    },
                    Ok(_) => {}
                    Err(e) => {
                        inbound.connected.store(false, Ordering::Relaxed);
                        tracing::warn!(error = %e, "MQTT connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })
    }
}

/// The largest MQTT packet rask sends or takes.
const MAX_PACKET_BYTES: usize = 256 * 1024;

/// How many received messages may wait for the worker.
const INBOX: usize = 1024;

/// Topics per SUBSCRIBE packet.
const TOPICS_PER_SUBSCRIBE: usize = 100;

/// How often storing a message is tried before it is given up (logged).
const STORE_ATTEMPTS: u32 = 5;

impl Inbound {
    /// Asks for every topic without waiting: the event loop that sends the request must not
    /// wait on itself.
    fn subscribe(&self) {
        let topics: Vec<&String> = self
            .presses
            .keys()
            .chain(self.states.iter().flat_map(|s| s.topics.keys()))
            .collect();
        tracing::info!(topics = topics.len(), "MQTT connected");
        for chunk in topics.chunks(TOPICS_PER_SUBSCRIBE) {
            let filters: Vec<SubscribeFilter> = chunk
                .iter()
                .map(|t| SubscribeFilter::new((*t).clone(), QoS::AtLeastOnce))
                .collect();
            if self.client.try_subscribe_many(filters.clone()).is_err() {
                // The request queue is full: wait for room in a task of its own, never here.
                let client = self.client.clone();
                tokio::spawn(async move {
                    if let Err(e) = client.subscribe_many(filters).await {
                        tracing::error!(error = %e, "MQTT subscribe failed");
                    }
                });
            }
        }
        self.connected.store(true, Ordering::Relaxed);
    }

    /// Runs `store` until it succeeds or [`STORE_ATTEMPTS`] pass, backing off; the message is
    /// acknowledged either way, so that it does not hold one of the broker's in-flight slots.
    async fn store_then_ack<F, Fut, T>(&self, p: &rumqttc::Publish, what: &str, store: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, rask_store::StoreError>>,
    {
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=STORE_ATTEMPTS {
            match store().await {
                Ok(t) => {
                    let _ = self.client.ack(p).await;
                    return Some(t);
                }
                Err(e) if attempt < STORE_ATTEMPTS => {
                    tracing::warn!(topic = %p.topic, error = %e, "a {what} could not be stored; trying again");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    tracing::error!(topic = %p.topic, error = %e, "a {what} could not be stored and is lost")
                }
            }
        }
        let _ = self.client.ack(p).await;
        None
    }

    fn malformed(&self, device: &str, p: &rumqttc::Publish, what: &str) {
        let n = self.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        let shown: String = String::from_utf8_lossy(&p.payload).chars().take(80).collect();
        tracing::warn!(%device, topic = %p.topic, malformed_so_far = n, "malformed MQTT {what} ignored: {shown:?}");
    }

    async fn handle(&self, p: rumqttc::Publish) {
        if let Some(device) = self.presses.get(&p.topic) {
            return self.press(device, p).await;
        }
        let state = self
            .states
            .as_ref()
            .and_then(|s| Some((s, s.registry.get(s.topics.get(&p.topic)?)?)));
        match state {
            Some((s, device)) => self.state(s, device, p).await,
            None => {
                let _ = self.client.ack(&p).await;
            }
        }
    }

    async fn press(&self, device: &str, p: rumqttc::Publish) {
        match read_payload(&p.payload) {
            Payload::Press => {
                if let Some(n) = self
                    .store_then_ack(&p, "press", || self.triggers.press(device))
                    .await
                {
                    tracing::info!(%device, events = n, "doorbell press (MQTT) queued");
                }
            }
            Payload::Malformed => {
                self.malformed(device, &p, "press");
                let _ = self.client.ack(&p).await;
            }
        }
    }

    async fn state(&self, s: &StateTopics, device: &Device, p: rumqttc::Publish) {
        let wiring = &device.wiring;
        let values = read_state(
            device.kind.properties(),
            &p.payload,
            |prop| wiring.state_field(prop),
            &wiring.temperature_scale,
        );
        if values.is_empty() {
            self.malformed(&device.id, &p, "state");
            let _ = self.client.ack(&p).await;
            return;
        }
        let cause = stated_cause(&p.payload).unwrap_or(CauseType::PhysicalInteraction);
        // A retained message was stored by the broker, maybe long ago.
        let hearing = if p.retain { Hearing::IfNever } else { Hearing::Now };
        let record = || {
            s.states
                .record(&device.id, values.clone(), cause.clone(), now_ms(), hearing)
        };
        if let Some(changed) = self.store_then_ack(&p, "state", record).await {
            if !changed.is_empty() {
                tracing::info!(device = %device.id, ?changed, "device state changed (MQTT)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_rules() {
        for press in [
            "",
            "press",
            "PRESSED",
            " 1 ",
            "on",
            "true",
            r#"{"event": "press"}"#,
        ] {
            assert_eq!(read_payload(press.as_bytes()), Payload::Press, "{press:?}");
        }
        for junk in ["0", "off", "{\"event\": \"release\"}", "\u{ff}\u{fe}", "[1,2]"] {
            assert_eq!(read_payload(junk.as_bytes()), Payload::Malformed, "{junk:?}");
        }
        assert_eq!(read_payload(&[0xff, 0x00, 0x80]), Payload::Malformed);
    }
}
