//! `[skill.messages]`: where the skill hands on the Skill Messaging messages Alexa delivers
//! (`Messaging.MessageReceived`): an MQTT topic, a webhook, or both. The skill answers Alexa
//! only once each has taken the message (the broker's PUBACK, the webhook's 2xx); otherwise it
//! answers 500 and Alexa sends the message again. A message whose `dedupe_field` (default
//! `messageId`) was handed on already is answered at once and not handed on twice.
//!
//! What is handed on is `{"userId": …, "message": {…the sender's data…}}`.

use std::path::PathBuf;

use rask_home::handoff::{AckedPublisher, Webhook};
use rask_skill::{HandlerError, HandlerInput, ResponseBuilder};
use rask_store::Store;
use serde::Deserialize;
use serde_json::json;

use crate::config::{ConfigError, err};

/// `[skill.messages]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesSection {
    /// Publish each message here (QoS 1), on `[mqtt]`'s broker.
    #[serde(default)]
    pub mqtt_topic: Option<String>,
    /// Post each message here.
    #[serde(default)]
    pub webhook: Option<String>,
    /// Sign webhook posts with the secret in this environment variable.
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
    /// Or in this file.
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
    /// The data field holding the sender's key for the message (`rask message --key` and the
    /// API's `key` set it): the same key is handed on once.
    #[serde(default = "default_dedupe_field")]
    pub dedupe_field: String,
}

/// The data field a message's key is in, unless configured.
pub fn default_dedupe_field() -> String {
    "messageId".into()
}

/// The errors in `[skill.messages]`.
pub fn check(m: &MessagesSection, mqtt: bool) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    if m.mqtt_topic.is_none() && m.webhook.is_none() {
        errors.push(err(
            "skill.messages",
            "say where messages go: mqtt_topic, webhook, or both",
        ));
    }
    if let Some(t) = &m.mqtt_topic {
        if !mqtt {
            errors.push(err(
                "skill.messages.mqtt_topic",
                "needs [mqtt], the broker to publish on",
            ));
        }
        if t.is_empty() || t.contains(['+', '#', '\0']) || t.len() > 1024 {
            errors.push(err(
                "skill.messages.mqtt_topic",
                format!("{t:?} is not a topic to publish on"),
            ));
        }
    }
    if let Some(w) = &m.webhook {
        match url::Url::parse(w) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => errors.push(err(
                "skill.messages.webhook",
                format!("{w:?} is not an http(s) URL"),
            )),
        }
        if m.webhook_secret_env.is_none() && m.webhook_secret_file.is_none() {
            errors.push(err(
                "skill.messages.webhook_secret_env",
                "a webhook is signed, so its receiver can tell the message came from rask: name the secret",
            ));
        }
    }
    if m.dedupe_field.is_empty() {
        errors.push(err("skill.messages.dedupe_field", "name the data field"));
    }
    errors
}

/// Where messages are handed on, ready.
#[derive(Clone)]
pub struct MessageSink {
    store: Store,
    skill_id: String,
    mqtt: Option<(AckedPublisher, String)>,
    webhook: Option<Webhook>,
    dedupe_field: String,
}

impl MessageSink {
    /// Connects what `m` names (the MQTT broker at `mqtt_url` as `client_id`).
    pub fn start(
        m: &MessagesSection,
        skill_id: &str,
        store: Store,
        mqtt: Option<&crate::config::Mqtt>,
    ) -> Result<Self, ConfigError> {
        let publisher = match (&m.mqtt_topic, mqtt) {
            (Some(topic), Some(broker)) => Some((
                AckedPublisher::start(&broker.url, &broker.client_id)
                    .map_err(|e| err("mqtt.url", e.to_string()))?,
                topic.clone(),
            )),
            _ => None,
        };
        let webhook = match &m.webhook {
            Some(url) => {
                let secret = crate::config::read_secret(
                    "skill.messages.webhook_secret",
                    m.webhook_secret_env.as_deref(),
                    m.webhook_secret_file.as_deref(),
                )?;
                Some(Webhook::new(url.clone(), Some(secret.into_bytes())))
            }
            None => None,
        };
        Ok(MessageSink {
            store,
            skill_id: skill_id.to_owned(),
            mqtt: publisher,
            webhook,
            dedupe_field: m.dedupe_field.clone(),
        })
    }

    /// Hands the message on to each destination once per key; an error makes the skill answer
    /// 500. A destination that took the message is remembered apart from one that did not, so
    /// that Alexa's resend goes only where it is still missing.
    pub async fn take(&self, input: HandlerInput) -> Result<ResponseBuilder, HandlerError> {
        let rask_model::custom::RequestBody::MessageReceived(m) = input.body() else {
            return Ok(ResponseBuilder::new());
        };
        let key = m
            .message
            .get(&self.dedupe_field)
            .and_then(|v| v.as_str())
            .filter(|k| !k.is_empty() && k.len() <= rask_store::skills::MAX_MESSAGE_KEY - 8)
            .map(str::to_owned);
        let body = serde_json::to_vec(&json!({"userId": input.user_id(), "message": m.message}))
            .map_err(HandlerError::msg)?;
        let (to_mqtt, to_webhook) = tokio::join!(
            self.once("mqtt", self.mqtt.is_some(), key.as_deref(), async {
                match &self.mqtt {
                    Some((p, topic)) => p
                        .publish(topic, body.clone())
                        .await
                        .map_err(|e| format!("the message could not be published: {e}")),
                    None => Ok(()),
                }
            }),
            self.once("webhook", self.webhook.is_some(), key.as_deref(), async {
                match &self.webhook {
                    Some(w) => w
                        .post(body.clone())
                        .await
                        .map_err(|e| format!("the message could not be posted: {e}")),
                    None => Ok(()),
                }
            })
        );
        to_mqtt.and(to_webhook).map_err(HandlerError::msg)?;
        Ok(ResponseBuilder::new())
    }

    /// Runs `hand_on` unless `destination` (when `configured`) took the message with `key`
    /// already, and remembers that it did.
    async fn once(
        &self,
        destination: &str,
        configured: bool,
        key: Option<&str>,
        hand_on: impl std::future::Future<Output = Result<(), String>>,
    ) -> Result<(), String> {
        if !configured {
            return Ok(());
        }
        let Some(key) = key.map(|k| format!("{destination}:{k}")) else {
            return hand_on.await;
        };
        if self
            .store
            .message_handed_on(&self.skill_id, &key)
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::info!("a message delivered again went to {destination} before: not again");
            return Ok(());
        }
        hand_on.await?;
        // Not fatal: it went; a resend would go again, as a message without a key does.
        if let Err(e) = self
            .store
            .record_message_handed_on(&self.skill_id, &key, rask_store::now_ms())
            .await
        {
            tracing::warn!("a handed-on message's key could not be recorded: {e}");
        }
        Ok(())
    }
}
