//! Device state: the last value heard of each device property, when each device was last
//! heard from, the changes that still owe Alexa a `ChangeReport`, and the endpoints as last
//! announced to Alexa.
//!
//! Values are opaque JSON text here (Alexa's wire form, chosen by rask-home). Recording a
//! value that differs from the stored one marks a report as owed; [`Store::take_report`] turns
//! what is owed into outbox rows and clears it in one transaction, so that a report is neither
//! lost nor doubled by a crash, and two instances on one PostgreSQL database never both send
//! it: both transactions lock the device's `device_heard` row first.
//!
//! [`Store::record_states`] records many reports in one transaction with a handful of
//! multi-row statements, as a busy MQTT bridge needs (each statement is a round trip to
//! SQLite's worker thread or PostgreSQL's socket); on PostgreSQL it tells the other instances
//! which devices it wrote ([`crate::notify`]).

use sqlx::Row;

use crate::db::{Store, StoreError, values_list};
use crate::outbox::{NewEvent, insert_events};

/// One stored property of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProperty {
    /// rask-home's name for it (`power`, `brightness`, ...).
    pub property: String,
    /// Its value, JSON text.
    pub value: String,
    /// When the device last reported it (Unix ms).
    pub sampled_at: i64,
    /// When a change is owed to Alexa, its cause (`PHYSICAL_INTERACTION`, ...).
    pub report_cause: Option<String>,
    /// Since when the change has been owed.
    pub owed_since: Option<i64>,
}

/// A device's stored state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceState {
    /// When the device was last heard from, if ever.
    pub heard_at: Option<i64>,
    /// Its properties, by name.
    pub properties: Vec<StoredProperty>,
}

impl DeviceState {
    /// The stored value of `property`, JSON text.
    pub fn value(&self, property: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.property == property)
            .map(|p| p.value.as_str())
    }
}

fn stored(r: &sqlx::any::AnyRow) -> Result<StoredProperty, sqlx::Error> {
    Ok(StoredProperty {
        property: r.try_get("property")?,
        value: r.try_get("value")?,
        sampled_at: r.try_get("sampled_at")?,
        report_cause: r.try_get("report_cause")?,
        owed_since: r.try_get("owed_since")?,
    })
}

const COLUMNS: &str = "property, value, sampled_at, report_cause, owed_since";

/// One value a device reported, and why it changed if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// The property's name.
    pub property: String,
    /// Its value, JSON text.
    pub value: String,
    /// The cause a change is reported with (`PHYSICAL_INTERACTION`, ...).
    pub cause: String,
}

/// Whether a record counts as hearing from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hearing {
    /// The device spoke now.
    Now,
    /// Only if it was never heard before (a retained MQTT message: it may be old).
    IfNever,
    /// Not at all: rask's own conclusion that the device has gone silent, recorded only if
    /// it has not been heard since this time (checked under the device's lock, so a message
    /// that lands meanwhile wins).
    SilentSince(i64),
}

/// One device's report for [`Store::record_states`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// The device.
    pub endpoint_id: String,
    /// What it reported.
    pub values: Vec<Reported>,
    /// When.
    pub at: i64,
    /// Whether it counts as hearing from the device.
    pub hearing: Hearing,
}

/// Rows per multi-row statement: 7 parameters each stays far inside both databases' limits.
const ROWS_PER_STATEMENT: usize = 100;

/// How often a batch that PostgreSQL aborted as a deadlock (or a serialization failure) is
/// tried again before its error is returned.
const BATCH_ATTEMPTS: usize = 5;

fn retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sqlx::Error::Database(d)) => {
            matches!(d.code().as_deref(), Some("40P01") | Some("40001"))
        }
        _ => false,
    }
}

