//! The connection pool, migrations, and what both backends share.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

/// Errors from the store. Database errors carry sqlx's message, which never contains bound
/// values (and so no secrets).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one rask can use.
    #[error("database url {0:?}: {1}")]
    Url(String, String),
    /// Creating the SQLite file's directory failed.
    #[error("cannot create the database directory {0}: {1}")]
    Directory(String, std::io::Error),
    /// Running the migrations failed.
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row with this unique value exists.
    #[error("{0} already exists")]
    Duplicate(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A value from the network is longer than the store keeps.
    #[error("{field} is {len} bytes; at most {max} are kept")]
    TooLong {
        /// What it is.
        field: String,
        /// Its length in bytes.
        len: usize,
        /// The most kept.
        max: usize,
    },
    /// A write batched with others could not be stored (the batch's error, as text).
    #[error("the write could not be stored: {0}")]
    Batch(String),
    /// The database server could not be reached, or did not let rask in, at first connect.
    #[error("cannot reach the database {0}: {1}")]
    Unreachable(String, String),
    /// [`Store::connect_existing`] found no SQLite file at this path.
    #[error("there is no database at {0}")]
    NoDatabase(String),
}

/// How long the first connection to PostgreSQL may take before rask says it cannot reach it.
const FIRST_CONNECT: std::time::Duration = std::time::Duration::from_secs(5);

/// How often the SQLite write-ahead log is copied into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, one file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The store: a pool on one database.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// Where every write runs, a transaction or a lone statement. On SQLite a pool of one
    /// connection of its own: SQLite takes one
    /// writer at a time, and writers that meet wait in its busy handler, which sleeps for
    /// milliseconds at a time; queued here instead, they wait for one another without
    /// sleeping (the doorbell benchmark's delivery rate rose by about a tenth). Reads keep
    /// `pool`, which WAL lets run beside the writer. On PostgreSQL the same pool as `pool`.
    pub(crate) writer: AnyPool,
    backend: Backend,
    /// The database URL, for PostgreSQL's notice listener; never printed unredacted.
    pub(crate) url: std::sync::Arc<str>,
    /// This process's name in its notices to other instances.
    pub(crate) instance: std::sync::Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

/// A database URL fit to print: the password, if any, is replaced by `***`, whether in the
/// user information or as a `password=` query parameter (PostgreSQL takes both).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((before, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{before}?{}", query.join("&"))
        }
        None => path.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new id for an outbox row: a UUID whose leading bits are the time (version 7), so that
/// rows written together sit together in the id's index. With random ids every row of a
/// group commit landed on a page of its own, and each such page is rewritten into SQLite's
/// WAL (or PostgreSQL's) at the commit; time-ordered, a group's rows share the index's last
/// pages.
pub fn row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The SHA-256 hex digest under which a code or token is stored.
pub fn digest(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in d {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://...`) and runs the migrations. A
    /// SQLite file and its directory are created if missing.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::open(url, true).await
    }

    /// Connects to `url` as [`Store::connect`] does, but never creates a SQLite file: for
    /// commands that read or change what `rask serve` made, which must not leave a fresh
    /// database (and a fresh key beside it) in whatever folder they were run from.
    pub async fn connect_existing(url: &str) -> Result<Store, StoreError> {
        Store::open(url, false).await
    }

    async fn open(url: &str, create: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(
                redact_url(url),
                "use sqlite://PATH or postgres://...".into(),
            ));
        };
        let mut url = url.to_owned();
        if backend == Backend::Sqlite {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            let path = path.split('?').next().unwrap_or("");
            if path.is_empty() || path == ":memory:" {
                return Err(StoreError::Url(url, "give SQLite a file path".into()));
            }
            if !create && !Path::new(path).exists() {
                return Err(StoreError::NoDatabase(path.to_owned()));
            }
            if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Directory(dir.display().to_string(), e))?;
            }
            if !url.contains('?') {
                url.push_str(if create { "?mode=rwc" } else { "?mode=rw" });
            }
        }
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| StoreError::Url(redact_url(&url), e.to_string()))?;
        if backend == Backend::Postgres {
            // One plain connection first, with a short limit: the pool would retry in silence
            // for its whole acquire timeout and then say only "pool timed out".
            use sqlx::Connection;
            let first =
                tokio::time::timeout(FIRST_CONNECT, sqlx::AnyConnection::connect_with(&options)).await;
            let why = match first {
                Ok(Ok(conn)) => {
                    let _ = conn.close().await;
                    None
                }
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no answer within {} s", FIRST_CONNECT.as_secs())),
            };
            if let Some(why) = why {
                return Err(StoreError::Unreachable(redact_url(&url), why));
            }
        }
        let pool = pool_options(backend, if backend == Backend::Sqlite { 4 } else { 10 })
            .connect_with(options.clone())
            .await?;
        let writer = match backend {
            Backend::Sqlite => pool_options(backend, 1).connect_with(options).await?,
            Backend::Postgres => pool.clone(),
        };
        let store = Store {
            pool,
            writer,
            backend,
            url: url.as_str().into(),
            instance: uuid::Uuid::new_v4().simple().to_string().into(),
        };
        if backend == Backend::Sqlite {
            let s = store.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(CHECKPOINT_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    if s.pool.is_closed() {
                        return;
                    }
                    if let Err(e) = s.checkpoint().await {
                        tracing::warn!(error = %e, "the SQLite checkpoint failed");
                    }
                }
            });
        }
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    /// Copies what the SQLite write-ahead log holds into the database file, without waiting
    /// for readers or blocking writers (`PRAGMA wal_checkpoint(PASSIVE)`); runs every second
    /// in the background. Nothing on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// The pool, for tests that look at rows as they are stored.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// How every connection of a pool is set up.
