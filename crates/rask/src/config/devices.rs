//! `[[devices]]`: each device's keys, checked one by one (its kind, its MQTT wiring, its
//! trigger secret), and what rask makes of them: the registry, the wiring, the topics.

use std::path::PathBuf;
use std::time::Duration;

use rask_home::capabilities::DeviceProperty;
use serde::Deserialize;

use super::{Config, ConfigError, MIN_SECRET_CHARS, err, read_secret, short_secret};

/// `[[devices]]`: one device bridged to Alexa.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    /// The endpoint id Alexa knows it by: letters, digits and `_-=#;:?@&`.
    pub id: String,
    /// The name people say.
    pub name: String,
    /// Shown in the Alexa app (default: the kind).
    #[serde(default)]
    pub description: Option<String>,
    /// `doorbell`, `light`, `plug`, `blind`, `shutter`, `lock`, `contact_sensor`,
    /// `motion_sensor` or `temperature_sensor`.
    pub kind: String,
    /// Who made it (discovery's `manufacturerName`; default `rask`).
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// Its model (discovery's `additionalAttributes.model`; default `rask KIND`).
    #[serde(default)]
    pub model: Option<String>,
    /// The environment variable holding the device's secret for `POST /hooks/devices/{id}/...`.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A file holding the device's secret, instead of `secret_env`.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// The MQTT topic on which the device reports presses (needs `[mqtt]`).
    #[serde(default)]
    pub mqtt_topic: Option<String>,
    /// Where rask publishes Alexa's directives for the device (controllable kinds).
    #[serde(default)]
    pub command_topic: Option<String>,
    /// Where the device reports its state: a plain value or a JSON object.
    #[serde(default)]
    pub state_topic: Option<String>,
    /// Property → the JSON field (dotted path) of a state message that holds it.
    #[serde(default)]
    pub state_fields: std::collections::BTreeMap<String, String>,
    /// Property → the payload published to set it, `{value}` standing for the target.
    #[serde(default)]
    pub command_templates: std::collections::BTreeMap<String, String>,
    /// How long the device has to confirm a command on its state topic (default 3000).
    #[serde(default)]
    pub confirm_timeout_ms: Option<u64>,
    /// A device slower than Alexa's 8 s: answer with a DeferredResponse, the result follows
    /// through the Event Gateway.
    #[serde(default)]
    pub slow: bool,
    /// After this long without a message, the device is reported unreachable.
    #[serde(default)]
    pub offline_after_seconds: Option<u64>,
    /// `CELSIUS` (default), `FAHRENHEIT` or `KELVIN`: what a temperature sensor reports in.
    #[serde(default)]
    pub temperature_scale: Option<String>,
}

pub(super) fn device_kind(kind: &str) -> Option<rask_home::DeviceKind> {
    rask_home::DeviceKind::from_name(kind)
}

