//! The bridge between a home's devices and Alexa.
//!
//! - [`devices`]: the device registry and what each kind of device tells Alexa in discovery;
//! - [`smarthome`]: `POST /alexa/smarthome`, where Alexa's directives arrive (through the
//!   forwarder Lambda): AcceptGrant, Discover, and Alexa's own error answers.

pub mod devices;
pub mod smarthome;

pub use devices::{Device, DeviceKind, Registry};
pub use smarthome::{SmartHome, router};
