//! rask's MQTT client (rumqttc, against a real broker such as Mosquitto): doorbell presses and
//! device states in, commands out.
//!
//! Each doorbell may name a topic; a message on it is a press when its payload is empty,
//! `press`, `pressed`, `1`, `on` or `true` (any case), or a JSON object whose `event` is
//! `press`. A device's state topic carries a plain value or a JSON object
//! ([`crate::capabilities::read_state`]), optionally with a `cause`. Anything else is
//! malformed: logged, counted, and dropped; nothing crashes.
//!
//! A QoS 1 message is acknowledged only once what it carries is stored: a press in the outbox,
//! a state committed by the state writer. Until then it holds one of the broker's in-flight
//! slots for rask, so the broker sends no more than its window and keeps the rest queued: rask
//! never drops a QoS 1 message, and warns when that window stays full (the broker's queue is
//! then filling). A QoS 0 message cannot be held back; past [`MAX_STATE_BACKLOG`] waiting
//! states one is not kept, counted and reported. Presses and states have a worker each, so a
//! press never waits behind a flood of states; states are stored in batches. A database that
//! refuses is tried again (a press for its useful life). The client reconnects and subscribes
//! again by itself. The session is clean: messages published while rask is down are not
//! replayed to it, so that an hour-old press does not ring.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rask_model::smarthome::CauseType;
use rask_store::device_state::Hearing;
use rask_store::now_ms;
use rumqttc::{AsyncClient, Event, MqttOptions, NetworkOptions, Packet, QoS, SubscribeFilter};

use crate::capabilities::read_state;
use crate::commands::{Broker, CommandLink};
use crate::devices::Registry;
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
pub type PublishError = crate::commands::CommandError;

/// Publishes commands to devices, only while the broker is connected: a command queued while
/// it is down would move a blind minutes after Alexa was told it failed. Commands go out on a
/// connection of their own, batched ([`crate::commands`]).
#[derive(Clone)]
pub struct MqttPublisher {
    link: CommandLink,
}

impl MqttPublisher {
    /// Whether the broker is connected now.
    pub fn connected(&self) -> bool {
        self.link.connected()
    }

    /// Publishes `payload` on `topic` (QoS 0: see [`crate::commands`]).
    pub async fn publish(&self, topic: &str, payload: String) -> Result<(), PublishError> {
        self.link.publish(topic, payload.as_bytes())?;
        crate::metrics::metrics().mqtt_messages("out", 1);
        Ok(())
    }
}

/// Device state topics and what reads them.
struct StateTopics {
    topics: HashMap<String, String>,
    registry: Arc<Registry>,
    states: DeviceStates,
}

/// What the bridge has counted since it started.
#[derive(Debug, Default)]
pub struct MqttCounts {
    /// Messages that were not a press or a state rask can read (dropped, acknowledged).
    pub malformed: AtomicU64,
    /// QoS 0 state messages that arrived while [`MAX_STATE_BACKLOG`] waited already: rask
    /// could not keep them (QoS 1 messages are never dropped: the broker holds them back).
    pub not_kept: AtomicU64,
    /// Messages stored and acknowledged.
    pub stored: AtomicU64,
    /// Messages whose content could not be stored within the store's patience (not
    /// acknowledged).
    pub lost: AtomicU64,
}

/// rask's MQTT client: doorbell presses and device states in, commands out.
pub struct MqttBridge {
    events: rumqttc::EventLoop,
    inbound: Inbound,
    broker: Broker,
    commands: std::sync::OnceLock<CommandLink>,
}

