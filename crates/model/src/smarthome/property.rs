//! Context properties: the reported state of an endpoint, and their typed values.
//!
//! A [`Property`] keeps its `value` as JSON because each interface has its own value shape
//! and integers and decimals must survive a round trip unchanged; the typed values here
//! ([`PowerState`], [`Temperature`], ...) convert to and from it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::timestamp;
use crate::wire_enum::wire_enum;

/// One reported property, as in `context.properties` and `payload.change.properties`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    /// The interface, such as `Alexa.PowerController`.
    pub namespace: String,
    /// The property, such as `powerState`.
    pub name: String,
    /// For multi-instance interfaces, such as `Blind.Lift`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The value, in the interface's own shape.
    pub value: Value,
    /// When the value was read: ISO-8601 UTC with 0–3 fractional digits.
    pub time_of_sample: String,
    /// How stale the value may be, in milliseconds.
    pub uncertainty_in_milliseconds: u64,
}

impl Property {
    /// A property sampled now, with the given uncertainty.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        value: impl Serialize,
        uncertainty_in_milliseconds: u64,
    ) -> Self {
        Property {
            namespace: namespace.into(),
            name: name.into(),
            instance: None,
            value: serde_json::to_value(value).unwrap_or(Value::Null),
            time_of_sample: timestamp::now_millis(),
            uncertainty_in_milliseconds,
        }
    }

    /// The same property with an interface instance.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// The same property with an explicit sample time.
    pub fn sampled_at(mut self, time_of_sample: impl Into<String>) -> Self {
        self.time_of_sample = time_of_sample.into();
        self
    }

    /// `Alexa.PowerController.powerState`.
    pub fn power_state(state: PowerState) -> Self {
        Self::new("Alexa.PowerController", "powerState", state, 0)
    }

    /// `Alexa.BrightnessController.brightness`, 0–100.
    pub fn brightness(value: u8) -> Self {
        Self::new("Alexa.BrightnessController", "brightness", value, 0)
    }

    /// `Alexa.EndpointHealth.connectivity`.
    pub fn connectivity(value: Connectivity) -> Self {
        Self::new(
            "Alexa.EndpointHealth",
            "connectivity",
            serde_json::json!({ "value": value }),
            0,
        )
    }

    /// `Alexa.ContactSensor.detectionState`.
    pub fn contact(state: DetectionState) -> Self {
        Self::new("Alexa.ContactSensor", "detectionState", state, 0)
    }

    /// `Alexa.MotionSensor.detectionState`.
    pub fn motion(state: DetectionState) -> Self {
        Self::new("Alexa.MotionSensor", "detectionState", state, 0)
    }

    /// `Alexa.LockController.lockState`.
    pub fn lock_state(state: LockState) -> Self {
        Self::new("Alexa.LockController", "lockState", state, 0)
    }

    /// `Alexa.TemperatureSensor.temperature`.
    pub fn temperature(value: Temperature) -> Self {
        Self::new("Alexa.TemperatureSensor", "temperature", value, 0)
    }

    /// The value as a typed Rust value, if it has that shape.
    pub fn value_as<T: DeserializeOwned>(&self) -> Option<T> {
        T::deserialize(&self.value).ok()
    }
}

wire_enum! {
    /// `Alexa.PowerController.powerState`.
    PowerState { On = "ON", Off = "OFF" }
}

wire_enum! {
    /// `Alexa.LockController.lockState`.
    LockState { Locked = "LOCKED", Unlocked = "UNLOCKED", Jammed = "JAMMED" }
}

wire_enum! {
    /// `detectionState` of `Alexa.ContactSensor` (DETECTED = open) and `Alexa.MotionSensor`.
    DetectionState { Detected = "DETECTED", NotDetected = "NOT_DETECTED" }
}

wire_enum! {
    /// `Alexa.EndpointHealth.connectivity.value`.
    Connectivity { Ok = "OK", Unreachable = "UNREACHABLE" }
}

wire_enum! {
    /// A temperature scale.
    TemperatureScale { Celsius = "CELSIUS", Fahrenheit = "FAHRENHEIT", Kelvin = "KELVIN" }
}

/// A temperature with its scale, as thermostats and temperature sensors report it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Temperature {
    /// The number of degrees.
    pub value: f64,
    /// The scale.
    pub scale: TemperatureScale,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_values_convert() {
        let p = Property::power_state(PowerState::On);
        assert_eq!(p.value, json!("ON"));
        assert_eq!(p.value_as::<PowerState>(), Some(PowerState::On));
        let c = Property::connectivity(Connectivity::Unreachable);
        assert_eq!(c.value, json!({"value": "UNREACHABLE"}));
        let t: Property = serde_json::from_value(json!({
            "namespace": "Alexa.TemperatureSensor", "name": "temperature",
            "value": {"value": 24.0, "scale": "CELSIUS"},
            "timeOfSample": "2017-09-27T18:30:30.45Z", "uncertaintyInMilliseconds": 200
        }))
        .unwrap();
        assert_eq!(
            t.value_as::<Temperature>(),
            Some(Temperature {
                value: 24.0,
                scale: TemperatureScale::Celsius
            })
        );
        assert!(crate::timestamp::is_alexa_utc(&p.time_of_sample, 3));
    }

    #[test]
    fn unknown_enum_values_survive() {
        let s: LockState = serde_json::from_value(json!("HALF_OPEN")).unwrap();
        assert_eq!(s, LockState::Unknown("HALF_OPEN".into()));
        assert!(!s.is_known());
        assert_eq!(serde_json::to_value(&s).unwrap(), json!("HALF_OPEN"));
    }
}