impl Store {
    /// Records many reports in one transaction, in their order, and returns for each the
    /// properties whose value changed, as [`Store::record_state`] would one by one. The
    /// devices' `device_heard` rows are locked first, in the order of their ids (so that two
    /// instances' batches, and [`Store::take_report`], never wait on each other in a circle);
    /// a report of a property already in the batch goes into a later statement, so that each
    /// change is seen. `SilentSince` reports are recorded one at a time, in their place.
    pub async fn record_states(
        &self,
        writes: &[StateWrite],
        notify_as: &str,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        let mut out = Vec::with_capacity(writes.len());
        let mut start = 0;
        // Split at rask's own conclusions, which need their single-row semantics.
        for (i, w) in writes.iter().enumerate() {
            if let Hearing::SilentSince(_) = w.hearing {
                if start < i {
                    out.extend(self.record_batch(&writes[start..i], notify_as).await?);
                }
                out.push(
                    self.record_state(&w.endpoint_id, &w.values, w.at, w.hearing)
                        .await?,
                );
                self.notify_devices(notify_as, std::slice::from_ref(&w.endpoint_id))
                    .await?;
                start = i + 1;
            }
        }
        if start < writes.len() {
            out.extend(self.record_batch(&writes[start..], notify_as).await?);
        }
        Ok(out)
    }

    async fn record_batch(
        &self,
        writes: &[StateWrite],
        notify_as: &str,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.record_batch_once(writes, notify_as).await {
                Err(e) if retryable(&e) && attempt < BATCH_ATTEMPTS => {
                    tracing::debug!(error = %e, "a state batch met another transaction; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(10 * attempt as u64)).await;
                }
                other => return other,
            }
        }
    }

