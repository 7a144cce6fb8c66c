//! Handing a received Skill Messaging message (`Messaging.MessageReceived`) on to where the
//! owner's systems take it: an MQTT topic (QoS 1, done when the broker's PUBACK is in) or a
//! webhook (done on a 2xx), signed so the receiver can tell it came from rask. The skill answers
//! Alexa only after the hand-off is done, so a failure is covered by Alexa sending the message
//! again; a message whose key was handed on already is answered without handing it on twice.
//!
//! The MQTT connection is rask's own (`{client_id}-messages`). Acknowledgements are matched to
//! publishes by packet id, learnt in publish order from the event loop; when the connection
//! drops, every publish waiting is failed and a fresh connection started, so that nothing left
//! over from the old one is ever taken for a new publish's acknowledgement.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use sha2::Sha256;
use tokio::sync::oneshot;

use crate::mqtt::MqttUrlError;

/// How long a hand-off may take before the message is refused (Alexa then sends it again).
pub const HANDOFF_TIMEOUT: Duration = Duration::from_secs(5);

/// The header with the webhook signature: `sha256=` and the hex HMAC-SHA256, under the
/// configured secret, of the timestamp header's value, a `.`, and the body.
pub const SIGNATURE_HEADER: &str = "x-rask-signature";
/// The header with the Unix time the webhook call was signed at.
pub const TIMESTAMP_HEADER: &str = "x-rask-timestamp";

/// Why a message was not handed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    /// The broker is not connected.
    #[error("the MQTT broker is not connected")]
    NotConnected,
    /// No acknowledgement or answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection dropped before the broker acknowledged.
    #[error("the MQTT connection dropped before the broker acknowledged")]
    Dropped,
    /// The webhook answered with an error or could not be reached.
    #[error("the webhook: {0}")]
    Webhook(String),
}

type Waiter = oneshot::Sender<Result<(), HandoffError>>;

#[derive(Default)]
struct Acks {
    client: Option<AsyncClient>,
    /// Published, packet id not known yet: in publish order.
    unnumbered: VecDeque<Waiter>,
    /// Sent with this packet id, waiting for PUBACK.
    numbered: HashMap<u16, Waiter>,
}

impl Acks {
    fn fail_all(&mut self) {
        for w in self.unnumbered.drain(..) {
            let _ = w.send(Err(HandoffError::Dropped));
        }
        for (_, w) in self.numbered.drain() {
            let _ = w.send(Err(HandoffError::Dropped));
        }
    }
}

/// QoS 1 publishes whose PUBACK is awaited.
#[derive(Clone)]
pub struct AckedPublisher {
    acks: Arc<Mutex<Acks>>,
}

impl AckedPublisher {
    /// Connects to the broker at `url` (`mqtt://[user:password@]host[:port]`) as
    /// `{client_id}-messages`, and again whenever the connection drops.
    pub fn start(url: &str, client_id: &str) -> Result<Self, MqttUrlError> {
        let bad = |problem: &str| MqttUrlError {
            url: rask_store::redact_url(url),
            problem: problem.to_owned(),
        };
        let u = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if u.scheme() != "mqtt" {
            return Err(bad("use mqtt://HOST:PORT"));
        }
        let host = u.host_str().ok_or_else(|| bad("no host"))?.to_owned();
        let mut options = MqttOptions::new(format!("{client_id}-messages"), host, u.port().unwrap_or(1883));
        options.set_keep_alive(Duration::from_secs(10));
        options.set_clean_session(true);
        if !u.username().is_empty() {
            options.set_credentials(u.username(), u.password().unwrap_or(""));
        }
        let acks = Arc::new(Mutex::new(Acks::default()));
        tokio::spawn(run(options, acks.clone()));
        Ok(AckedPublisher { acks })
    }

    fn acks(&self) -> std::sync::MutexGuard<'_, Acks> {
        self.acks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `payload` on `topic` at QoS 1 and waits for the broker's PUBACK.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), HandoffError> {
        let (tx, rx) = oneshot::channel();
        {
            // Held across both, so that the waiters' order is the publishes' order.
            let mut acks = self.acks();
            let Some(client) = acks.client.clone() else {
                return Err(HandoffError::NotConnected);
            };
            client
                .try_publish(topic, QoS::AtLeastOnce, false, payload)
                .map_err(|_| HandoffError::NotConnected)?;
            acks.unnumbered.push_back(tx);
            crate::metrics::metrics().mqtt_messages("out", 1);
        }
        match tokio::time::timeout(HANDOFF_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(HandoffError::Dropped),
            Err(_) => Err(HandoffError::Timeout(HANDOFF_TIMEOUT)),
        }
    }
}

/// One connection after another, forever.
async fn run(options: MqttOptions, acks: Arc<Mutex<Acks>>) {
    fn lock(a: &Mutex<Acks>) -> std::sync::MutexGuard<'_, Acks> {
        a.lock().unwrap_or_else(|p| p.into_inner())
    }
    loop {
        let (client, mut events) = AsyncClient::new(options.clone(), 64);
        let mut connected = false;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    lock(&acks).client = Some(client.clone());
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    let mut a = lock(&acks);
                    if let Some(w) = a.unnumbered.pop_front() {
                        a.numbered.insert(pkid, w);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    if let Some(w) = lock(&acks).numbered.remove(&ack.pkid) {
                        let _ = w.send(Ok(()));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if connected {
                        tracing::warn!("MQTT (messages): the connection dropped: {e}");
                    }
                    break;
                }
            }
        }
        {
            let mut a = lock(&acks);
            a.client = None;
            a.fail_all();
        }
        drop(client);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A webhook that takes messages.
#[derive(Clone)]
pub struct Webhook {
    url: String,
    secret: Option<Arc<[u8]>>,
    http: reqwest::Client,
}

impl Webhook {
    /// Posts to `url`, signed with `secret` when given.
    pub fn new(url: impl Into<String>, secret: Option<Vec<u8>>) -> Self {
        Webhook {
            url: url.into(),
            secret: secret.map(Into::into),
            http: rask_cloud::http_client(HANDOFF_TIMEOUT),
        }
    }

    /// Posts `body` (JSON); done when the webhook answers 2xx.
    pub async fn post(&self, body: Vec<u8>) -> Result<(), HandoffError> {
        let mut r = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.secret {
            let t = rask_store::now_ms() / 1000;
            r = r
                .header(TIMESTAMP_HEADER, t.to_string())
                .header(SIGNATURE_HEADER, signature(secret, t, &body));
        }
        match r.body(body).send().await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(HandoffError::Webhook(format!("it answered {}", resp.status()))),
            Err(e) if e.is_timeout() => Err(HandoffError::Timeout(HANDOFF_TIMEOUT)),
            Err(e) => Err(HandoffError::Webhook(format!("it could not be reached: {e}"))),
        }
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `{timestamp}.{body}` under `secret`: what the
/// receiver computes and compares (in constant time) with [`SIGNATURE_HEADER`].
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    let bytes = m.finalize().into_bytes();
    let mut out = String::from("sha256=");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_documented_hmac() {
        // HMAC-SHA256(key "key", "1.{}"), as Python's hmac module computes it.
        assert_eq!(
            signature(b"key", 1, b"{}"),
            "sha256=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }
}
