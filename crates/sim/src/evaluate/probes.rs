//! Which directives an evaluation sends to an endpoint, read off what it declared in
//! discovery: for each controller, its directives with a value in range, and where the
//! interface has a range Alexa can step outside of (a RangeController's `supportedRange`, a
//! thermostat's setpoint, a percentage), one value outside it with the `ErrorResponse` type
//! Amazon documents for it. Pure: no I/O.
//!
//! Sources: each interface's page under
//! <https://developer.amazon.com/en-US/docs/alexa/device-apis/list-of-interfaces.html>, and the
//! error types at <https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-errorresponse.html>.

use serde_json::{Value, json};

/// What a directive should bring back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `Alexa.Response` (or a `DeferredResponse`, for a slow device).
    Success,
    /// An `ErrorResponse` of one of these types.
    Error(&'static [&'static str]),
}

/// One directive to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Such as `Alexa.BrightnessController`.
    pub namespace: String,
    /// Such as `SetBrightness`.
    pub name: &'static str,
    /// The capability's instance, for the generic controllers.
    pub instance: Option<String>,
    /// The directive's payload.
    pub payload: Value,
    /// The answer Amazon documents.
    pub expect: Expect,
}

/// `VALUE_OUT_OF_RANGE`.
pub const OUT_OF_RANGE: &[&str] = &["VALUE_OUT_OF_RANGE"];
/// A thermostat's own type for a setpoint it cannot take.
pub const TEMPERATURE_OUT_OF_RANGE: &[&str] = &["TEMPERATURE_VALUE_OUT_OF_RANGE"];
/// A mode the controller does not have.
pub const INVALID_VALUE: &[&str] = &["INVALID_VALUE"];
/// What a device that cannot be reached answers.
pub const UNREACHABLE: &[&str] = &["ENDPOINT_UNREACHABLE", "BRIDGE_UNREACHABLE"];

/// Interfaces that carry state or events but take no directive of their own: nothing to send.
pub const REPORT_ONLY: &[&str] = &[
    "Alexa",
    "Alexa.EndpointHealth",
    "Alexa.ContactSensor",
    "Alexa.MotionSensor",
    "Alexa.TemperatureSensor",
    "Alexa.DoorbellEventSource",
];

