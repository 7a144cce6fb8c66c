//! Device state at the edge: what devices report (over MQTT or the state webhook) is kept in
//! memory, written to the store by one batching writer, announced to whoever waits for a
//! device to confirm a command, and owed to Alexa as a `ChangeReport`
//! ([`crate::reports`]).
//!
//! Reads (`ReportState`, a directive's answer) come from memory: no database round trip on the
//! hot path. Memory holds what the store holds plus the writes still on their way, applied in
//! the order they were made, and is loaded from the store device by device on first use (so a
//! restart reports only what was stored, with its real sample times). Writes go to one writer
//! task, which commits whatever has queued up in one transaction ([`Store::record_states`]):
//! a device report waits for that commit before it is acknowledged ([`DeviceStates::record`]),
//! a state rask assumes after a command (a device with no state topic) does not
//! ([`DeviceStates::record_behind`]). On PostgreSQL, another instance's writes reach memory as
//! notices ([`DeviceStates::forget`]).
//!
//! The cause of a change is the reporter's (`PHYSICAL_INTERACTION` from a device, or what a
//! webhook says), except when the value is one a directive is waiting for: then it is
//! `VOICE_INTERACTION`, as Alexa expects a change report for a change it asked for too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rask_model::smarthome::{CauseType, Connectivity};
use rask_store::device_state::{DeviceState, Hearing, Reported, StateWrite, StoredProperty};
use rask_store::{Store, StoreError};
use serde_json::Value;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};

use crate::capabilities::{DeviceProperty, confirms, settles};
use crate::devices::Registry;
use crate::reports::connectivity;

/// The stored pseudo-property for `Alexa.EndpointHealth.connectivity`.
pub(crate) const CONNECTIVITY: &str = "connectivity";

/// The most reports the writer commits in one transaction.
const WRITE_BATCH: usize = 2048;

/// How long the writer keeps trying a batch the store refuses before it gives the batch up
/// (its reports are then not acknowledged, and memory forgets their devices).
const WRITE_PATIENCE: Duration = Duration::from_secs(60);

/// A cause in Alexa's words (`PHYSICAL_INTERACTION`).
pub(crate) fn wire(cause: &CauseType) -> String {
    serde_json::to_value(cause)
        .ok()
        .and_then(|c| c.as_str().map(str::to_owned))
        .unwrap_or_default()
}

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

/// One device in memory.
struct Kept {
    /// Shared with readers: a write copies it only while one still holds the old state.
    state: Arc<DeviceState>,
    /// Writes queued for it and not yet committed.
    pending: usize,
    /// Another instance wrote it: forget it once its own pending writes are done.
    stale: bool,
}

/// A write on its way to the writer.
struct Queued {
    write: StateWrite,
    done: Option<oneshot::Sender<Result<Vec<String>, String>>>,
}

/// What the writer and the handles share.
struct Shared {
    store: Store,
    memory: Mutex<HashMap<String, Kept>>,
    /// Counts forgettings: a load that started before one is not kept after it.
    generation: AtomicU64,
    /// Writes queued and not yet committed.
    backlog: AtomicUsize,
    /// Woken when a commit changed something owed to Alexa.
    reporter: Notify,
}