/// What handles incoming messages (apart from the event loop, which is not `Sync`).
struct Inbound {
    client: AsyncClient,
    connected: Arc<AtomicBool>,
    presses: HashMap<String, String>,
    triggers: Triggers,
    states: Option<StateTopics>,
    counts: Arc<MqttCounts>,
    /// State messages received and not yet handled.
    backlog: AtomicUsize,
    /// QoS 1 messages received and not yet acknowledged.
    unacked: AtomicUsize,
    /// The broker's in-flight window for rask (mosquitto's `max_inflight_messages`).
    broker_inflight: usize,
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
            return Err(bad(UNSUPPORTED_SCHEME));
        }
        let host = u.host_str().ok_or_else(|| bad("no host"))?;
        let mut options = MqttOptions::new(client_id, host, u.port().unwrap_or(1883));
        options.set_keep_alive(Duration::from_secs(10));
        options.set_manual_acks(true);
        // rumqttc's 10 KiB default would turn a long subscription list or a large retained
        // state into a reconnect loop.
        options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        let credentials = (!u.username().is_empty())
            .then(|| (u.username().to_owned(), u.password().unwrap_or("").to_owned()));
        if let Some((user, password)) = &credentials {
            options.set_credentials(user, password);
        }
        let broker = Broker {
            host: host.to_owned(),
            port: u.port().unwrap_or(1883),
            client_id: format!("{client_id}-commands"),
            credentials,
        };
        let (client, mut events) = AsyncClient::new(options, REQUESTS);
        // Commands and acknowledgements are small: Nagle would hold each one back for the
        // previous one's TCP acknowledgement.
        let mut network = NetworkOptions::new();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        Ok(MqttBridge {
            events,
            broker,
            commands: std::sync::OnceLock::new(),
            inbound: Inbound {
                client,
                connected: Arc::new(AtomicBool::new(false)),
                presses,
                triggers,
                states: None,
                counts: Arc::new(MqttCounts::default()),
                backlog: AtomicUsize::new(0),
                unacked: AtomicUsize::new(0),
                broker_inflight: BROKER_INFLIGHT,
            },
        })
    }

    /// What the bridge counts (malformed, not kept, stored, lost).
    pub fn counts(&self) -> Arc<MqttCounts> {
        self.inbound.counts.clone()
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

    /// The broker's in-flight window for rask, when it is not mosquitto's default of 20: rask
    /// warns when it is full (messages then queue at the broker).
    pub fn with_broker_inflight(mut self, n: usize) -> Self {
        self.inbound.broker_inflight = n.max(1);
        self
    }

    /// What publishes commands (on a connection of its own, `{client_id}-commands`, started
    /// on first call).
    pub fn publisher(&self) -> MqttPublisher {
        MqttPublisher {
            link: self
                .commands
                .get_or_init(|| CommandLink::start(self.broker.clone()))
                .clone(),
        }
    }

    /// Runs forever: subscribes on every (re)connection, turns presses into outbox rows and
    /// states into stored values. Presses and states have a worker each, so that a press never
    /// waits behind a flood of states; the event loop never waits on either. Aborting the
    /// returned task stops them all.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let MqttBridge {
            mut events,
            inbound,
            commands,
            broker,
        } = self;
        let at = format!("{}:{}", broker.host, broker.port);
        let inbound = Arc::new(inbound);
        let (press_in, mut press_out) = tokio::sync::mpsc::unbounded_channel::<rumqttc::Publish>();
        let (state_in, mut state_out) = tokio::sync::mpsc::unbounded_channel::<rumqttc::Publish>();
        let mut tasks = tokio::task::JoinSet::new();
        let presser = inbound.clone();
        tasks.spawn(async move {
            while let Some(p) = press_out.recv().await {
                presser.press(p).await;
            }
        });
        let stater = inbound.clone();
        tasks.spawn(async move {
            while let Some(first) = state_out.recv().await {
                let mut batch = vec![first];
                while batch.len() < STATE_BATCH {
                    match state_out.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                stater.backlog.fetch_sub(batch.len(), Ordering::Relaxed);
                stater.states_batch(batch).await;
            }
        });
        let watcher = inbound.clone();
        tasks.spawn(async move { watcher.watch().await });
        tokio::spawn(async move {
            // The workers live as long as the event loop: aborting it drops them too.
            let _workers = tasks;
            let _commands = commands;
            let mut pause = RECONNECT_FIRST;
            let mut failures = 0u32;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if failures > 0 {
                            tracing::info!(
                                "MQTT broker {at}: connected again after {failures} failed attempts"
                            );
                        }
                        (pause, failures) = (RECONNECT_FIRST, 0);
                        inbound.subscribe()
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        crate::metrics::metrics().mqtt_messages("in", 1);
                        inbound.route(p, &press_in, &state_in)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        inbound.connected.store(false, Ordering::Relaxed);
                        crate::metrics::metrics().mqtt_connected(false);
                        // Unacknowledged messages die with a clean session.
                        inbound.unacked.store(0, Ordering::Relaxed);
                        failures += 1;
                        // Backing off: a wrong port or a broker that is down is said once per
                        // attempt, and the attempts thin out, rather than a line every second.
                        tracing::warn!(
                            error = %e,
                            "MQTT broker {at}: connection lost or refused; next try in {} s",
                            pause.as_secs()
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(RECONNECT_MAX);
                    }
                }
            }
        })
    }
}

