//! Handlers, interceptors and error handlers: plain async functions (or anything implementing
//! the small traits here), as axum handlers are.
//!
//! ```
//! use rask_skill::{HandlerError, HandlerInput, ResponseBuilder};
//!
//! async fn launch(input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
//!     let visits = input.session_attribute("visits").and_then(|v| v.as_u64()).unwrap_or(0);
//!     input.set_session_attribute("visits", visits + 1);
//!     Ok(ResponseBuilder::new().speak("Welcome!").reprompt("What now?"))
//! }
//! ```

use std::future::Future;

use crate::attributes::BoxFuture;
use crate::builder::ResponseBuilder;
use crate::input::HandlerInput;
use crate::skill::SkillError;

/// What a handler failed with: any error, as `anyhow::Error` carries one, so that `?` works
/// on whatever a handler calls. Given to the error handlers and logged with the request id.
pub struct HandlerError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl HandlerError {
    /// An error from a message.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        HandlerError(message.to_string().into())
    }

    /// The error inside.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(e: E) -> Self {
        HandlerError(Box::new(e))
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

/// What a handler returns.
pub type HandlerResult = Result<ResponseBuilder, HandlerError>;

/// Handles a request.
pub trait Handler: Send + Sync + 'static {
    /// Builds the response.
    fn handle(&self, input: HandlerInput) -> BoxFuture<'static, HandlerResult>;
}

impl<F, Fut> Handler for F
where
    F: Fn(HandlerInput) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn handle(&self, input: HandlerInput) -> BoxFuture<'static, HandlerResult> {
        Box::pin(self(input))
    }
}

/// Runs before the handler, in the order added; an error skips the handler and goes to the
/// error handlers.
pub trait RequestInterceptor: Send + Sync + 'static {
    /// Looks at, or adds to, the input.
    fn process(&self, input: HandlerInput) -> BoxFuture<'static, Result<(), HandlerError>>;
}

impl<F, Fut> RequestInterceptor for F
where
    F: Fn(HandlerInput) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn process(&self, input: HandlerInput) -> BoxFuture<'static, Result<(), HandlerError>> {
        Box::pin(self(input))
    }
}

/// Runs after the handler (or an error handler), in the order added, on its response.
pub trait ResponseInterceptor: Send + Sync + 'static {
    /// Looks at, or changes, the response.
    fn process(&self, input: HandlerInput, response: ResponseBuilder) -> BoxFuture<'static, HandlerResult>;
}

impl<F, Fut> ResponseInterceptor for F
where
    F: Fn(HandlerInput, ResponseBuilder) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn process(&self, input: HandlerInput, response: ResponseBuilder) -> BoxFuture<'static, HandlerResult> {
        Box::pin(self(input, response))
    }
}

/// Answers when something failed: a handler, an interceptor, the persistence layer, a
/// response over Alexa's limits, or no handler for the request.
pub trait ErrorHandler: Send + Sync + 'static {
    /// Builds the response for the error.
    fn handle(
        &self,
        input: HandlerInput,
        error: std::sync::Arc<SkillError>,
    ) -> BoxFuture<'static, HandlerResult>;
}

impl<F, Fut> ErrorHandler for F
where
    F: Fn(HandlerInput, std::sync::Arc<SkillError>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn handle(
        &self,
        input: HandlerInput,
        error: std::sync::Arc<SkillError>,
    ) -> BoxFuture<'static, HandlerResult> {
        Box::pin(self(input, error))
    }
}
