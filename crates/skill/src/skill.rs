//! A skill: its handlers in the order they were added, its interceptors and error handlers,
//! and the one way a request goes through them ([`Skill::invoke`]).
//!
//! Routing is the ASK SDKs': the first handler whose match accepts the request handles it
//! (by request type, by intent name, by a type family such as `AlexaSkillEvent.`, or by any
//! predicate), then the fallback. Whatever fails, Alexa gets a valid response: the first error
//! handler's, or a spoken apology; the error is logged with the request id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rask_model::custom::{
    FilterMatchAction, RequestBody, RequestEnvelope, ResponseDirective, ResponseEnvelope,
};
use rask_model::limits::logged;
use thiserror::Error;

use crate::attributes::{AttributesError, PersistenceAdapter};
use crate::builder::{self, ResponseBuilder, ResponseError};
use crate::gadgets::{EVENT_HANDLER_KEY, EVENT_HANDLER_ONCE_KEY};
use crate::handler::{ErrorHandler, Handler, HandlerError, RequestInterceptor, ResponseInterceptor};
use crate::input::HandlerInput;
use crate::skill_events::SkillEvent;

/// What went wrong while answering a request; error handlers get it.
#[derive(Debug, Error)]
pub enum SkillError {
    /// A handler or interceptor failed.
    #[error("the handler failed: {0}")]
    Handler(HandlerError),
    /// No handler takes this request, and there is no fallback.
    #[error("no handler takes {0}")]
    NoHandler(String),
    /// The response breaks one of Alexa's limits.
    #[error("the response cannot be sent: {0}")]
    Response(#[from] ResponseError),
    /// Persistent attributes could not be loaded or saved.
    #[error(transparent)]
    Attributes(#[from] AttributesError),
    /// A skill event (the user disabled the skill, changed subscriptions) could not be
    /// recorded.
    #[error("the skill event could not be recorded: {0}")]
    SkillEvent(String),
}

/// What [`Skill::invoke`] answers: always a response Alexa accepts, and the error, if there
/// was one, that it answers for.
#[derive(Debug)]
pub struct Answer {
    /// The response.
    pub envelope: ResponseEnvelope,
    /// The response's JSON, as sent.
    pub bytes: Vec<u8>,
    /// What failed, if the response is an error handler's or the apology.
    pub error: Option<Arc<SkillError>>,
    /// Whether Alexa should send the request again: it is one nobody hears the answer to
    /// (`Messaging.MessageReceived`, `AlexaSkillEvent.*`) and the skill could not handle it,
    /// so the service answers with a 500 instead of the apology.
    pub retry: bool,
}

enum Matcher {
    Type(String),
    Intent(String),
    TypePrefix(String),
    Predicate(Box<dyn Fn(&HandlerInput) -> bool + Send + Sync>),
}

impl Matcher {
    fn accepts(&self, input: &HandlerInput) -> bool {
        match self {
            Matcher::Type(t) => input.request_type() == t,
            Matcher::Intent(name) => input.intent_name() == Some(name.as_str()),
            Matcher::TypePrefix(p) => input.request_type().starts_with(p.as_str()),
            Matcher::Predicate(f) => f(input),
        }
    }
}

/// Builds a [`Skill`].
#[derive(Default)]
pub struct SkillBuilder {
    skill_id: Option<String>,
    routes: Vec<(Matcher, Box<dyn Handler>)>,
    fallback: Option<Box<dyn Handler>>,
    request_interceptors: Vec<Box<dyn RequestInterceptor>>,
    response_interceptors: Vec<Box<dyn ResponseInterceptor>>,
    error_handlers: Vec<Box<dyn ErrorHandler>>,
    persistence: Option<Arc<dyn PersistenceAdapter>>,
    apology: Option<String>,
    stale_events: AtomicU64,
}

impl SkillBuilder {
    /// The skill id (`amzn1.ask.skill.…`): a request for another skill is refused before any
    /// handler runs.
    pub fn skill_id(mut self, id: impl Into<String>) -> Self {
        self.skill_id = Some(id.into());
        self
    }

    fn route(mut self, m: Matcher, h: impl Handler) -> Self {
        self.routes.push((m, Box::new(h)));
        self
    }

    /// Handles `LaunchRequest`.
    pub fn on_launch(self, h: impl Handler) -> Self {
        self.route(Matcher::Type("LaunchRequest".into()), h)
    }

    /// Handles the `IntentRequest` for intent `name` (such as `AMAZON.HelpIntent`).
    pub fn on_intent(self, name: impl Into<String>, h: impl Handler) -> Self {
        self.route(Matcher::Intent(name.into()), h)
    }

    /// Handles `SessionEndedRequest`.
    pub fn on_session_ended(self, h: impl Handler) -> Self {
        self.route(Matcher::Type("SessionEndedRequest".into()), h)
    }

    /// Handles `Messaging.MessageReceived` (Skill Messaging).
    pub fn on_message_received(self, h: impl Handler) -> Self {
        self.route(Matcher::Type("Messaging.MessageReceived".into()), h)
    }

    /// Handles `CustomInterfaceController.EventsReceived` (gadget events).
    pub fn on_gadget_events(self, h: impl Handler) -> Self {
        self.route(
            Matcher::Type("CustomInterfaceController.EventsReceived".into()),
            h,
        )
    }

    /// Handles `CustomInterfaceController.Expired` (a gadget event handler ran out).
    pub fn on_gadget_expired(self, h: impl Handler) -> Self {
        self.route(Matcher::Type("CustomInterfaceController.Expired".into()), h)
    }

    /// Handles every `AlexaSkillEvent.*` (enabled, disabled, linked, permissions, subscriptions).
    pub fn on_skill_event(self, h: impl Handler) -> Self {
        self.route(Matcher::TypePrefix("AlexaSkillEvent.".into()), h)
    }

    /// Handles every `AlexaHouseholdListEvent.*`.
    pub fn on_list_event(self, h: impl Handler) -> Self {
        self.route(Matcher::TypePrefix("AlexaHouseholdListEvent.".into()), h)
    }

    /// Handles `CanFulfillIntentRequest`.
    pub fn on_can_fulfill_intent(self, h: impl Handler) -> Self {
        self.route(Matcher::Type("CanFulfillIntentRequest".into()), h)
    }

    /// Handles `System.ExceptionEncountered`: Alexa reporting that a response of this skill
    /// failed on the device.
    pub fn on_exception_encountered(self, h: impl Handler) -> Self {
        self.route(Matcher::Type("System.ExceptionEncountered".into()), h)
    }

    /// Handles any other request type by its name.
    pub fn on_request(self, request_type: impl Into<String>, h: impl Handler) -> Self {
        self.route(Matcher::Type(request_type.into()), h)
    }

    /// Handles whatever `accepts` says yes to.
    pub fn on(
        self,
        accepts: impl Fn(&HandlerInput) -> bool + Send + Sync + 'static,
        h: impl Handler,
    ) -> Self {
        self.route(Matcher::Predicate(Box::new(accepts)), h)
    }

    /// Handles what no other handler takes.
    pub fn fallback(mut self, h: impl Handler) -> Self {
        self.fallback = Some(Box::new(h));
        self
    }

    /// Runs before every handler.
    pub fn request_interceptor(mut self, i: impl RequestInterceptor) -> Self {
        self.request_interceptors.push(Box::new(i));
        self
    }

    /// Runs on every response before it is checked and sent.
    pub fn response_interceptor(mut self, i: impl ResponseInterceptor) -> Self {
        self.response_interceptors.push(Box::new(i));
        self
    }

    /// Answers errors; the first one added that does not fail itself is used.
    pub fn on_error(mut self, h: impl ErrorHandler) -> Self {
        self.error_handlers.push(Box::new(h));
        self
    }

    /// Where persistent attributes are kept.
    pub fn persistence(mut self, adapter: impl PersistenceAdapter) -> Self {
        self.persistence = Some(Arc::new(adapter));
        self
    }

    /// What Alexa says when everything else failed (default: "Sorry, something went wrong.
    /// Please try again later.").
    pub fn apology(mut self, text: impl Into<String>) -> Self {
        self.apology = Some(text.into());
        self
    }

    /// The skill.
    pub fn build(self) -> Skill {
        Skill {
            inner: Arc::new(self),
        }
    }
}

/// A custom skill: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Skill {
    inner: Arc<SkillBuilder>,
}

impl std::fmt::Debug for Skill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Skill")
            .field("skill_id", &self.inner.skill_id)
            .field("handlers", &self.inner.routes.len())
            .finish_non_exhaustive()
    }
}

