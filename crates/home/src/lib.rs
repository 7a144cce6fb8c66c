//! The bridge between a home's devices and Alexa.
//!
//! - [`devices`]: the device registry and what each kind of device tells Alexa in discovery;
//! - [`capabilities`]: each property in Alexa's words: directives to targets, device reports
//!   to values, the documented errors;
//! - [`smarthome`]: `POST /alexa/smarthome`, where Alexa's directives arrive (through the
//!   forwarder Lambda): AcceptGrant, Discover, and Alexa's own error answers;
//! - [`control`]: control directives and ReportState, published and confirmed over MQTT;
//! - [`state`]: what devices report, kept in memory, stored by one batching writer, awaited;
//! - [`reports`]: what is owed to Alexa: state properties, change reports and their sender;
//! - [`mqtt`]: rask's MQTT client: presses and states in, commands out;
//! - [`commands`]: the publish-only MQTT connection commands go out on, batched;
//! - [`discovery`]: proactive discovery when the configured devices change;
//! - [`forwarder`]: checking the forwarder Lambda's signature, timestamp and nonce;
//! - [`triggers`]: device webhooks (`POST /hooks/devices/{id}/press` and `/state`);
//! - [`delivery`]: the worker that takes the outbox to the Event Gateway;
//! - [`service_queue`]: what a caller asks to send out of session, checked against what rask
//!   knows of the user (region, disabled, subscribed) and queued;
//! - [`handoff`]: received Skill Messaging messages handed on to MQTT (acknowledged) or a
//!   signed webhook;
//! - [`out_of_session`]: the worker that takes Skill Messaging messages and Proactive Events
//!   to Amazon.

pub mod capabilities;
pub mod commands;
pub mod control;
pub mod delivery;
pub mod devices;
pub mod discovery;
pub mod forwarder;
pub mod handoff;
pub mod metrics;
pub mod mqtt;
pub mod out_of_session;
pub mod pipeline;
pub mod reports;
pub mod service_queue;
pub mod smarthome;
pub mod state;
pub mod triggers;

pub use devices::{Device, DeviceKind, Registry};
pub use smarthome::{SmartHome, router};
