//! The connection Alexa's commands go out on: a second, publish-only MQTT connection of rask's
//! own, beside the bridge's (which subscribes and acknowledges).
//!
//! Why not the bridge's client: it writes and flushes each request on its own, a system call
//! and a wake-up of the broker per command, which was a third of a `TurnOn`'s cost. Here
//! commands are appended to one buffer and the connection's task writes whatever has gathered
//! in one go, so a burst (a scene, a busy hour) costs a few writes, not one each. (Writing each
//! command from the task that answers Alexa was measured too: slower, a system call each.)
//!
//! Commands are QoS 0 and never queued while the broker is away: a command is worth sending
//! now or not at all (a blind moved minutes after Alexa was told it failed would surprise
//! anyone), so [`CommandLink::publish`] refuses at once while disconnected, and what is queued
//! when the connection drops is discarded. The protocol is MQTT 3.1.1: CONNECT (clean
//! session, keep-alive), PUBLISH, PINGREQ; what the broker sends back is read only to see the
//! connection alive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// How often the connection proves itself alive (half the keep-alive it announces).
const PING_EVERY: Duration = Duration::from_secs(5);
/// The keep-alive announced in CONNECT, in seconds.
const KEEP_ALIVE_SECONDS: u16 = 10;
/// How long connecting (TCP and CONNACK) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a command was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The broker is not connected; nothing was queued.
    #[error("the MQTT broker is not connected")]
    NotConnected,
    /// The topic or payload cannot be an MQTT message.
    #[error("not a command MQTT can carry: {0}")]
    Invalid(String),
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Broker {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The client id (unique on the broker).
    pub client_id: String,
    /// User name and password, when the broker wants them.
    pub credentials: Option<(String, String)>,
}

/// The most bytes of commands left waiting for a busy socket; past it, commands are refused:
/// the broker is not taking them.
const MAX_PENDING: usize = 4 * 1024 * 1024;

/// The socket while connected, and what it could not take yet.
struct Writer {
    stream: Arc<tokio::net::TcpStream>,
    pending: Vec<u8>,
}

struct Shared {
    writer: Mutex<Option<Writer>>,
    connected: AtomicBool,
    /// Wakes the connection's task when bytes are left pending.
    pending: Notify,
}

/// The publishing side: cheap to clone.
#[derive(Clone)]
pub struct CommandLink {
    shared: Arc<Shared>,
}

impl CommandLink {
    /// Starts connecting to `broker` (and connecting again whenever the connection drops).
    pub fn start(broker: Broker) -> Self {
        let shared = Arc::new(Shared {
            writer: Mutex::new(None),
            connected: AtomicBool::new(false),
            pending: Notify::new(),
        });
        tokio::spawn(run(broker, Arc::downgrade(&shared)));
        CommandLink { shared }
    }

    /// Whether the broker is connected now.
    pub fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Queues `payload` for `topic` (QoS 0, not retained) for the connection's task, which
    /// writes everything queued in one go; refused while the broker is not connected.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), CommandError> {
        let packet = publish_packet(topic, payload)?;
        let mut guard = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(w) = guard.as_mut() else {
            return Err(CommandError::NotConnected);
        };
        if w.pending.len() + packet.len() > MAX_PENDING {
            return Err(CommandError::NotConnected);
        }
        let wake = w.pending.is_empty();
        w.pending.extend_from_slice(&packet);
        drop(guard);
        // Already pending: the task is on its way and takes this too.
        if wake {
            self.shared.pending.notify_one();
        }
        Ok(())
    }
}