const APOLOGY: &str = "Sorry, something went wrong. Please try again later.";

impl Skill {
    /// A builder.
    pub fn builder() -> SkillBuilder {
        SkillBuilder::default()
    }

    /// The configured skill id, if any.
    pub fn skill_id(&self) -> Option<&str> {
        self.inner.skill_id.as_deref()
    }

    /// How many gadget requests (`EventsReceived`, `Expired`) came with a token other than the
    /// session's event handler's, and were answered without running a handler.
    pub fn stale_events(&self) -> u64 {
        self.inner.stale_events.load(Ordering::Relaxed)
    }

    /// Answers one request: interceptors, the handler, response interceptors, Alexa's limits,
    /// persistent attributes saved if changed. Never fails: on any error the answer is an
    /// error handler's response or the apology, and carries the error.
    pub async fn invoke(&self, envelope: RequestEnvelope) -> Answer {
        let input = HandlerInput::new(envelope, self.inner.persistence.clone());
        let error = match self.answer(&input).await {
            Ok(answer) => return answer,
            Err(e) => Arc::new(e),
        };
        tracing::error!(
            request_id = %logged(input.request_id()),
            request_type = %logged(input.request_type()),
            "the skill could not answer: {error}"
        );
        for h in &self.inner.error_handlers {
            let answered = match h.handle(input.clone(), error.clone()).await {
                Ok(b) => self.finish(&input, b).await,
                Err(e) => Err(SkillError::Handler(e)),
            };
            match answered {
                Ok(mut answer) => {
                    answer.error = Some(error);
                    return answer;
                }
                Err(e) => {
                    tracing::error!(request_id = %logged(input.request_id()), "an error handler failed too: {e}");
                }
            }
        }
        let apology = self.inner.apology.as_deref().unwrap_or(APOLOGY);
        let envelope = ResponseEnvelope::speak(apology).end_session();
        let bytes = serde_json::to_vec(&envelope).unwrap_or_default();
        let unheard = matches!(input.body(), RequestBody::MessageReceived(_))
            || input.request_type().starts_with("AlexaSkillEvent.");
        Answer {
            envelope,
            bytes,
            error: Some(error),
            retry: unheard,
        }
    }

