//! The devices rask bridges, and what each kind tells Alexa in discovery.

use std::collections::HashMap;
use std::time::Duration;

use rask_model::smarthome::{Capability, DiscoveryEndpoint, DisplayCategory, TemperatureScale};
use serde::{Deserialize, Serialize};

use crate::capabilities::DeviceProperty;

/// A kind of device, with its Alexa capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A doorbell: `Alexa.DoorbellEventSource`, announced on every Echo when pressed.
    Doorbell,
    /// A dimmable light: power and brightness.
    Light,
    /// A smart plug or switch: power.
    Plug,
    /// A blind set to a position: `Alexa.RangeController` `Blind.Lift`, 0 closed to 100 open.
    Blind,
    /// A shutter driven up, down or stopped (RFY and most roller shutters):
    /// `Alexa.ModeController` `Blinds.Position`.
    Shutter,
    /// A door lock: `Alexa.LockController`.
    Lock,
    /// A door or window contact: `Alexa.ContactSensor`.
    ContactSensor,
    /// A motion sensor: `Alexa.MotionSensor`.
    MotionSensor,
    /// A thermometer: `Alexa.TemperatureSensor`.
    TemperatureSensor,
}

impl DeviceKind {
    /// Every kind, by its configuration name.
    pub const ALL: [(&'static str, DeviceKind); 9] = [
        ("doorbell", DeviceKind::Doorbell),
        ("light", DeviceKind::Light),
        ("plug", DeviceKind::Plug),
        ("blind", DeviceKind::Blind),
        ("shutter", DeviceKind::Shutter),
        ("lock", DeviceKind::Lock),
        ("contact_sensor", DeviceKind::ContactSensor),
        ("motion_sensor", DeviceKind::MotionSensor),
        ("temperature_sensor", DeviceKind::TemperatureSensor),
    ];

    /// The kind with this configuration name (`light`, `contact_sensor`, ...).
    pub fn from_name(name: &str) -> Option<DeviceKind> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// Its configuration name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("device")
    }

    /// The properties a device of this kind has, in the order a plain state value is tried.
    pub fn properties(self) -> &'static [DeviceProperty] {
        use DeviceProperty as P;
        match self {
            DeviceKind::Doorbell => &[],
            DeviceKind::Light => &[P::Power, P::Brightness],
            DeviceKind::Plug => &[P::Power],
            DeviceKind::Blind => &[P::Position],
            DeviceKind::Shutter => &[P::Mode],
            DeviceKind::Lock => &[P::Lock],
            DeviceKind::ContactSensor => &[P::Contact],
            DeviceKind::MotionSensor => &[P::Motion],
            DeviceKind::TemperatureSensor => &[P::Temperature],
        }
    }

    /// Whether Alexa can control it (it then needs a command topic).
    pub fn controllable(self) -> bool {
        self.properties().iter().any(|p| p.controllable())
    }

    fn category(self) -> DisplayCategory {
        match self {
            DeviceKind::Doorbell => DisplayCategory::Doorbell,
            DeviceKind::Light => DisplayCategory::Light,
            DeviceKind::Plug => DisplayCategory::Smartplug,
            DeviceKind::Blind => DisplayCategory::InteriorBlind,
            DeviceKind::Shutter => DisplayCategory::ExteriorBlind,
            DeviceKind::Lock => DisplayCategory::Smartlock,
            DeviceKind::ContactSensor => DisplayCategory::ContactSensor,
            DeviceKind::MotionSensor => DisplayCategory::MotionSensor,
            DeviceKind::TemperatureSensor => DisplayCategory::TemperatureSensor,
        }
    }
}

/// How rask reaches a device over MQTT, and how patient it is with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    /// Where directives are published.
    pub command_topic: Option<String>,
    /// Where the device reports its state.
    pub state_topic: Option<String>,
    /// Which JSON field of a state message holds each property (default: its name).
    pub state_fields: HashMap<DeviceProperty, String>,
    /// The payload published for each property, `{value}` replaced by the target (default:
    /// [`DeviceProperty::default_template`]).
    pub command_templates: HashMap<DeviceProperty, String>,
    /// How long the device has to confirm a command on its state topic.
    pub confirm_timeout: Duration,
    /// Answer Alexa at once with a `DeferredResponse` and send the result through the Event
    /// Gateway, for devices slower than Alexa's 8 s.
    pub slow: bool,
    /// A device not heard from for this long is reported unreachable.
    pub offline_after: Option<Duration>,
    /// The scale a temperature sensor reports in.
    pub temperature_scale: TemperatureScale,
}