/// The devices' state: record, wait for, read.
#[derive(Clone)]
pub struct DeviceStates {
    shared: Arc<Shared>,
    writes: mpsc::UnboundedSender<Queued>,
    heard: broadcast::Sender<Heard>,
    expected: Arc<Mutex<Vec<Expectation>>>,
    next_id: Arc<AtomicU64>,
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
                // Missed messages: the state says whether the target was among them.
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

/// A queued write's commit, to wait for.
pub struct Receipt(Option<oneshot::Receiver<Result<Vec<String>, String>>>);

impl Receipt {
    /// Waits until the write is in the store; the properties whose value changed.
    pub async fn stored(self) -> Result<Vec<DeviceProperty>, StoreError> {
        let Some(rx) = self.0 else { return Ok(Vec::new()) };
        match rx.await {
            Ok(Ok(changed)) => Ok(changed
                .iter()
                .filter_map(|n| DeviceProperty::from_field(n))
                .collect()),
            Ok(Err(why)) => Err(StoreError::Batch(why)),
            Err(_) => Err(StoreError::Batch("the state writer stopped".into())),
        }
    }
}

/// Applies a write to a device's state in memory as the store applies it; returns the
/// properties whose value changed.
fn apply(state: &mut DeviceState, w: &StateWrite) -> Vec<String> {
    match w.hearing {
        Hearing::Now => state.heard_at = Some(state.heard_at.map_or(w.at, |h| h.max(w.at))),
        Hearing::IfNever => state.heard_at = state.heard_at.or(Some(w.at)),
        Hearing::SilentSince(cutoff) => {
            if state.heard_at.is_none_or(|h| h >= cutoff) {
                return Vec::new();
            }
        }
    }
    let mut changed = Vec::new();
    for r in &w.values {
        match state.properties.iter_mut().find(|p| p.property == r.property) {
            Some(p) => {
                if p.value != r.value {
                    changed.push(r.property.clone());
                    p.value = r.value.clone();
                }
                p.sampled_at = w.at;
            }
            None => {
                changed.push(r.property.clone());
                state.properties.push(StoredProperty {
                    property: r.property.clone(),
                    value: r.value.clone(),
                    sampled_at: w.at,
                    // What is owed is the store's to say (take_report); memory does not keep it.
                    report_cause: None,
                    owed_since: None,
                });
                state.properties.sort_by(|a, b| a.property.cmp(&b.property));
            }
        }
    }
    changed
}

impl DeviceStates {
    /// State kept in `store`, with its writer task started (call inside a Tokio runtime).
    pub fn new(store: Store) -> Self {
        let shared = Arc::new(Shared {
            store,
            memory: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            backlog: AtomicUsize::new(0),
            reporter: Notify::new(),
        });
        let (writes, queue) = mpsc::unbounded_channel();
        tokio::spawn(writer(shared.clone(), queue));
        DeviceStates {
            shared,
            writes,
            heard: broadcast::channel(1024).0,
            expected: Arc::new(Mutex::new(Vec::new())),
            next_id: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The store behind this state.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Woken when a commit has changed something that may be owed to Alexa.
    pub fn changes(&self) -> &Notify {
        &self.shared.reporter
    }

    /// Writes queued and not yet committed.
    pub fn backlog(&self) -> usize {
        self.shared.backlog.load(Ordering::Relaxed)
    }

    /// The commands published to `device` that it has not confirmed yet: each property and the
    /// value asked for.
    pub fn awaiting(&self, device: &str) -> Vec<(DeviceProperty, Value)> {
        self.expected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| e.device == device)
            .map(|e| (e.property, e.target.clone()))
            .collect()
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
        self.read(device)
            .await
            .ok()
            .and_then(|s| s.value(property.field()).map(str::to_owned))
            .and_then(|v| serde_json::from_str::<Value>(&v).ok())
            .is_some_and(|v| settles(property, target, &v))
    }

    /// Runs `f` on the device's memory, loading it from the store first if it is not there.
    async fn with_kept<R>(&self, device: &str, f: impl FnOnce(&mut Kept) -> R) -> Result<R, StoreError> {
        let mut f = Some(f);
        {
            let mut memory = self.shared.memory.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = memory.get_mut(device) {
                return Ok((f.take().expect("called once"))(k));
            }
        }
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let loaded = self.shared.store.device_state(device).await?;
        let mut memory = self.shared.memory.lock().unwrap_or_else(|p| p.into_inner());
        if self.shared.generation.load(Ordering::SeqCst) != generation && !memory.contains_key(device) {
            // Forgotten while it loaded: this read may be older than the notice; use it once,
            // keep nothing.
            let mut once = Kept {
                state: Arc::new(loaded),
                pending: 0,
                stale: true,
            };
            return Ok((f.take().expect("called once"))(&mut once));
        }
        let k = memory.entry(device.to_owned()).or_insert(Kept {
            state: Arc::new(loaded),
            pending: 0,
            stale: false,
        });
        Ok((f.take().expect("called once"))(k))
    }

    /// Fills memory with every stored device (two queries), and `known` devices the store has
    /// nothing of yet, so that the first report of each device does not wait on a read of its
    /// own; devices in memory already are kept.
    pub async fn preload(&self, known: &[String]) -> Result<usize, StoreError> {
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let mut all = self.shared.store.device_states().await?;
        for id in known {
            all.entry(id.clone()).or_default();
        }
        let mut memory = self.shared.memory.lock().unwrap_or_else(|p| p.into_inner());
        if self.shared.generation.load(Ordering::SeqCst) != generation {
            return Ok(0);
        }
        let n = all.len();
        for (id, state) in all {
            memory.entry(id).or_insert(Kept {
                state: Arc::new(state),
                pending: 0,
                stale: false,
            });
        }
        Ok(n)
    }

    /// The device's state: what is stored and what is on its way there (shared, not copied).
    pub async fn read(&self, device: &str) -> Result<Arc<DeviceState>, StoreError> {
        self.with_kept(device, |k| k.state.clone()).await
    }

    /// Queues what `device` reported at `at`, with `cause` for changes nobody asked for, and
    /// applies it to memory at once; the receipt says when it is stored. A device that is
    /// heard is connected (`EndpointHealth` OK). Also returns the properties whose value
    /// changed in memory.
    pub async fn submit(
        &self,
        device: &str,
        values: Vec<(DeviceProperty, Value)>,
        cause: CauseType,
        at: i64,
        hearing: Hearing,
    ) -> Result<(Receipt, Vec<DeviceProperty>), StoreError> {
        self.queue(device, values, cause, at, hearing, false).await
    }

    /// [`DeviceStates::submit`]; with `changes_only`, a write that changes no value is kept in
    /// memory only (its newer sample time is not worth a commit).
    async fn queue(
        &self,
        device: &str,
        values: Vec<(DeviceProperty, Value)>,
        cause: CauseType,
        at: i64,
        hearing: Hearing,
        changes_only: bool,
    ) -> Result<(Receipt, Vec<DeviceProperty>), StoreError> {
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
        let write = |rows: Vec<Reported>| StateWrite {
            endpoint_id: device.to_owned(),
            values: rows,
            at,
            hearing,
        };
        let (done, receipt) = oneshot::channel();
        let queued = self
            .with_kept(device, |k| {
                // A retained message proves life only for a device never heard before.
                let connected = match hearing {
                    Hearing::Now => true,
                    Hearing::IfNever => k.state.heard_at.is_none(),
                    Hearing::SilentSince(_) => false,
                };
                if connected {
                    rows.push(Reported {
                        property: CONNECTIVITY.to_owned(),
                        value: serde_json::json!({"value": Connectivity::Ok}).to_string(),
                        cause: wire(&cause),
                    });
                }
                let w = write(std::mem::take(&mut rows));
                let changed = apply(Arc::make_mut(&mut k.state), &w);
                if changes_only && changed.is_empty() {
                    return (None, changed);
                }
                // Queued under the memory lock: the writer commits in the order memory changed.
                k.pending += 1;
                self.shared.backlog.fetch_add(1, Ordering::Relaxed);
                let sent = self.writes.send(Queued {
                    write: w,
                    done: Some(done),
                });
                if sent.is_err() {
                    k.pending -= 1;
                    self.shared.backlog.fetch_sub(1, Ordering::Relaxed);
                }
                (Some(sent.is_ok()), changed)
            })
            .await?;
        let (sent, changed) = queued;
        let receipt = match sent {
            Some(false) => return Err(StoreError::Batch("the state writer stopped".into())),
            Some(true) => Receipt(Some(receipt)),
            None => Receipt(None),
        };
        // Nobody listening is fine: no command is waiting.
        let _ = self.heard.send(Heard {
            device: device.to_owned(),
            values,
        });
        let changed = changed
            .iter()
            .filter_map(|n| DeviceProperty::from_field(n))
            .collect();
        Ok((receipt, changed))
    }

    /// Records what `device` reported, and waits until it is stored: for reports that are
    /// acknowledged (MQTT, the state webhook). Returns the properties whose value changed.
    pub async fn record(
        &self,
        device: &str,
        values: Vec<(DeviceProperty, Value)>,
        cause: CauseType,
        at: i64,
        hearing: Hearing,
    ) -> Result<Vec<DeviceProperty>, StoreError> {
        let (receipt, _) = self.submit(device, values, cause, at, hearing).await?;
        receipt.stored().await
    }

    /// Records a state rask assumes (a command to a device that cannot confirm it) without
    /// waiting for the store: its answer is in memory at once, and a crash before the commit
    /// loses only the assumption; one that changes nothing is not written at all (a restart
    /// then reports the value with the time it was last stored). Returns the properties whose
    /// value changed.
    pub async fn record_behind(
        &self,
        device: &str,
        values: Vec<(DeviceProperty, Value)>,
        cause: CauseType,
        at: i64,
    ) -> Result<Vec<DeviceProperty>, StoreError> {
        let (_, changed) = self.queue(device, values, cause, at, Hearing::Now, true).await?;
        Ok(changed)
    }

    /// Another instance wrote these devices: memory forgets them (once its own writes to
    /// them are stored), and reads them again from the store when next asked.
    pub fn forget(&self, devices: &[String]) {
        let mut memory = self.shared.memory.lock().unwrap_or_else(|p| p.into_inner());
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        for d in devices {
            if let Some(k) = memory.get_mut(d) {
                if k.pending == 0 {
                    memory.remove(d);
                } else {
                    k.stale = true;
                }
            }
        }
    }

    /// Forgets every device (notices may have been missed).
    pub fn forget_all(&self) {
        let ids: Vec<String> = {
            let memory = self.shared.memory.lock().unwrap_or_else(|p| p.into_inner());
            memory.keys().cloned().collect()
        };
        self.forget(&ids);
    }

    /// Marks each device that has gone silent for longer than its `offline_after` as
    /// unreachable, once: Alexa hears it as a change of `EndpointHealth`.
    pub async fn sweep(&self, registry: &Registry, now: i64) -> Result<(), StoreError> {
        for device in registry.devices() {
            if device.wiring.offline_after.is_none() || device.kind.properties().is_empty() {
                continue;
            }
            let state = self.read(&device.id).await?;
            let silent = state.heard_at.is_some()
                && connectivity(device, state.heard_at, now) == Connectivity::Unreachable;
            let said = state
                .value(CONNECTIVITY)
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
                .is_some_and(|v| v["value"] == "UNREACHABLE");
            if silent && !said {
                let cutoff = now - device.wiring.offline_after.unwrap_or_default().as_millis() as i64;
                let row = Reported {
                    property: CONNECTIVITY.to_owned(),
                    value: serde_json::json!({"value": Connectivity::Unreachable}).to_string(),
                    cause: wire(&CauseType::PeriodicPoll),
                };
                let (done, receipt) = oneshot::channel();
                self.with_kept(&device.id, |k| {
                    let w = StateWrite {
                        endpoint_id: device.id.clone(),
                        values: vec![row],
                        at: now,
                        hearing: Hearing::SilentSince(cutoff),
                    };
                    apply(Arc::make_mut(&mut k.state), &w);
                    k.pending += 1;
                    self.shared.backlog.fetch_add(1, Ordering::Relaxed);
                    let _ = self.writes.send(Queued {
                        write: w,
                        done: Some(done),
                    });
                })
                .await?;
                if !Receipt(Some(receipt)).stored().await?.is_empty() {
                    tracing::warn!(device = %device.id, "not heard from within offline_after_seconds: reported unreachable");
                }
            }
        }
        Ok(())
    }
}

/// The writer: commits what has queued up, in order, many reports per transaction.
async fn writer(shared: Arc<Shared>, mut queue: mpsc::UnboundedReceiver<Queued>) {
    let instance = shared.store.instance().to_owned();
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let writes: Vec<StateWrite> = batch.iter().map(|q| q.write.clone()).collect();
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        let outcome = loop {
            match shared.store.record_states(&writes, &instance).await {
                Ok(changed) => break Ok(changed),
                Err(e) if started.elapsed() < WRITE_PATIENCE => {
                    tracing::warn!(error = %e, reports = writes.len(), "device states could not be stored; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        {
            let mut memory = shared.memory.lock().unwrap_or_else(|p| p.into_inner());
            for w in &writes {
                let forget = match memory.get_mut(&w.endpoint_id) {
                    Some(k) => {
                        k.pending = k.pending.saturating_sub(1);
                        // A batch the store never took leaves memory ahead of it: read again.
                        (k.stale || outcome.is_err()) && k.pending == 0
                    }
                    None => false,
                };
                if forget {
                    memory.remove(&w.endpoint_id);
                }
            }
            if outcome.is_err() {
                shared.generation.fetch_add(1, Ordering::SeqCst);
                for w in &writes {
                    if let Some(k) = memory.get_mut(&w.endpoint_id) {
                        k.stale = true;
                    }
                }
            }
        }
        shared.backlog.fetch_sub(batch.len(), Ordering::Relaxed);
        match outcome {
            Ok(changed) => {
                let any = changed.iter().any(|c| !c.is_empty());
                for (q, c) in batch.into_iter().zip(changed) {
                    if let Some(done) = q.done {
                        let _ = done.send(Ok(c));
                    }
                }
                if any {
                    shared.reporter.notify_one();
                }
            }
            Err(why) => {
                tracing::error!(
                    reports = writes.len(),
                    "device states could not be stored for a minute and are given up: {why}"
                );
                for q in batch {
                    if let Some(done) = q.done {
                        let _ = done.send(Err(why.clone()));
                    }
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn w(at: i64, hearing: Hearing, values: &[(&str, &str)]) -> StateWrite {
        StateWrite {
            endpoint_id: "lamp".into(),
            values: values
                .iter()
                .map(|(p, v)| Reported {
                    property: (*p).into(),
                    value: (*v).into(),
                    cause: "PHYSICAL_INTERACTION".into(),
                })
                .collect(),
            at,
            hearing,
        }
    }

    #[test]
    fn memory_applies_a_write_as_the_store_does() {
        let mut s = DeviceState::default();
        assert_eq!(
            apply(&mut s, &w(10, Hearing::IfNever, &[("power", "\"ON\"")])),
            ["power"]
        );
        assert_eq!(s.heard_at, Some(10), "never heard: a retained message counts");
        assert!(apply(&mut s, &w(20, Hearing::Now, &[("power", "\"ON\"")])).is_empty());
        assert_eq!((s.heard_at, s.properties[0].sampled_at), (Some(20), 20));
        apply(&mut s, &w(30, Hearing::IfNever, &[("power", "\"OFF\"")]));
        assert_eq!(
            s.heard_at,
            Some(20),
            "heard before: a retained message does not count"
        );
        assert_eq!(s.value("power"), Some("\"OFF\""));
        assert!(
            apply(
                &mut s,
                &w(40, Hearing::SilentSince(20), &[("connectivity", "{}")])
            )
            .is_empty(),
            "heard at 20, not before: not silent"
        );
        assert_eq!(
            apply(
                &mut s,
                &w(40, Hearing::SilentSince(21), &[("connectivity", "{}")])
            ),
            ["connectivity"]
        );
        assert_eq!(s.heard_at, Some(20));
    }
}

#[cfg(test)]
mod awaiting_tests {
    use super::*;

    #[tokio::test]
    async fn a_command_awaits_its_device_until_its_confirmation_ends() {
        let store = rask_store::Store::connect(&rask_store::testing::sqlite_url())
            .await
            .unwrap();
        let states = DeviceStates::new(store);
        let pending = states.expect("lamp", DeviceProperty::Power, Value::from("ON"));
        let _other = states.expect("plug", DeviceProperty::Power, Value::from("OFF"));
        assert_eq!(
            states.awaiting("lamp"),
            [(DeviceProperty::Power, Value::from("ON"))]
        );
        drop(pending);
        assert!(states.awaiting("lamp").is_empty(), "confirmed, or given up on");
        assert_eq!(states.awaiting("plug").len(), 1);
    }
}
