//! What a skill tells Alexa about its devices: endpoints, display categories and capabilities.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::limits::{self, LimitError};
use crate::wire_enum::wire_enum;

wire_enum! {
    /// How the Alexa app shows an endpoint (the schema's list; Alexa knows more).
    DisplayCategory {
        ActivityTrigger = "ACTIVITY_TRIGGER", Camera = "CAMERA", Computer = "COMPUTER",
        ContactSensor = "CONTACT_SENSOR", Door = "DOOR", Doorbell = "DOORBELL",
        ExteriorBlind = "EXTERIOR_BLIND", Fan = "FAN", GameConsole = "GAME_CONSOLE",
        GarageDoor = "GARAGE_DOOR", InteriorBlind = "INTERIOR_BLIND", Laptop = "LAPTOP",
        Light = "LIGHT", Microwave = "MICROWAVE", MobilePhone = "MOBILE_PHONE",
        MotionSensor = "MOTION_SENSOR", MusicSystem = "MUSIC_SYSTEM",
        NetworkHardware = "NETWORK_HARDWARE", Other = "OTHER", Oven = "OVEN", Phone = "PHONE",
        SceneTrigger = "SCENE_TRIGGER", Screen = "SCREEN", SecurityPanel = "SECURITY_PANEL",
        Smartlock = "SMARTLOCK", Smartplug = "SMARTPLUG", Speaker = "SPEAKER",
        StreamingDevice = "STREAMING_DEVICE", Switch = "SWITCH", Tablet = "TABLET",
        TemperatureSensor = "TEMPERATURE_SENSOR", Thermostat = "THERMOSTAT", Tv = "TV",
        Wearable = "WEARABLE",
    }
}

/// One endpoint (device, scene or group) in a `Discover.Response` or `AddOrUpdateReport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryEndpoint {
    /// Unique per user, 1–256 characters `[a-zA-Z0-9_\-=#;:?@&]`.
    pub endpoint_id: String,
    /// 1–128 characters.
    pub manufacturer_name: String,
    /// The name the user says, 1–128 characters.
    pub friendly_name: String,
    /// Shown in the Alexa app, 1–128 characters.
    pub description: String,
    /// At least one.
    pub display_categories: Vec<DisplayCategory>,
    /// Manufacturer, model, serial number and so on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_attributes: Option<AdditionalAttributes>,
    /// How the device is connected (TCP_IP, ZIGBEE, ZWAVE, UNKNOWN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<Vec<Value>>,
    /// Opaque strings Alexa returns in every directive to this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<BTreeMap<String, String>>,
    /// At least one; every endpoint should list the `Alexa` interface.
    pub capabilities: Vec<Capability>,
    /// Fields this version does not model (`registration`, `relationships`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DiscoveryEndpoint {
    /// An endpoint with the `Alexa` interface and no other capability yet.
    pub fn new(
        endpoint_id: impl Into<String>,
        friendly_name: impl Into<String>,
        description: impl Into<String>,
        manufacturer_name: impl Into<String>,
        category: DisplayCategory,
    ) -> Self {
        DiscoveryEndpoint {
            endpoint_id: endpoint_id.into(),
            manufacturer_name: manufacturer_name.into(),
            friendly_name: friendly_name.into(),
            description: description.into(),
            display_categories: vec![category],
            additional_attributes: None,
            connections: None,
            cookie: None,
            capabilities: vec![Capability::alexa()],
            extra: Map::new(),
        }
    }

    /// The same endpoint with one more capability.
    pub fn with_capability(mut self, capability: Capability) -> Self {
        self.capabilities.push(capability);
        self
    }

    /// The same endpoint with one more display category.
    pub fn with_category(mut self, category: DisplayCategory) -> Self {
        self.display_categories.push(category);
        self
    }

    /// A doorbell: `DOORBELL`, `Alexa.DoorbellEventSource` (proactively reported) and
    /// `Alexa.EndpointHealth`.
    pub fn doorbell(
        endpoint_id: impl Into<String>,
        friendly_name: impl Into<String>,
        description: impl Into<String>,
        manufacturer_name: impl Into<String>,
    ) -> Self {
        Self::new(
            endpoint_id,
            friendly_name,
            description,
            manufacturer_name,
            DisplayCategory::Doorbell,
        )
        .with_capability(Capability::doorbell_event_source())
        .with_capability(Capability::endpoint_health())
    }

    /// Every limit Alexa sets on a discovered endpoint, checked; the first broken one.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        limits::check_endpoint_id(&self.endpoint_id)?;
        limits::check_manufacturer_name(&self.manufacturer_name)?;
        limits::check_friendly_name(&self.friendly_name)?;
        limits::check_description(&self.description)?;
        if self.display_categories.is_empty() {
            return Err(LimitError::Length {
                field: "displayCategories",
                len: 0,
                max: usize::MAX,
            });
        }
        if self.capabilities.is_empty() {
            return Err(LimitError::Length {
                field: "capabilities",
                len: 0,
                max: usize::MAX,
            });
        }
        Ok(())
    }

    /// Whether this endpoint has a capability for `interface`.
    pub fn has_interface(&self, interface: &str) -> bool {
        self.capabilities.iter().any(|c| c.interface == interface)
    }
}

