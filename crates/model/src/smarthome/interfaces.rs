//! Directive payloads of the Smart Home interfaces, one type per payload shape.
//!
//! Field names and ranges follow Amazon's interface reference pages and the official samples.
//! Ranges are not enforced by deserialisation (a directive with `brightness: 140` still parses)
//! but by [`crate::smarthome::rules`], so that a skill can answer `VALUE_OUT_OF_RANGE` rather
//! than fail to read the directive.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::header::Scope;
use super::property::Temperature;

/// `Alexa.Discovery.Discover`: the user's token is in the payload, not an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoverPayload {
    /// The linked user's token.
    pub scope: Scope,
}

/// `Alexa.Authorization.AcceptGrant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptGrantPayload {
    /// The LWA authorization code to exchange for the user's event tokens.
    pub grant: Grant,
    /// The user's account-linking token: who the grant is for.
    pub grantee: Scope,
}

/// The grant inside `AcceptGrant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Always `OAuth2.AuthorizationCode`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The authorization code.
    pub code: String,
}

/// `Alexa.BrightnessController.SetBrightness`: 0–100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetBrightness {
    /// The brightness in percent.
    pub brightness: i64,
}

/// `Alexa.BrightnessController.AdjustBrightness`: −100–100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustBrightness {
    /// The change in percentage points.
    pub brightness_delta: i64,
}

/// `Alexa.CameraStreamController.InitializeCameraStreams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeCameraStreams {
    /// The stream configurations Alexa can play, best first.
    pub camera_streams: Vec<Value>,
}

/// `Alexa.ChannelController.ChangeChannel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeChannel {
    /// The channel by number, call sign or URI.
    pub channel: Channel,
    /// What the user said, when it did not match a channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_metadata: Option<ChannelMetadata>,
}

/// A TV channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// Channel number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Call sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_sign: Option<String>,
    /// Affiliate call sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliate_call_sign: Option<String>,
    /// Channel URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

/// Channel name and image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelMetadata {
    /// Channel name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Channel image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// `Alexa.ChannelController.SkipChannels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkipChannels {
    /// How many channels to move, negative for down.
    pub channel_count: i64,
}

/// `Alexa.ColorController.SetColor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetColor {
    /// The colour in HSB.
    pub color: Hsb,
}

/// A colour: hue 0–360, saturation and brightness 0–1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hsb {
    /// Degrees, 0–360.
    pub hue: f64,
    /// 0–1.
    pub saturation: f64,
    /// 0–1.
    pub brightness: f64,
}

/// `Alexa.ColorTemperatureController.SetColorTemperature`: 1000–10000 K.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetColorTemperature {
    /// Kelvin.
    pub color_temperature_in_kelvin: i64,
}

/// `Alexa.InputController.SelectInput`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectInput {
    /// The input name, such as `HDMI1`.
    pub input: String,
}

/// `Alexa.PercentageController.SetPercentage`: 0–100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPercentage {
    /// Percent.
    pub percentage: i64,
}

/// `Alexa.PercentageController.AdjustPercentage`: −100–100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustPercentage {
    /// Percentage points.
    pub percentage_delta: i64,
}

/// `Alexa.PowerLevelController.SetPowerLevel`: 0–100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetPowerLevel {
    /// Power level.
    pub power_level: i64,
}

/// `Alexa.PowerLevelController.AdjustPowerLevel`: −100–100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustPowerLevel {
    /// Change in power level.
    pub power_level_delta: i64,
}

/// `Alexa.Speaker.SetVolume`: 0–100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetVolume {
    /// Volume.
    pub volume: i64,
}

/// `Alexa.Speaker.AdjustVolume`: −100–100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustVolume {
    /// Change in volume.
    pub volume: i64,
    /// True when the user gave no amount and the skill picks its default step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_default: Option<bool>,
}

/// `Alexa.Speaker.SetMute` and `Alexa.StepSpeaker.SetMute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMute {
    /// True to mute.
    pub mute: bool,
}

/// `Alexa.StepSpeaker.AdjustVolume`: −100–100 steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustVolumeSteps {
    /// Steps up (positive) or down.
    pub volume_steps: i64,
}

/// `Alexa.ThermostatController.SetTargetTemperature`: one, two or three setpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetTargetTemperature {
    /// Single or triple setpoint mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_setpoint: Option<Temperature>,
    /// Dual or triple setpoint mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_setpoint: Option<Temperature>,
    /// Dual or triple setpoint mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_setpoint: Option<Temperature>,
}

/// `Alexa.ThermostatController.AdjustTargetTemperature`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustTargetTemperature {
    /// Change in temperature.
    pub target_setpoint_delta: Temperature,
}

/// `Alexa.ThermostatController.SetThermostatMode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetThermostatMode {
    /// The mode: AUTO, COOL, HEAT, ECO, OFF or CUSTOM with a name.
    pub thermostat_mode: ThermostatMode,
}

/// A thermostat mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThermostatMode {
    /// AUTO, COOL, HEAT, ECO, OFF or CUSTOM.
    pub value: String,
    /// For CUSTOM: the manufacturer's mode name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_name: Option<String>,
}

/// `Alexa.RangeController.SetRangeValue` (instance in the header).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetRangeValue {
    /// The new value, within the instance's configured range.
    pub range_value: f64,
}

/// `Alexa.RangeController.AdjustRangeValue` (instance in the header).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustRangeValue {
    /// The change.
    pub range_value_delta: f64,
    /// True when the user gave no amount and the skill picks its default step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_value_delta_default: Option<bool>,
}

/// `Alexa.ModeController.SetMode` (instance in the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMode {
    /// One of the instance's configured mode values, such as `Position.Up`.
    pub mode: String,
}

/// `Alexa.ModeController.AdjustMode` (ordered modes only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustMode {
    /// Steps through the ordered modes.
    pub mode_delta: i64,
}

/// A payload this crate does not type, kept as an object (for directives whose payload
/// Amazon leaves open).
pub type OpenPayload = Map<String, Value>;
