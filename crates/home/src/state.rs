//! Device state at the edge: what devices report (over MQTT or the state webhook) is stored,
//! announced to whoever waits for a device to confirm a command, and owed to Alexa as a
//! `ChangeReport`; the [`ChangeReporter`] sends what is owed once a burst is over.
//!
//! The cause of a change is the reporter's (`PHYSICAL_INTERACTION` from a device, or what a
//! webhook says), except when the value is one a directive is waiting for: then it is
//! `VOICE_INTERACTION`, as Alexa expects a change report for a change it asked for too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask_model::smarthome::{CauseType, Connectivity, EventMessage, Property};
use rask_model::timestamp;
use rask_store::device_state::{DeviceState, Hearing, Reported, StoredProperty};
use rask_store::outbox::NewEvent;
use rask_store::{Store, StoreError, now_ms};
use serde_json::Value;
use tokio::sync::{Notify, broadcast};

use crate::capabilities::{DeviceProperty, confirms, settles};
use crate::devices::{Device, Registry};

/// How long changes are gathered into one report, unless configured.
pub const CHANGE_REPORT_WINDOW: Duration = Duration::from_millis(500);
/// The stored pseudo-property for `Alexa.EndpointHealth.connectivity`.
const CONNECTIVITY: &str = "connectivity";

/// A cause in Alexa's words (`PHYSICAL_INTERACTION`).
fn wire(cause: &CauseType) -> String {
    serde_json::to_value(cause)
        .ok()
        .and_then(|c| c.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// How long a change report is worth sending.
pub const CHANGE_REPORT_LIFE: Duration = Duration::from_secs(300);

/// Values a device just reported: (device id, what it said).
#[derive(Debug, Clone)]
pub struct Heard {
    /// The device.
    pub device: String,
    /// Its properties, in Alexa's wire form.
    pub values: Vec<(DeviceProperty, Value)>,
}

struct Expectation {
    id: u64,
    device: String,
    property: DeviceProperty,
    target: Value,
}

/// The devices' state: record, wait for, read.
#[derive(Clone)]
pub struct DeviceStates {
    store: Store,
    heard: broadcast::Sender<Heard>,
    expected: Arc<Mutex<Vec<Expectation>>>,
    next_id: Arc<AtomicU64>,
    reporter: Arc<Notify>,
}

/// A command's wait for its device to report the target value.
pub struct Confirmation {
    states: DeviceStates,
    id: u64,
    device: String,
    property: DeviceProperty,
    target: Value,
    heard: broadcast::Receiver<Heard>,
}

impl Confirmation {
    /// Waits up to `timeout` for the device to report the target (or, for a lock, that it is
    /// jammed); true when it did.
    pub async fn wait(mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.heard.recv()).await {
                Err(_) => return false,
                Ok(Ok(h)) => {
                    if h.device == self.device
                        && h.values
                            .iter()
                            .any(|(p, v)| *p == self.property && settles(*p, &self.target, v))
                    {
                        return true;
                    }
                }
                // Missed messages: the stored state says whether the target was among them.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    if self.states.holds(&self.device, self.property, &self.target).await {
                        return true;
                    }
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return false,
            }
        }
    }
}

impl Drop for Confirmation {
    fn drop(&mut self) {
        self.states
            .expected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|e| e.id != self.id);
    }
}

impl DeviceStates {
    /// State kept in `store`.
    pub fn new(store: Store) -> Self {
        DeviceStates {
            store,
            heard: broadcast::channel(256).0,
            expected: Arc::new(Mutex::new(Vec::new())),
            next_id: Arc::new(AtomicU64::new(0)),
            reporter: Arc::new(Notify::new()),
        }
    }

