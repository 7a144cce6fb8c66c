//! Skill events (`AlexaSkillEvent.*`) that change what may be sent to a user outside a session:
//! they disabled the skill, enabled it again, or changed which proactive events they get.
//!
//! The skill records them with its persistence adapter before any handler runs, and answers
//! Alexa with an error when that fails, so that Alexa sends the event again (nobody hears
//! these answers). Handlers for them still run, and none is needed.

use rask_model::custom::RequestBody;
use serde_json::Value;

/// What a skill event told the skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkillEvent {
    /// `AlexaSkillEvent.SkillEnabled`.
    Enabled,
    /// `AlexaSkillEvent.SkillDisabled`: nothing more goes to the user.
    Disabled,
    /// `AlexaSkillEvent.ProactiveSubscriptionChanged`: the event names the user now gets
    /// (empty: none).
    Subscriptions(Vec<String>),
}

/// Most subscriptions read from one event (Amazon has eight proactive schemas).
const MAX_SUBSCRIPTIONS: usize = 32;

impl SkillEvent {
    /// The event a request carries, if it is one of these.
    pub fn of(body: &RequestBody) -> Option<SkillEvent> {
        let RequestBody::Other { kind, fields } = body else {
            return None;
        };
        match kind.as_str() {
            "AlexaSkillEvent.SkillEnabled" => Some(SkillEvent::Enabled),
            "AlexaSkillEvent.SkillDisabled" => Some(SkillEvent::Disabled),
            "AlexaSkillEvent.ProactiveSubscriptionChanged" => {
                // `body.subscriptions: [{eventName}]`; absent or empty: unsubscribed from all.
                let names = fields
                    .get("body")
                    .and_then(|b| b.get("subscriptions"))
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(|s| s.get("eventName").and_then(Value::as_str))
                            .take(MAX_SUBSCRIPTIONS)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                Some(SkillEvent::Subscriptions(names))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> RequestBody {
        serde_json::from_value::<rask_model::custom::Request>(v)
            .unwrap()
            .body
    }

    #[test]
    fn the_three_events_are_read_and_others_are_not() {
        let base = json!({"requestId": "r", "timestamp": "2026-01-01T00:00:00Z"});
        let with = |kind: &str, extra: Value| {
            let mut v = base.clone();
            v["type"] = kind.into();
            if let Value::Object(m) = extra {
                v.as_object_mut().unwrap().extend(m);
            }
            body(v)
        };
        assert_eq!(
            SkillEvent::of(&with(
                "AlexaSkillEvent.SkillDisabled",
                json!({"body": {"userInformation": {"persistenceStatus": "PERSISTED"}}})
            )),
            Some(SkillEvent::Disabled)
        );
        assert_eq!(
            SkillEvent::of(&with("AlexaSkillEvent.SkillEnabled", json!({}))),
            Some(SkillEvent::Enabled)
        );
        assert_eq!(
            SkillEvent::of(&with(
                "AlexaSkillEvent.ProactiveSubscriptionChanged",
                json!({"body": {"subscriptions": [{"eventName": "AMAZON.WeatherAlert.Activated"}, {"other": 1}]}})
            )),
            Some(SkillEvent::Subscriptions(vec![
                "AMAZON.WeatherAlert.Activated".into()
            ]))
        );
        assert_eq!(
            SkillEvent::of(&with(
                "AlexaSkillEvent.ProactiveSubscriptionChanged",
                json!({"body": {}})
            )),
            Some(SkillEvent::Subscriptions(vec![])),
            "no list is no subscription"
        );
        assert_eq!(
            SkillEvent::of(&with("AlexaSkillEvent.SkillAccountLinked", json!({}))),
            None
        );
        assert_eq!(SkillEvent::of(&with("LaunchRequest", json!({}))), None);
    }
}