    async fn answer(&self, input: &HandlerInput) -> Result<Answer, SkillError> {
        if let (Some(adapter), Some(endpoint)) = (&self.inner.persistence, input.api_endpoint()) {
            // Not a reason to leave the user unanswered; the next request records it again.
            if let Err(e) = adapter.record_user(input.user_id(), endpoint).await {
                tracing::warn!(request_id = %logged(input.request_id()), "the user's region could not be recorded: {e}");
            }
        }
        let skill_event = SkillEvent::of(input.body());
        if let (Some(adapter), Some(event)) = (&self.inner.persistence, &skill_event) {
            adapter
                .record_skill_event(input.user_id(), event)
                .await
                .map_err(SkillError::SkillEvent)?;
        }
        let gadget_token = match input.body() {
            RequestBody::EventsReceived(e) => Some(e.token.as_str()),
            RequestBody::Expired(e) => Some(e.token.as_str()),
            _ => None,
        };
        if let Some(token) = gadget_token {
            if input.event_handler_token().as_deref() != Some(token) {
                // From a handler this session stopped, or another session's: not for anyone.
                self.inner.stale_events.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    request_id = %logged(input.request_id()),
                    "{} for an event handler this session does not run: ignored",
                    input.request_type()
                );
                return self.finish(input, ResponseBuilder::new()).await;
            }
            // Expired, or the one event of a SEND_AND_TERMINATE handler: the handler is over.
            let once = input.session_attribute(EVENT_HANDLER_ONCE_KEY).is_some();
            if matches!(input.body(), RequestBody::Expired(_)) || once {
                input.remove_session_attribute(EVENT_HANDLER_KEY);
                input.remove_session_attribute(EVENT_HANDLER_ONCE_KEY);
            }
        }
        for i in &self.inner.request_interceptors {
            i.process(input.clone()).await.map_err(SkillError::Handler)?;
        }
        let handler = self
            .inner
            .routes
            .iter()
            .find(|(m, _)| m.accepts(input))
            .map(|(_, h)| h)
            .or(self.inner.fallback.as_ref());
        let Some(handler) = handler else {
            // Recorded above; Alexa reads nothing in the answer.
            if skill_event.is_some() {
                return self.finish(input, ResponseBuilder::new()).await;
            }
            let what = match input.intent_name() {
                Some(name) => format!("IntentRequest {}", logged(name)),
                None => logged(input.request_type()).into_owned(),
            };
            return Err(SkillError::NoHandler(what));
        };
        let built = handler.handle(input.clone()).await.map_err(SkillError::Handler)?;
        self.finish(input, built).await
    }

    /// Response interceptors, the limits, the persistent attributes.
    async fn finish(&self, input: &HandlerInput, mut b: ResponseBuilder) -> Result<Answer, SkillError> {
        for i in &self.inner.response_interceptors {
            b = i.process(input.clone(), b).await.map_err(SkillError::Handler)?;
        }
        // The session's event handler, kept for the requests its events come in; put in the
        // answer's attributes, and in the input's only once the answer is sure to leave, so
        // that an error handler's answer does not speak of a handler Alexa never started.
        let mut session = input.session_attributes();
        for d in b.directives() {
            match d {
                ResponseDirective::StartEventHandler(h) => {
                    session.insert(EVENT_HANDLER_KEY.into(), h.token.clone().into());
                    let once = h
                        .event_filter
                        .as_ref()
                        .is_some_and(|f| f.filter_match_action == FilterMatchAction::SendAndTerminate);
                    if once {
                        session.insert(EVENT_HANDLER_ONCE_KEY.into(), true.into());
                    } else {
                        session.remove(EVENT_HANDLER_ONCE_KEY);
                    }
                }
                ResponseDirective::StopEventHandler(h)
                    if session.get(EVENT_HANDLER_KEY).and_then(|v| v.as_str()) == Some(h.token.as_str()) =>
                {
                    session.remove(EVENT_HANDLER_KEY);
                    session.remove(EVENT_HANDLER_ONCE_KEY);
                }
                _ => {}
            }
        }
        // A SessionEndedRequest's answer is not read; its session has no next request.
        let answered = (!session.is_empty() && !matches!(input.body(), RequestBody::SessionEnded(_)))
            .then(|| session.clone());
        let envelope = b.build(answered)?;
        let bytes = serde_json::to_vec(&envelope).map_err(|e| SkillError::Handler(e.into()))?;
        builder::check_size(&envelope, &bytes)?;
        for key in [EVENT_HANDLER_KEY, EVENT_HANDLER_ONCE_KEY] {
            match session.get(key) {
                Some(v) => input.set_session_attribute(key, v.clone()),
                None => {
                    input.remove_session_attribute(key);
                }
            }
        }
        input.save_persistent().await?;
        Ok(Answer {
            envelope,
            bytes,
            error: None,
            retry: false,
        })
    }
}
