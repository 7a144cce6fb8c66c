//! The Proactive Events API request body: `POST /v1/proactiveEvents[/stages/development]`.
//!
//! Where Amazon's documentation is unsure (see ALEXA-FACTS.md, open question 2), the checks
//! take the strict reading: `referenceId` of letters, digits, `-` and `~`, and an
//! `expiryTime` between 5 minutes and 24 hours after now.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::check::Finding;
use crate::timestamp;

/// The event schemas Alexa accepts; there are no custom ones.
pub const SCHEMA_NAMES: &[&str] = &[
    "AMAZON.WeatherAlert.Activated",
    "AMAZON.SportsEvent.Updated",
    "AMAZON.MessageAlert.Activated",
    "AMAZON.OrderStatus.Updated",
    "AMAZON.Occasion.Updated",
    "AMAZON.TrashCollectionAlert.Activated",
    "AMAZON.MediaContent.Available",
    "AMAZON.SocialGameInvite.Available",
];

/// Longest `referenceId`.
pub const MAX_REFERENCE_ID_LEN: usize = 100;
/// Earliest `expiryTime` after now.
pub const MIN_EXPIRY: Duration = Duration::minutes(5);
/// Latest `expiryTime` after now.
pub const MAX_EXPIRY: Duration = Duration::hours(24);

/// `CreateProactiveEventRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProactiveEventRequest {
    /// When the event happened, ISO-8601.
    pub timestamp: String,
    /// Unique per event and user; a repeat is refused with 409.
    pub reference_id: String,
    /// When Alexa deletes the notification if undelivered, ISO-8601.
    pub expiry_time: String,
    /// The event: a schema name and its payload.
    pub event: ProactiveEvent,
    /// Per-locale strings referenced as `localizedattribute:key`.
    #[serde(default)]
    pub localized_attributes: Vec<Map<String, Value>>,
    /// Who gets it.
    pub relevant_audience: RelevantAudience,
}

/// `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProactiveEvent {
    /// One of [`SCHEMA_NAMES`].
    pub name: String,
    /// The schema's payload.
    pub payload: Value,
}

/// `relevantAudience`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelevantAudience {
    /// `Multicast` (every subscribed user) or `Unicast` (one user).
    #[serde(rename = "type")]
    pub kind: String,
    /// `{}` for Multicast, `{"user": userId}` for Unicast.
    pub payload: Value,
}

impl RelevantAudience {
    /// Every subscribed user.
    pub fn multicast() -> Self {
        RelevantAudience {
            kind: "Multicast".into(),
            payload: Value::Object(Map::new()),
        }
    }

    /// One user.
    pub fn unicast(user_id: impl Into<String>) -> Self {
        RelevantAudience {
            kind: "Unicast".into(),
            payload: serde_json::json!({ "user": user_id.into() }),
        }
    }

    /// The user of a Unicast audience.
    pub fn user(&self) -> Option<&str> {
        (self.kind == "Unicast")
            .then(|| self.payload.get("user").and_then(Value::as_str))
            .flatten()
    }
}

