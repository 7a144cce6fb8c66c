//! The custom-skill response envelope: what a skill answers Alexa.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::gadgets::{GadgetEndpoint, GadgetHeader, SendDirective, StartEventHandler, StopEventHandler};
use crate::limits::{self, LimitError};
use crate::wire_enum::wire_enum;

/// `{version, sessionAttributes?, response}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseEnvelope {
    /// `"1.0"`.
    pub version: String,
    /// Returned in `session.attributes` of the next request in this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_attributes: Option<Map<String, Value>>,
    /// The response.
    pub response: Response,
}

/// `response`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// What Alexa says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_speech: Option<OutputSpeech>,
    /// A card in the Alexa app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Card>,
    /// What Alexa says if the user does not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reprompt: Option<Reprompt>,
    /// Directives, such as gadget directives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directives: Vec<ResponseDirective>,
    /// `Some(true)` ends the session; `Some(false)` keeps it open and opens the microphone;
    /// `None` (absent) leaves it to the device, and an active gadget event handler keeps the
    /// session open. JSON `null` means the same as `false`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "null_is_false"
    )]
    pub should_end_session: Option<bool>,
    /// Fields this version does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn null_is_false<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Some(Option::<bool>::deserialize(d)?.unwrap_or(false)))
}

wire_enum! {
    /// How speech queues behind what is already playing.
    PlayBehavior { Enqueue = "ENQUEUE", ReplaceAll = "REPLACE_ALL", ReplaceEnqueued = "REPLACE_ENQUEUED" }
}

/// `outputSpeech`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OutputSpeech {
    /// Plain text.
    PlainText {
        /// What to say.
        text: String,
        /// Queueing.
        #[serde(rename = "playBehavior", default, skip_serializing_if = "Option::is_none")]
        play_behavior: Option<PlayBehavior>,
    },
    /// SSML, wrapped in `<speak>`.
    #[serde(rename = "SSML")]
    Ssml {
        /// The markup.
        ssml: String,
        /// Queueing.
        #[serde(rename = "playBehavior", default, skip_serializing_if = "Option::is_none")]
        play_behavior: Option<PlayBehavior>,
    },
}

impl OutputSpeech {
    /// Plain-text speech.
    pub fn plain(text: impl Into<String>) -> Self {
        OutputSpeech::PlainText {
            text: text.into(),
            play_behavior: None,
        }
    }

    /// SSML speech; wrapped in `<speak>` unless it already is.
    pub fn ssml(ssml: impl Into<String>) -> Self {
        let ssml = ssml.into();
        let ssml = if ssml.trim_start().starts_with("<speak>") {
            ssml
        } else {
            format!("<speak>{ssml}</speak>")
        };
        OutputSpeech::Ssml {
            ssml,
            play_behavior: None,
        }
    }

    /// The text or markup.
    pub fn content(&self) -> &str {
        match self {
            OutputSpeech::PlainText { text, .. } => text,
            OutputSpeech::Ssml { ssml, .. } => ssml,
        }
    }
}

/// `reprompt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reprompt {
    /// What to say.
    pub output_speech: OutputSpeech,
}

/// Card images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// 720 × 480.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub small_image_url: Option<String>,
    /// 1200 × 800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_image_url: Option<String>,
}

/// `card`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Card {
    /// Title and text.
    Simple {
        /// Title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
    },
    /// Title, text and image.
    Standard {
        /// Title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Image.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<Image>,
    },
    /// Asks the user to link their account in the Alexa app.
    LinkAccount,
    /// Asks the user to grant permissions in the Alexa app.
    AskForPermissionsConsent {
        /// Such as `alexa::household:lists:read`.
        permissions: Vec<String>,
    },
}

/// A response directive, typed by `type`; `Other` keeps any other as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseDirective {
    /// `CustomInterfaceController.SendDirective`.
    SendDirective(SendDirective),
    /// `CustomInterfaceController.StartEventHandler`.
    StartEventHandler(StartEventHandler),
    /// `CustomInterfaceController.StopEventHandler`.
    StopEventHandler(StopEventHandler),
    /// Any other directive (`Dialog.Delegate`, `AudioPlayer.Play`, ...).
    Other(Value),
}