/// What a URL other than `mqtt://` is told.
pub const UNSUPPORTED_SCHEME: &str = "use mqtt://HOST[:PORT]; MQTT over TLS (mqtts://) is not supported yet: \
     use the broker's plain listener on a trusted network (Mosquitto: a second listener bound to \
     the LAN or loopback)";

/// The first wait before reconnecting to the broker; it doubles with each failure.
const RECONNECT_FIRST: Duration = Duration::from_secs(1);

/// The longest wait between reconnection attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// The largest MQTT packet rask sends or takes.
const MAX_PACKET_BYTES: usize = 256 * 1024;

/// Requests (publishes, acknowledgements, subscriptions) queued for the event loop.
const REQUESTS: usize = 4096;

/// State messages handled together: one batch of store writes, then their acknowledgements.
const STATE_BATCH: usize = 1024;

/// State messages rask holds while its worker is busy; past this, a QoS 0 message is not
/// kept (counted and reported). QoS 1 messages never reach it: the broker sends no more than
/// its in-flight window before rask acknowledges.
pub const MAX_STATE_BACKLOG: usize = 50_000;

/// mosquitto's default `max_inflight_messages`.
pub const BROKER_INFLIGHT: usize = 20;

/// Topics per SUBSCRIBE packet.
const TOPICS_PER_SUBSCRIBE: usize = 100;

