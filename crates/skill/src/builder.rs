//! The response builder: what a handler says, shows and sends, checked against Alexa's limits
//! before it leaves. A response that breaks one is an error naming the part and its size, never
//! a silent cut: Alexa would refuse it, or worse, say "there was a problem with the requested
//! skill's response" and end the session without a word of why.

use rask_model::custom::{
    Card, Image, OutputSpeech, Reprompt, Response, ResponseDirective, ResponseEnvelope, StopEventHandler,
};
use rask_model::limits::{MAX_RESPONSE_BYTES, MAX_SPEECH_CHARS};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::gadgets::{EventHandler, MAX_EVENT_HANDLER};
use crate::ssml::{self, SsmlError};

/// A response that Alexa would not accept, naming the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResponseError {
    /// The whole response is over 24 KB.
    #[error(
        "the response is {size} bytes, over Alexa's {max}; the biggest part is {biggest} ({biggest_size} bytes)"
    )]
    TooLarge {
        /// Serialized size in bytes.
        size: usize,
        /// Alexa's limit.
        max: usize,
        /// The biggest part, such as `outputSpeech` or `directives[3] (CustomInterfaceController.SendDirective)`.
        biggest: String,
        /// Its serialized size.
        biggest_size: usize,
    },
    /// A speech is 8,000 characters or longer.
    #[error("{part} is {len} characters; Alexa takes at most {max}")]
    SpeechTooLong {
        /// `outputSpeech` or `reprompt`.
        part: &'static str,
        /// Its length in characters.
        len: usize,
        /// The most Alexa takes.
        max: usize,
    },
    /// A speech's SSML is not well formed.
    #[error("{part}: {error}")]
    Ssml {
        /// `outputSpeech` or `reprompt`.
        part: &'static str,
        /// What is wrong, and where.
        error: SsmlError,
    },
    /// An event handler longer than Alexa runs one.
    #[error(
        "directives[{index}] (CustomInterfaceController.StartEventHandler) lasts {ms} ms; Alexa runs one for at most {max} ms"
    )]
    EventHandlerTooLong {
        /// Which directive.
        index: usize,
        /// Its duration.
        ms: u64,
        /// The most Alexa takes.
        max: u64,
    },
}

/// Builds a response, as `handler_input.response_builder` does in the ASK SDKs.
///
/// `shouldEndSession` has three states: [`ResponseBuilder::end_session`] with `Some(true)`
/// ends the session, `Some(false)` keeps it and opens the microphone, `None` leaves it out
/// (the device decides; a gadget event handler keeps the session). A reprompt implies
/// `Some(false)` unless set otherwise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseBuilder {
    speech: Option<OutputSpeech>,
    reprompt: Option<OutputSpeech>,
    card: Option<Card>,
    directives: Vec<ResponseDirective>,
    end: Option<Option<bool>>,
}

impl ResponseBuilder {
    /// An empty response: valid, says nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Say plain text.
    pub fn speak(mut self, text: impl Into<String>) -> Self {
        self.speech = Some(OutputSpeech::plain(text));
        self
    }

    /// Say SSML (wrapped in `<speak>` if it is not); checked when the response is built.
    /// Use [`crate::ssml::escape`] for text put into it.
    pub fn speak_ssml(mut self, ssml: impl Into<String>) -> Self {
        self.speech = Some(OutputSpeech::ssml(ssml));
        self
    }

    /// Say plain text if the user does not answer; keeps the session open.
    pub fn reprompt(mut self, text: impl Into<String>) -> Self {
        self.reprompt = Some(OutputSpeech::plain(text));
        self
    }

    /// Say SSML if the user does not answer; keeps the session open.
    pub fn reprompt_ssml(mut self, ssml: impl Into<String>) -> Self {
        self.reprompt = Some(OutputSpeech::ssml(ssml));
        self
    }

    /// A Simple card in the Alexa app.
    pub fn simple_card(mut self, title: impl Into<String>, content: impl Into<String>) -> Self {
        self.card = Some(Card::Simple {
            title: Some(title.into()),
            content: Some(content.into()),
        });
        self
    }

    /// A Standard card, with an optional image (small and large HTTPS URLs).
    pub fn standard_card(
        mut self,
        title: impl Into<String>,
        text: impl Into<String>,
        image: Option<(String, String)>,
    ) -> Self {
        self.card = Some(Card::Standard {
            title: Some(title.into()),
            text: Some(text.into()),
            image: image.map(|(small, large)| Image {
                small_image_url: Some(small),
                large_image_url: Some(large),
            }),
        });
        self
    }

