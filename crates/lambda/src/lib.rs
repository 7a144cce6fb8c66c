//! rask's forwarder: the AWS Lambda function Amazon calls with each smart-home directive.
//! Amazon reaches a smart-home skill only through a Lambda in the user's region, so this one
//! passes the directive unchanged to `RASK_URL/alexa/smarthome`, signed
//! ([`rask_model::forwarder`]) and naming its AWS region, and returns rask's answer.
//!
//! It never fails as a Lambda: a rask that is down or slower than the deadline becomes
//! `BRIDGE_UNREACHABLE`, an answer that is not an Alexa event `INTERNAL_ERROR` (for
//! `AcceptGrant`, `ACCEPT_GRANT_FAILED`), so that Alexa tells the user something true.
//!
//! - [`settings`]: the environment variables it reads;
//! - [`forward`]: one directive there and its answer back.

pub mod forward;
pub mod settings;
#[cfg(feature = "testing")]
pub mod testing;

pub use forward::Forwarder;
pub use settings::{Settings, SettingsError};