/// How long a press that cannot be stored is tried again: its useful life.
const PRESS_PATIENCE: Duration = Duration::from_secs(30);

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
        crate::metrics::metrics().mqtt_connected(true);
    }

    /// Hands a message to its worker, at once: the event loop must keep reading (and sending
    /// acknowledgements and commands).
    fn route(
        &self,
        p: rumqttc::Publish,
        presses: &tokio::sync::mpsc::UnboundedSender<rumqttc::Publish>,
        states: &tokio::sync::mpsc::UnboundedSender<rumqttc::Publish>,
    ) {
        if p.qos != QoS::AtMostOnce {
            self.unacked.fetch_add(1, Ordering::Relaxed);
        }
        if self.presses.contains_key(&p.topic) {
            let _ = presses.send(p);
            return;
        }
        let is_state = self
            .states
            .as_ref()
            .is_some_and(|s| s.topics.contains_key(&p.topic));
        if !is_state {
            self.ack(&p);
            return;
        }
        if p.qos == QoS::AtMostOnce && self.backlog.load(Ordering::Relaxed) >= MAX_STATE_BACKLOG {
            let n = self.counts.not_kept.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::error!(
                    topic = %rask_model::limits::logged(&p.topic),
                    not_kept_so_far = n,
                    "rask cannot keep up with MQTT: {MAX_STATE_BACKLOG} state messages wait already, and this one was sent \
                     with QoS 0, which the broker cannot hold back; publish states with QoS 1 (docs/config.md)"
                );
            }
            return;
        }
        self.backlog.fetch_add(1, Ordering::Relaxed);
        let _ = states.send(p);
    }

    /// Acknowledges a QoS 1 message without waiting: the request queue is large, and if it is
    /// full the acknowledgement waits in a task of its own.
    fn ack(&self, p: &rumqttc::Publish) {
        if p.qos == QoS::AtMostOnce {
            return;
        }
        self.unacked.fetch_sub(1, Ordering::Relaxed);
        if self.client.try_ack(p).is_err() {
            let (client, p) = (self.client.clone(), p.clone());
            tokio::spawn(async move {
                let _ = client.ack(&p).await;
            });
        }
    }

    /// Says, at most once a minute, when rask is why messages queue at the broker: its
    /// in-flight window is full, or its own state backlog is large.
    async fn watch(&self) {
        let mut full_for = 0u32;
        let mut said: Option<std::time::Instant> = None;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (unacked, backlog) = (
                self.unacked.load(Ordering::Relaxed),
                self.backlog.load(Ordering::Relaxed),
            );
            let full = unacked >= self.broker_inflight || backlog >= MAX_STATE_BACKLOG / 10;
            full_for = if full { full_for + 1 } else { 0 };
            if full_for >= 2 && said.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                said = Some(std::time::Instant::now());
                tracing::warn!(
                    unacknowledged = unacked,
                    backlog,
                    "MQTT messages arrive faster than rask stores them: the broker's in-flight window for rask \
                     ({} messages, mosquitto's max_inflight_messages) is full, so further messages wait in the broker's \
                     queue (max_queued_messages, 1000 by default), beyond which the broker drops them. \
                     Raise both in mosquitto.conf, and set set_tcp_nodelay true (docs/config.md)",
                    self.broker_inflight
                );
            }
        }
    }

    fn malformed(&self, device: &str, p: &rumqttc::Publish, what: &str) {
        let n = self.counts.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        let shown: String = String::from_utf8_lossy(&p.payload).chars().take(80).collect();
        tracing::warn!(%device, topic = %rask_model::limits::logged(&p.topic), malformed_so_far = n, "malformed MQTT {what} ignored: {shown:?}");
        self.ack(p);
    }

    async fn press(&self, p: rumqttc::Publish) {
        let Some(device) = self.presses.get(&p.topic) else {
            return self.ack(&p);
        };
        if read_payload(&p.payload) == Payload::Malformed {
            return self.malformed(device, &p, "press");
        }
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            match self.triggers.press(device).await {
                Ok(n) => {
                    self.ack(&p);
                    self.counts.stored.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%device, events = n, "doorbell press (MQTT) queued");
                    return;
                }
                Err(e) if started.elapsed() < PRESS_PATIENCE => {
                    tracing::warn!(%device, error = %e, "a press could not be stored; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    self.counts.lost.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%device, error = %e, "a press could not be stored within its useful life; not acknowledged");
                    return;
                }
            }
        }
    }

    /// Stores a batch of state messages in one write, then acknowledges each.
    async fn states_batch(&self, batch: Vec<rumqttc::Publish>) {
        let Some(s) = &self.states else { return };
        let mut waiting = Vec::with_capacity(batch.len());
        for p in batch {
            let Some(device) = s.topics.get(&p.topic).and_then(|id| s.registry.get(id)) else {
                self.ack(&p);
                continue;
            };
            let wiring = &device.wiring;
            let values = read_state(
                device.kind.properties(),
                &p.payload,
                |prop| wiring.state_field(prop),
                &wiring.temperature_scale,
            );
            if values.is_empty() {
                self.malformed(&device.id, &p, "state");
                continue;
            }
            let cause = stated_cause(&p.payload).unwrap_or(CauseType::PhysicalInteraction);
            // A retained message was stored by the broker, maybe long ago.
            let hearing = if p.retain { Hearing::IfNever } else { Hearing::Now };
            match s
                .states
                .submit(&device.id, values, cause, now_ms(), hearing)
                .await
            {
                Ok((receipt, changed)) => {
                    if !changed.is_empty() {
                        tracing::debug!(device = %device.id, ?changed, "device state changed (MQTT)");
                    }
                    waiting.push((p, receipt));
                }
                Err(e) => {
                    self.counts.lost.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(device = %device.id, error = %e, "a device state could not be read or queued; not acknowledged");
                }
            }
        }
        for (p, receipt) in waiting {
            match receipt.stored().await {
                Ok(_) => {
                    self.counts.stored.fetch_add(1, Ordering::Relaxed);
                    self.ack(&p);
                }
                Err(e) => {
                    self.counts.lost.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(topic = %rask_model::limits::logged(&p.topic), error = %e, "a device state could not be stored; not acknowledged");
                }
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
