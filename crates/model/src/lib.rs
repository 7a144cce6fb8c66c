//! Alexa's wire formats as Rust types.
//!
//! Everything that crosses the wire between Alexa and a skill, in both directions, with no I/O:
//!
//! - [`smarthome`]: Smart Home API v3 directives (Alexa → skill) and events (skill → Alexa),
//!   discovery endpoints and capabilities, context properties, `ErrorResponse` types;
//! - [`custom`]: the custom-skill request and response envelopes, including gadget
//!   (`CustomInterfaceController`) directives and events;
//! - [`lwa`]: Login with Amazon token requests, responses and errors;
//! - [`messaging`] and [`proactive`]: the Skill Messaging and Proactive Events request bodies,
//!   and [`proactive_schemas`]: the eight event schemas' fields and allowed values;
//! - [`forwarder`]: how rask's forwarder Lambda signs what it passes on, and names its region;
//! - [`limits`]: Alexa's documented limits (24 KB responses, id rules, name lengths);
//! - [`check`]: a verdict on an arbitrary JSON document: which kind of Alexa message it is and
//!   every rule it breaks, with the JSON path of each.
//!
//! With the `schema` feature, [`schema`] embeds the official Smart Home message schema and
//! validates events against it.
//!
//! Unknown request types, directives, events and response directives never fail to parse:
//! they are kept as raw JSON in an `Unknown`/`Other` variant so that a caller can report them.

pub mod check;
pub mod custom;
pub mod forwarder;
pub mod limits;
pub mod lwa;
pub mod messaging;
pub mod proactive;
pub mod proactive_schemas;
pub mod region;
#[cfg(feature = "schema")]
pub mod schema;
pub mod smarthome;
pub mod timestamp;
mod wire_enum;

pub use serde_json::{Map, Value};