fn pool_options(backend: Backend, connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        // A ping per checkout was 8 % of a directive's time; a broken connection shows as an
        // error on the statement instead, and is replaced.
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers work while the outbox worker writes; a busy timeout
                    // makes concurrent writers wait instead of failing.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    // A checkpoint (the only fsync in WAL mode with synchronous = NORMAL)
                    // would otherwise run inside whichever commit fills the WAL, stalling
                    // the writer for as long as the disk takes; it runs in the background
                    // instead ([`Store::checkpoint`]).
                    conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                }
                Ok(())
            })
        })
}

/// The bind parameter `n` (from 1) of a statement made at run time: `$n` for PostgreSQL, `?`
/// for SQLite. SQLite takes `$n` too, but as a name, and looking a name up walks every name
/// before it: binding a 700-parameter batch that way cost more than running it. Parameters
/// must appear in the text in the order of their numbers.
pub(crate) fn param(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("${n}"),
        Backend::Sqlite => "?".to_owned(),
    }
}

/// `(p1, ..., p_width), ...` for `rows` rows, numbered from `first`: the `VALUES` list of a
/// multi-row statement.
pub(crate) fn values_list(backend: Backend, rows: usize, width: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (0..width)
                .map(|c| param(backend, first + r * width + c))
                .collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A subquery of the strings in the JSON array bound as parameter `n`. A list bound as one
/// JSON parameter keeps the statement's text the same whatever its length, so the prepared
/// statement is cached; an `IN (?, ?, ...)` list is a new statement, parsed and planned
/// again, for every length (and on the delivery path the lengths change batch by batch).
pub(crate) fn json_strings(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("SELECT jsonb_array_elements_text(${n}::jsonb)"),
        Backend::Sqlite => "SELECT value FROM json_each(?)".to_owned(),
    }
}

/// The rows of the JSON array of arrays bound as parameter `n`, in the array's order, one
/// column per entry of `integer` (true: an integer column, false: text): the `SELECT` of a
/// multi-row `INSERT` whose text does not depend on how many rows it carries.
pub(crate) fn json_rows(backend: Backend, n: usize, integer: &[bool]) -> String {
    let columns: Vec<String> = integer
        .iter()
        .enumerate()
        .map(|(i, &int)| match (backend, int) {
            (Backend::Postgres, true) => format!("(e->>{i})::bigint"),
            (Backend::Postgres, false) => format!("e->>{i}"),
            (Backend::Sqlite, _) => format!("value->>{i}"),
        })
        .collect();
    match backend {
        Backend::Postgres => format!(
            "SELECT {} FROM jsonb_array_elements(${n}::jsonb) WITH ORDINALITY AS t(e, i) ORDER BY i",
            columns.join(", ")
        ),
        Backend::Sqlite => format!("SELECT {} FROM json_each(?) ORDER BY key", columns.join(", ")),
    }
}

/// Maps a unique-constraint violation to [`StoreError::Duplicate`].
pub(crate) fn duplicate(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate(what.to_owned()),
        _ => StoreError::Db(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_lowercase_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn passwords_never_print() {
        assert_eq!(
            redact_url("postgres://rask:s3cret@db.example:5432/rask"),
            "postgres://rask:***@db.example:5432/rask"
        );
        assert_eq!(redact_url("postgres://rask@db/rask"), "postgres://rask@db/rask");
        assert_eq!(
            redact_url("postgres://rask@db/rask?sslmode=require&password=hunter2"),
            "postgres://rask@db/rask?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("sqlite://rask-data/rask.db"),
            "sqlite://rask-data/rask.db"
        );
    }
}