impl ResponseDirective {
    /// The `type` on the wire.
    pub fn kind(&self) -> &str {
        match self {
            Self::SendDirective(_) => "CustomInterfaceController.SendDirective",
            Self::StartEventHandler(_) => "CustomInterfaceController.StartEventHandler",
            Self::StopEventHandler(_) => "CustomInterfaceController.StopEventHandler",
            Self::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

impl Serialize for ResponseDirective {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let body = match self {
            Self::SendDirective(d) => serde_json::to_value(d),
            Self::StartEventHandler(d) => serde_json::to_value(d),
            Self::StopEventHandler(d) => serde_json::to_value(d),
            Self::Other(v) => return v.serialize(s),
        }
        .map_err(serde::ser::Error::custom)?;
        let mut m = Map::new();
        m.insert("type".into(), Value::String(self.kind().to_owned()));
        if let Value::Object(fields) = body {
            m.extend(fields);
        }
        m.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ResponseDirective {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut m = Map::deserialize(d)?;
        let kind = match m.get("type") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(D::Error::custom("a directive needs a string \"type\"")),
        };
        let typed = |kind: &str, mut m: Map<String, Value>| {
            m.remove("type");
            let v = Value::Object(m);
            match kind {
                "CustomInterfaceController.SendDirective" => {
                    serde_json::from_value(v).map(Self::SendDirective)
                }
                "CustomInterfaceController.StartEventHandler" => {
                    serde_json::from_value(v).map(Self::StartEventHandler)
                }
                _ => serde_json::from_value(v).map(Self::StopEventHandler),
            }
        };
        match kind.as_str() {
            "CustomInterfaceController.SendDirective"
            | "CustomInterfaceController.StartEventHandler"
            | "CustomInterfaceController.StopEventHandler" => typed(&kind, std::mem::take(&mut m))
                .map_err(|e| D::Error::custom(format_args!("{kind}: {e}"))),
            _ => Ok(Self::Other(Value::Object(m))),
        }
    }
}

/// Builders for common responses.
impl ResponseEnvelope {
    /// A response with nothing in it yet.
    pub fn empty() -> Self {
        ResponseEnvelope {
            version: "1.0".to_owned(),
            session_attributes: None,
            response: Response::default(),
        }
    }

    /// Speak plain text; the session's end is left to the device.
    pub fn speak(text: impl Into<String>) -> Self {
        let mut r = Self::empty();
        r.response.output_speech = Some(OutputSpeech::plain(text));
        r
    }

    /// Speak and keep listening, with a reprompt.
    pub fn ask(text: impl Into<String>, reprompt: impl Into<String>) -> Self {
        let mut r = Self::speak(text);
        r.response.reprompt = Some(Reprompt {
            output_speech: OutputSpeech::plain(reprompt),
        });
        r.response.should_end_session = Some(false);
        r
    }

    /// End the session after this response.
    pub fn end_session(mut self) -> Self {
        self.response.should_end_session = Some(true);
        self
    }

    /// Leave `shouldEndSession` out, as a gadget event handler needs to keep the session.
    pub fn leave_session_open(mut self) -> Self {
        self.response.should_end_session = None;
        self
    }

    /// One `CustomInterfaceController.SendDirective` per gadget in `endpoint_ids`.
    pub fn with_gadget_directive<I, S>(
        mut self,
        endpoint_ids: I,
        namespace: &str,
        name: &str,
        payload: Value,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for id in endpoint_ids {
            self.response
                .directives
                .push(ResponseDirective::SendDirective(SendDirective {
                    header: GadgetHeader {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                    },
                    endpoint: GadgetEndpoint {
                        endpoint_id: id.into(),
                    },
                    payload: payload.clone(),
                }));
        }
        self
    }

    /// Add any directive.
    pub fn with_directive(mut self, directive: ResponseDirective) -> Self {
        self.response.directives.push(directive);
        self
    }

    /// Set the session attributes.
    pub fn with_session_attributes(mut self, attributes: Map<String, Value>) -> Self {
        self.session_attributes = Some(attributes);
        self
    }

    /// Alexa's limits on a response: every one that is broken.
    pub fn check_limits(&self) -> Vec<LimitError> {
        let mut broken = Vec::new();
        if let Ok(bytes) = serde_json::to_vec(self) {
            broken.extend(limits::check_response_size(bytes.len()).err());
        }
        let speeches = [
            ("outputSpeech", self.response.output_speech.as_ref()),
            (
                "reprompt.outputSpeech",
                self.response.reprompt.as_ref().map(|r| &r.output_speech),
            ),
        ];
        for (field, speech) in speeches {
            if let Some(s) = speech {
                let len = s.content().chars().count();
                if len >= limits::MAX_SPEECH_CHARS {
                    broken.push(LimitError::Length {
                        field,
                        len,
                        max: limits::MAX_SPEECH_CHARS - 1,
                    });
                }
            }
        }
        broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn should_end_session_has_three_states() {
        let absent: ResponseEnvelope =
            serde_json::from_value(json!({"version": "1.0", "response": {}})).unwrap();
        assert_eq!(absent.response.should_end_session, None);
        let f: ResponseEnvelope =
            serde_json::from_value(json!({"version": "1.0", "response": {"shouldEndSession": false}}))
                .unwrap();
        assert_eq!(f.response.should_end_session, Some(false));
        let n: ResponseEnvelope =
            serde_json::from_value(json!({"version": "1.0", "response": {"shouldEndSession": null}}))
                .unwrap();
        assert_eq!(n.response.should_end_session, Some(false));
        let t = ResponseEnvelope::speak("bye").end_session();
        assert_eq!(
            serde_json::to_value(&t).unwrap()["response"]["shouldEndSession"],
            json!(true)
        );
        let open = ResponseEnvelope::speak("spin").leave_session_open();
        assert!(
            serde_json::to_value(&open).unwrap()["response"]
                .get("shouldEndSession")
                .is_none()
        );
    }

    #[test]
    fn gadget_directives_one_per_endpoint() {
        let r = ResponseEnvelope::speak("Spinning").with_gadget_directive(
            ["amzn1.ask.endpoint.ABC", "amzn1.ask.endpoint.XYZ"],
            "Custom.Robot",
            "Spin",
            json!({"direction": "clockwise", "times": 5}),
        );
        let v = serde_json::to_value(&r).unwrap();
        let ds = v["response"]["directives"].as_array().unwrap();
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[1]["type"], "CustomInterfaceController.SendDirective");
        assert_eq!(ds[1]["endpoint"]["endpointId"], "amzn1.ask.endpoint.XYZ");
        assert_eq!(
            ds[0]["header"],
            json!({"namespace": "Custom.Robot", "name": "Spin"})
        );
        let back: ResponseEnvelope = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), v);
    }