/// The keys of one `[[devices]]` entry whose kind is known.
pub(super) fn check_device(
    d: &DeviceSection,
    kind: rask_home::DeviceKind,
    has_mqtt: bool,
    key: &dyn Fn(&str) -> String,
    errors: &mut Vec<ConfigError>,
) {
    use rask_home::DeviceKind;
    let names = |props: &[DeviceProperty]| props.iter().map(|p| p.field()).collect::<Vec<_>>().join(", ");
    let http = d.secret_env.is_some() || d.secret_file.is_some();
    match kind {
        DeviceKind::Doorbell if !http && d.mqtt_topic.is_none() => errors.push(err(
            key("mqtt_topic"),
            "a doorbell needs a trigger: mqtt_topic, or secret_env for HTTP",
        )),
        DeviceKind::Doorbell => {}
        k if k.controllable() && d.command_topic.is_none() => errors.push(err(
            key("command_topic"),
            format!(
                "a {} is controlled through MQTT: set command_topic (and state_topic, on which it confirms)",
                k.name()
            ),
        )),
        k if !k.controllable() && d.state_topic.is_none() && !http => errors.push(err(
            key("state_topic"),
            format!(
                "a {} needs a way to report: state_topic, or secret_env for POST /hooks/devices/{{id}}/state",
                k.name()
            ),
        )),
        _ => {}
    }
    if kind != DeviceKind::Doorbell && d.mqtt_topic.is_some() {
        errors.push(err(
            key("mqtt_topic"),
            "mqtt_topic is a doorbell's press topic; other devices use state_topic and command_topic",
        ));
    }
    let mqtt_keys = [
        ("mqtt_topic", &d.mqtt_topic),
        ("command_topic", &d.command_topic),
        ("state_topic", &d.state_topic),
    ];
    for (name, topic) in mqtt_keys {
        match topic {
            Some(_) if !has_mqtt => errors.push(err(key(name), "an MQTT topic needs an [mqtt] broker url")),
            Some(t) if t.is_empty() || t.contains(['+', '#']) => errors.push(err(
                key(name),
                format!("{t:?} is not a topic rask can use (empty, or with a wildcard)"),
            )),
            _ => {}
        }
    }
    let props = kind.properties();
    for (field, path) in &d.state_fields {
        match DeviceProperty::from_field(field) {
            Some(p) if props.contains(&p) && !path.is_empty() => {}
            Some(p) if props.contains(&p) => errors.push(err(
                key(&format!("state_fields.{field}")),
                "the field name is empty",
            )),
            _ => errors.push(err(
                key(&format!("state_fields.{field}")),
                format!(
                    "a {} has no property {field:?} (it has: {})",
                    kind.name(),
                    names(props)
                ),
            )),
        }
    }
    for (field, template) in &d.command_templates {
        match DeviceProperty::from_field(field) {
            Some(p) if props.contains(&p) && p.controllable() => {
                if !template.contains("{value}") {
                    errors.push(err(
                        key(&format!("command_templates.{field}")),
                        "the template has no {value} for the target",
                    ));
                }
            }
            _ => errors.push(err(
                key(&format!("command_templates.{field}")),
                format!(
                    "a {} has no property {field:?} that Alexa sets (it has: {})",
                    kind.name(),
                    names(
                        &props
                            .iter()
                            .copied()
                            .filter(|p| p.controllable())
                            .collect::<Vec<_>>()
                    )
                ),
            )),
        }
    }
    if let Some(ms) = d.confirm_timeout_ms {
        // Alexa waits 8 s and the forwarder 7 s; a slow device answers later through the gateway.
        let max = if d.slow { 600_000 } else { 6_000 };
        if !(100..=max).contains(&ms) {
            let why = if d.slow {
                ""
            } else {
                "; a device that takes longer should set slow = true"
            };
            errors.push(err(
                key("confirm_timeout_ms"),
                format!("{ms} is not within 100–{max}{why}"),
            ));
        }
    }
    if d.slow && !kind.controllable() {
        errors.push(err(key("slow"), format!("a {} takes no commands", kind.name())));
    }
    if let Some(s) = d.offline_after_seconds.filter(|s| *s == 0) {
        errors.push(err(
            key("offline_after_seconds"),
            format!("{s} is not a period: leave it out for never"),
        ));
    }
    if let Some(scale) = &d.temperature_scale {
        if temperature_scale(scale).is_none() {
            errors.push(err(
                key("temperature_scale"),
                format!("{scale:?} is not CELSIUS, FAHRENHEIT or KELVIN"),
            ));
        }
    }
}

/// Each MQTT topic rask listens on has one use: a topic shared by two devices, or used for
/// presses and states, would route messages to one of them only; a device whose command topic
/// is its state topic would confirm its own commands. Command topics alone may be shared.
pub(super) fn check_topics(devices: &[DeviceSection], errors: &mut Vec<ConfigError>) {
    let mut seen: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for (i, d) in devices.iter().enumerate() {
        let uses = [
            ("mqtt_topic", &d.mqtt_topic),
            ("state_topic", &d.state_topic),
            ("command_topic", &d.command_topic),
        ];
        for (name, topic) in uses {
            let Some(t) = topic else { continue };
            let here = format!("devices[{i}].{name}");
            // Devices may share a command topic (a multi-channel relay): rask only publishes there.
            let shared_command = name == "command_topic"
                && seen
                    .get(t.as_str())
                    .is_some_and(|first| first.ends_with(".command_topic"));
            if shared_command {
                continue;
            }
            match seen.get(t.as_str()) {
                Some(first) => errors.push(err(
                    here,
                    format!("{t:?} is already {first}: give each use its own topic"),
                )),
                None => {
                    seen.insert(t, here);
                }
            }
        }
    }
}

