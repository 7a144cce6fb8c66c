//! `ErrorResponse`: how a skill tells Alexa a directive failed, and why.
//!
//! Alexa speaks the `type` to the user ("that device isn't responding") and never the
//! `message`, which is for logs. Some types carry one more field: `validRange`,
//! `percentageState`, `currentDeviceMode` or `minimumTemperatureDelta`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::wire_enum::wire_enum;

wire_enum! {
    /// Every `ErrorResponse` type Amazon documents: the generic `Alexa` ones, then the
    /// interface-specific ones (`Alexa.Authorization`, `Alexa.ThermostatController`,
    /// `Alexa.SecurityPanelController`, `Alexa.Cooking`).
    ErrorType {
        AlreadyInOperation = "ALREADY_IN_OPERATION",
        BridgeUnreachable = "BRIDGE_UNREACHABLE",
        CloudControlDisabled = "CLOUD_CONTROL_DISABLED",
        EndpointBusy = "ENDPOINT_BUSY",
        EndpointLowPower = "ENDPOINT_LOW_POWER",
        EndpointUnreachable = "ENDPOINT_UNREACHABLE",
        ExpiredAuthorizationCredential = "EXPIRED_AUTHORIZATION_CREDENTIAL",
        FirmwareOutOfDate = "FIRMWARE_OUT_OF_DATE",
        HardwareMalfunction = "HARDWARE_MALFUNCTION",
        InsufficientPermissions = "INSUFFICIENT_PERMISSIONS",
        InternalError = "INTERNAL_ERROR",
        InvalidAuthorizationCredential = "INVALID_AUTHORIZATION_CREDENTIAL",
        InvalidDirective = "INVALID_DIRECTIVE",
        InvalidValue = "INVALID_VALUE",
        NoSuchEndpoint = "NO_SUCH_ENDPOINT",
        NotCalibrated = "NOT_CALIBRATED",
        NotSupportedInCurrentMode = "NOT_SUPPORTED_IN_CURRENT_MODE",
        NotInOperation = "NOT_IN_OPERATION",
        PowerLevelNotSupported = "POWER_LEVEL_NOT_SUPPORTED",
        RateLimitExceeded = "RATE_LIMIT_EXCEEDED",
        TemperatureValueOutOfRange = "TEMPERATURE_VALUE_OUT_OF_RANGE",
        TooManyFailedAttempts = "TOO_MANY_FAILED_ATTEMPTS",
        ValueOutOfRange = "VALUE_OUT_OF_RANGE",
        AcceptGrantFailed = "ACCEPT_GRANT_FAILED",
        RequestedSetpointsTooClose = "REQUESTED_SETPOINTS_TOO_CLOSE",
        ThermostatIsOff = "THERMOSTAT_IS_OFF",
        UnsupportedThermostatMode = "UNSUPPORTED_THERMOSTAT_MODE",
        DualSetpointsUnsupported = "DUAL_SETPOINTS_UNSUPPORTED",
        TripleSetpointsUnsupported = "TRIPLE_SETPOINTS_UNSUPPORTED",
        UnwillingToSetSchedule = "UNWILLING_TO_SET_SCHEDULE",
        UnwillingToSetValue = "UNWILLING_TO_SET_VALUE",
        AuthorizationRequired = "AUTHORIZATION_REQUIRED",
        BypassNeeded = "BYPASS_NEEDED",
        NotReady = "NOT_READY",
        Unauthorized = "UNAUTHORIZED",
        UnclearedAlarm = "UNCLEARED_ALARM",
        UnclearedTrouble = "UNCLEARED_TROUBLE",
        NoActiveMonitorableDevices = "NO_ACTIVE_MONITORABLE_DEVICES",
        ChildLock = "CHILD_LOCK",
        DoorClosedTooLong = "DOOR_CLOSED_TOO_LONG",
        DoorOpen = "DOOR_OPEN",
        PreheatRequired = "PREHEAT_REQUIRED",
        ProbeRequired = "PROBE_REQUIRED",
        RemoteStartNotSupported = "REMOTE_START_NOT_SUPPORTED",
        RemoveProbe = "REMOVE_PROBE",
        RemoteStartDisabled = "REMOTE_START_DISABLED",
        CookDurationTooLong = "COOK_DURATION_TOO_LONG",
    }
}

wire_enum! {
    /// `currentDeviceMode` of `NOT_SUPPORTED_IN_CURRENT_MODE`.
    DeviceMode { Color = "COLOR", Asleep = "ASLEEP", NotProvisioned = "NOT_PROVISIONED", Other = "OTHER" }
}

impl ErrorType {
    /// The namespace whose `ErrorResponse` carries this type: `Alexa` for the generic ones.
    pub fn namespace(&self) -> &'static str {
        use ErrorType::*;
        match self {
            AcceptGrantFailed => "Alexa.Authorization",
            RequestedSetpointsTooClose
            | ThermostatIsOff
            | UnsupportedThermostatMode
            | DualSetpointsUnsupported
            | TripleSetpointsUnsupported
            | UnwillingToSetSchedule
            | UnwillingToSetValue => "Alexa.ThermostatController",
            AuthorizationRequired
            | BypassNeeded
            | NotReady
            | Unauthorized
            | UnclearedAlarm
            | UnclearedTrouble
            | NoActiveMonitorableDevices => "Alexa.SecurityPanelController",
            ChildLock
            | DoorClosedTooLong
            | DoorOpen
            | PreheatRequired
            | ProbeRequired
            | RemoteStartNotSupported
            | RemoveProbe
            | RemoteStartDisabled
            | CookDurationTooLong => "Alexa.Cooking",
            _ => "Alexa",
        }
    }
}

/// The payload of an `ErrorResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorPayload {
    /// What went wrong, from the documented list.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// For logs; Alexa does not speak it. Required for the generic types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The type-specific fields (`validRange`, `percentageState`, ...), as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ErrorPayload {
    /// An error of `kind` with a message for the logs.
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ErrorPayload {
            kind,
            message: Some(message.into()),
            extra: Map::new(),
        }
    }

    /// `VALUE_OUT_OF_RANGE` with the accepted range.
    pub fn value_out_of_range(message: impl Into<String>, minimum: f64, maximum: f64) -> Self {
        let mut p = Self::new(ErrorType::ValueOutOfRange, message);
        p.extra.insert(
            "validRange".into(),
            json!({ "minimumValue": number(minimum), "maximumValue": number(maximum) }),
        );
        p
    }

    /// `ENDPOINT_LOW_POWER` with the battery level.
    pub fn endpoint_low_power(message: impl Into<String>, percentage_state: u8) -> Self {
        let mut p = Self::new(ErrorType::EndpointLowPower, message);
        p.extra.insert("percentageState".into(), json!(percentage_state));
        p
    }

    /// `NOT_SUPPORTED_IN_CURRENT_MODE` with the mode the device is in.
    pub fn not_supported_in_current_mode(message: impl Into<String>, mode: DeviceMode) -> Self {
        let mut p = Self::new(ErrorType::NotSupportedInCurrentMode, message);
        p.extra.insert("currentDeviceMode".into(), json!(mode.as_str()));
        p
    }
}

/// Whole numbers as JSON integers (`100`, not `100.0`), as Alexa's own samples write them.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}