    /// Starts waiting for `device` to report `target` for `property`: call before the command
    /// is published, so that a fast answer is not missed.
    pub fn expect(&self, device: &str, property: DeviceProperty, target: Value) -> Confirmation {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.expected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Expectation {
                id,
                device: device.to_owned(),
                property,
                target: target.clone(),
            });
        Confirmation {
            states: self.clone(),
            id,
            device: device.to_owned(),
            property,
            target,
            heard: self.heard.subscribe(),
        }
    }

    async fn holds(&self, device: &str, property: DeviceProperty, target: &Value) -> bool {
        self.store
            .device_state(device)
            .await
            .ok()
            .and_then(|s| s.value(property.field()).map(str::to_owned))
            .and_then(|v| serde_json::from_str::<Value>(&v).ok())
            .is_some_and(|v| settles(property, target, &v))
    }

    /// Records what `device` reported at `at`, with `cause` for changes nobody asked for.
    /// A device that is heard is connected (`EndpointHealth` OK). Returns the properties whose
    /// value changed.
    pub async fn record(
        &self,
        device: &str,
        values: Vec<(DeviceProperty, Value)>,
        cause: CauseType,
        at: i64,
        hearing: Hearing,
    ) -> Result<Vec<DeviceProperty>, StoreError> {
        let mut rows: Vec<Reported> = {
            let expected = self.expected.lock().unwrap_or_else(|p| p.into_inner());
            values
                .iter()
                .map(|(p, v)| {
                    let asked = expected
                        .iter()
                        .any(|e| e.device == device && e.property == *p && confirms(*p, &e.target, v));
                    Reported {
                        property: p.field().to_owned(),
                        value: v.to_string(),
                        cause: wire(if asked {
                            &CauseType::VoiceInteraction
                        } else {
                            &cause
                        }),
                    }
                })
                .collect()
        };
        // A retained message proves life only for a device never heard before.
        let connected = match hearing {
            Hearing::Now => true,
            Hearing::IfNever => self.store.device_state(device).await?.heard_at.is_none(),
            Hearing::SilentSince(_) => false,
        };
        if connected {
            rows.push(Reported {
                property: CONNECTIVITY.to_owned(),
                value: serde_json::json!({"value": Connectivity::Ok}).to_string(),
                cause: wire(&cause),
            });
        }
        let changed = self.store.record_state(device, &rows, at, hearing).await?;
        // Nobody listening is fine: no command is waiting.
        let _ = self.heard.send(Heard {
            device: device.to_owned(),
            values,
        });
        if !changed.is_empty() {
            self.reporter.notify_one();
        }
        Ok(changed
            .iter()
            .filter_map(|n| DeviceProperty::from_field(n))
            .collect())
    }

    /// Marks each device that has gone silent for longer than its `offline_after` as
    /// unreachable, once: Alexa hears it as a change of `EndpointHealth`.
    pub async fn sweep(&self, registry: &Registry, now: i64) -> Result<(), StoreError> {
        for device in registry.devices() {
            if device.wiring.offline_after.is_none() || device.kind.properties().is_empty() {
                continue;
            }
            let state = self.store.device_state(&device.id).await?;
            let silent = state.heard_at.is_some()
                && connectivity(device, state.heard_at, now) == Connectivity::Unreachable;
            let said = state
                .value(CONNECTIVITY)
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
                .is_some_and(|v| v["value"] == "UNREACHABLE");
            if silent && !said {
                let row = Reported {
                    property: CONNECTIVITY.to_owned(),
                    value: serde_json::json!({"value": Connectivity::Unreachable}).to_string(),
                    cause: wire(&CauseType::PeriodicPoll),
                };
                let cutoff = now - device.wiring.offline_after.unwrap_or_default().as_millis() as i64;
                let changed = self
                    .store
                    .record_state(&device.id, &[row], now, Hearing::SilentSince(cutoff))
                    .await?;
                if !changed.is_empty() {
                    tracing::warn!(device = %device.id, "not heard from within offline_after_seconds: reported unreachable");
                    self.reporter.notify_one();
                }
            }
        }
        Ok(())
    }

    /// The device's stored state.
    pub async fn read(&self, device: &str) -> Result<DeviceState, StoreError> {
        self.store.device_state(device).await
    }
}

/// The causes a device or hub may name in a state message's `cause` field.
pub const STATED_CAUSES: [CauseType; 5] = [
    CauseType::AppInteraction,
    CauseType::PhysicalInteraction,
    CauseType::PeriodicPoll,
    CauseType::RuleTrigger,
    CauseType::VoiceInteraction,
];

/// The `cause` a JSON state message names, if it names one of [`STATED_CAUSES`].
pub fn stated_cause(payload: &[u8]) -> Option<CauseType> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let named = v.get("cause")?.as_str()?.to_ascii_uppercase();
    STATED_CAUSES.into_iter().find(|c| {
        serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(|s| s == named))
            == Some(true)
    })
}

/// Whether a device last heard at `heard_at` counts as connected at `now`: it has been heard
/// from, and within its `offline_after` if it has one. A device with nothing to report (a
/// doorbell) is taken as connected.
pub fn connectivity(device: &Device, heard_at: Option<i64>, now: i64) -> Connectivity {
    if device.kind.properties().is_empty() {
        return Connectivity::Ok;
    }
    match (heard_at, device.wiring.offline_after) {
        (None, _) => Connectivity::Unreachable,
        (Some(at), Some(period)) if now - at > period.as_millis() as i64 => Connectivity::Unreachable,
        (Some(_), _) => Connectivity::Ok,
    }
}

