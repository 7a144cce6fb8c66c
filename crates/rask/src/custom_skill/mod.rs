//! `[skill]`: a custom skill declared in rask.toml, hosted at `POST /alexa/skill` with no code:
//! a launch speech, intents answered with speech (slot values put in by `{slot}`) and an
//! optional action on the home side (press a configured doorbell, publish to an MQTT topic, set
//! a device), help, stop and session end; with `interfaces`, a gadget skill ([`gadgets`]).
//! Requests are verified as Amazon requires unless `verify_requests = false`, which every start
//! warns about.

pub mod gadgets;
pub mod messages;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use rask_home::Registry;
use rask_home::control::Controller;
use rask_home::mqtt::MqttPublisher;
use rask_home::triggers::Triggers;
use rask_skill::verify::Verifier;
use rask_skill::{HandlerError, HandlerInput, ResponseBuilder, Skill, StorePersistence};
use rask_store::Store;
use serde::Deserialize;

use crate::config::ConfigError;

/// `[skill]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillSection {
    /// The skill id (developer console: `amzn1.ask.skill.…`); requests for another are refused.
    pub id: String,
    /// What Alexa says when the skill is opened.
    #[serde(default = "default_launch")]
    pub launch: String,
    /// What Alexa says if the user does not answer the launch (default: the help speech).
    #[serde(default)]
    pub reprompt: Option<String>,
    /// The answer to "help" (`AMAZON.HelpIntent`).
    #[serde(default = "default_help")]
    pub help: String,
    /// The answer to "stop" and "cancel"; ends the session.
    #[serde(default = "default_stop")]
    pub stop: String,
    /// The answer to anything else (`AMAZON.FallbackIntent` and intents not listed).
    #[serde(default = "default_fallback")]
    pub fallback: String,
    /// `[[skill.intents]]`.
    #[serde(default)]
    pub intents: Vec<IntentSection>,
    /// Verify Amazon's signature, certificate and timestamp on every request (default true).
    #[serde(default = "yes")]
    pub verify_requests: bool,
    /// Fetch signing certificate chains from here instead of Amazon (a `rask sim`'s URL).
    #[serde(default)]
    pub cert_mirror: Option<String>,
    /// Also trust this PEM root for signing certificates (a `rask sim`'s
    /// `/sim/signing-root.pem`).
    #[serde(default)]
    pub trust_root_file: Option<PathBuf>,
    /// The same root given in memory (the embedded default's simulator).
    #[serde(skip)]
    pub trust_root_der: Option<Vec<u8>>,
    /// The custom interfaces the skill's gadgets have (`["Custom.Robot"]`): a gadget skill.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// What Alexa says when no gadget with them is connected.
    #[serde(default = "default_no_gadget")]
    pub no_gadget: String,
    /// The directive launch sends to every gadget.
    #[serde(default)]
    pub launch_directive: Option<gadgets::GadgetDirective>,
    /// The event handler launch starts.
    #[serde(default)]
    pub listen: Option<gadgets::Listen>,
    /// `[[skill.gadget_events]]`: what each gadget event does.
    #[serde(default)]
    pub gadget_events: Vec<gadgets::GadgetEventSection>,
    /// The skill's client id for Skill Messaging and Proactive Events (the developer console's
    /// Permissions page); with it, `rask serve` sends what `rask message` queues.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The environment variable holding that client's secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Or the file holding it.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Amazon's APIs (`amazon`), or a `rask sim`'s URL.
    #[serde(default = "amazon")]
    pub api: String,
    /// `[skill.messages]`: where received Skill Messaging messages are handed on.
    #[serde(default)]
    pub messages: Option<messages::MessagesSection>,
}

impl SkillSection {
    /// The data field a message's key goes in.
    pub fn message_key_field(&self) -> String {
        self.messages
            .as_ref()
            .map(|m| m.dedupe_field.clone())
            .unwrap_or_else(messages::default_dedupe_field)
    }
}

fn amazon() -> String {
    "amazon".into()
}