/// A device's MQTT wiring from its (valid) section.
fn wiring(d: &DeviceSection) -> rask_home::devices::Wiring {
    let by_property = |m: &std::collections::BTreeMap<String, String>| {
        m.iter()
            .filter_map(|(k, v)| Some((DeviceProperty::from_field(k)?, v.clone())))
            .collect()
    };
    let defaults = rask_home::devices::Wiring::default();
    rask_home::devices::Wiring {
        command_topic: d.command_topic.clone(),
        state_topic: d.state_topic.clone(),
        state_fields: by_property(&d.state_fields),
        command_templates: by_property(&d.command_templates),
        confirm_timeout: d
            .confirm_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.confirm_timeout),
        slow: d.slow,
        offline_after: d.offline_after_seconds.map(Duration::from_secs),
        temperature_scale: d
            .temperature_scale
            .as_deref()
            .and_then(temperature_scale)
            .unwrap_or(defaults.temperature_scale),
    }
}

fn temperature_scale(s: &str) -> Option<rask_model::smarthome::TemperatureScale> {
    use rask_model::smarthome::TemperatureScale as T;
    match s.to_ascii_uppercase().as_str() {
        "CELSIUS" => Some(T::Celsius),
        "FAHRENHEIT" => Some(T::Fahrenheit),
        "KELVIN" => Some(T::Kelvin),
        _ => None,
    }
}

impl Config {
    /// The devices; without a configuration file, the demo home.
    pub fn registry(&self, from_file: bool) -> rask_home::Registry {
        if !from_file && self.devices.is_empty() {
            return rask_home::Registry::demo();
        }
        rask_home::Registry::new(
            self.devices
                .iter()
                .filter_map(|d| {
                    let kind = device_kind(&d.kind)?;
                    Some(rask_home::Device {
                        id: d.id.clone(),
                        name: d.name.clone(),
                        description: d
                            .description
                            .clone()
                            .unwrap_or_else(|| format!("{} bridged by rask", d.kind.replace('_', " "))),
                        kind,
                        manufacturer: d
                            .manufacturer
                            .clone()
                            .unwrap_or_else(|| rask_home::devices::DEFAULT_MANUFACTURER.into()),
                        model: d
                            .model
                            .clone()
                            .unwrap_or_else(|| rask_home::devices::default_model(kind)),
                        wiring: wiring(d),
                    })
                })
                .collect(),
        )
    }

    /// The devices' trigger secrets, from the environment; a device without `secret_env` has
    /// no HTTP trigger.
    pub fn device_secrets(
        &self,
    ) -> Result<std::collections::HashMap<String, rask_link::secret::Secret>, Vec<ConfigError>> {
        let mut out = std::collections::HashMap::new();
        let mut errors = Vec::new();
        for (i, d) in self.devices.iter().enumerate() {
            if d.secret_env.is_none() && d.secret_file.is_none() {
                continue;
            }
            let key = format!("devices[{i}].secret");
            match read_secret(&key, d.secret_env.as_deref(), d.secret_file.as_deref()) {
                Ok(s) if s.chars().count() >= MIN_SECRET_CHARS => {
                    out.insert(d.id.clone(), rask_link::secret::Secret::new(s));
                }
                Ok(s) if s.is_empty() => {
                    errors.push(err(format!("devices[{i}]"), "the device secret is empty"))
                }
                Ok(s) => errors.push(short_secret(&key, d.secret_env.as_deref(), s.chars().count())),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() { Ok(out) } else { Err(errors) }
    }

    /// State topic → device id.
    pub fn state_topics(&self) -> std::collections::HashMap<String, String> {
        self.devices
            .iter()
            .filter_map(|d| d.state_topic.clone().map(|t| (t, d.id.clone())))
            .collect()
    }

    /// Doorbell press topic → device id.
    pub fn press_topics(&self) -> std::collections::HashMap<String, String> {
        self.devices
            .iter()
            .filter_map(|d| d.mqtt_topic.clone().map(|t| (t, d.id.clone())))
            .collect()
    }
}