/// The Alexa properties of `stored` for `device`: each with its sample time, and how long ago
/// the device was last heard as its uncertainty; `EndpointHealth` last. Stored values the
/// device no longer has (its kind changed) are left out.
pub fn properties(device: &Device, state: &DeviceState, now: i64) -> Vec<Property> {
    let uncertainty = state.heard_at.map(|at| (now - at).max(0) as u64).unwrap_or(0);
    let mut out: Vec<Property> = state
        .properties
        .iter()
        .filter_map(|s| alexa_property(device, s, uncertainty))
        .collect();
    out.push(Property::connectivity(connectivity(device, state.heard_at, now)));
    out
}

fn alexa_property(device: &Device, s: &StoredProperty, uncertainty: u64) -> Option<Property> {
    let p = DeviceProperty::from_field(&s.property).filter(|p| device.kind.properties().contains(p))?;
    let value: Value = serde_json::from_str(&s.value).ok()?;
    Some(p.property(value, millis(s.sampled_at), uncertainty))
}

/// Unix milliseconds as Alexa's ISO-8601 UTC with milliseconds.
pub fn millis(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(at as i128 * 1_000_000)
        .map(timestamp::millis)
        .unwrap_or_else(|_| timestamp::now_millis())
}

/// Builds the `ChangeReport` for `device` from its stored properties, the owed ones as the
/// change (connectivity among them when it changed); `None` when nothing is owed.
pub fn change_report(
    device: &Device,
    stored: &[StoredProperty],
    heard_at: Option<i64>,
    now: i64,
) -> Option<EventMessage> {
    let (owed, rest): (Vec<&StoredProperty>, Vec<&StoredProperty>) =
        stored.iter().partition(|p| p.owed_since.is_some());
    // A voice-caused change, or else the most recent change, speaks for the burst;
    // connectivity only when it is all that changed (it follows whatever the device said).
    let voice = wire(&CauseType::VoiceInteraction);
    let cause = owed
        .iter()
        .filter(|p| p.property != CONNECTIVITY)
        // What Alexa asked for speaks for its side effects (power coming on with brightness).
        .max_by_key(|p| (p.report_cause.as_deref() == Some(voice.as_str()), p.sampled_at))
        .or_else(|| owed.first())?
        .report_cause
        .as_deref()
        .and_then(|c| serde_json::from_value::<CauseType>(Value::String(c.to_owned())).ok())
        .unwrap_or(CauseType::PhysicalInteraction);
    let health = |s: &StoredProperty| {
        let value: Value = serde_json::from_str(&s.value).ok()?;
        Some(Property::new("Alexa.EndpointHealth", "connectivity", value, 0).sampled_at(millis(s.sampled_at)))
    };
    let mut changed: Vec<Property> = owed.iter().filter_map(|s| alexa_property(device, s, 0)).collect();
    let health_changed = owed
        .iter()
        .find(|s| s.property == CONNECTIVITY)
        .and_then(|s| health(s));
    let mut unchanged: Vec<Property> = rest.iter().filter_map(|s| alexa_property(device, s, 0)).collect();
    match health_changed {
        Some(h) => changed.push(h),
        None => unchanged.push(Property::connectivity(connectivity(device, heard_at, now))),
    }
    if changed.is_empty() {
        return None;
    }
    Some(EventMessage::change_report(
        &device.id, "", cause, changed, unchanged,
    ))
}

/// Sends what is owed: every `window`, each device whose burst is over becomes one
/// `ChangeReport` per granted user, through the outbox.
pub struct ChangeReporter {
    states: DeviceStates,
    registry: Arc<Registry>,
    /// How long changes are gathered into one report.
    pub window: Duration,
    delivery: Arc<Notify>,
    swept: Mutex<std::time::Instant>,
}