    /// The LinkAccount card: asks the user to link their account in the Alexa app.
    pub fn link_account_card(mut self) -> Self {
        self.card = Some(Card::LinkAccount);
        self
    }

    /// The AskForPermissionsConsent card, for permissions such as
    /// `alexa::devices:all:notifications:write`.
    pub fn ask_for_permissions_card<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.card = Some(Card::AskForPermissionsConsent {
            permissions: permissions.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Add a directive.
    pub fn add_directive(mut self, directive: ResponseDirective) -> Self {
        self.directives.push(directive);
        self
    }

    /// Add a directive given as raw JSON, such as `Dialog.Delegate` or `Dialog.ElicitSlot`.
    pub fn add_raw_directive(mut self, directive: Value) -> Self {
        self.directives.push(ResponseDirective::Other(directive));
        self
    }

    /// One `CustomInterfaceController.SendDirective` per gadget.
    pub fn send_gadget_directive<I, S>(
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
        let r = ResponseEnvelope::empty().with_gadget_directive(endpoint_ids, namespace, name, payload);
        self.directives.extend(r.response.directives);
        self
    }

    /// Starts a gadget event handler. The skill keeps its token in the session attributes;
    /// unless [`ResponseBuilder::end_session`] says otherwise, `shouldEndSession` is left out,
    /// so that the session stays open while the handler runs, as Alexa documents.
    pub fn start_event_handler(mut self, handler: &EventHandler) -> Self {
        self.directives
            .push(ResponseDirective::StartEventHandler(handler.directive()));
        self
    }

    /// Stops the event handler with `token` (the session's: [`crate::HandlerInput::event_handler_token`]).
    pub fn stop_event_handler(mut self, token: impl Into<String>) -> Self {
        self.directives
            .push(ResponseDirective::StopEventHandler(StopEventHandler {
                token: token.into(),
            }));
        self
    }

    /// `shouldEndSession`: `Some(true)`, `Some(false)` or `None` (left out).
    pub fn end_session(mut self, end: Option<bool>) -> Self {
        self.end = Some(end);
        self
    }

    /// The directives so far, for response interceptors.
    pub fn directives(&self) -> &[ResponseDirective] {
        &self.directives
    }

    /// What is said so far, for response interceptors.
    pub fn speech(&self) -> Option<&OutputSpeech> {
        self.speech.as_ref()
    }

    /// The envelope, with `session_attributes`, checked against Alexa's limits.
    pub fn build(
        self,
        session_attributes: Option<Map<String, Value>>,
    ) -> Result<ResponseEnvelope, ResponseError> {
        for (part, speech) in [("outputSpeech", &self.speech), ("reprompt", &self.reprompt)] {
            let Some(s) = speech else { continue };
            let len = s.content().chars().count();
            if len >= MAX_SPEECH_CHARS {
                return Err(ResponseError::SpeechTooLong {
                    part,
                    len,
                    max: MAX_SPEECH_CHARS - 1,
                });
            }
            if let OutputSpeech::Ssml { ssml, .. } = s {
                ssml::check(ssml).map_err(|error| ResponseError::Ssml { part, error })?;
            }
        }
        let mut starts_handler = false;
        for (index, d) in self.directives.iter().enumerate() {
            if let ResponseDirective::StartEventHandler(h) = d {
                starts_handler = true;
                let ms = h.expiration.duration_in_milliseconds;
                let max = MAX_EVENT_HANDLER.as_millis() as u64;
                if ms > max {
                    return Err(ResponseError::EventHandlerTooLong { index, ms, max });
                }
            }
        }
        let should_end_session = match self.end {
            Some(end) => end,
            None if starts_handler => None,
            None if self.reprompt.is_some() => Some(false),
            None => None,
        };
        let envelope = ResponseEnvelope {
            version: "1.0".to_owned(),
            session_attributes,
            response: Response {
                output_speech: self.speech,
                card: self.card,
                reprompt: self.reprompt.map(|output_speech| Reprompt { output_speech }),
                directives: self.directives,
                should_end_session,
                extra: Map::new(),
            },
        };
        Ok(envelope)
    }
}

/// Checks the serialized response's size, naming its biggest part when it is over 24 KB.
pub fn check_size(envelope: &ResponseEnvelope, bytes: &[u8]) -> Result<(), ResponseError> {
    if bytes.len() <= MAX_RESPONSE_BYTES {
        return Ok(());
    }
    let r = &envelope.response;
    let mut parts: Vec<(String, usize)> = Vec::new();
    if let Some(a) = &envelope.session_attributes {
        parts.push(("sessionAttributes".into(), size_of(a)));
    }
    if let Some(s) = &r.output_speech {
        parts.push(("outputSpeech".into(), size_of(s)));
    }
    if let Some(s) = &r.reprompt {
        parts.push(("reprompt".into(), size_of(s)));
    }
    if let Some(c) = &r.card {
        parts.push(("card".into(), size_of(c)));
    }
    for (i, d) in r.directives.iter().enumerate() {
        parts.push((format!("directives[{i}] ({})", d.kind()), size_of(d)));
    }
    // The first of the biggest, so that the name points at the first place to look.
    let (biggest, biggest_size) = parts
        .into_iter()
        .reduce(|best, p| if p.1 > best.1 { p } else { best })
        .unwrap_or_else(|| ("response".into(), bytes.len()));
    Err(ResponseError::TooLarge {
        size: bytes.len(),
        max: MAX_RESPONSE_BYTES,
        biggest,
        biggest_size,
    })
}

/// A part's serialized size.
fn size_of<T: serde::Serialize>(part: &T) -> usize {
    serde_json::to_vec(part).map(|v| v.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(b: ResponseBuilder) -> Value {
        serde_json::to_value(b.build(None).unwrap()).unwrap()
    }

    #[test]
    fn should_end_session_has_three_states_and_a_reprompt_keeps_listening() {
        assert!(
            wire(ResponseBuilder::new().speak("hi"))["response"]
                .get("shouldEndSession")
                .is_none()
        );
        assert_eq!(
            wire(ResponseBuilder::new().speak("hi").reprompt("well?"))["response"]["shouldEndSession"],
            json!(false)
        );
        assert_eq!(
            wire(ResponseBuilder::new().speak("bye").end_session(Some(true)))["response"]["shouldEndSession"],
            json!(true)
        );
        let open = wire(ResponseBuilder::new().reprompt("x").end_session(None));
        assert!(open["response"].get("shouldEndSession").is_none());
    }

    #[test]
    fn cards_and_raw_directives_are_as_alexa_reads_them() {
        let v = wire(
            ResponseBuilder::new()
                .ask_for_permissions_card(["alexa::devices:all:notifications:write"])
                .add_raw_directive(json!({"type": "Dialog.Delegate"})),
        );
        assert_eq!(v["response"]["card"]["type"], "AskForPermissionsConsent");
        assert_eq!(v["response"]["directives"][0]["type"], "Dialog.Delegate");
        assert_eq!(
            wire(ResponseBuilder::new().link_account_card())["response"]["card"]["type"],
            "LinkAccount"
        );
        let s = wire(ResponseBuilder::new().simple_card("T", "C"));
        assert_eq!(
            s["response"]["card"],
            json!({"type": "Simple", "title": "T", "content": "C"})
        );
    }

    #[test]
    fn a_long_speech_is_an_error_naming_it() {
        let e = ResponseBuilder::new()
            .speak("ok")
            .reprompt("a".repeat(9000))
            .build(None)
            .unwrap_err();
        assert_eq!(
            e,
            ResponseError::SpeechTooLong {
                part: "reprompt",
                len: 9000,
                max: 7999
            }
        );
        assert_eq!(
            e.to_string(),
            "reprompt is 9000 characters; Alexa takes at most 7999"
        );
    }

    #[test]
    fn malformed_ssml_is_an_error_naming_the_part() {
        let e = ResponseBuilder::new()
            .speak_ssml("Tom & Jerry")
            .build(None)
            .unwrap_err();
        assert!(
            matches!(
                e,
                ResponseError::Ssml {
                    part: "outputSpeech",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn an_oversized_response_names_its_biggest_part() {
        let r = ResponseBuilder::new()
            .speak("hi")
            .send_gadget_directive(["g1", "g2"], "Custom.X", "Y", json!({"blob": "x".repeat(20_000)}))
            .build(None)
            .unwrap();
        let bytes = serde_json::to_vec(&r).unwrap();
        let e = check_size(&r, &bytes).unwrap_err();
        let ResponseError::TooLarge {
            biggest,
            biggest_size,
            size,
            ..
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(biggest, "directives[0] (CustomInterfaceController.SendDirective)");
        assert!(*biggest_size > 20_000 && *size > 40_000, "{e}");
    }
}
