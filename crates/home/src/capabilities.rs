//! What each device property is in Alexa's words, and the pure decisions around it: how a
//! directive becomes the value a device is told to take (or the documented `ErrorResponse`),
//! how a device's own report of a value is read, and how a value is written into a command
//! payload. No MQTT, no database: those are at the edge (`bridge`, `state`).
//!
//! Values are kept in Alexa's wire form throughout (`"ON"`, `42`, `"LOCKED"`, `"DETECTED"`,
//! `{"value": 21.5, "scale": "CELSIUS"}`), so that what is stored is what Alexa is told.

use rask_model::smarthome::{
    Capability, Directive, DirectivePayload, ErrorPayload, ErrorType, Property, TemperatureScale,
};
use serde_json::{Value, json};

/// The `Alexa.RangeController` instance of a blind's position (0 closed, 100 open).
pub const BLIND_LIFT: &str = "Blind.Lift";
/// The `Alexa.ModeController` instance of a shutter driven up, down or stopped (Amazon's
/// template for blinds that only open and close).
pub const BLIND_POSITION: &str = "Blinds.Position";
/// The shutter's modes: up (open) and down (closed), as Amazon's template has them, and
/// stopped. Amazon documents no voice action for stopping blinds, so `Position.Stop` is
/// reached by its name ("set the shutter to stop").
pub const POSITION_MODES: [&str; 3] = ["Position.Up", "Position.Down", "Position.Stop"];

/// One property a device has, named as in the configuration and in MQTT payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceProperty {
    /// `Alexa.PowerController.powerState`: `ON` / `OFF`.
    Power,
    /// `Alexa.BrightnessController.brightness`: 0–100.
    Brightness,
    /// `Alexa.RangeController` `Blind.Lift` `rangeValue`: 0 (closed) – 100 (open).
    Position,
    /// `Alexa.ModeController` `Blinds.Position` `mode`: one of [`POSITION_MODES`].
    Mode,
    /// `Alexa.LockController.lockState`: `LOCKED` / `UNLOCKED` / `JAMMED`.
    Lock,
    /// `Alexa.ContactSensor.detectionState`: `DETECTED` (open) / `NOT_DETECTED` (closed).
    Contact,
    /// `Alexa.MotionSensor.detectionState`: `DETECTED` / `NOT_DETECTED`.
    Motion,
    /// `Alexa.TemperatureSensor.temperature`: `{"value", "scale"}`.
    Temperature,
}

/// Why a directive is refused before anything is published.
pub type Refusal = ErrorPayload;

