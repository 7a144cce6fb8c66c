//! The devices rask bridges, and what each kind tells Alexa in discovery.

use rask_model::smarthome::{Capability, DiscoveryEndpoint, DisplayCategory};
use serde::{Deserialize, Serialize};

/// A kind of device, with its Alexa capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A doorbell: `Alexa.DoorbellEventSource`, announced on every Echo when pressed.
    Doorbell,
    /// A dimmable light: power and brightness.
    Light,
    /// A door or window contact: `Alexa.ContactSensor`.
    ContactSensor,
    /// A motion sensor: `Alexa.MotionSensor`.
    MotionSensor,
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
}

impl Device {
    /// What discovery says about this device: its category and capabilities, with
    /// `Alexa.EndpointHealth` on every one.
    pub fn discovery(&self) -> DiscoveryEndpoint {
        let (category, capabilities) = match self.kind {
            DeviceKind::Doorbell => (
                DisplayCategory::Doorbell,
                vec![Capability::doorbell_event_source()],
            ),
            DeviceKind::Light => (
                DisplayCategory::Light,
                vec![
                    Capability::reporting("Alexa.PowerController", &["powerState"]),
                    Capability::reporting("Alexa.BrightnessController", &["brightness"]),
                ],
            ),
            DeviceKind::ContactSensor => (
                DisplayCategory::ContactSensor,
                vec![Capability::reporting("Alexa.ContactSensor", &["detectionState"])],
            ),
            DeviceKind::MotionSensor => (
                DisplayCategory::MotionSensor,
                vec![Capability::reporting("Alexa.MotionSensor", &["detectionState"])],
            ),
        };
        let mut e = DiscoveryEndpoint::new(&self.id, &self.name, &self.description, "rask", category);
        for c in capabilities {
            e = e.with_capability(c);
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
        let d = |id: &str, name: &str, description: &str, kind| Device {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            kind,
        };
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
}
