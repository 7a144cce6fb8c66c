//! Custom skills: the request envelope Alexa posts to a skill and the response it expects.
//!
//! Request types this version does not model are kept as [`RequestBody::Other`] and response
//! directives as [`ResponseDirective::Other`]: a skill sees them and can say it does not know
//! them, rather than failing to read the request at all.

mod gadgets;
mod request;
mod response;

pub use gadgets::{
    EventFilter, EventsReceived, Expiration, Expired, FilterMatchAction, GadgetEndpoint, GadgetEvent,
    GadgetHeader, SendDirective, StartEventHandler, StopEventHandler,
};
pub use request::{
    Application, Device, Intent, IntentRequest, MessageReceived, Person, Request, RequestBody,
    RequestEnvelope, Resolution, ResolutionValue, Resolutions, Session, SessionEndedError,
    SessionEndedRequest, Slot, SystemState, User,
};
pub use response::{
    Card, Image, OutputSpeech, PlayBehavior, Reprompt, Response, ResponseDirective, ResponseEnvelope,
};
