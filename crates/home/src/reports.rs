//! What is owed to Alexa about device states, built from what is stored: the properties of a
//! `StateReport` or `Alexa.Response` (with sample times and uncertainty), the `ChangeReport` of
//! a burst of changes, and the [`ChangeReporter`] that turns each owed report into outbox rows
//! once its window is over.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask_model::smarthome::{CauseType, Connectivity, EventMessage, Property};
use rask_model::timestamp;
use rask_store::device_state::{DeviceState, StoredProperty};
use rask_store::outbox::NewEvent;
use rask_store::{StoreError, now_ms};
use serde_json::Value;
use tokio::sync::Notify;

use crate::capabilities::DeviceProperty;
use crate::devices::{Device, Registry};
use crate::state::{CONNECTIVITY, DeviceStates, wire};

/// How long changes are gathered into one report, unless configured.
pub const CHANGE_REPORT_WINDOW: Duration = Duration::from_millis(500);

/// How long a change report is worth sending.
pub const CHANGE_REPORT_LIFE: Duration = Duration::from_secs(300);

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

/// A `ChangeReport` of `device`'s stored state as though all of it had just changed in the app
/// (`APP_INTERACTION`), owing nothing: the owner's test from the console, which Alexa
/// validates and routines hear as a real change. `None` for a device that reports no state.
pub fn test_report(device: &Device, state: &DeviceState, now: i64) -> Option<EventMessage> {
    let changed: Vec<Property> = state
        .properties
        .iter()
        .filter(|s| s.property != CONNECTIVITY)
        .filter_map(|s| alexa_property(device, s, 0))
        .collect();
    if changed.is_empty() {
        return None;
    }
    let health = vec![Property::connectivity(connectivity(device, state.heard_at, now))];
    Some(EventMessage::change_report(
        &device.id,
        "",
        CauseType::AppInteraction,
        changed,
        health,
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
        let store = self.states.store();
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
        let mut heard = std::collections::HashMap::new();
        for id in &due {
            heard.insert(id.clone(), self.states.read(id).await?.heard_at);
        }
        let written = store
            .take_reports(&due, |id, stored| {
                // A device no longer configured owes nothing: the debt is just cleared.
                let device = self.registry.get(id);
                let heard_at = heard.get(id).copied().flatten();
                let Some(event) = device.and_then(|d| change_report(d, stored, heard_at, now)) else {
                    return Vec::new();
                };
                let event = serde_json::to_string(&event).unwrap_or_default();
                users
                    .iter()
                    .map(|user| NewEvent {
                        id: rask_store::row_id(),
                        user_id: user.clone(),
                        endpoint_id: id.to_owned(),
                        kind: "ChangeReport".into(),
                        event: event.clone(),
                        created_at: now,
                        expires_at: now + CHANGE_REPORT_LIFE.as_millis() as i64,
                    })
                    .collect()
            })
            .await?;
        if written > 0 {
            self.delivery.notify_one();
        }
        Ok(written)
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
                    _ = self.states.changes().notified() => tokio::time::sleep(self.window).await,
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
