//! What every handler and interceptor is given: the request envelope and its attributes.
//!
//! A `HandlerInput` is a cheap handle (clone it freely): handlers are plain `async fn`s that
//! take it by value, as axum handlers take their extractors, and the attributes they set are
//! seen by the interceptors and handlers after them.

use std::sync::{Arc, Mutex};

use rask_model::custom::{RequestBody, RequestEnvelope};
use serde_json::Value;

use crate::attributes::{AttributeMap, AttributesError, PersistenceAdapter, Persistent};

/// The request and its attributes.
#[derive(Clone)]
pub struct HandlerInput {
    inner: Arc<Inner>,
}

struct Inner {
    envelope: RequestEnvelope,
    request: Mutex<AttributeMap>,
    session: Mutex<AttributeMap>,
    persistent: tokio::sync::Mutex<Persistent>,
    persistence: Option<Arc<dyn PersistenceAdapter>>,
}

impl std::fmt::Debug for HandlerInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerInput")
            .field("request_id", &self.request_id())
            .field("type", &self.request_type())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HandlerInput {
    /// The input for one request; session attributes start as the request's.
    pub fn new(envelope: RequestEnvelope, persistence: Option<Arc<dyn PersistenceAdapter>>) -> Self {
        let session = envelope
            .session
            .as_ref()
            .and_then(|s| s.attributes.clone())
            .unwrap_or_default();
        HandlerInput {
            inner: Arc::new(Inner {
                envelope,
                request: Mutex::default(),
                session: Mutex::new(session),
                persistent: Default::default(),
                persistence,
            }),
        }
    }

    /// The whole envelope, as Alexa sent it.
    pub fn envelope(&self) -> &RequestEnvelope {
        &self.inner.envelope
    }

    /// The typed request body.
    pub fn body(&self) -> &RequestBody {
        &self.inner.envelope.request.body
    }

    /// `request.requestId`.
    pub fn request_id(&self) -> &str {
        &self.inner.envelope.request.request_id
    }

    /// `request.type`, such as `LaunchRequest`.
    pub fn request_type(&self) -> &str {
        self.body().kind()
    }

    /// The intent's name, for an `IntentRequest`.
    pub fn intent_name(&self) -> Option<&str> {
        match self.body() {
            RequestBody::Intent(i) => Some(&i.intent.name),
            _ => None,
        }
    }

    /// A slot's value, for an `IntentRequest` whose slot was filled.
    pub fn slot_value(&self, slot: &str) -> Option<&str> {
        match self.body() {
            RequestBody::Intent(i) => i.intent.slot_value(slot),
            _ => None,
        }
    }

    /// `context.System.user.userId`.
    pub fn user_id(&self) -> &str {
        &self.inner.envelope.context.system.user.user_id
    }

    /// `request.locale`.
    pub fn locale(&self) -> Option<&str> {
        self.inner.envelope.request.locale.as_deref()
    }

    /// `context.System.apiEndpoint`: the Alexa APIs of this user's region.
    pub fn api_endpoint(&self) -> Option<&str> {
        self.inner.envelope.context.system.api_endpoint.as_deref()
    }

    /// `context.System.apiAccessToken`: for the Alexa APIs during this request only.
    pub fn api_access_token(&self) -> Option<&str> {
        self.inner.envelope.context.system.api_access_token.as_deref()
    }

    /// True on the first request of a session (and for requests outside any session).
    pub fn is_new_session(&self) -> bool {
        self.inner.envelope.session.as_ref().is_none_or(|s| s.new)
    }

    /// A request attribute: lives for this request only.
    pub fn request_attribute(&self, key: &str) -> Option<Value> {
        lock(&self.inner.request).get(key).cloned()
    }

    /// Sets a request attribute.
    pub fn set_request_attribute(&self, key: impl Into<String>, value: impl Into<Value>) {
        lock(&self.inner.request).insert(key.into(), value.into());
    }

    /// A session attribute, as the session's last response left it or this request set it.
    pub fn session_attribute(&self, key: &str) -> Option<Value> {
        lock(&self.inner.session).get(key).cloned()
    }

    /// Sets a session attribute: it comes back in the session's next request.
    pub fn set_session_attribute(&self, key: impl Into<String>, value: impl Into<Value>) {
        lock(&self.inner.session).insert(key.into(), value.into());
    }

    /// Removes a session attribute.
    pub fn remove_session_attribute(&self, key: &str) -> Option<Value> {
        lock(&self.inner.session).remove(key)
    }

    /// Every session attribute.
    pub fn session_attributes(&self) -> AttributeMap {
        lock(&self.inner.session).clone()
    }

    /// The user's persistent attributes, loaded on first use in this request.
    pub async fn persistent_attributes(&self) -> Result<AttributeMap, AttributesError> {
        let mut p = self.loaded().await?;
        match &mut *p {
            Persistent::Loaded { current, .. } => Ok(current.clone()),
            Persistent::NotLoaded => Ok(AttributeMap::new()),
        }
    }

    /// Sets one persistent attribute; saved at the end of the request.
    pub async fn set_persistent_attribute(
        &self,
        key: impl Into<String>,
        value: impl Into<Value>,
    ) -> Result<(), AttributesError> {
        let mut p = self.loaded().await?;
        if let Persistent::Loaded { current, .. } = &mut *p {
            current.insert(key.into(), value.into());
        }
        Ok(())
    }

    /// Replaces all of the user's persistent attributes; saved at the end of the request.
    pub async fn replace_persistent_attributes(
        &self,
        attributes: AttributeMap,
    ) -> Result<(), AttributesError> {
        let mut p = self.loaded().await?;
        if let Persistent::Loaded { current, .. } = &mut *p {
            *current = attributes;
        }
        Ok(())
    }

    async fn loaded(&self) -> Result<tokio::sync::MutexGuard<'_, Persistent>, AttributesError> {
        let adapter = self
            .inner
            .persistence
            .as_ref()
            .ok_or(AttributesError::NoPersistence)?;
        let mut p = self.inner.persistent.lock().await;
        if matches!(*p, Persistent::NotLoaded) {
            let original = adapter
                .load(self.user_id())
                .await
                .map_err(|reason| self.adapter_error(reason))?
                .unwrap_or_default();
            *p = Persistent::Loaded {
                current: original.clone(),
                original,
            };
        }
        Ok(p)
    }

    fn adapter_error(&self, reason: String) -> AttributesError {
        AttributesError::Adapter {
            user: rask_model::limits::logged(self.user_id()).into_owned(),
            reason,
        }
    }

    /// Saves the persistent attributes if a handler changed them; called once per request.
    pub(crate) async fn save_persistent(&self) -> Result<bool, AttributesError> {
        let Some(adapter) = &self.inner.persistence else {
            return Ok(false);
        };
        let mut p = self.inner.persistent.lock().await;
        let Some(changed) = p.changed() else {
            return Ok(false);
        };
        adapter
            .save(self.user_id(), changed)
            .await
            .map_err(|reason| self.adapter_error(reason))?;
        // Saved: a second call in this request has nothing left to write.
        if let Persistent::Loaded { original, current } = &mut *p {
            *original = current.clone();
        }
        Ok(true)
    }
}