impl DeviceProperty {
    /// Its name in `rask.toml` (`state_fields`, `command_templates`), in JSON state payloads
    /// and in the state table.
    pub fn field(self) -> &'static str {
        match self {
            DeviceProperty::Power => "power",
            DeviceProperty::Brightness => "brightness",
            DeviceProperty::Position => "position",
            DeviceProperty::Mode => "mode",
            DeviceProperty::Lock => "lock",
            DeviceProperty::Contact => "contact",
            DeviceProperty::Motion => "motion",
            DeviceProperty::Temperature => "temperature",
        }
    }

    /// The property with this configuration name.
    pub fn from_field(field: &str) -> Option<DeviceProperty> {
        Self::ALL.into_iter().find(|p| p.field() == field)
    }

    /// Every property.
    pub const ALL: [DeviceProperty; 8] = [
        DeviceProperty::Power,
        DeviceProperty::Brightness,
        DeviceProperty::Position,
        DeviceProperty::Mode,
        DeviceProperty::Lock,
        DeviceProperty::Contact,
        DeviceProperty::Motion,
        DeviceProperty::Temperature,
    ];

    /// Alexa's interface, property name and instance.
    pub fn alexa(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            DeviceProperty::Power => ("Alexa.PowerController", "powerState", None),
            DeviceProperty::Brightness => ("Alexa.BrightnessController", "brightness", None),
            DeviceProperty::Position => ("Alexa.RangeController", "rangeValue", Some(BLIND_LIFT)),
            DeviceProperty::Mode => ("Alexa.ModeController", "mode", Some(BLIND_POSITION)),
            DeviceProperty::Lock => ("Alexa.LockController", "lockState", None),
            DeviceProperty::Contact => ("Alexa.ContactSensor", "detectionState", None),
            DeviceProperty::Motion => ("Alexa.MotionSensor", "detectionState", None),
            DeviceProperty::Temperature => ("Alexa.TemperatureSensor", "temperature", None),
        }
    }

    /// Its value at rest, for a virtual device that was never told otherwise: off, full
    /// brightness, closed, stopped, locked. Sensors have none: only a report says.
    pub fn at_rest(self) -> Option<Value> {
        match self {
            DeviceProperty::Power => Some(json!("OFF")),
            DeviceProperty::Brightness => Some(json!(100)),
            DeviceProperty::Position => Some(json!(0)),
            DeviceProperty::Mode => Some(json!("Position.Stop")),
            DeviceProperty::Lock => Some(json!("LOCKED")),
            DeviceProperty::Contact | DeviceProperty::Motion | DeviceProperty::Temperature => None,
        }
    }

    /// Whether Alexa can set it (sensors only report).
    pub fn controllable(self) -> bool {
        matches!(
            self,
            DeviceProperty::Power
                | DeviceProperty::Brightness
                | DeviceProperty::Position
                | DeviceProperty::Mode
                | DeviceProperty::Lock
        )
    }

    /// The discovery capability that declares it: proactively reported and retrievable, with
    /// the configuration and semantics Amazon documents for blinds.
    pub fn capability(self) -> Capability {
        let (interface, name, instance) = self.alexa();
        let mut c = Capability::reporting(interface, &[name]);
        if let Some(i) = instance {
            c = c.with_instance(i);
        }
        match self {
            DeviceProperty::Position => {
                c.capability_resources = Some(asset_names(&["Alexa.Setting.Opening"]));
                c.configuration = Some(json!({
                    "supportedRange": {"minimumValue": 0, "maximumValue": 100, "precision": 1},
                    "unitOfMeasure": "Alexa.Unit.Percent"
                }));
                c.semantics = Some(json!({
                    "actionMappings": [
                        {"@type": "ActionsToDirective", "actions": ["Alexa.Actions.Close"],
                         "directive": {"name": "SetRangeValue", "payload": {"rangeValue": 0}}},
                        {"@type": "ActionsToDirective", "actions": ["Alexa.Actions.Open"],
                         "directive": {"name": "SetRangeValue", "payload": {"rangeValue": 100}}},
                        {"@type": "ActionsToDirective", "actions": ["Alexa.Actions.Lower"],
                         "directive": {"name": "AdjustRangeValue",
                                       "payload": {"rangeValueDelta": -10, "rangeValueDeltaDefault": false}}},
                        {"@type": "ActionsToDirective", "actions": ["Alexa.Actions.Raise"],
                         "directive": {"name": "AdjustRangeValue",
                                       "payload": {"rangeValueDelta": 10, "rangeValueDeltaDefault": false}}}
                    ],
                    "stateMappings": [
                        {"@type": "StatesToValue", "states": ["Alexa.States.Closed"], "value": 0},
                        {"@type": "StatesToRange", "states": ["Alexa.States.Open"],
                         "range": {"minimumValue": 1, "maximumValue": 100}}
                    ]
                }));
            }
            DeviceProperty::Mode => {
                c.capability_resources = Some(asset_names(&["Alexa.Setting.Opening"]));
                let modes: Vec<Value> = POSITION_MODES
                    .iter()
                    .map(|m| {
                        let label = match *m {
                            "Position.Up" => asset_names(&["Alexa.Value.Open"]),
                            "Position.Down" => asset_names(&["Alexa.Value.Close"]),
                            _ => text_names(&[("Stop", "en-US"), ("Stopped", "en-US")]),
                        };
                        json!({"value": m, "modeResources": label})
                    })
                    .collect();
                c.configuration = Some(json!({"ordered": false, "supportedModes": modes}));
                c.semantics = Some(json!({
                    "actionMappings": [
                        {"@type": "ActionsToDirective", "actions": ["Alexa.Actions.Close", "Alexa.Actions.Lower"],
                         "directive": {"name": "SetMode", "payload": {"mode": "Position.Down"}}},
                        {"@type": "ActionsToDirective", "actions": ["Alexa.Actions.Open", "Alexa.Actions.Raise"],
                         "directive": {"name": "SetMode", "payload": {"mode": "Position.Up"}}}
                    ],
                    "stateMappings": [
                        {"@type": "StatesToValue", "states": ["Alexa.States.Closed"], "value": "Position.Down"},
                        {"@type": "StatesToValue", "states": ["Alexa.States.Open"], "value": "Position.Up"}
                    ]
                }));
            }
            _ => {}
        }
        c
    }

    /// Reads a value a device reported (a plain MQTT payload, or one field of a JSON state),
    /// in the forms devices commonly use, into Alexa's wire form. `None`: not a value of this
    /// property.
    pub fn read(self, reported: &Value, scale: &TemperatureScale) -> Option<Value> {
        let text = match reported {
            Value::String(s) => Some(s.trim().to_ascii_uppercase()),
            Value::Bool(b) => Some(if *b { "TRUE" } else { "FALSE" }.to_owned()),
            _ => None,
        };
        let number = match reported {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        let percent = || {
            number
                .filter(|n| (0.0..=100.0).contains(n) && n.fract() == 0.0)
                .map(|n| json!(n as i64))
        };
        match self {
            DeviceProperty::Power => match text.as_deref()? {
                "ON" | "TRUE" => Some(json!("ON")),
                "OFF" | "FALSE" => Some(json!("OFF")),
                _ => None,
            },
            DeviceProperty::Brightness | DeviceProperty::Position => percent(),
            DeviceProperty::Mode => {
                let t = text?;
                POSITION_MODES
                    .iter()
                    .find(|m| m.eq_ignore_ascii_case(&t) || m[9..].eq_ignore_ascii_case(&t))
                    .map(|m| json!(m))
            }
            DeviceProperty::Lock => match text.as_deref()? {
                "LOCKED" | "LOCK" | "TRUE" => Some(json!("LOCKED")),
                "UNLOCKED" | "UNLOCK" | "FALSE" => Some(json!("UNLOCKED")),
                "JAMMED" => Some(json!("JAMMED")),
                _ => None,
            },
            // `true` is contact made, a closed door, as zigbee2mqtt's `contact` says it.
            DeviceProperty::Contact => match text.as_deref()? {
                "DETECTED" | "OPEN" | "FALSE" => Some(json!("DETECTED")),
                "NOT_DETECTED" | "CLOSED" | "TRUE" => Some(json!("NOT_DETECTED")),
                _ => None,
            },
            DeviceProperty::Motion => match text.as_deref()? {
                "DETECTED" | "MOTION" | "ON" | "TRUE" => Some(json!("DETECTED")),
                "NOT_DETECTED" | "CLEAR" | "OFF" | "FALSE" => Some(json!("NOT_DETECTED")),
                _ => None,
            },
            DeviceProperty::Temperature => {
                // Two decimals at most: a sensor's 21.4999999 is 21.5.
                let n = number.filter(|n| n.is_finite() && n.abs() < 1000.0)?;
                let n = (n * 100.0).round() / 100.0;
                Some(json!({"value": n, "scale": scale}))
            }
        }
    }

    /// The text a command template's `{value}` becomes: the target in Alexa's words
    /// (`ON`, `42`, `Position.Up`, `LOCKED`).
    pub fn render(self, target: &Value) -> String {
        match target {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// The default command payload: a JSON object with this property's field.
    pub fn default_template(self) -> String {
        match self {
            DeviceProperty::Brightness | DeviceProperty::Position => {
                format!("{{\"{}\": {{value}}}}", self.field())
            }
            _ => format!("{{\"{}\": \"{{value}}\"}}", self.field()),
        }
    }

    /// This property as an Alexa context property.
    pub fn property(self, value: Value, time_of_sample: String, uncertainty_ms: u64) -> Property {
        let (namespace, name, instance) = self.alexa();
        let mut p = Property::new(namespace, name, value, uncertainty_ms).sampled_at(time_of_sample);
        p.instance = instance.map(str::to_owned);
        p
    }
}

fn asset_names(assets: &[&str]) -> Value {
    json!({"friendlyNames": assets.iter()
        .map(|a| json!({"@type": "asset", "value": {"assetId": a}}))
        .collect::<Vec<_>>()})
}

fn text_names(names: &[(&str, &str)]) -> Value {
    json!({"friendlyNames": names.iter()
        .map(|(text, locale)| json!({"@type": "text", "value": {"text": text, "locale": locale}}))
        .collect::<Vec<_>>()})
}

/// Whether a device reporting `reported` for `property` has done what `target` asked.
/// Percentages may come back one off: devices with a 0–254 or 0–255 scale round.
pub fn confirms(property: DeviceProperty, target: &Value, reported: &Value) -> bool {
    match (property, target.as_i64(), reported.as_i64()) {
        (DeviceProperty::Brightness | DeviceProperty::Position, Some(t), Some(r)) => (t - r).abs() <= 1,
        _ => target == reported,
    }
}

/// Whether a device reporting `reported` while a command for `target` waits has given its
/// final answer: it did what was asked, or it is a lock that reports itself jammed (Alexa
/// then tells the user from the response's `lockState`).
pub fn settles(property: DeviceProperty, target: &Value, reported: &Value) -> bool {
    confirms(property, target, reported) || (property == DeviceProperty::Lock && reported == "JAMMED")
}

/// What a directive asks of a device: one property to take one value.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The property.
    pub property: DeviceProperty,
    /// The value, in Alexa's wire form.
    pub target: Value,
}

/// Turns a control directive into a [`Command`] for a device with `properties`, or the
/// `ErrorResponse` Alexa documents. `current` gives a property's stored value, which relative
/// directives (AdjustBrightness, AdjustRangeValue) start from.
pub fn command(
    properties: &[DeviceProperty],
    directive: &Directive,
    current: impl Fn(DeviceProperty) -> Option<Value>,
) -> Result<Command, Refusal> {
    let name = format!("{}.{}", directive.header.namespace, directive.header.name);
    let needs = |p: DeviceProperty| {
        if properties.contains(&p) {
            Ok(p)
        } else {
            Err(Refusal::new(
                ErrorType::InvalidDirective,
                format!("this device does not support {name}"),
            ))
        }
    };
    let instance = |p: DeviceProperty| {
        let wanted = p.alexa().2;
        match directive.header.instance.as_deref() {
            i if i == wanted => Ok(p),
            other => Err(Refusal::new(
                ErrorType::InvalidDirective,
                format!(
                    "{name} names instance {:?}; this device has {:?}",
                    other.unwrap_or(""),
                    wanted.unwrap_or("")
                ),
            )),
        }
    };
    let out_of_range = |what: &str, value: f64, min: f64, max: f64| {
        Refusal::value_out_of_range(format!("{what} {value} is outside {min}–{max}"), min, max)
    };
    let known = |p: DeviceProperty| {
        current(p).and_then(|v| v.as_i64()).ok_or_else(|| {
            Refusal::new(
                ErrorType::EndpointUnreachable,
                format!(
                    "rask has not heard the device's {} yet, so it cannot change it by an amount",
                    p.field()
                ),
            )
        })
    };
    let command = |property, target| Ok(Command { property, target });
    match &directive.payload {
        DirectivePayload::TurnOn(_) => command(needs(DeviceProperty::Power)?, json!("ON")),
        DirectivePayload::TurnOff(_) => command(needs(DeviceProperty::Power)?, json!("OFF")),
        DirectivePayload::SetBrightness(p) => {
            let prop = needs(DeviceProperty::Brightness)?;
            if !(0..=100).contains(&p.brightness) {
                return Err(out_of_range("brightness", p.brightness as f64, 0.0, 100.0));
            }
            command(prop, json!(p.brightness))
        }
        DirectivePayload::AdjustBrightness(p) => {
            let prop = needs(DeviceProperty::Brightness)?;
            if !(-100..=100).contains(&p.brightness_delta) {
                return Err(out_of_range(
                    "brightnessDelta",
                    p.brightness_delta as f64,
                    -100.0,
                    100.0,
                ));
            }
            let now = known(prop)?;
            command(prop, json!((now + p.brightness_delta).clamp(0, 100)))
        }
        DirectivePayload::SetRangeValue(p) => {
            let prop = instance(needs(DeviceProperty::Position)?)?;
            let v = p.range_value;
            if !(0.0..=100.0).contains(&v) {
                return Err(out_of_range("rangeValue", v, 0.0, 100.0));
            }
            if v.fract() != 0.0 {
                return Err(Refusal::new(
                    ErrorType::InvalidValue,
                    format!("rangeValue {v} is not a whole percent (precision 1)"),
                ));
            }
            command(prop, json!(v as i64))
        }
        DirectivePayload::AdjustRangeValue(p) => {
            let prop = instance(needs(DeviceProperty::Position)?)?;
            let d = p.range_value_delta;
            if !(-100.0..=100.0).contains(&d) {
                return Err(out_of_range("rangeValueDelta", d, -100.0, 100.0));
            }
            if d.fract() != 0.0 {
                return Err(Refusal::new(
                    ErrorType::InvalidValue,
                    format!("rangeValueDelta {d} is not a whole percent (precision 1)"),
                ));
            }
            let now = known(prop)?;
            command(prop, json!((now + d as i64).clamp(0, 100)))
        }
        DirectivePayload::SetMode(p) => {
            let prop = instance(needs(DeviceProperty::Mode)?)?;
            match POSITION_MODES.iter().find(|m| **m == p.mode) {
                Some(m) => command(prop, json!(m)),
                None => Err(Refusal::new(
                    ErrorType::InvalidValue,
                    format!("mode {:?} is not one of {}", p.mode, POSITION_MODES.join(", ")),
                )),
            }
        }
        DirectivePayload::AdjustMode(_) => {
            instance(needs(DeviceProperty::Mode)?)?;
            Err(Refusal::new(
                ErrorType::InvalidDirective,
                "the shutter's modes are not ordered, so they cannot be adjusted by steps",
            ))
        }
        DirectivePayload::Lock(_) => command(needs(DeviceProperty::Lock)?, json!("LOCKED")),
        DirectivePayload::Unlock(_) => command(needs(DeviceProperty::Lock)?, json!("UNLOCKED")),
        _ => Err(Refusal::new(
            ErrorType::InvalidDirective,
            format!("rask does not handle {name} for this device"),
        )),
    }
}

/// Reads a device's state message: a JSON object with one field per property (named by
/// `field_of`), or a plain value, taken by the first of `properties` that can read it.
/// Returns the properties it sets, in Alexa's wire form; empty when nothing could be read.
pub fn read_state(
    properties: &[DeviceProperty],
    payload: &[u8],
    field_of: impl Fn(DeviceProperty) -> String,
    scale: &TemperatureScale,
) -> Vec<(DeviceProperty, Value)> {
    let text = String::from_utf8_lossy(payload);
    let parsed: Option<Value> = serde_json::from_str(text.trim()).ok();
    match parsed {
        Some(Value::Object(fields)) => properties
            .iter()
            .filter_map(|p| {
                let reported = lookup(&fields, &field_of(*p))?;
                p.read(reported, scale).map(|v| (*p, v))
            })
            .collect(),
        other => {
            let plain = other.unwrap_or_else(|| Value::String(text.trim().to_owned()));
            properties
                .iter()
                .find_map(|p| p.read(&plain, scale).map(|v| (*p, v)))
                .into_iter()
                .collect()
        }
    }
}

/// A field by a dotted path (`state.brightness`), as home hubs nest their JSON.
fn lookup<'a>(fields: &'a serde_json::Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut at = fields.get(parts.next()?)?;
    for part in parts {
        at = at.get(part)?;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_model::smarthome::DirectiveMessage;

    fn directive(namespace: &str, name: &str, instance: Option<&str>, payload: Value) -> Directive {
        let mut header = json!({"namespace": namespace, "name": name, "payloadVersion": "3",
                                "messageId": "m", "correlationToken": "c"});
        if let Some(i) = instance {
            header["instance"] = json!(i);
        }
        serde_json::from_value::<DirectiveMessage>(json!({"directive": {
            "header": header,
            "endpoint": {"scope": {"type": "BearerToken", "token": "t"}, "endpointId": "d"},
            "payload": payload}}))
        .unwrap()
        .directive
    }

    const LIGHT: &[DeviceProperty] = &[DeviceProperty::Power, DeviceProperty::Brightness];

    #[test]
    fn directives_become_targets_in_alexas_words() {
        let none = |_| None;
        let on = command(
            LIGHT,
            &directive("Alexa.PowerController", "TurnOn", None, json!({})),
            none,
        );
        assert_eq!(
            on,
            Ok(Command {
                property: DeviceProperty::Power,
                target: json!("ON")
            })
        );
        let set = command(
            LIGHT,
            &directive(
                "Alexa.BrightnessController",
                "SetBrightness",
                None,
                json!({"brightness": 40}),
            ),
            none,
        )
        .unwrap();
        assert_eq!(set.target, json!(40));
        let at = |_| Some(json!(90));
        let up = command(
            LIGHT,
            &directive(
                "Alexa.BrightnessController",
                "AdjustBrightness",
                None,
                json!({"brightnessDelta": 25}),
            ),
            at,
        )
        .unwrap();
        assert_eq!(up.target, json!(100), "clamped at the top");
        let lock = command(
            &[DeviceProperty::Lock],
            &directive("Alexa.LockController", "Lock", None, json!({})),
            none,
        );
        assert_eq!(lock.unwrap().target, json!("LOCKED"));
    }

    #[test]
    fn bad_values_get_the_documented_error_types() {
        let none = |_| None;
        let e = command(
            LIGHT,
            &directive(
                "Alexa.BrightnessController",
                "SetBrightness",
                None,
                json!({"brightness": 140}),
            ),
            none,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorType::ValueOutOfRange);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["validRange"], json!({"minimumValue": 0, "maximumValue": 100}));

        let shutter = &[DeviceProperty::Mode];
        let e = command(
            shutter,
            &directive(
                "Alexa.ModeController",
                "SetMode",
                Some(BLIND_POSITION),
                json!({"mode": "Position.Sideways"}),
            ),
            none,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorType::InvalidValue);
        let e = command(
            shutter,
            &directive(
                "Alexa.ModeController",
                "SetMode",
                Some("Washer.Cycle"),
                json!({"mode": "Position.Up"}),
            ),
            none,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorType::InvalidDirective);
        let e = command(
            &[DeviceProperty::Contact],
            &directive("Alexa.PowerController", "TurnOn", None, json!({})),
            none,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorType::InvalidDirective);
        let blind = &[DeviceProperty::Position];
        let e = command(
            blind,
            &directive(
                "Alexa.RangeController",
                "SetRangeValue",
                Some(BLIND_LIFT),
                json!({"rangeValue": -5}),
            ),
            none,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorType::ValueOutOfRange);
        let e = command(
            blind,
            &directive(
                "Alexa.RangeController",
                "AdjustRangeValue",
                Some(BLIND_LIFT),
                json!({"rangeValueDelta": 10}),
            ),
            none,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorType::EndpointUnreachable, "no position heard yet");
        for (name, payload) in [
            ("SetRangeValue", json!({"rangeValue": 40.5})),
            ("AdjustRangeValue", json!({"rangeValueDelta": 2.5})),
        ] {
            let e = command(
                blind,
                &directive("Alexa.RangeController", name, Some(BLIND_LIFT), payload),
                |_| Some(json!(10)),
            )
            .unwrap_err();
            assert_eq!(e.kind, ErrorType::InvalidValue, "{name}");
        }
    }

    #[test]
    fn device_reports_are_read_in_common_forms() {
        let c = &TemperatureScale::Celsius;
        let field = |p: DeviceProperty| p.field().to_owned();
        assert_eq!(
            read_state(LIGHT, br#"{"power": "on", "brightness": 40}"#, field, c),
            vec![
                (DeviceProperty::Power, json!("ON")),
                (DeviceProperty::Brightness, json!(40))
            ]
        );
        assert_eq!(
            read_state(LIGHT, b"OFF", field, c),
            vec![(DeviceProperty::Power, json!("OFF"))]
        );
        assert_eq!(
            read_state(LIGHT, b"55", field, c),
            vec![(DeviceProperty::Brightness, json!(55))],
            "a plain number is the first property that takes numbers"
        );
        let nested = |_: DeviceProperty| "state.contact".to_owned();
        assert_eq!(
            read_state(
                &[DeviceProperty::Contact],
                br#"{"state": {"contact": true}}"#,
                nested,
                c
            ),
            vec![(DeviceProperty::Contact, json!("NOT_DETECTED"))]
        );
        assert_eq!(
            read_state(&[DeviceProperty::Temperature], b"21.4999999", field, c),
            vec![(
                DeviceProperty::Temperature,
                json!({"value": 21.5, "scale": "CELSIUS"})
            )]
        );
        assert_eq!(
            read_state(&[DeviceProperty::Mode], b"down", field, c),
            vec![(DeviceProperty::Mode, json!("Position.Down"))]
        );
        assert!(read_state(LIGHT, b"140", field, c).is_empty());
        assert!(read_state(LIGHT, b"\xff\xfe", field, c).is_empty());
        assert!(read_state(&[DeviceProperty::Lock], br#"{"lock": "ajar"}"#, field, c).is_empty());
    }

    #[test]
    fn a_rounded_percentage_confirms_a_command() {
        assert!(confirms(DeviceProperty::Brightness, &json!(40), &json!(39)));
        assert!(!confirms(DeviceProperty::Brightness, &json!(40), &json!(37)));
        assert!(confirms(DeviceProperty::Power, &json!("ON"), &json!("ON")));
        assert!(!confirms(
            DeviceProperty::Lock,
            &json!("LOCKED"),
            &json!("JAMMED")
        ));
    }

    #[test]
    fn templates_put_the_target_in_alexas_words() {
        let t = DeviceProperty::Brightness.default_template();
        assert_eq!(
            t.replace("{value}", &DeviceProperty::Brightness.render(&json!(40))),
            r#"{"brightness": 40}"#
        );
        let t = DeviceProperty::Power.default_template();
        assert_eq!(
            t.replace("{value}", &DeviceProperty::Power.render(&json!("ON"))),
            r#"{"power": "ON"}"#
        );
    }
}