    #[test]
    fn unknown_directives_are_kept() {
        let v = json!({"version": "1.0", "response": {"directives": [{"type": "Dialog.Delegate", "updatedIntent": {"name": "X"}}]}});
        let r: ResponseEnvelope = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(r.response.directives[0].kind(), "Dialog.Delegate");
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }

    #[test]
    fn limits() {
        assert!(ResponseEnvelope::speak("hi").check_limits().is_empty());
        let long = ResponseEnvelope::speak("a".repeat(8000));
        assert!(matches!(
            long.check_limits()[..],
            [LimitError::Length {
                field: "outputSpeech",
                ..
            }]
        ));
        let big = ResponseEnvelope::speak("hi").with_gadget_directive(
            (0..100).map(|i| format!("gadget-{i}")),
            "Custom.X",
            "Y",
            json!({"blob": "x".repeat(300)}),
        );
        assert!(matches!(
            big.check_limits()[..],
            [LimitError::ResponseTooLarge { .. }]
        ));
    }

    #[test]
    fn ssml_is_wrapped() {
        assert_eq!(OutputSpeech::ssml("Hi").content(), "<speak>Hi</speak>");
        assert_eq!(
            OutputSpeech::ssml("<speak>Hi</speak>").content(),
            "<speak>Hi</speak>"
        );
    }
}
