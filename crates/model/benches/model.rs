//! Parse and serialize costs of the messages rask handles most: a `Discover.Response` with
//! Alexa's maximum of 300 endpoints, and a `LaunchRequest`. Also the cost of validating the
//! former against the official schema, which the simulator does for every event.
//!
//! Run: `cargo bench -p rask-model --features schema --bench model`

use criterion::{Criterion, criterion_group, criterion_main};
use rask_model::custom::RequestEnvelope;
use rask_model::schema::SmartHomeSchema;
use rask_model::smarthome::{Capability, DiscoveryEndpoint, DisplayCategory, EventMessage};
use serde_json::json;
use std::hint::black_box;

fn discover_response_300() -> String {
    let endpoints = (0..300)
        .map(|i| {
            DiscoveryEndpoint::new(
                format!("light-{i}"),
                format!("Light {i}"),
                "Dimmable light by rask",
                "rask",
                DisplayCategory::Light,
            )
            .with_capability(Capability::reporting("Alexa.PowerController", &["powerState"]))
            .with_capability(Capability::reporting(
                "Alexa.BrightnessController",
                &["brightness"],
            ))
            .with_capability(Capability::endpoint_health())
        })
        .collect();
    serde_json::to_string(&EventMessage::discover_response(endpoints)).unwrap()
}

fn launch_request() -> String {
    json!({
        "version": "1.0",
        "session": {"new": true, "sessionId": "amzn1.echo-api.session.0000", "application": {"applicationId": "amzn1.ask.skill.0000"},
                    "attributes": {}, "user": {"userId": "amzn1.ask.account.AAAA", "accessToken": "link-token"}},
        "context": {"System": {"application": {"applicationId": "amzn1.ask.skill.0000"},
                               "user": {"userId": "amzn1.ask.account.AAAA", "accessToken": "link-token"},
                               "device": {"deviceId": "amzn1.ask.device.DDDD", "supportedInterfaces": {"CustomInterfaceController": {}}},
                               "apiEndpoint": "https://api.amazonalexa.com", "apiAccessToken": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9"}},
        "request": {"type": "LaunchRequest", "requestId": "amzn1.echo-api.request.0000", "timestamp": "2026-11-23T10:00:00Z", "locale": "en-US"}
    })
    .to_string()
}

fn benches(c: &mut Criterion) {
    let discover = discover_response_300();
    let parsed: EventMessage = serde_json::from_str(&discover).unwrap();
    let as_value: serde_json::Value = serde_json::from_str(&discover).unwrap();
    c.bench_function("discover_response_300/parse", |b| {
        b.iter(|| serde_json::from_str::<EventMessage>(black_box(&discover)).unwrap())
    });
    c.bench_function("discover_response_300/serialize", |b| {
        b.iter(|| serde_json::to_vec(black_box(&parsed)).unwrap())
    });
    let schema = SmartHomeSchema::get();
    assert!(schema.is_valid(&as_value));
    c.bench_function("discover_response_300/schema_validate", |b| {
        b.iter(|| schema.is_valid(black_box(&as_value)))
    });

    let launch = launch_request();
    let parsed: RequestEnvelope = serde_json::from_str(&launch).unwrap();
    c.bench_function("launch_request/parse", |b| {
        b.iter(|| serde_json::from_str::<RequestEnvelope>(black_box(&launch)).unwrap())
    });
    c.bench_function("launch_request/serialize", |b| {
        b.iter(|| serde_json::to_vec(black_box(&parsed)).unwrap())
    });
}

criterion_group!(model, benches);
criterion_main!(model);
