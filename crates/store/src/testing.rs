//! Fresh, empty databases for tests: a SQLite file in a temporary directory, and a new
//! PostgreSQL database on the server named by `RASK_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), so that tests never see each other's rows.

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

use crate::db::Store;

/// The PostgreSQL server tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("RASK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        t % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The URL of a new SQLite database file.
pub fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join(unique("rask_sqlite"));
    format!("sqlite://{}/rask.db", dir.display())
}

/// The URL of a new, empty PostgreSQL database on the test server. Panics with a clear message
/// when the server cannot be reached: scripts/test starts one.
pub async fn postgres_url() -> String {
    let admin = postgres_admin_url();
    postgres_url_on(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed (scripts/test starts it): {e}"))
}

/// The URL of a new, empty database on the PostgreSQL server of `admin`.
pub async fn postgres_url_on(admin: &str) -> Result<String, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(admin).await?;
    let name = unique("rask_test");
    pool.execute(format!("CREATE DATABASE {name}").as_str()).await?;
    pool.close().await;
    let base = admin.split('?').next().unwrap_or(admin);
    let base = base
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or_else(|| base.to_owned());
    Ok(format!("{base}/{name}"))
}

/// One fresh store of each kind: SQLite first, then PostgreSQL.
pub async fn both() -> Vec<Store> {
    vec![
        Store::connect(&sqlite_url()).await.expect("a SQLite store"),
        Store::connect(&postgres_url().await)
            .await
            .expect("a PostgreSQL store"),
    ]
}

/// A fresh store on each database: SQLite, then PostgreSQL.
pub async fn stores() -> Vec<Store> {
    vec![
        Store::connect(&sqlite_url()).await.expect("a SQLite store"),
        Store::connect(&postgres_url().await)
            .await
            .expect("a PostgreSQL store"),
    ]
}