/// How long a device has to confirm a command, unless configured.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);

impl Default for Wiring {
    fn default() -> Self {
        Wiring {
            command_topic: None,
            state_topic: None,
            state_fields: HashMap::new(),
            command_templates: HashMap::new(),
            confirm_timeout: CONFIRM_TIMEOUT,
            slow: false,
            offline_after: None,
            temperature_scale: TemperatureScale::Celsius,
        }
    }
}

impl Wiring {
    /// The JSON field of a state message that holds `p`.
    pub fn state_field(&self, p: DeviceProperty) -> String {
        self.state_fields
            .get(&p)
            .cloned()
            .unwrap_or_else(|| p.field().to_owned())
    }

    /// The payload that tells the device to take `target` for `p`.
    pub fn command_payload(&self, p: DeviceProperty, target: &serde_json::Value) -> String {
        let template = self
            .command_templates
            .get(&p)
            .cloned()
            .unwrap_or_else(|| p.default_template());
        template.replace("{value}", &p.render(target))
    }
}

/// The manufacturer a device has when its configuration names none.
pub const DEFAULT_MANUFACTURER: &str = "rask";

/// The model a device of `kind` has when its configuration names none: `rask light`.
pub fn default_model(kind: DeviceKind) -> String {
    format!("rask {}", kind.name().replace('_', " "))
}

/// One device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The endpoint id Alexa knows it by.
    pub id: String,
    /// The name people say.
    pub name: String,
    /// Shown in the Alexa app.
    pub description: String,
    /// What it is.
    pub kind: DeviceKind,
    /// Who made it, for discovery's `manufacturerName` and `additionalAttributes`.
    pub manufacturer: String,
    /// Its model, for discovery's `additionalAttributes` (Works with Alexa asks for both).
    pub model: String,
    /// Its MQTT topics and timings.
    pub wiring: Wiring,
}

impl Device {
    /// A device with no MQTT wiring, made by "rask" as model "rask KIND" until told otherwise.
    pub fn new(id: &str, name: &str, description: &str, kind: DeviceKind) -> Device {
        Device {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            kind,
            manufacturer: DEFAULT_MANUFACTURER.into(),
            model: default_model(kind),
            wiring: Wiring::default(),
        }
    }

    /// What discovery says about this device: its category and capabilities, with
    /// `Alexa.EndpointHealth` on every one.
    pub fn discovery(&self) -> DiscoveryEndpoint {
        let mut e = DiscoveryEndpoint::new(
            &self.id,
            &self.name,
            &self.description,
            &self.manufacturer,
            self.kind.category(),
        );
        e.additional_attributes = Some(rask_model::smarthome::AdditionalAttributes {
            manufacturer: Some(self.manufacturer.clone()),
            model: Some(self.model.clone()),
            custom_identifier: Some(self.id.clone()),
            ..Default::default()
        });
        if self.kind == DeviceKind::Doorbell {
            e = e.with_capability(Capability::doorbell_event_source());
        }
        for p in self.kind.properties() {
            e = e.with_capability(p.capability());
        }
        e.with_capability(Capability::endpoint_health())
    }
}

/// The devices of this home.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    devices: Vec<Device>,
}

impl Registry {
    /// A registry of these devices.
    pub fn new(devices: Vec<Device>) -> Self {
        Registry { devices }
    }

    /// The demo home of `rask serve` without a configuration: a doorbell "Front door", a light
    /// and a contact sensor.
    pub fn demo() -> Self {
        let d = Device::new;
        Registry::new(vec![
            d(
                "front-door",
                "Front door",
                "Doorbell, bridged by rask",
                DeviceKind::Doorbell,
            ),
            d(
                "hall-light",
                "Hall light",
                "Dimmable light, bridged by rask",
                DeviceKind::Light,
            ),
            d(
                "kitchen-window",
                "Kitchen window",
                "Window contact, bridged by rask",
                DeviceKind::ContactSensor,
            ),
        ])
    }

