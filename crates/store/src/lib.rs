//! rask's persistence.
//!
//! One [`Store`] over SQLite (the default, one file, WAL) or PostgreSQL (several rask instances
//! on one database), chosen by the URL. Both run the same SQL through sqlx's `Any` driver;
//! each has its own migrations where their dialects differ. Times are Unix milliseconds;
//! codes and tokens are stored only as SHA-256 digests ([`digest`]).
//!
//! - [`users`]: the people who link their accounts;
//! - [`sessions`]: browser sessions of the login and consent pages;
//! - [`oauth`]: authorization codes, token families, access and refresh tokens;
//! - [`link_log`]: every step of every linking attempt;
//! - [`grants`], [`outbox`]: users' event grants, and the events on their way to Alexa;
//! - [`device_state`]: what each device last reported, and the change reports owed;
//! - [`retention`]: what housekeeping deletes, by age and by size;
//! - [`notify`]: what one instance tells the others on a shared PostgreSQL database;
//! - [`skills`]: custom skills' persistent attributes and each user's region;
//! - [`service_outbox`]: Skill Messaging messages and Proactive Events on their way to Amazon.

pub mod activity;
mod db;
pub mod device_state;
pub mod evaluations;
pub mod gauges;
pub mod grants;
pub mod link_log;
pub mod notify;
pub mod oauth;
pub mod outbox;
pub mod owners;
pub mod retention;
pub mod sealer;
pub mod service_outbox;
pub mod sessions;
pub mod skills;
pub mod users;

pub use db::{Backend, Store, StoreError, digest, now_ms, redact_url, row_id};
pub mod testing;