/// `payload` with every `localizedattribute:KEY` string replaced by `attributes[KEY]` (left
/// as it is where the set has no such key).
pub fn localize(payload: &Value, attributes: Option<&Map<String, Value>>) -> Value {
    match payload {
        Value::String(s) => match (s.strip_prefix(LOCALIZED_PREFIX), attributes) {
            (Some(key), Some(a)) => a.get(key).cloned().unwrap_or_else(|| payload.clone()),
            _ => payload.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| localize(v, attributes)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), localize(v, attributes)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// How a payload string refers to a `localizedAttributes` key.
pub const LOCALIZED_PREFIX: &str = "localizedattribute:";

/// The `localizedAttributes` key a field of `schema` at `path` (dotted, in the payload) is
/// given as, when the schema wants that field localized.
pub fn localized_key(schema: &str, path: &str) -> Option<&'static str> {
    use crate::proactive_schemas::Kind;
    crate::proactive_schemas::schema(schema)?
        .fields
        .iter()
        .find(|f| f.path == path)
        .and_then(|f| match f.kind {
            Kind::Localized(key) => Some(key),
            _ => None,
        })
}

impl ProactiveEventRequest {
    /// Every rule this body breaks, judged at `now`.
    pub fn check(&self, now: OffsetDateTime) -> Vec<Finding> {
        let mut f = Vec::new();
        if timestamp::parse(&self.timestamp).is_none() {
            f.push(Finding::new(
                "/timestamp",
                "format",
                format!("{:?} is not an ISO-8601 date-time", self.timestamp),
            ));
        }
        let len = self.reference_id.chars().count();
        if len == 0 || len > MAX_REFERENCE_ID_LEN {
            f.push(Finding::new(
                "/referenceId",
                "length",
                format!("referenceId must be 1 to {MAX_REFERENCE_ID_LEN} characters, is {len}"),
            ));
        } else if let Some(c) = self
            .reference_id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '~'))
        {
            f.push(Finding::new(
                "/referenceId",
                "pattern",
                format!("referenceId may contain letters, digits, - and ~; found {c:?}"),
            ));
        }
        match timestamp::parse(&self.expiry_time) {
            None => f.push(Finding::new(
                "/expiryTime",
                "format",
                format!("{:?} is not an ISO-8601 date-time", self.expiry_time),
            )),
            Some(t) if t < now + MIN_EXPIRY || t > now + MAX_EXPIRY => f.push(Finding::new(
                "/expiryTime",
                "range",
                "expiryTime must be between 5 minutes and 24 hours from now",
            )),
            Some(_) => {}
        }
        let schema = crate::proactive_schemas::schema(&self.event.name);
        if schema.is_none() {
            f.push(Finding::new(
                "/event/name",
                "enum",
                format!("{:?} is not a proactive event schema", self.event.name),
            ));
        }
        if !self.event.payload.is_object() {
            f.push(Finding::new(
                "/event/payload",
                "type",
                "the event payload must be an object",
            ));
        } else if let Some(schema) = schema {
            f.extend(schema.check(&self.event.payload, &self.localized_attributes));
        }
        for (i, a) in self.localized_attributes.iter().enumerate() {
            if !a.get("locale").is_some_and(Value::is_string) {
                f.push(Finding::new(
                    format!("/localizedAttributes/{i}"),
                    "required",
                    "each localized attribute set needs a locale",
                ));
            }
        }
        match self.relevant_audience.kind.as_str() {
            "Multicast" => {
                if self
                    .relevant_audience
                    .payload
                    .as_object()
                    .is_none_or(|o| !o.is_empty())
                {
                    f.push(Finding::new(
                        "/relevantAudience/payload",
                        "const",
                        "a Multicast payload must be {}",
                    ));
                }
            }
            "Unicast" => {
                if self.relevant_audience.user().is_none_or(str::is_empty) {
                    f.push(Finding::new(
                        "/relevantAudience/payload/user",
                        "required",
                        "a Unicast audience names the user",
                    ));
                }
            }
            other => f.push(Finding::new(
                "/relevantAudience/type",
                "enum",
                format!("{other:?} is neither Multicast nor Unicast"),
            )),
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(now: OffsetDateTime) -> ProactiveEventRequest {
        ProactiveEventRequest {
            timestamp: timestamp::seconds(now),
            reference_id: "order-123~a".into(),
            expiry_time: timestamp::seconds(now + Duration::hours(1)),
            event: ProactiveEvent {
                name: "AMAZON.OrderStatus.Updated".into(),
                payload: json!({"state": {"status": "ORDER_SHIPPED"},
                                "order": {"seller": {"name": "localizedattribute:sellerName"}}}),
            },
            localized_attributes: vec![Map::from_iter([
                ("locale".to_string(), json!("en-US")),
                ("sellerName".to_string(), json!("The Shop")),
            ])],
            relevant_audience: RelevantAudience::unicast("amzn1.ask.account.U"),
        }
    }

    #[test]
    fn a_good_event_passes() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(body(now).check(now), vec![]);
    }

    #[test]
    fn each_rule() {
        let now = OffsetDateTime::now_utc();
        let mut b = body(now);
        b.reference_id = "has space".into();
        b.expiry_time = timestamp::seconds(now + Duration::minutes(2));
        b.event.name = "AMAZON.Custom.Thing".into();
        b.relevant_audience = RelevantAudience {
            kind: "Broadcast".into(),
            payload: json!({}),
        };
        let rules: Vec<_> = b.check(now).into_iter().map(|f| (f.path, f.rule)).collect();
        assert_eq!(
            rules,
            vec![
                ("/referenceId".to_string(), "pattern".to_string()),
                ("/expiryTime".into(), "range".into()),
                ("/event/name".into(), "enum".into()),
                ("/relevantAudience/type".into(), "enum".into()),
            ]
        );
    }
}
