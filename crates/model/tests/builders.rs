//! Every event and response rask-model's builders make must be valid under Amazon's official
//! Smart Home schema: a builder that produced an invalid message would be refused by Alexa.

use rask_model::check;
use rask_model::schema::{SchemaVerdict, SmartHomeSchema};
use rask_model::smarthome::{
    Capability, CauseType, Connectivity, DetectionState, DeviceMode, DirectiveMessage, DiscoveryEndpoint,
    DisplayCategory, ErrorPayload, ErrorType, EventMessage, LockState, PowerState, Property, Temperature,
    TemperatureScale,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

fn assert_schema_valid(message: &EventMessage) {
    let v = serde_json::to_value(message).unwrap();
    match SmartHomeSchema::get().validate(&v) {
        SchemaVerdict::Valid => {}
        other => panic!("{other:?}\nfor {v:#}"),
    }
    let report = check::check_value(&v);
    assert!(report.is_valid(), "{:?}\nfor {v:#}", report.findings);
}

fn directive(namespace: &str, name: &str, payload: Value) -> rask_model::smarthome::Directive {
    serde_json::from_value::<DirectiveMessage>(json!({"directive": {
        "header": {"namespace": namespace, "name": name, "payloadVersion": "3",
                   "messageId": "1bd5d003-31b9-476f-ad03-71d471922820", "correlationToken": "dFMb0z+Pgp=="},
        "endpoint": {"scope": {"type": "BearerToken", "token": "link-token"}, "endpointId": "light-1", "cookie": {}},
        "payload": payload
    }}))
    .unwrap()
    .directive
}

fn demo_endpoints() -> Vec<DiscoveryEndpoint> {
    vec![
        DiscoveryEndpoint::doorbell("front-door", "Front door", "Doorbell by rask", "rask"),
        DiscoveryEndpoint::new(
            "light-1",
            "Hall light",
            "Dimmable light by rask",
            "rask",
            DisplayCategory::Light,
        )
        .with_capability(Capability::reporting("Alexa.PowerController", &["powerState"]))
        .with_capability(Capability::reporting(
            "Alexa.BrightnessController",
            &["brightness"],
        ))
        .with_capability(Capability::endpoint_health()),
        DiscoveryEndpoint::new(
            "window",
            "Kitchen window",
            "Contact sensor by rask",
            "rask",
            DisplayCategory::ContactSensor,
        )
        .with_capability(Capability::reporting("Alexa.ContactSensor", &["detectionState"]))
        .with_capability(Capability::endpoint_health()),
        DiscoveryEndpoint::new(
            "hall-motion",
            "Hall motion",
            "Motion sensor by rask",
            "rask",
            DisplayCategory::MotionSensor,
        )
        .with_capability(Capability::reporting("Alexa.MotionSensor", &["detectionState"]))
        .with_capability(Capability::endpoint_health()),
        DiscoveryEndpoint::new(
            "lock",
            "Back door",
            "Lock by rask",
            "rask",
            DisplayCategory::Smartlock,
        )
        .with_capability(Capability::reporting("Alexa.LockController", &["lockState"]))
        .with_capability(Capability::endpoint_health()),
        DiscoveryEndpoint::new(
            "temp",
            "Attic",
            "Thermometer by rask",
            "rask",
            DisplayCategory::TemperatureSensor,
        )
        .with_capability(Capability::reporting("Alexa.TemperatureSensor", &["temperature"]))
        .with_capability(Capability::endpoint_health()),
    ]
}

#[test]
fn discover_response() {
    assert_schema_valid(&EventMessage::discover_response(demo_endpoints()));
}

#[test]
fn discover_response_with_300_endpoints() {
    let endpoints = (0..300)
        .map(|i| DiscoveryEndpoint::doorbell(format!("door-{i}"), format!("Door {i}"), "Doorbell", "rask"))
        .collect();
    assert_schema_valid(&EventMessage::discover_response(endpoints));
}

#[test]
fn add_or_update_report() {
    assert_schema_valid(&EventMessage::add_or_update_report(
        demo_endpoints(),
        "Atza|lwa-token",
    ));
}

#[test]
fn delete_report_passes_rask_rules() {
    // The schema has no DeleteReport branch; rask's own rules judge it.
    let m = EventMessage::delete_report(["front-door".to_string()], "Atza|lwa-token");
    let report = check::check_value(&serde_json::to_value(&m).unwrap());
    assert!(report.is_valid(), "{:?}", report.findings);
}

#[test]
fn doorbell_press() {
    assert_schema_valid(&EventMessage::doorbell_press(
        "front-door",
        "Atza|lwa-token",
        OffsetDateTime::now_utc(),
    ));
}

#[test]
fn change_reports_for_sensors_and_lights() {
    let health = Property::connectivity(Connectivity::Ok);
    for changed in [
        Property::contact(DetectionState::Detected),
        Property::motion(DetectionState::NotDetected),
        Property::power_state(PowerState::Off),
        Property::brightness(40),
        Property::lock_state(LockState::Locked),
        Property::temperature(Temperature {
            value: 21.5,
            scale: TemperatureScale::Celsius,
        }),
    ] {
        assert_schema_valid(&EventMessage::change_report(
            "endpoint-1",
            "Atza|lwa-token",
            CauseType::PhysicalInteraction,
            vec![changed],
            vec![health.clone()],
        ));
    }
}

#[test]
fn responses_state_reports_and_deferred() {
    let d = directive(
        "Alexa.BrightnessController",
        "SetBrightness",
        json!({"brightness": 40}),
    );
    assert_schema_valid(&EventMessage::response(
        &d,
        vec![Property::brightness(40), Property::connectivity(Connectivity::Ok)],
    ));
    assert_schema_valid(&EventMessage::state_report(
        &d,
        vec![Property::power_state(PowerState::On)],
    ));
    assert_schema_valid(&EventMessage::deferred(&d, Some(20)));
    assert_schema_valid(&EventMessage::response(&d, vec![]).with_scope_token("Atza|lwa-token"));
}

#[test]
fn error_responses_of_every_generic_type() {
    let d = directive("Alexa.PowerController", "TurnOn", json!({}));
    for kind in ErrorType::KNOWN.iter().map(|k| ErrorType::from(*k)) {
        let payload = match kind {
            ErrorType::ValueOutOfRange => ErrorPayload::value_out_of_range("140 is too bright", 0.0, 100.0),
            ErrorType::EndpointLowPower => ErrorPayload::endpoint_low_power("battery low", 5),
            ErrorType::NotSupportedInCurrentMode => {
                ErrorPayload::not_supported_in_current_mode("the light is asleep", DeviceMode::Asleep)
            }
            // These need a type-specific field rask has no builder for yet.
            ErrorType::TemperatureValueOutOfRange
            | ErrorType::RequestedSetpointsTooClose
            | ErrorType::BypassNeeded
            | ErrorType::CookDurationTooLong => continue,
            k => ErrorPayload::new(k.clone(), format!("{k} happened")),
        };
        assert_schema_valid(&EventMessage::error(&d, payload));
    }
}

#[test]
fn accept_grant_response_and_failure() {
    let d = serde_json::from_value::<DirectiveMessage>(json!({"directive": {
        "header": {"namespace": "Alexa.Authorization", "name": "AcceptGrant", "payloadVersion": "3", "messageId": "m-1"},
        "payload": {"grant": {"type": "OAuth2.AuthorizationCode", "code": "c"}, "grantee": {"type": "BearerToken", "token": "t"}}
    }}))
    .unwrap()
    .directive;
    assert_schema_valid(&EventMessage::accept_grant_response(&d));
    assert_schema_valid(&EventMessage::error(
        &d,
        ErrorPayload::new(ErrorType::AcceptGrantFailed, "LWA refused the code"),
    ));
}

#[test]
fn a_speech_response_with_gadget_directives_passes_rask_validate() {
    let r = rask_model::custom::ResponseEnvelope::speak("Spinning your robots")
        .with_gadget_directive(
            ["amzn1.ask.endpoint.ABC123", "amzn1.ask.endpoint.XYZ789"],
            "Custom.Robot",
            "Spin",
            json!({"direction": "clockwise", "times": 5}),
        )
        .end_session();
    let report = check::check_value(&serde_json::to_value(&r).unwrap());
    assert!(report.is_valid(), "{:?}", report.findings);
}

#[test]
fn a_wrong_error_field_is_reported_in_the_right_branch() {
    let d = directive("Alexa.PowerController", "TurnOn", json!({}));
    let mut m = EventMessage::error(&d, ErrorPayload::new(ErrorType::NotSupportedInCurrentMode, "no"));
    if let rask_model::smarthome::EventPayload::ErrorResponse(p) = &mut m.event.payload {
        p.extra.insert("currentDeviceMode".into(), json!("COOLING"));
    }
    let SchemaVerdict::Invalid(f) = SmartHomeSchema::get().validate(&serde_json::to_value(&m).unwrap())
    else {
        panic!("COOLING is no device mode")
    };
    assert_eq!(f[0].path, "/event/payload/currentDeviceMode", "{f:?}");
    assert_eq!(f[0].rule, "enum");
}