/// The skill client's secret, when messages can be sent.
pub fn client_secret(s: &SkillSection) -> Result<Option<String>, ConfigError> {
    if s.client_id.is_none() {
        return Ok(None);
    }
    crate::config::read_secret(
        "skill.client_secret",
        s.client_secret_env.as_deref(),
        s.client_secret_file.as_deref(),
    )
    .map(Some)
}

/// Amazon's endpoints, or the simulator's, as `skill.api` says.
pub fn endpoints(s: &SkillSection) -> rask_cloud::region::Endpoints {
    if s.api == "amazon" {
        rask_cloud::region::Endpoints::amazon()
    } else {
        rask_cloud::region::Endpoints::simulator(&s.api)
    }
}

fn default_no_gadget() -> String {
    "No gadget is connected to your Echo.".into()
}

/// `[[skill.intents]]`: one intent and its answer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentSection {
    /// The intent's name in the interaction model, such as `RingIntent`.
    pub name: String,
    /// What Alexa says; `{slot}` is replaced by that slot's value.
    pub say: String,
    /// A slot's words when the user did not say it, by slot name.
    #[serde(default)]
    pub slot_defaults: BTreeMap<String, String>,
    /// End the session after answering (default true).
    #[serde(default = "yes")]
    pub end_session: bool,
    /// Press this `[[devices]]` doorbell: every linked user's Echo announces it.
    #[serde(default)]
    pub press: Option<String>,
    /// Publish to the MQTT broker of `[mqtt]`.
    #[serde(default)]
    pub publish: Option<Publish>,
    /// Set a `[[devices]]` device, as a smart-home directive would.
    #[serde(default)]
    pub set: Option<SetDevice>,
    /// Send this directive to every gadget with its interface.
    #[serde(default)]
    pub gadget_directive: Option<gadgets::GadgetDirective>,
}

/// A device an intent sets: `{ device = "porch", property = "power", value = "{state}" }`.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SetDevice {
    /// The `[[devices]]` id.
    pub device: String,
    /// `power`, `brightness`, `position`, `mode` or `lock`.
    pub property: String,
    /// The words for the value (`on`, `40`, `locked`, `up`); `{slot}` works here.
    pub value: String,
}

/// An MQTT message an intent publishes; `{slot}` works in both fields.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// The topic.
    pub topic: String,
    /// The payload.
    #[serde(default)]
    pub payload: String,
}

fn yes() -> bool {
    true
}

fn default_launch() -> String {
    "Welcome. What would you like to do?".into()
}

fn default_help() -> String {
    "You can ask me to do what this skill was set up for, or say stop.".into()
}

fn default_stop() -> String {
    "Goodbye.".into()
}

fn default_fallback() -> String {
    "Sorry, I cannot help with that. Say help to hear what I can do.".into()
}