/// Writes what is pending until nothing is, waiting for the socket as needed.
async fn flush(shared: &Shared) -> Result<(), String> {
    loop {
        let stream = {
            let mut guard = shared.writer.lock().unwrap_or_else(|p| p.into_inner());
            let Some(w) = guard.as_mut() else { return Ok(()) };
            if w.pending.is_empty() {
                return Ok(());
            }
            match w.stream.try_write(&w.pending) {
                Ok(0) => return Err("the broker closed the connection".into()),
                Ok(n) => {
                    w.pending.drain(..n);
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => w.stream.clone(),
                Err(e) => return Err(e.to_string()),
            }
        };
        stream.writable().await.map_err(|e| e.to_string())?;
    }
}

/// An MQTT "remaining length": 7 bits a byte, the high bit saying more follow.
fn remaining_length(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return;
        }
    }
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A QoS 0 PUBLISH packet.
fn publish_packet(topic: &str, payload: &[u8]) -> Result<Vec<u8>, CommandError> {
    if topic.is_empty() || topic.len() > u16::MAX as usize || topic.contains(['+', '#', '\0']) {
        return Err(CommandError::Invalid(format!(
            "the topic {:?} cannot be published to",
            rask_model::limits::logged(topic)
        )));
    }
    let length = 2 + topic.len() + payload.len();
    if length > 268_435_455 {
        return Err(CommandError::Invalid(
            "the payload is larger than MQTT allows".into(),
        ));
    }
    let mut out = Vec::with_capacity(5 + length);
    out.push(0x30);
    remaining_length(&mut out, length);
    string(&mut out, topic.as_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// The CONNECT packet: MQTT 3.1.1, clean session, keep-alive, credentials if any.
fn connect_packet(broker: &Broker) -> Vec<u8> {
    let mut body = Vec::new();
    string(&mut body, b"MQTT");
    body.push(4);
    let mut flags = 0x02; // clean session
    if broker.credentials.is_some() {
        flags |= 0xC0; // user name and password
    }
    body.push(flags);
    body.extend_from_slice(&KEEP_ALIVE_SECONDS.to_be_bytes());
    string(&mut body, broker.client_id.as_bytes());
    if let Some((user, password)) = &broker.credentials {
        string(&mut body, user.as_bytes());
        string(&mut body, password.as_bytes());
    }
    let mut out = vec![0x10];
    remaining_length(&mut out, body.len());
    out.extend(body);
    out
}

/// One connection, until it ends (the error says why).
async fn session(broker: &Broker, shared: &Shared) -> Result<(), String> {
    let mut stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((broker.host.as_str(), broker.port)),
    )
    .await
    .map_err(|_| "the broker did not accept the connection in time".to_owned())?
    .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    stream
        .write_all(&connect_packet(broker))
        .await
        .map_err(|e| e.to_string())?;
    let mut connack = [0u8; 4];
    tokio::time::timeout(CONNECT_TIMEOUT, stream.read_exact(&mut connack))
        .await
        .map_err(|_| "no CONNACK in time".to_owned())?
        .map_err(|e| e.to_string())?;
    if connack[0] != 0x20 || connack[3] != 0 {
        return Err(format!(
            "the broker refused the connection (CONNACK return code {})",
            connack[3]
        ));
    }
    let stream = Arc::new(stream);
    *shared.writer.lock().unwrap_or_else(|p| p.into_inner()) = Some(Writer {
        stream: stream.clone(),
        pending: Vec::new(),
    });
    shared.connected.store(true, Ordering::Release);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = tokio::time::Instant::now();
    let mut incoming = [0u8; 256];
    loop {
        tokio::select! {
            _ = shared.pending.notified() => {
                // Woken by the first command of a burst, this task would run next and send it
                // alone (tokio runs a just-woken task first); yielding once lets the other
                // requests ready to run add theirs, and one write carries them all.
                tokio::task::yield_now().await;
                flush(shared).await?
            }
            _ = ping.tick() => {
                if heard.elapsed() > PING_EVERY * 3 {
                    return Err("the broker stopped answering pings".into());
                }
                {
                    let mut guard = shared.writer.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(w) = guard.as_mut() {
                        w.pending.extend_from_slice(&[0xC0, 0x00]);
                    }
                }
                flush(shared).await?;
            }
            ready = stream.readable() => {
                ready.map_err(|e| e.to_string())?;
                match stream.try_read(&mut incoming) {
                    Ok(0) => return Err("the broker closed the connection".into()),
                    Ok(_) => heard = tokio::time::Instant::now(),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
    }
}

async fn run(broker: Broker, shared: std::sync::Weak<Shared>) {
    let mut said = false;
    loop {
        // Every link dropped: nobody publishes any more.
        let Some(s) = shared.upgrade() else { return };
        let ended = session(&broker, &s).await;
        let was_up = s.connected.swap(false, Ordering::AcqRel);
        // What was pending when the connection dropped is not sent late.
        *s.writer.lock().unwrap_or_else(|p| p.into_inner()) = None;
        drop(s);
        if let Err(why) = ended {
            if was_up || !said {
                tracing::warn!(host = %broker.host, "the MQTT command connection is down ({why}); connecting again");
                said = true;
            }
        }
        if was_up {
            said = false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_mqtt_3_1_1() {
        assert_eq!(
            publish_packet("a/b", b"ON").unwrap(),
            [0x30, 7, 0, 3, b'a', b'/', b'b', b'O', b'N']
        );
        let big = vec![b'x'; 200];
        let p = publish_packet("t", &big).unwrap();
        assert_eq!(&p[..3], [0x30, 0xCB, 0x01], "203 = 0x4B + 1 * 128");
        assert!(publish_packet("a/+", b"").is_err());
        assert!(publish_packet("", b"").is_err());
        let c = connect_packet(&Broker {
            host: "h".into(),
            port: 1,
            client_id: "rask".into(),
            credentials: Some(("u".into(), "p".into())),
        });
        assert_eq!(
            c,
            [
                0x10, 22, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xC2, 0, 10, 0, 4, b'r', b'a', b's', b'k', 0, 1,
                b'u', 0, 1, b'p'
            ]
        );
    }
}