/// Manufacturer details of an endpoint; each value at most 256 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalAttributes {
    /// Manufacturer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Firmware version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    /// Software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// The skill's own identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_identifier: Option<String>,
}

/// One interface an endpoint supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capability {
    /// Always `AlexaInterface` for Smart Home.
    #[serde(rename = "type")]
    pub kind: String,
    /// The interface, such as `Alexa.PowerController`.
    pub interface: String,
    /// The interface version, usually `"3"`.
    pub version: String,
    /// For multi-instance interfaces, such as `Blind.Lift`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Which properties the interface reports and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<CapabilityProperties>,
    /// At the capability's top level for event sources such as `Alexa.DoorbellEventSource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proactively_reported: Option<bool>,
    /// `Alexa.SceneController`: whether the scene can be deactivated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_deactivation: Option<bool>,
    /// Friendly names of an instance (RangeController, ModeController, ToggleController).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_resources: Option<Value>,
    /// Interface configuration (ranges, modes, units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Value>,
    /// Semantic actions and states (blinds: "open", "close", "raise", "lower").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantics: Option<Value>,
    /// Fields this version does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Capability {
    /// `{"type":"AlexaInterface","interface":…,"version":"3"}` with nothing else.
    pub fn interface(interface: impl Into<String>) -> Self {
        Capability {
            kind: "AlexaInterface".to_owned(),
            interface: interface.into(),
            version: "3".to_owned(),
            instance: None,
            properties: None,
            proactively_reported: None,
            supports_deactivation: None,
            capability_resources: None,
            configuration: None,
            semantics: None,
            extra: Map::new(),
        }
    }

    /// The base `Alexa` interface every endpoint lists.
    pub fn alexa() -> Self {
        Self::interface("Alexa")
    }

    /// An interface whose named properties are proactively reported and retrievable.
    pub fn reporting(interface: impl Into<String>, supported: &[&str]) -> Self {
        let mut c = Self::interface(interface);
        c.properties = Some(CapabilityProperties {
            supported: supported
                .iter()
                .map(|n| SupportedProperty {
                    name: (*n).to_owned(),
                })
                .collect(),
            proactively_reported: Some(true),
            retrievable: Some(true),
            non_controllable: None,
        });
        c
    }

    /// `Alexa.DoorbellEventSource`, proactively reported, as doorbells must declare it.
    pub fn doorbell_event_source() -> Self {
        let mut c = Self::interface("Alexa.DoorbellEventSource");
        c.proactively_reported = Some(true);
        c
    }

    /// `Alexa.EndpointHealth` reporting `connectivity`.
    pub fn endpoint_health() -> Self {
        Self::reporting("Alexa.EndpointHealth", &["connectivity"])
    }

    /// The same capability for one instance of a multi-instance interface.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Whether `property` is listed as supported.
    pub fn supports(&self, property: &str) -> bool {
        self.properties
            .as_ref()
            .is_some_and(|p| p.supported.iter().any(|s| s.name == property))
    }
}

/// The `properties` object of a capability.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityProperties {
    /// The properties the endpoint has.
    pub supported: Vec<SupportedProperty>,
    /// Whether changes are sent as `ChangeReport` events (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proactively_reported: Option<bool>,
    /// Whether Alexa may ask for them with `ReportState` (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrievable: Option<bool>,
    /// Whether Alexa may only read, not change, them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_controllable: Option<bool>,
}

/// A supported property's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportedProperty {
    /// The property name, such as `powerState`.
    pub name: String,
}
