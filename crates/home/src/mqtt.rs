//! Device triggers over MQTT (rumqttc, against a real broker such as Mosquitto).
//!
//! Each doorbell may name a topic; a message on it is a press when its payload is empty,
//! `press`, `pressed`, `1`, `on` or `true` (any case), or a JSON object whose `event` is
//! `press`. Anything else is malformed: logged, counted, and dropped; nothing crashes.
//! Messages are acknowledged (QoS 1) only once their events are in the outbox, and the client
//! reconnects and subscribes again by itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

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

/// The MQTT trigger listener.
pub struct MqttTriggers {
    options: MqttOptions,
    topics: HashMap<String, String>,
    triggers: Triggers,
    /// Malformed messages so far.
    pub malformed: Arc<AtomicU64>,
}

impl MqttTriggers {
    /// A listener on `url` (`mqtt://[user:password@]host[:port]`) for `topics` (topic → device).
    pub fn new(
        url: &str,
        client_id: &str,
        topics: HashMap<String, String>,
        triggers: Triggers,
    ) -> Result<Self, MqttUrlError> {
        let bad = |problem: &str| MqttUrlError {
            url: url.to_owned(),
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
        if !u.username().is_empty() {
            options.set_credentials(u.username(), u.password().unwrap_or(""));
        }
        Ok(MqttTriggers {
            options,
            topics,
            triggers,
            malformed: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Runs forever: subscribes on every (re)connection and turns presses into outbox rows.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let (client, mut events) = AsyncClient::new(self.options.clone(), 64);
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        tracing::info!(topics = self.topics.len(), "MQTT connected");
                        for topic in self.topics.keys() {
                            if let Err(e) = client.subscribe(topic, QoS::AtLeastOnce).await {
                                tracing::error!(%topic, error = %e, "MQTT subscribe failed");
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => self.handle(&client, p).await,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "MQTT connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })
    }

    async fn handle(&self, client: &AsyncClient, p: rumqttc::Publish) {
        let Some(device) = self.topics.get(&p.topic) else {
            let _ = client.ack(&p).await;
            return;
        };
        match read_payload(&p.payload) {
            Payload::Press => match self.triggers.press(device).await {
                Ok(n) => {
                    tracing::info!(%device, events = n, "doorbell press (MQTT) queued");
                    let _ = client.ack(&p).await;
                }
                // Not acknowledged: the broker delivers it again.
                Err(e) => {
                    tracing::error!(%device, error = %e, "a press could not be stored; the broker will send it again")
                }
            },
            Payload::Malformed => {
                let n = self.malformed.fetch_add(1, Ordering::Relaxed) + 1;
                let shown: String = String::from_utf8_lossy(&p.payload).chars().take(80).collect();
                tracing::warn!(%device, topic = %p.topic, malformed_so_far = n, "malformed MQTT payload ignored: {shown:?}");
                let _ = client.ack(&p).await;
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