    async fn record_batch_once(
        &self,
        writes: &[StateWrite],
        notify_as: &str,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        use std::collections::{BTreeMap, HashMap};
        // Each device once, in id order: heard now at its latest report, or (retained messages
        // only) heard only if never before.
        let mut devices: BTreeMap<&str, Option<i64>> = BTreeMap::new();
        for w in writes {
            let e = devices.entry(w.endpoint_id.as_str()).or_insert(None);
            if w.hearing == Hearing::Now {
                *e = Some(e.map_or(w.at, |t| t.max(w.at)));
            }
        }
        let first_at: HashMap<&str, i64> = writes
            .iter()
            .rev()
            .map(|w| (w.endpoint_id.as_str(), w.at))
            .collect();
        let mut tx = self.writer.begin().await?;
        let heard: Vec<(&str, i64, bool)> = devices
            .iter()
            .map(|(id, now)| match now {
                Some(at) => (*id, *at, true),
                None => (*id, first_at[id], false),
            })
            .collect();
        for chunk in heard.chunks(ROWS_PER_STATEMENT) {
            // One statement for both kinds keeps the lock order; a retained-only device's
            // row comes with a negative time, which keeps the stored one, or is set right below
            // when the row is new.
            let sql = format!(
                "INSERT INTO device_heard (endpoint_id, heard_at) VALUES {} ON CONFLICT (endpoint_id) DO UPDATE SET \
                 heard_at = CASE WHEN excluded.heard_at < 0 THEN device_heard.heard_at \
                                 WHEN excluded.heard_at > device_heard.heard_at THEN excluded.heard_at \
                                 ELSE device_heard.heard_at END",
                values_list(self.backend(), chunk.len(), 2, 1)
            );
            let mut q = sqlx::query(&sql);
            for (id, at, now) in chunk {
                q = q.bind(*id).bind(if *now { *at } else { -1 - *at });
            }
            q.execute(&mut *tx).await?;
        }
        if heard.iter().any(|(_, _, now)| !now) {
            sqlx::query("UPDATE device_heard SET heard_at = -1 - heard_at WHERE heard_at < 0")
                .execute(&mut *tx)
                .await?;
        }
        // Rows in rounds: the k-th report of a (device, property) in the batch goes into the
        // k-th round, so each round names a row at most once and the rounds keep the order.
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        let mut rounds: Vec<Vec<(usize, &StateWrite, &Reported)>> = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            for r in &w.values {
                let k = seen
                    .entry((w.endpoint_id.as_str(), r.property.as_str()))
                    .or_insert(0);
                if rounds.len() <= *k {
                    rounds.push(Vec::new());
                }
                rounds[*k].push((i, w, r));
                *k += 1;
            }
        }
        let mut changed_rows: std::collections::HashSet<(usize, &str)> = Default::default();
        for mut round in rounds {
            round.sort_by(|a, b| {
                (a.1.endpoint_id.as_str(), a.2.property.as_str())
                    .cmp(&(b.1.endpoint_id.as_str(), b.2.property.as_str()))
            });
            for chunk in round.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO device_state (endpoint_id, property, value, sampled_at, changed_at, report_cause, owed_since) \
                     VALUES {} \
                     ON CONFLICT (endpoint_id, property) DO UPDATE SET \
                       sampled_at = excluded.sampled_at, \
                       changed_at = CASE WHEN device_state.value = excluded.value THEN device_state.changed_at ELSE excluded.changed_at END, \
                       report_cause = CASE WHEN device_state.value = excluded.value THEN device_state.report_cause ELSE excluded.report_cause END, \
                       owed_since = CASE WHEN device_state.value = excluded.value THEN device_state.owed_since \
                                         ELSE COALESCE(device_state.owed_since, excluded.owed_since) END, \
                       value = excluded.value \
                     RETURNING endpoint_id, property, changed_at",
                    values_list(self.backend(), chunk.len(), 7, 1)
                );
                let mut q = sqlx::query(&sql);
                for (_, w, r) in chunk {
                    q = q
                        .bind(w.endpoint_id.clone())
                        .bind(r.property.clone())
                        .bind(r.value.clone())
                        .bind(w.at)
                        .bind(w.at)
                        .bind(r.cause.clone())
                        .bind(w.at);
                }
                let rows = q.fetch_all(&mut *tx).await?;
                let mut at_of: HashMap<(String, String), i64> = HashMap::with_capacity(rows.len());
                for row in &rows {
                    at_of.insert(
                        (row.try_get("endpoint_id")?, row.try_get("property")?),
                        row.try_get("changed_at")?,
                    );
                }
                for (i, w, r) in chunk {
                    if at_of.get(&(w.endpoint_id.clone(), r.property.clone())) == Some(&w.at) {
                        changed_rows.insert((*i, r.property.as_str()));
                    }
                }
            }
        }
        let ids: Vec<String> = devices.keys().map(|d| d.to_string()).collect();
        self.notify_devices_in(&mut tx, notify_as, &ids).await?;
        tx.commit().await?;
        // In each report's own order of its properties.
        Ok(writes
            .iter()
            .enumerate()
            .map(|(i, w)| {
                w.values
                    .iter()
                    .filter(|r| changed_rows.contains(&(i, r.property.as_str())))
                    .map(|r| r.property.clone())
                    .collect()
            })
            .collect())
    }

    /// Records what a device reported at `at`. A value that differs from the stored one owes
    /// Alexa a report with its cause (an owed report keeps its first `owed_since`, so a burst
    /// is one report). One transaction, which first locks the device's `device_heard` row, as
    /// [`Store::take_report`] does: the two never interleave on one device. Returns the
    /// properties that changed.
    pub async fn record_state(
        &self,
        endpoint_id: &str,
        values: &[Reported],
        at: i64,
        hearing: Hearing,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.writer.begin().await?;
        let heard = match hearing {
            Hearing::Now => {
                "INSERT INTO device_heard (endpoint_id, heard_at) VALUES ($1, $2) \
                 ON CONFLICT (endpoint_id) DO UPDATE SET heard_at = excluded.heard_at"
            }
            Hearing::IfNever => {
                "INSERT INTO device_heard (endpoint_id, heard_at) VALUES ($1, $2) \
                 ON CONFLICT (endpoint_id) DO UPDATE SET heard_at = device_heard.heard_at"
            }
            Hearing::SilentSince(_) => {
                "UPDATE device_heard SET heard_at = heard_at WHERE endpoint_id = $1 AND heard_at < $2"
            }
        };
        let since = match hearing {
            Hearing::SilentSince(cutoff) => cutoff,
            _ => at,
        };
        let locked = sqlx::query(heard)
            .bind(endpoint_id)
            .bind(since)
            .execute(&mut *tx)
            .await?;
        if matches!(hearing, Hearing::SilentSince(_)) && locked.rows_affected() == 0 {
            // Heard from meanwhile (or never): not silent after all.
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut changed = Vec::new();
        for r in values {
            // Every right-hand side sees the row as it was: the value compared is the old one.
            let row = sqlx::query(
                "INSERT INTO device_state (endpoint_id, property, value, sampled_at, changed_at, report_cause, owed_since) \
                 VALUES ($1, $2, $3, $4, $4, $5, $4) \
                 ON CONFLICT (endpoint_id, property) DO UPDATE SET \
                   sampled_at = excluded.sampled_at, \
                   changed_at = CASE WHEN device_state.value = excluded.value THEN device_state.changed_at ELSE excluded.changed_at END, \
                   report_cause = CASE WHEN device_state.value = excluded.value THEN device_state.report_cause ELSE excluded.report_cause END, \
                   owed_since = CASE WHEN device_state.value = excluded.value THEN device_state.owed_since \
                                     ELSE COALESCE(device_state.owed_since, excluded.owed_since) END, \
                   value = excluded.value \
                 RETURNING changed_at",
            )
            .bind(endpoint_id)
            .bind(r.property.clone())
            .bind(r.value.clone())
            .bind(at)
            .bind(r.cause.clone())
            .fetch_one(&mut *tx)
            .await?;
            if row.try_get::<i64, _>("changed_at")? == at {
                changed.push(r.property.clone());
            }
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// A device's stored state.
    pub async fn device_state(&self, endpoint_id: &str) -> Result<DeviceState, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_state WHERE endpoint_id = $1 ORDER BY property"
        ))
        .bind(endpoint_id)
        .fetch_all(&self.pool)
        .await?;
        let heard = sqlx::query("SELECT heard_at FROM device_heard WHERE endpoint_id = $1")
            .bind(endpoint_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(DeviceState {
            heard_at: heard.map(|r| r.try_get("heard_at")).transpose()?,
            properties: rows.iter().map(stored).collect::<Result<_, _>>()?,
        })
    }

    /// Every device's stored state, in two queries (to fill memory at start).
    pub async fn device_states(&self) -> Result<std::collections::HashMap<String, DeviceState>, StoreError> {
        let mut out: std::collections::HashMap<String, DeviceState> = Default::default();
        let rows = sqlx::query(&format!(
            "SELECT endpoint_id, {COLUMNS} FROM device_state ORDER BY endpoint_id, property"
        ))
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            out.entry(r.try_get("endpoint_id")?)
                .or_default()
                .properties
                .push(stored(r)?);
        }
        for r in sqlx::query("SELECT endpoint_id, heard_at FROM device_heard")
            .fetch_all(&self.pool)
            .await?
        {
            out.entry(r.try_get("endpoint_id")?).or_default().heard_at = Some(r.try_get("heard_at")?);
        }
        Ok(out)
    }

    /// Endpoints with a report owed since `before` or earlier: their burst window is over.
    pub async fn owed_reports(&self, before: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT endpoint_id FROM device_state WHERE owed_since IS NOT NULL AND owed_since <= $1",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("endpoint_id"))
            .collect::<Result<_, _>>()?)
    }

    /// Takes the report owed for `endpoint_id`: `build` turns the device's properties (the
    /// owed ones carry their cause) into outbox rows, which are written as the debt is
    /// cleared, in one transaction. Returns how many rows were written; 0 when nothing was
    /// owed any more (another instance took it).
    pub async fn take_report(
        &self,
        endpoint_id: &str,
        build: impl FnOnce(&[StoredProperty]) -> Vec<NewEvent>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.writer.begin().await?;
        // A write first, to the row record_state locks first too: PostgreSQL holds the device
        // until commit, so no change lands between the read and the clearing below, and
        // SQLite takes its write lock now rather than fail to upgrade a read later.
        let locked = sqlx::query("UPDATE device_heard SET heard_at = heard_at WHERE endpoint_id = $1")
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() == 0 {
            // No committed row to lock: the device's first report is still being written
            // (PostgreSQL's UPDATE skips a row another transaction is inserting). Reading its
            // state unlocked would let that writer and this clearing lock the device's
            // properties in opposite orders and deadlock; what it owes is taken after it
            // commits, by its own taker or the owed-reports sweep.
            tx.commit().await?;
            return Ok(0);
        }
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_state WHERE endpoint_id = $1 ORDER BY property"
        ))
        .bind(endpoint_id)
        .fetch_all(&mut *tx)
        .await?;
        let properties: Vec<StoredProperty> = rows.iter().map(stored).collect::<Result<_, _>>()?;
        if properties.iter().all(|p| p.owed_since.is_none()) {
            tx.commit().await?;
            return Ok(0);
        }
        let events = build(&properties);
        insert_events(&mut tx, self.backend(), &events).await?;
        sqlx::query("UPDATE device_state SET report_cause = NULL, owed_since = NULL WHERE endpoint_id = $1")
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(events.len())
    }

    /// Takes the reports owed by many devices in one transaction, as [`Store::take_report`]
    /// takes one: `build` turns each owing device's properties into outbox rows. Many sensors
    /// changing at once cost a few statements, not a transaction each, so that the state
    /// writer is not starved of SQLite's one write lock. Returns how many rows were written.
    pub async fn take_reports(
        &self,
        endpoint_ids: &[String],
        mut build: impl FnMut(&str, &[StoredProperty]) -> Vec<NewEvent>,
    ) -> Result<usize, StoreError> {
        let mut ids: Vec<&str> = endpoint_ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut written = 0;
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match self.take_reports_once(chunk, &mut build).await {
                    Err(e) if retryable(&e) && attempt < BATCH_ATTEMPTS => {
                        tokio::time::sleep(std::time::Duration::from_millis(10 * attempt as u64)).await;
                    }
                    Err(e) => return Err(e),
                    Ok(n) => {
                        written += n;
                        break;
                    }
                }
            }
        }
        Ok(written)
    }

    async fn take_reports_once(
        &self,
        ids: &[&str],
        build: &mut impl FnMut(&str, &[StoredProperty]) -> Vec<NewEvent>,
    ) -> Result<usize, StoreError> {
        let b = self.backend();
        let list = |first: usize| -> String {
            (first..first + ids.len())
                .map(|n| crate::db::param(b, n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut tx = self.writer.begin().await?;
        // The devices' rows first, as record_state and record_states lock them.
        // Only the devices whose rows were locked are read on: one whose first report is
        // still being written has no committed row yet (see take_report).
        let lock = format!(
            "UPDATE device_heard SET heard_at = heard_at WHERE endpoint_id IN ({}) RETURNING endpoint_id",
            list(1)
        );
        let mut q = sqlx::query(&lock);
        for id in ids {
            q = q.bind(*id);
        }
        let locked: std::collections::HashSet<String> = q
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("endpoint_id"))
            .collect::<Result<_, _>>()?;
        let read = format!(
            "SELECT endpoint_id, {COLUMNS} FROM device_state WHERE endpoint_id IN ({}) ORDER BY endpoint_id, property",
            list(1)
        );
        let mut q = sqlx::query(&read);
        for id in ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&mut *tx).await?;
        let mut by_device: std::collections::BTreeMap<String, Vec<StoredProperty>> = Default::default();
        for r in &rows {
            by_device
                .entry(r.try_get("endpoint_id")?)
                .or_default()
                .push(stored(r)?);
        }
        let mut events = Vec::new();
        let mut owing = Vec::new();
        for (id, properties) in &by_device {
            if locked.contains(id) && properties.iter().any(|p| p.owed_since.is_some()) {
                events.extend(build(id, properties));
                owing.push(id.clone());
            }
        }
        if owing.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        insert_events(&mut tx, b, &events).await?;
        let clear: Vec<String> = (1..=owing.len()).map(|n| crate::db::param(b, n)).collect();
        let sql = format!(
            "UPDATE device_state SET report_cause = NULL, owed_since = NULL WHERE endpoint_id IN ({})",
            clear.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for id in &owing {
            q = q.bind(id.clone());
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(events.len())
    }

    /// Every endpoint as last announced to Alexa: (endpoint id, discovery JSON).
    pub async fn announced_endpoints(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows =
            sqlx::query("SELECT endpoint_id, discovery FROM discovered_endpoints ORDER BY endpoint_id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|r| Ok((r.try_get("endpoint_id")?, r.try_get("discovery")?)))
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Records the endpoints now announced (`current`, complete) and writes the events that
    /// announce the change, in one transaction: a crash leaves either both or neither.
    pub async fn announce_endpoints(
        &self,
        current: &[(String, String)],
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM discovered_endpoints")
            .execute(&mut *tx)
            .await?;
        for (id, discovery) in current {
            sqlx::query("INSERT INTO discovered_endpoints (endpoint_id, discovery) VALUES ($1, $2)")
                .bind(id.clone())
                .bind(discovery.clone())
                .execute(&mut *tx)
                .await?;
        }
        insert_events(&mut tx, self.backend(), events).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    async fn stores() -> Vec<Store> {
        testing::stores().await
    }

    fn v(property: &str, value: &str) -> Reported {
        Reported {
            property: property.to_owned(),
            value: value.to_owned(),
            cause: "PHYSICAL_INTERACTION".to_owned(),
        }
    }

    fn voice(property: &str, value: &str) -> Reported {
        Reported {
            cause: "VOICE_INTERACTION".to_owned(),
            ..v(property, value)
        }
    }

    #[tokio::test]
    async fn a_change_is_owed_once_and_a_burst_keeps_its_first_time() {
        for store in stores().await {
            let changed = store
                .record_state(
                    "lamp",
                    &[v("power", "\"ON\""), v("brightness", "40")],
                    1_000,
                    Hearing::Now,
                )
                .await
                .unwrap();
            assert_eq!(changed, ["power", "brightness"]);
            // The same value again: heard, not changed.
            let changed = store
                .record_state("lamp", &[v("power", "\"ON\"")], 1_100, Hearing::Now)
                .await
                .unwrap();
            assert!(changed.is_empty());
            let changed = store
                .record_state("lamp", &[voice("brightness", "80")], 1_200, Hearing::Now)
                .await
                .unwrap();
            assert_eq!(changed, ["brightness"]);
            let state = store.device_state("lamp").await.unwrap();
            assert_eq!(state.heard_at, Some(1_200));
            assert_eq!(state.value("brightness"), Some("80"));
            let brightness = state
                .properties
                .iter()
                .find(|p| p.property == "brightness")
                .unwrap();
            assert_eq!(brightness.owed_since, Some(1_000), "the burst's first change");
            assert_eq!(brightness.report_cause.as_deref(), Some("VOICE_INTERACTION"));

            assert!(store.owed_reports(999).await.unwrap().is_empty());
            assert_eq!(store.owed_reports(1_000).await.unwrap(), ["lamp"]);

            // A retained message is not proof of life once the device has been heard; rask's
            // own conclusions never are.
            store
                .record_state("lamp", &[v("power", "\"OFF\"")], 2_000, Hearing::IfNever)
                .await
                .unwrap();
            let silent = store
                .record_state(
                    "lamp",
                    &[v("connectivity", "{}")],
                    3_000,
                    Hearing::SilentSince(1_200),
                )
                .await
                .unwrap();
            assert!(silent.is_empty(), "heard at 1200, not before: not silent");
            let silent = store
                .record_state(
                    "lamp",
                    &[v("connectivity", "{}")],
                    3_000,
                    Hearing::SilentSince(1_201),
                )
                .await
                .unwrap();
            assert_eq!(silent, ["connectivity"]);
            assert_eq!(store.device_state("lamp").await.unwrap().heard_at, Some(1_200));
            store
                .record_state("new", &[v("power", "\"OFF\"")], 2_000, Hearing::IfNever)
                .await
                .unwrap();
            assert_eq!(store.device_state("new").await.unwrap().heard_at, Some(2_000));
        }
    }

    /// Changes recorded while reports are taken, from many tasks at once (two instances'
    /// worth): every change is reported or still owed, and PostgreSQL aborts nothing. Each
    /// round is a fresh lamp, so that takers also meet a device whose first report is still
    /// being written (the deadlock CI once hit: a taker that found no row to lock).
    #[tokio::test]
    async fn recording_and_taking_at_once_lose_nothing_and_never_deadlock() {
        for store in stores().await {
            let user = store.add_user("u-bob", "bob", "not-a-real-hash").await.unwrap();
            for round in 0..12 {
                let lamp = format!("lamp-{round}");
                let writers: Vec<_> = (0..4)
                    .map(|w| {
                        let (store, lamp) = (store.clone(), lamp.clone());
                        tokio::spawn(async move {
                            for i in 0..8 {
                                // Alternate property order, so that lock order would matter.
                                let mut values = vec![
                                    v("power", &format!("\"{w}-{i}\"")),
                                    v("brightness", &format!("{i}")),
                                ];
                                if (i + w) % 2 == 0 {
                                    values.reverse();
                                }
                                store
                                    .record_state(&lamp, &values, crate::now_ms(), Hearing::Now)
                                    .await
                                    .unwrap();
                            }
                        })
                    })
                    .collect();
                let reported = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
                let collect = |reported: &std::sync::Mutex<std::collections::HashSet<String>>,
                               props: &[StoredProperty]| {
                    let mut seen = reported.lock().unwrap();
                    for p in props.iter().filter(|p| p.owed_since.is_some()) {
                        seen.insert(p.value.clone());
                    }
                };
                let takers: Vec<_> = (0..2)
                    .map(|t| {
                        let (store, user, reported, lamp) =
                            (store.clone(), user.id.clone(), reported.clone(), lamp.clone());
                        tokio::spawn(async move {
                            for _ in 0..12 {
                                let event = |props: &[StoredProperty]| {
                                    collect(&reported, props);
                                    vec![NewEvent {
                                        id: format!("ev-{}", uuid_like()),
                                        user_id: user.clone(),
                                        endpoint_id: lamp.clone(),
                                        kind: "ChangeReport".into(),
                                        event: "{}".into(),
                                        created_at: 0,
                                        expires_at: 1,
                                    }]
                                };
                                // One taker takes device by device, the other in batches.
                                if t == 0 {
                                    store.take_report(&lamp, event).await.unwrap();
                                } else {
                                    store
                                        .take_reports(std::slice::from_ref(&lamp), |_, props| event(props))
                                        .await
                                        .unwrap();
                                }
                                tokio::task::yield_now().await;
                            }
                        })
                    })
                    .collect();
                for t in writers.into_iter().chain(takers) {
                    t.await.unwrap();
                }
                // Whatever is still owed is taken now; then nothing is left, and the lamp's
                // last value was in some report.
                store
                    .take_report(&lamp, |props| {
                        collect(&reported, props);
                        vec![]
                    })
                    .await
                    .unwrap();
                assert!(store.owed_reports(i64::MAX).await.unwrap().is_empty());
                let state = store.device_state(&lamp).await.unwrap();
                let last = state.value("power").unwrap().to_owned();
                assert!(
                    reported.lock().unwrap().contains(&last),
                    "{last} was never reported"
                );
            }
        }
    }

    /// A batch is recorded as the same reports one by one would be: each change seen (a value
    /// and back again within one batch included), a retained message proving life only for a
    /// device never heard, rask's own silence conclusion in its place.
    #[tokio::test]
    async fn a_batch_records_what_the_same_reports_one_by_one_would() {
        for store in stores().await {
            let w = |id: &str, at: i64, hearing: Hearing, values: &[(&str, &str)]| StateWrite {
                endpoint_id: id.into(),
                values: values.iter().map(|(p, v)| super::tests::v(p, v)).collect(),
                at,
                hearing,
            };
            store
                .record_state("old", &[v("power", "\"OFF\"")], 500, Hearing::Now)
                .await
                .unwrap();
            store.take_report("old", |_| Vec::new()).await.unwrap();
            let batch = vec![
                w(
                    "lamp",
                    1_000,
                    Hearing::Now,
                    &[("power", "\"ON\""), ("brightness", "10")],
                ),
                w("lamp", 1_001, Hearing::Now, &[("power", "\"OFF\"")]),
                w("lamp", 1_002, Hearing::Now, &[("power", "\"ON\"")]),
                w("door", 1_003, Hearing::IfNever, &[("contact", "\"DETECTED\"")]),
                w("old", 1_004, Hearing::IfNever, &[("power", "\"OFF\"")]),
                w("old", 1_005, Hearing::SilentSince(900), &[("connectivity", "{}")]),
                w("lamp", 1_006, Hearing::Now, &[("brightness", "10")]),
            ];
            let changed = store.record_states(&batch, "me").await.unwrap();
            assert_eq!(
                changed,
                vec![
                    vec!["power".to_owned(), "brightness".to_owned()],
                    vec!["power".to_owned()],
                    vec!["power".to_owned()],
                    vec!["contact".to_owned()],
                    vec![],
                    vec!["connectivity".to_owned()],
                    vec![],
                ]
            );
            let lamp = store.device_state("lamp").await.unwrap();
            assert_eq!(
                (lamp.heard_at, lamp.value("power")),
                (Some(1_006), Some("\"ON\""))
            );
            let owed = lamp.properties.iter().find(|p| p.property == "power").unwrap();
            assert_eq!(
                owed.owed_since,
                Some(1_000),
                "the burst owes one report from its first change"
            );
            assert_eq!(
                store.device_state("door").await.unwrap().heard_at,
                Some(1_003),
                "never heard: retained counts"
            );
            assert_eq!(
                store.device_state("old").await.unwrap().heard_at,
                Some(500),
                "heard before: retained does not count"
            );
            let mut owed = store.owed_reports(i64::MAX).await.unwrap();
            owed.sort();
            assert_eq!(owed, ["door", "lamp", "old"]);
        }
    }

    /// Two instances' writers (batches over the same devices, in any order) and report takers
    /// at once: PostgreSQL aborts nothing for good, and every device's last value is stored.
    #[tokio::test]
    async fn batches_from_two_instances_and_takers_never_deadlock() {
        for store in stores().await {
            let user = store.add_user("u-c", "carol", "h").await.unwrap();
            let devices = ["a", "b", "c", "d"];
            let writers: Vec<_> = (0..4)
                .map(|w| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        for i in 0..20 {
                            let mut batch: Vec<StateWrite> = devices
                                .iter()
                                .map(|d| StateWrite {
                                    endpoint_id: (*d).into(),
                                    values: vec![
                                        v("power", &format!("\"{w}-{i}\"")),
                                        v("brightness", &format!("{i}")),
                                    ],
                                    at: crate::now_ms(),
                                    hearing: Hearing::Now,
                                })
                                .collect();
                            if (w + i) % 2 == 0 {
                                batch.reverse();
                            }
                            store.record_states(&batch, &format!("w{w}")).await.unwrap();
                        }
                    })
                })
                .collect();
            let takers: Vec<_> = (0..2)
                .map(|_| {
                    let (store, user) = (store.clone(), user.id.clone());
                    tokio::spawn(async move {
                        for _ in 0..20 {
                            for d in ["d", "a", "c", "b"] {
                                store
                                    .take_report(d, |_| {
                                        vec![NewEvent {
                                            id: uuid_like(),
                                            user_id: user.clone(),
                                            endpoint_id: d.into(),
                                            kind: "ChangeReport".into(),
                                            event: "{}".into(),
                                            created_at: 0,
                                            expires_at: 1,
                                        }]
                                    })
                                    .await
                                    .unwrap();
                            }
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in writers.into_iter().chain(takers) {
                t.await.unwrap();
            }
            for d in devices {
                let s = store.device_state(d).await.unwrap();
                assert_eq!(s.properties.len(), 2, "{d}: {s:?}");
            }
        }
    }

    #[tokio::test]
    async fn taking_a_report_writes_its_rows_and_clears_the_debt_together() {
        for store in stores().await {
            let user = store
                .add_user("u-alice", "alice", "not-a-real-hash")
                .await
                .unwrap();
            store
                .record_state("door", &[v("contact", "\"DETECTED\"")], 5_000, Hearing::Now)
                .await
                .unwrap();
            let build = |props: &[StoredProperty]| {
                assert_eq!(props[0].report_cause.as_deref(), Some("PHYSICAL_INTERACTION"));
                vec![NewEvent {
                    id: uuid_like(),
                    user_id: user.id.clone(),
                    endpoint_id: "door".into(),
                    kind: "ChangeReport".into(),
                    event: "{}".into(),
                    created_at: 5_500,
                    expires_at: 65_500,
                }]
            };
            assert_eq!(store.take_report("door", build).await.unwrap(), 1);
            assert_eq!(store.pending_events().await.unwrap(), 1);
            // Nothing owed any more: a second taker (another instance) writes nothing.
            assert_eq!(
                store
                    .take_report("door", |_| panic!("nothing is owed"))
                    .await
                    .unwrap(),
                0
            );
            assert!(store.owed_reports(i64::MAX).await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn announced_endpoints_are_replaced_whole() {
        for store in stores().await {
            let e = |id: &str| (id.to_owned(), format!("{{\"endpointId\":\"{id}\"}}"));
            store.announce_endpoints(&[e("a"), e("b")], &[]).await.unwrap();
            store.announce_endpoints(&[e("b"), e("c")], &[]).await.unwrap();
            let ids: Vec<String> = store
                .announced_endpoints()
                .await
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert_eq!(ids, ["b", "c"]);
        }
    }

    fn uuid_like() -> String {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        format!("{}-{}", crate::now_ms(), N.fetch_add(1, Ordering::Relaxed))
    }
}
