//! Telling the other rask instances on one PostgreSQL database what changed, so that what each
//! keeps in memory (device states, token answers) follows writes made elsewhere at once: a
//! writer calls `pg_notify` inside its transaction (PostgreSQL delivers it on commit, and not
//! at all on rollback), and every instance listens ([`Store::watch`]). On SQLite there is one
//! instance and nothing to tell.

use crate::db::{Backend, Store, StoreError};

/// The channel for device states: payload `instance|id,id,...`.
const DEVICES: &str = "rask_device_state";
/// The channel for revocations: payload `family:ID` or `user:ID`.
const REVOKED: &str = "rask_revoked";
/// PostgreSQL's payload limit is 8000 bytes; stay well inside it.
const MAX_PAYLOAD: usize = 7000;

/// Something another instance (or this one) changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// These devices' states were written by `instance`.
    Devices {
        /// The writer's name ([`Store::instance`]).
        instance: String,
        /// The devices.
        ids: Vec<String>,
    },
    /// A token family was revoked.
    FamilyRevoked(String),
    /// Every link of a user was revoked, or the user removed.
    UserRevoked(String),
    /// The listener reconnected and may have missed notices: forget everything kept.
    Resync,
}

impl Store {
    /// This process's name in the notices it sends, so that it can skip its own.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub(crate) async fn notify_devices_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        instance: &str,
        ids: &[String],
    ) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres || ids.is_empty() {
            return Ok(());
        }
        for payload in payloads(instance, ids) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(DEVICES)
                .bind(payload)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn notify_devices(&self, instance: &str, ids: &[String]) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres || ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        self.notify_devices_in(&mut tx, instance, ids).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn notify_revoked(&self, what: &str) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(REVOKED)
            .bind(what)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The notices of every instance, this one's included, while the process runs; `None` on
    /// SQLite. The listener reconnects by itself, and says [`Notice::Resync`] when it has.
    pub async fn watch(&self) -> Result<Option<tokio::sync::mpsc::UnboundedReceiver<Notice>>, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = connect(&self.url).await?;
        let (send, receive) = tokio::sync::mpsc::unbounded_channel();
        let url = self.url.clone();
        tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) => {
                        if let Some(notice) = parse(n.channel(), n.payload()) {
                            if send.send(notice).is_err() {
                                return;
                            }
                        }
                    }
                    // The connection was lost and is made again on the next call: notices
                    // may have been missed meanwhile.
                    Ok(None) => {
                        if send.send(Notice::Resync).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the PostgreSQL notice listener failed; reconnecting");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        match connect(&url).await {
                            Ok(l) => {
                                listener = l;
                                if send.send(Notice::Resync).is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "the PostgreSQL notice listener cannot reconnect")
                            }
                        }
                    }
                }
            }
        });
        Ok(Some(receive))
    }
}

async fn connect(url: &str) -> Result<sqlx::postgres::PgListener, StoreError> {
    let mut l = sqlx::postgres::PgListener::connect(url).await?;
    l.listen_all([DEVICES, REVOKED]).await?;
    Ok(l)
}

fn payloads(instance: &str, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = format!("{instance}|");
    let empty = current.len();
    for id in ids {
        if current.len() + id.len() + 1 > MAX_PAYLOAD && current.len() > empty {
            out.push(std::mem::replace(&mut current, format!("{instance}|")));
        }
        if current.len() > empty {
            current.push(',');
        }
        current.push_str(id);
    }
    if current.len() > empty {
        out.push(current);
    }
    out
}

fn parse(channel: &str, payload: &str) -> Option<Notice> {
    match channel {
        DEVICES => {
            let (instance, ids) = payload.split_once('|')?;
            Some(Notice::Devices {
                instance: instance.to_owned(),
                ids: ids
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
        }
        REVOKED => match payload.split_once(':')? {
            ("family", id) => Some(Notice::FamilyRevoked(id.to_owned())),
            ("user", id) => Some(Notice::UserRevoked(id.to_owned())),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_fit_and_parse_back() {
        let ids: Vec<String> = (0..500)
            .map(|i| format!("device-{i:04}-{}", "x".repeat(20)))
            .collect();
        let ps = payloads("inst", &ids);
        assert!(ps.len() > 1);
        let mut back = Vec::new();
        for p in &ps {
            assert!(p.len() <= MAX_PAYLOAD);
            match parse(DEVICES, p).unwrap() {
                Notice::Devices { instance, ids } => {
                    assert_eq!(instance, "inst");
                    back.extend(ids);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(back, ids);
        assert_eq!(
            parse(REVOKED, "family:f1"),
            Some(Notice::FamilyRevoked("f1".into()))
        );
        assert_eq!(parse(REVOKED, "user:u1"), Some(Notice::UserRevoked("u1".into())));
        assert_eq!(parse(REVOKED, "nonsense"), None);
    }
}
