//! rask-skill: custom Alexa skills in Rust, with what users of the ASK SDKs for Python and
//! Node know (handlers, interceptors, error handlers, attributes, a response builder) as plain
//! async functions, and Amazon's request verification.
//!
//! ```no_run
//! use rask_skill::{HandlerError, HandlerInput, ResponseBuilder, Skill};
//!
//! async fn launch(_: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
//!     Ok(ResponseBuilder::new().speak("Hello from Rust.").reprompt("Say ring the bell."))
//! }
//!
//! async fn ring(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
//!     let room = input.slot_value("room").unwrap_or("front door");
//!     Ok(ResponseBuilder::new().speak(format!("Ringing the {room}.")).end_session(Some(true)))
//! }
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let skill = Skill::builder()
//!     .skill_id("amzn1.ask.skill.example")
//!     .on_launch(launch)
//!     .on_intent("RingIntent", ring)
//!     .build();
//! let verifier = rask_skill::verify::Verifier::amazon();
//! let app = axum::Router::new().nest("/alexa/skill", rask_skill::service::router(skill, Some(verifier)));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! - [`skill`]: the skill, its routing and the one path a request takes;
//! - [`handler`]: the handler, interceptor and error-handler traits, implemented for async fns;
//! - [`input`]: what handlers are given, with request, session and persistent attributes;
//! - [`attributes`]: the persistence adapter trait; [`store`]: its rask-store implementation;
//! - [`builder`]: the response builder and Alexa's limits;
//! - [`skill_events`]: the skill events that change what may reach a user out of session;
//! - [`gadgets`]: the Echo's gadgets (Endpoint Enumeration once per session), event handlers;
//! - [`ssml`]: escaping text for SSML and checking SSML is well formed;
//! - [`verify`]: Amazon's request verification (signature, certificate chain, timestamp);
//! - [`service`]: the axum router that hosts a skill.

pub mod attributes;
pub mod builder;
pub mod gadgets;
pub mod handler;
pub mod input;
pub mod metrics;
pub mod service;
pub mod skill;
pub mod skill_events;
pub mod ssml;
pub mod store;
pub mod verify;

pub use attributes::{AttributeMap, MemoryPersistence, PersistenceAdapter};
pub use builder::{ResponseBuilder, ResponseError};
pub use gadgets::{EventHandler, Gadget, GadgetError};
pub use handler::{HandlerError, HandlerResult};
pub use input::HandlerInput;
pub use skill::{Answer, Skill, SkillBuilder, SkillError};
pub use skill_events::SkillEvent;
pub use store::StorePersistence;