/// How often silent devices are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl ChangeReporter {
    /// A reporter for `registry`'s devices; `delivery` wakes the delivery worker.
    pub fn new(states: DeviceStates, registry: Arc<Registry>, delivery: Arc<Notify>) -> Self {
        ChangeReporter {
            states,
            registry,
            window: CHANGE_REPORT_WINDOW,
            delivery,
            swept: Mutex::new(std::time::Instant::now()),
        }
    }

    /// Turns every report whose window is over into outbox rows; returns how many rows.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let store = &self.states.store;
        let now = now_ms();
        let sweep_due = {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            let due = swept.elapsed() >= SWEEP_EVERY;
            if due {
                *swept = std::time::Instant::now();
            }
            due
        };
        if sweep_due {
            if let Err(e) = self.states.sweep(&self.registry, now).await {
                tracing::error!(error = %e, "silent devices could not be checked");
            }
        }
        let due = store.owed_reports(now - self.window.as_millis() as i64).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let users = store.granted_users().await?;
        let mut written = 0;
        for id in due {
            match self.report(&id, &users, now).await {
                Ok(n) => written += n,
                // One device's trouble does not hold up the others' reports.
                Err(e) => tracing::error!(device = %id, error = %e, "a change report could not be queued"),
            }
        }
        if written > 0 {
            self.delivery.notify_one();
        }
        Ok(written)
    }

    async fn report(&self, id: &str, users: &[String], now: i64) -> Result<usize, StoreError> {
        let store = &self.states.store;
        let heard_at = store.device_state(id).await?.heard_at;
        let device = self.registry.get(id).cloned();
        store
            .take_report(id, |stored| {
                // A device no longer configured owes nothing: the debt is just cleared.
                let Some(event) = device.and_then(|d| change_report(&d, stored, heard_at, now)) else {
                    return Vec::new();
                };
                let event = serde_json::to_string(&event).unwrap_or_default();
                users
                    .iter()
                    .map(|user| NewEvent {
                        id: uuid::Uuid::new_v4().to_string(),
                        user_id: user.clone(),
                        endpoint_id: id.to_owned(),
                        kind: "ChangeReport".into(),
                        event: event.clone(),
                        created_at: now,
                        expires_at: now + CHANGE_REPORT_LIFE.as_millis() as i64,
                    })
                    .collect()
            })
            .await
    }

    /// Runs forever: woken by each change, it waits out the window and reports.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match self.run_once().await {
                    Ok(n) if n > 0 => tracing::debug!(events = n, "change reports queued"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "change reports could not be queued"),
                }
                tokio::select! {
                    _ = self.states.reporter.notified() => tokio::time::sleep(self.window).await,
                    _ = tokio::time::sleep(self.window.max(Duration::from_millis(100))) => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::DeviceKind;

    fn row(property: &str, value: &str, at: i64, owed: Option<&str>) -> StoredProperty {
        StoredProperty {
            property: property.into(),
            value: value.into(),
            sampled_at: at,
            report_cause: owed.map(str::to_owned),
            owed_since: owed.map(|_| at),
        }
    }

    #[test]
    fn connectivity_follows_the_last_message() {
        let mut sensor = Device::new("s", "S", "d", DeviceKind::MotionSensor);
        assert_eq!(connectivity(&sensor, None, 10), Connectivity::Unreachable);
        assert_eq!(connectivity(&sensor, Some(0), 1_000_000), Connectivity::Ok);
        sensor.wiring.offline_after = Some(Duration::from_secs(60));
        assert_eq!(connectivity(&sensor, Some(0), 60_000), Connectivity::Ok);
        assert_eq!(connectivity(&sensor, Some(0), 60_001), Connectivity::Unreachable);
        let bell = Device::new("b", "B", "d", DeviceKind::Doorbell);
        assert_eq!(connectivity(&bell, None, 10), Connectivity::Ok);
    }

    #[test]
    fn a_change_report_carries_the_owed_properties_and_the_rest_as_context() {
        let lamp = Device::new("lamp", "Lamp", "d", DeviceKind::Light);
        let stored = [
            row("brightness", "40", 1_000, Some("VOICE_INTERACTION")),
            row("power", "\"ON\"", 900, None),
        ];
        let report = change_report(&lamp, &stored, Some(1_000), 1_500).unwrap();
        // The token is the user's, filled in at delivery.
        let v = serde_json::to_value(report.with_scope_token("Atza|token")).unwrap();
        assert_eq!(
            v["event"]["payload"]["change"]["cause"]["type"],
            "VOICE_INTERACTION"
        );
        assert_eq!(
            v["event"]["payload"]["change"]["properties"][0]["name"],
            "brightness"
        );
        let context = v["context"]["properties"].as_array().unwrap();
        assert_eq!(context.len(), 2, "power and connectivity: {v:#}");
        let check = rask_model::check::check_value(&v);
        assert!(check.is_valid(), "{:?}", check.findings);
        assert!(change_report(&lamp, &[row("power", "\"ON\"", 1, None)], None, 2).is_none());
        // Asked for brightness, the light came on too: one message, one voice-caused report.
        let both = [
            row("brightness", "40", 3_000, Some("VOICE_INTERACTION")),
            row("power", "\"ON\"", 3_000, Some("PHYSICAL_INTERACTION")),
        ];
        let v = serde_json::to_value(change_report(&lamp, &both, Some(3_000), 3_100).unwrap()).unwrap();
        assert_eq!(
            v["event"]["payload"]["change"]["cause"]["type"],
            "VOICE_INTERACTION"
        );
    }
}
