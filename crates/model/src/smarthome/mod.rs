//! Smart Home API v3: directives Alexa sends to a skill and the events a skill sends back or
//! pushes to the Alexa Event Gateway.
//!
//! A directive message is `{"directive": {header, endpoint?, payload}}` ([`DirectiveMessage`]);
//! an event message is `{"event": {header, endpoint?, payload}, "context"?: {properties}}`
//! ([`EventMessage`]). The header's `namespace` and `name` decide the payload's type; a pair
//! this version does not know is kept as raw JSON (`Unknown`).

mod directive;
mod discovery;
mod error;
mod event;
mod header;
mod interfaces;
mod property;
pub mod rules;

pub use directive::{Directive, DirectiveMessage, DirectivePayload};
pub use discovery::{
    AdditionalAttributes, Capability, CapabilityProperties, DiscoveryEndpoint, DisplayCategory,
    SupportedProperty,
};
pub use error::{DeviceMode, ErrorPayload, ErrorType};
pub use event::{
    AddOrUpdateReportPayload, Cause, CauseType, Change, ChangeReportPayload, Context,
    DeferredResponsePayload, DeleteReportPayload, DeletedEndpoint, DiscoverResponsePayload, Event,
    EventMessage, EventPayload, TimestampedCause, splice_scope_token,
};
pub use header::{DirectiveEndpoint, Empty, EventEndpoint, Header, PAYLOAD_VERSION, Scope, new_message_id};
pub use interfaces::*;
pub use property::{
    Connectivity, DetectionState, LockState, PowerState, Property, Temperature, TemperatureScale,
};