/// The directives to send to `endpoint` (a discovered endpoint, as the skill described it),
/// and the interfaces it declares that the evaluation does not drive (neither listed here nor
/// report-only), for the run to name.
pub fn for_endpoint(endpoint: &Value) -> (Vec<Probe>, Vec<String>) {
    let mut probes = Vec::new();
    let mut undriven = Vec::new();
    for c in endpoint["capabilities"].as_array().into_iter().flatten() {
        let interface = c["interface"].as_str().unwrap_or("");
        let instance = c["instance"].as_str().map(str::to_owned);
        let mut add = |name: &'static str, payload: Value, expect: Expect| {
            probes.push(Probe {
                namespace: interface.to_owned(),
                name,
                instance: instance.clone(),
                payload,
                expect,
            })
        };
        match interface {
            "Alexa.PowerController" | "Alexa.ToggleController" => {
                add("TurnOn", json!({}), Expect::Success);
                add("TurnOff", json!({}), Expect::Success);
            }
            "Alexa.BrightnessController" => {
                add("SetBrightness", json!({"brightness": 50}), Expect::Success);
                add(
                    "AdjustBrightness",
                    json!({"brightnessDelta": -10}),
                    Expect::Success,
                );
                add(
                    "SetBrightness",
                    json!({"brightness": 101}),
                    Expect::Error(OUT_OF_RANGE),
                );
            }
            "Alexa.PercentageController" => {
                add("SetPercentage", json!({"percentage": 50}), Expect::Success);
                add(
                    "AdjustPercentage",
                    json!({"percentageDelta": -10}),
                    Expect::Success,
                );
                add(
                    "SetPercentage",
                    json!({"percentage": 101}),
                    Expect::Error(OUT_OF_RANGE),
                );
            }
            "Alexa.ColorController" => add(
                "SetColor",
                json!({"color": {"hue": 350.5, "saturation": 0.7138, "brightness": 0.6524}}),
                Expect::Success,
            ),
            "Alexa.ColorTemperatureController" => {
                add(
                    "SetColorTemperature",
                    json!({"colorTemperatureInKelvin": 4000}),
                    Expect::Success,
                );
                add("IncreaseColorTemperature", json!({}), Expect::Success);
                add("DecreaseColorTemperature", json!({}), Expect::Success);
            }
            // Unlocked first: a real lock is left locked.
            "Alexa.LockController" => {
                add("Unlock", json!({}), Expect::Success);
                add("Lock", json!({}), Expect::Success);
            }
            "Alexa.RangeController" => {
                let range = &c["configuration"]["supportedRange"];
                let (min, max) = (range["minimumValue"].as_f64(), range["maximumValue"].as_f64());
                let precision = range["precision"].as_f64().unwrap_or(1.0);
                if let (Some(min), Some(max)) = (min, max) {
                    add(
                        "SetRangeValue",
                        json!({"rangeValue": number(min + ((max - min) / 2.0 / precision).round() * precision)}),
                        Expect::Success,
                    );
                    add(
                        "AdjustRangeValue",
                        json!({"rangeValueDelta": number(precision), "rangeValueDeltaDefault": false}),
                        Expect::Success,
                    );
                    add(
                        "SetRangeValue",
                        json!({"rangeValue": number(max + precision)}),
                        Expect::Error(OUT_OF_RANGE),
                    );
                }
            }
            "Alexa.ModeController" => {
                let modes: Vec<&str> = c["configuration"]["supportedModes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["value"].as_str())
                    .collect();
                if let Some(first) = modes.first() {
                    add("SetMode", json!({"mode": first}), Expect::Success);
                }
                add(
                    "SetMode",
                    json!({"mode": "Rask.Evaluation.NoSuchMode"}),
                    Expect::Error(INVALID_VALUE),
                );
            }
            "Alexa.ThermostatController" => {
                add(
                    "SetTargetTemperature",
                    json!({"targetSetpoint": {"value": 21.0, "scale": "CELSIUS"}}),
                    Expect::Success,
                );
                add(
                    "SetTargetTemperature",
                    json!({"targetSetpoint": {"value": 95.0, "scale": "CELSIUS"}}),
                    Expect::Error(TEMPERATURE_OUT_OF_RANGE),
                );
            }
            other if REPORT_ONLY.contains(&other) => {}
            other => undriven.push(other.to_owned()),
        }
    }
    (probes, undriven)
}

/// A whole number as an integer (a RangeController of precision 1 takes `5`, not `5.0`).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_controller_is_driven_inside_and_just_outside_its_declared_range() {
        let blind = json!({"capabilities": [
            {"interface": "Alexa.RangeController", "instance": "Blind.Lift",
             "configuration": {"supportedRange": {"minimumValue": 0, "maximumValue": 100, "precision": 1}}},
            {"interface": "Alexa.EndpointHealth"},
            {"interface": "Alexa.CameraStreamController"}
        ]});
        let (probes, undriven) = for_endpoint(&blind);
        let sent: Vec<(&str, &Value, &Expect)> =
            probes.iter().map(|p| (p.name, &p.payload, &p.expect)).collect();
        assert_eq!(
            sent[0],
            ("SetRangeValue", &json!({"rangeValue": 50}), &Expect::Success)
        );
        assert_eq!(
            sent[2],
            (
                "SetRangeValue",
                &json!({"rangeValue": 101}),
                &Expect::Error(OUT_OF_RANGE)
            )
        );
        assert!(probes.iter().all(|p| p.instance.as_deref() == Some("Blind.Lift")));
        assert_eq!(undriven, ["Alexa.CameraStreamController"]);
    }

    #[test]
    fn a_lock_is_left_locked() {
        let lock = json!({"capabilities": [{"interface": "Alexa.LockController"}]});
        let names: Vec<&str> = for_endpoint(&lock).0.iter().map(|p| p.name).collect();
        assert_eq!(names, ["Unlock", "Lock"]);
    }

    #[test]
    fn a_sensor_is_only_asked_for_its_state() {
        let window = json!({"capabilities": [
            {"interface": "Alexa.ContactSensor"}, {"interface": "Alexa.EndpointHealth"}, {"interface": "Alexa"}
        ]});
        assert_eq!(for_endpoint(&window), (vec![], vec![]));
    }
}