    /// Every device.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The device with this endpoint id.
    pub fn get(&self, id: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_names_the_manufacturer_and_model_as_works_with_alexa_asks() {
        let mut d = Device::new("lamp", "Lamp", "A lamp", DeviceKind::Light);
        let a = d.discovery().additional_attributes.unwrap();
        assert_eq!(
            (a.manufacturer.as_deref(), a.model.as_deref()),
            (Some("rask"), Some("rask light"))
        );
        d.manufacturer = "Acme".into();
        d.model = "L-2".into();
        let e = d.discovery();
        assert_eq!(e.manufacturer_name, "Acme");
        assert_eq!(e.additional_attributes.unwrap().model.as_deref(), Some("L-2"));
    }

    /// The first rows of `rask sim evaluate` (issue 18): every device kind rask bridges is
    /// discovered as Works with Alexa asks.
    #[test]
    fn every_kind_passes_the_discovery_requirements_of_works_with_alexa() {
        let endpoints: Vec<_> = DeviceKind::ALL
            .iter()
            .map(|(name, kind)| Device::new(&format!("d-{name}"), name, "a device", *kind).discovery())
            .collect();
        let answer = serde_json::json!({"event": {
            "header": {"namespace": "Alexa.Discovery", "name": "Discover.Response", "payloadVersion": "3"},
            "payload": {"endpoints": endpoints}}});
        let failed: Vec<_> = rask_sim::evaluate::discovery(&answer)
            .into_iter()
            .filter(|r| r.verdict != rask_sim::evaluate::Verdict::Pass)
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
    }

    #[test]
    fn the_demo_doorbell_is_proactively_reported() {
        let r = Registry::demo();
        let door = r.get("front-door").unwrap().discovery();
        assert_eq!(door.display_categories, vec![DisplayCategory::Doorbell]);
        let source = door
            .capabilities
            .iter()
            .find(|c| c.interface == "Alexa.DoorbellEventSource")
            .unwrap();
        assert_eq!(source.proactively_reported, Some(true));
        assert!(door.has_interface("Alexa.EndpointHealth"));
        assert!(r.devices().iter().all(|d| d.discovery().check_limits().is_ok()));
    }

    /// The official schema is the oracle: every kind's discovery, and each property in a
    /// response's context and in a change report.
    #[test]
    fn every_kind_is_valid_in_discovery_responses_and_change_reports() {
        use rask_model::smarthome::{CauseType, EventMessage};
        let devices: Vec<Device> = DeviceKind::ALL
            .iter()
            .map(|(name, kind)| Device::new(&format!("{name}-1"), &format!("The {name}"), "test", *kind))
            .collect();
        let discover = EventMessage::discover_response(devices.iter().map(Device::discovery).collect());
        let v = serde_json::to_value(&discover).unwrap();
        let report = rask_model::check::check_value(&v);
        assert!(report.is_valid(), "{}\n{v:#}", report.describe());
        for (name, kind) in DeviceKind::ALL {
            for p in kind.properties() {
                let value = match p {
                    DeviceProperty::Power => serde_json::json!("ON"),
                    DeviceProperty::Brightness | DeviceProperty::Position => serde_json::json!(40),
                    DeviceProperty::Mode => serde_json::json!("Position.Up"),
                    DeviceProperty::Lock => serde_json::json!("LOCKED"),
                    DeviceProperty::Contact | DeviceProperty::Motion => serde_json::json!("DETECTED"),
                    DeviceProperty::Temperature => serde_json::json!({"value": 21.5, "scale": "CELSIUS"}),
                };
                let property = p.property(value, rask_model::timestamp::now_millis(), 0);
                let change = EventMessage::change_report(
                    format!("{name}-1"),
                    "Atza|token",
                    CauseType::PhysicalInteraction,
                    vec![property],
                    vec![rask_model::smarthome::Property::connectivity(
                        rask_model::smarthome::Connectivity::Ok,
                    )],
                );
                let v = serde_json::to_value(&change).unwrap();
                let report = rask_model::check::check_value(&v);
                assert!(report.is_valid(), "{name} {p:?}: {}\n{v:#}", report.describe());
            }
        }
    }
}