fn err(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

/// Every problem of `[skill]`, each naming its key. `devices` are the configured devices' ids
/// and kinds; `mqtt` and `alexa`: whether those sections are there.
pub fn check(s: &SkillSection, devices: &[(&str, &str)], mqtt: bool, alexa: bool) -> Vec<ConfigError> {
    let doorbells: Vec<&str> = devices
        .iter()
        .filter(|(_, kind)| *kind == "doorbell")
        .map(|(id, _)| *id)
        .collect();
    let mut errors = Vec::new();
    if !s.id.starts_with("amzn1.ask.skill.") && !s.id.starts_with("amzn1.echo-sdk-ams.app.") {
        errors.push(err(
            "skill.id",
            format!("{:?} is not a skill id (amzn1.ask.skill.…)", s.id),
        ));
    }
    if let Some(m) = &s.cert_mirror
        && !(m.starts_with("http://") || m.starts_with("https://"))
    {
        errors.push(err("skill.cert_mirror", format!("{m:?} is not an http(s) URL")));
    }
    if let Some(m) = &s.messages {
        errors.extend(messages::check(m, mqtt));
    }
    for (field, text) in [
        ("launch", &s.launch),
        ("help", &s.help),
        ("stop", &s.stop),
        ("fallback", &s.fallback),
    ] {
        if text.trim().is_empty() {
            errors.push(err(format!("skill.{field}"), "must say something"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, intent) in s.intents.iter().enumerate() {
        let key = |k: &str| format!("skill.intents[{i}].{k}");
        if intent.name.is_empty()
            || !intent
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._".contains(c))
        {
            errors.push(err(
                key("name"),
                format!("{:?} is not an intent name", intent.name),
            ));
        }
        if !seen.insert(intent.name.as_str()) {
            errors.push(err(key("name"), format!("{} is listed twice", intent.name)));
        }
        if intent.say.trim().is_empty() {
            errors.push(err(key("say"), "must say something"));
        }
        if let Some(d) = &intent.press {
            if !alexa {
                errors.push(err(
                    key("press"),
                    "pressing a doorbell needs [alexa] (docs/config.md)",
                ));
            } else if !doorbells.contains(&d.as_str()) {
                errors.push(err(
                    key("press"),
                    format!("{d:?} is not a [[devices]] doorbell (kind = \"doorbell\")"),
                ));
            }
        }
        if let Some(p) = &intent.publish {
            if !mqtt {
                errors.push(err(key("publish"), "publishing needs [mqtt] (docs/config.md)"));
            }
            if p.topic.is_empty() || p.topic.contains(['+', '#']) {
                errors.push(err(
                    key("publish.topic"),
                    format!("{:?} is not a topic one can publish to", p.topic),
                ));
            }
        }
        if let Some(set) = &intent.set {
            errors.extend(check_set(set, devices, alexa, &key));
        }
    }
    errors.extend(gadgets::check(s, &doorbells, mqtt, alexa));
    if s.api != "amazon" && !(s.api.starts_with("http://") || s.api.starts_with("https://")) {
        errors.push(err(
            "skill.api",
            format!("{:?} is neither \"amazon\" nor an http(s) URL", s.api),
        ));
    }
    match (&s.client_id, &s.client_secret_env, &s.client_secret_file) {
        (Some(id), _, _) if id.trim().is_empty() => errors.push(err("skill.client_id", "is empty")),
        (Some(_), None, None) => errors.push(err(
            "skill.client_secret_env",
            "the client needs its secret: skill.client_secret_env or skill.client_secret_file",
        )),
        (Some(_), Some(_), Some(_)) => errors.push(err(
            "skill.client_secret_file",
            "give the secret one way: skill.client_secret_env or skill.client_secret_file",
        )),
        (None, Some(_), _) | (None, _, Some(_)) => {
            errors.push(err("skill.client_id", "a client secret without its client id"))
        }
        _ => {}
    }
    errors
}

fn check_set(
    set: &SetDevice,
    devices: &[(&str, &str)],
    alexa: bool,
    key: &dyn Fn(&str) -> String,
) -> Vec<ConfigError> {
    use rask_home::capabilities::DeviceProperty;
    use rask_home::devices::DeviceKind;
    if !alexa {
        return vec![err(key("set"), "setting a device needs [alexa] (docs/config.md)")];
    }
    let Some(kind) = devices
        .iter()
        .find(|(id, _)| *id == set.device)
        .and_then(|(_, kind)| DeviceKind::from_name(kind))
    else {
        return vec![err(
            key("set.device"),
            format!("{:?} is not a [[devices]] id", set.device),
        )];
    };
    let Some(property) = DeviceProperty::from_field(&set.property) else {
        return vec![err(
            key("set.property"),
            format!(
                "{:?} is not power, brightness, position, mode or lock",
                set.property
            ),
        )];
    };
    // A value without a slot is known now: refuse now what every request would be refused.
    let words = if set.value.contains('{') {
        None
    } else {
        Some(set.value.as_str())
    };
    let probe = words.unwrap_or(match property {
        DeviceProperty::Power => "on",
        DeviceProperty::Lock => "locked",
        DeviceProperty::Mode => "up",
        _ => "0",
    });
    match rask_home::control::spoken_command(kind.properties(), property, probe) {
        Ok(_) => Vec::new(),
        Err(e) => {
            let problem = e.message.unwrap_or_default();
            let k = if (words.is_some() && e.kind == rask_model::smarthome::ErrorType::InvalidValue)
                || e.kind == rask_model::smarthome::ErrorType::ValueOutOfRange
            {
                "set.value"
            } else {
                "set.property"
            };
            vec![err(
                key(k),
                format!("{problem} ({} is a {})", set.device, kind.name()),
            )]
        }
    }
}

/// `text` with each `{slot}` replaced by the slot's value, its default, or nothing.
fn fill(text: &str, input: &HandlerInput, defaults: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        out.push_str(&rest[..open]);
        let slot = &rest[open + 1..close];
        let value = input
            .slot_value(slot)
            .or_else(|| defaults.get(slot).map(String::as_str))
            .unwrap_or("");
        // A value is what the user said: cut, so that a long utterance cannot make a long topic.
        out.push_str(&rask_model::limits::cut_to(value, 100));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What an intent can do at home.
#[derive(Clone, Default)]
pub struct Home {
    /// Presses doorbells.
    pub triggers: Option<Triggers>,
    /// Publishes to the broker.
    pub publisher: Option<MqttPublisher>,
    /// Sets devices, and the devices it can set.
    pub controller: Option<(Controller, Registry)>,
}

/// What Alexa says when a device could not be set, by why: the refusal's own message is for
/// the log.
fn set_failed(name: &str, e: &rask_model::smarthome::ErrorPayload) -> String {
    use rask_model::smarthome::ErrorType::*;
    match e.kind {
        InvalidValue | ValueOutOfRange => format!("Sorry, {name} cannot be set to that."),
        EndpointUnreachable | BridgeUnreachable => format!("Sorry, {name} is not responding."),
        _ => format!("Sorry, I could not change {name}."),
    }
}

/// The skill `s` declares, its persistent data in `store`.
pub fn skill(s: &SkillSection, store: &Store, home: Home, sink: Option<messages::MessageSink>) -> Skill {
    let speak = |text: String, end: bool| {
        move |_: HandlerInput| {
            let text = text.clone();
            async move { Ok::<_, HandlerError>(ResponseBuilder::new().speak(text).end_session(Some(end))) }
        }
    };
    let reprompt = s.reprompt.clone().unwrap_or_else(|| s.help.clone());
    let (launch, help) = (s.launch.clone(), s.help.clone());
    let gadget = gadgets::GadgetSkill::of(s).map(std::sync::Arc::new);
    let on_launch = gadget.clone();
    let mut b = Skill::builder()
        .skill_id(s.id.clone())
        .persistence(StorePersistence::new(store.clone(), s.id.clone()))
        .on_launch(move |input: HandlerInput| {
            let (launch, reprompt, gadget) = (launch.clone(), reprompt.clone(), on_launch.clone());
            async move {
                match gadget {
                    Some(g) => g.launch(&input, &launch, &reprompt).await,
                    None => Ok(ResponseBuilder::new().speak(launch).reprompt(reprompt)),
                }
            }
        })
        .on_intent("AMAZON.HelpIntent", move |_: HandlerInput| {
            let help = help.clone();
            async move { Ok(ResponseBuilder::new().speak(help.clone()).reprompt(help)) }
        })
        .on_intent("AMAZON.StopIntent", speak(s.stop.clone(), true))
        .on_intent("AMAZON.CancelIntent", speak(s.stop.clone(), true))
        .on_session_ended(|_| async { Ok(ResponseBuilder::new()) })
        // Handed on where [skill.messages] says (or only taken), then answered: Alexa sends
        // again what fails.
        .on_message_received(move |input: HandlerInput| {
            let sink = sink.clone();
            async move {
                match sink {
                    Some(sink) => sink.take(input).await,
                    None => Ok(ResponseBuilder::new()),
                }
            }
        });
    for intent in &s.intents {
        let (say, defaults, end) = (
            intent.say.clone(),
            intent.slot_defaults.clone(),
            intent.end_session,
        );
        let (press, publish, set) = (intent.press.clone(), intent.publish.clone(), intent.set.clone());
        let directive = intent.gadget_directive.clone().zip(gadget.clone());
        let home = home.clone();
        b = b.on_intent(intent.name.clone(), move |input: HandlerInput| {
            let (say, defaults, press, publish, set, directive, home) = (
                say.clone(),
                defaults.clone(),
                press.clone(),
                publish.clone(),
                set.clone(),
                directive.clone(),
                home.clone(),
            );
            async move {
                if let (Some(set), Some((controller, registry))) = (&set, &home.controller)
                    && let Some(device) = registry.get(&set.device)
                    && let Some(property) = rask_home::capabilities::DeviceProperty::from_field(&set.property)
                {
                    let words = fill(&set.value, &input, &defaults);
                    if let Err(e) = controller.set(device, property, &words).await {
                        tracing::info!(device = %device.id, "a custom skill could not set it: {}", e.message.as_deref().map(rask_model::limits::logged).unwrap_or_default());
                        return Ok(ResponseBuilder::new()
                            .speak(set_failed(&device.name, &e))
                            .end_session(Some(end)));
                    }
                }
                if let (Some(device), Some(t)) = (&press, &home.triggers) {
                    t.press(device).await?;
                }
                if let (Some(p), Some(m)) = (&publish, &home.publisher) {
                    m.publish(
                        &fill(&p.topic, &input, &defaults),
                        fill(&p.payload, &input, &defaults),
                    )
                    .await?;
                }
                let b = ResponseBuilder::new().speak(fill(&say, &input, &defaults));
                let b = if end {
                    b.end_session(Some(true))
                } else {
                    b.reprompt("What else?")
                };
                match &directive {
                    Some((d, g)) => g.directive(&input, d, &defaults, b).await,
                    None => Ok(b),
                }
            }
        });
    }
    if let Some(g) = gadget {
        let (events, expired, home) = (g.clone(), g, home.clone());
        b = b
            .on_gadget_events(move |input: HandlerInput| {
                let (g, home) = (events.clone(), home.clone());
                async move { g.events_received(&input, &home).await }
            })
            .on_gadget_expired(move |_: HandlerInput| {
                let g = expired.clone();
                async move { Ok(g.expired()) }
            });
    }
    let fallback = s.fallback.clone();
    b.fallback(move |_: HandlerInput| {
        let fallback = fallback.clone();
        async move {
            Ok(ResponseBuilder::new()
                .speak(fallback)
                .reprompt("Say help to hear what I can do."))
        }
    })
    .build()
}

/// The warning every start gives when verification is off.
pub const UNVERIFIED: &str = "WARNING skill.verify_requests = false: /alexa/skill answers requests that are \
     not Amazon's; use it only behind something that verifies them";

/// The verifier `s` asks for, or `None` when verification is off ([`UNVERIFIED`]).
pub fn verifier(s: &SkillSection) -> anyhow::Result<Option<Verifier>> {
    if !s.verify_requests {
        return Ok(None);
    }
    let mut v = Verifier::amazon();
    if let Some(der) = &s.trust_root_der {
        v = v.trust_root(der).context("skill: the simulator's signing root")?;
    }
    if let Some(path) = &s.trust_root_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("skill.trust_root_file: cannot read {}", path.display()))?;
        v = v
            .trust_root_pem(&pem)
            .with_context(|| format!("skill.trust_root_file: {}", path.display()))?;
    }
    if let Some(m) = &s.cert_mirror {
        v = v.mirror(m.parse().context("skill.cert_mirror")?);
    }
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml_text: &str) -> SkillSection {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn each_problem_names_its_key() {
        let s = section(
            r#"
            id = "my-skill"
            [[intents]]
            name = "Ring Intent"
            say = ""
            press = "garage"
            [[intents]]
            name = "LightIntent"
            say = "ok"
            publish = { topic = "home/#" }
            "#,
        );
        let errors: Vec<String> = check(&s, &[("front-door", "doorbell")], false, true)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errors,
            [
                "skill.id: \"my-skill\" is not a skill id (amzn1.ask.skill.…)",
                "skill.intents[0].name: \"Ring Intent\" is not an intent name",
                "skill.intents[0].say: must say something",
                "skill.intents[0].press: \"garage\" is not a [[devices]] doorbell (kind = \"doorbell\")",
                "skill.intents[1].publish: publishing needs [mqtt] (docs/config.md)",
                "skill.intents[1].publish.topic: \"home/#\" is not a topic one can publish to",
            ]
        );
    }

    #[test]
    fn a_device_to_set_is_checked_against_the_house() {
        let s = section(
            r#"
            id = "amzn1.ask.skill.x"
            [[intents]]
            name = "A"
            say = "ok"
            set = { device = "shed", property = "power", value = "on" }
            [[intents]]
            name = "B"
            say = "ok"
            set = { device = "lamp", property = "colour", value = "red" }
            [[intents]]
            name = "C"
            say = "ok"
            set = { device = "lamp", property = "power", value = "up" }
            [[intents]]
            name = "D"
            say = "ok"
            set = { device = "window", property = "contact", value = "{state}" }
            [[intents]]
            name = "E"
            say = "ok"
            set = { device = "lamp", property = "brightness", value = "{level}" }
            "#,
        );
        let house = [("lamp", "light"), ("window", "contact_sensor")];
        let errors: Vec<String> = check(&s, &house, false, true)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errors,
            [
                "skill.intents[0].set.device: \"shed\" is not a [[devices]] id",
                "skill.intents[1].set.property: \"colour\" is not power, brightness, position, mode or lock",
                "skill.intents[2].set.value: \"up\" is not on or off (lamp is a light)",
                "skill.intents[3].set.property: contact is sensed, not set (window is a contact_sensor)",
            ]
        );
        let errors = check(&s, &house, false, false);
        assert!(
            errors.iter().all(|e| e.problem.contains("needs [alexa]")),
            "{errors:?}"
        );
    }

    #[test]
    fn gadget_keys_name_what_is_wrong() {
        let s = section(
            r#"
            id = "amzn1.ask.skill.x"
            interfaces = ["Robot"]
            launch_directive = { namespace = "Custom.Other", name = "", payload = "{not json" }
            listen = { seconds = 120 }
            [[gadget_events]]
            name = "Spun"
            press = "garage"
            publish = { topic = "a/#" }
            "#,
        );
        let keys: Vec<String> = check(&s, &[("front-door", "doorbell")], false, true)
            .iter()
            .map(|e| e.key.clone())
            .collect();
        assert_eq!(
            keys,
            [
                "skill.interfaces[0]",
                "skill.launch_directive.namespace",
                "skill.launch_directive.name",
                "skill.launch_directive.payload",
                "skill.listen.seconds",
                "skill.gadget_events[0].press",
                "skill.gadget_events[0].publish",
                "skill.gadget_events[0].publish.topic",
            ]
        );
        // Gadget keys without interfaces: the missing key is named.
        let s = section(
            r#"
            id = "amzn1.ask.skill.x"
            listen = { seconds = 10 }
            "#,
        );
        let keys: Vec<String> = check(&s, &[], false, true)
            .iter()
            .map(|e| e.key.clone())
            .collect();
        assert_eq!(keys, ["skill.interfaces"]);
    }

    #[test]
    fn the_messaging_client_needs_one_secret_and_a_known_api() {
        let keys = |text: &str| -> Vec<String> {
            check(&section(text), &[], false, true)
                .iter()
                .map(|e| e.key.clone())
                .collect()
        };
        assert_eq!(
            keys("id = \"amzn1.ask.skill.x\"\nclient_id = \"c\""),
            ["skill.client_secret_env"]
        );
        assert_eq!(
            keys(
                "id = \"amzn1.ask.skill.x\"\nclient_id = \"c\"\nclient_secret_env = \"A\"\nclient_secret_file = \"b\""
            ),
            ["skill.client_secret_file"]
        );
        assert_eq!(
            keys("id = \"amzn1.ask.skill.x\"\nclient_secret_env = \"A\""),
            ["skill.client_id"]
        );
        assert_eq!(
            keys("id = \"amzn1.ask.skill.x\"\napi = \"ftp://x\""),
            ["skill.api"]
        );
        assert!(keys("id = \"amzn1.ask.skill.x\"\nclient_id = \"c\"\nclient_secret_env = \"A\"\napi = \"http://127.0.0.1:9090\"").is_empty());
    }
}
