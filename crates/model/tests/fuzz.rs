//! Arbitrary bytes and arbitrary JSON never panic a parser or the checker: bad input gets an
//! error value, never a crash.

use proptest::prelude::*;
use rask_model::check;
use rask_model::custom::{RequestEnvelope, ResponseEnvelope};
use rask_model::lwa::{TokenError, TokenRequest, TokenResponse};
use rask_model::messaging::SkillMessageRequest;
use rask_model::proactive::ProactiveEventRequest;
use rask_model::smarthome::{DirectiveMessage, EventMessage};
use serde_json::{Map, Value, json};

/// Arbitrary JSON, biased towards Alexa's keys so the fuzzer reaches the typed parsers.
fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("directive".to_string()),
        Just("event".to_string()),
        Just("header".to_string()),
        Just("namespace".to_string()),
        Just("name".to_string()),
        Just("payload".to_string()),
        Just("endpoint".to_string()),
        Just("request".to_string()),
        Just("type".to_string()),
        Just("context".to_string()),
        Just("response".to_string()),
        Just("payloadVersion".to_string()),
        Just("messageId".to_string()),
        Just("endpoints".to_string()),
        Just("properties".to_string()),
        "[a-zA-Z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("Alexa".to_string()),
            Just("Alexa.PowerController".to_string()),
            Just("TurnOn".to_string()),
            Just("Alexa.Discovery".to_string()),
            Just("Discover.Response".to_string()),
            Just("3".to_string()),
            Just("IntentRequest".to_string()),
            Just("ErrorResponse".to_string()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn parse_everything(v: &Value) {
    let _ = serde_json::from_value::<DirectiveMessage>(v.clone());
    let _ = serde_json::from_value::<EventMessage>(v.clone());
    let _ = serde_json::from_value::<RequestEnvelope>(v.clone());
    let _ = serde_json::from_value::<ResponseEnvelope>(v.clone());
    let _ = serde_json::from_value::<TokenRequest>(v.clone()).map(|r| r.grant());
    let _ = serde_json::from_value::<TokenResponse>(v.clone());
    let _ = serde_json::from_value::<TokenError>(v.clone());
    let _ = serde_json::from_value::<SkillMessageRequest>(v.clone()).map(|m| m.check());
    let _ = serde_json::from_value::<ProactiveEventRequest>(v.clone());
    let _ = check::check_value(v);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = check::check_text(&text);
        let _ = serde_json::from_slice::<DirectiveMessage>(&bytes);
        let _ = serde_json::from_slice::<RequestEnvelope>(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        parse_everything(&v);
        for top in ["directive", "event"] {
            parse_everything(&json!({ top: v.clone() }));
        }
    }

    #[test]
    fn mutated_samples_never_panic(path_pick in 0usize..1000, replacement in arb_json()) {
        // Replace one node of a real message with arbitrary JSON.
        let mut sample = json!({"event": {
            "header": {"namespace": "Alexa.Discovery", "name": "Discover.Response", "payloadVersion": "3", "messageId": "m"},
            "payload": {"endpoints": [{"endpointId": "a", "manufacturerName": "m", "friendlyName": "f", "description": "d",
                "displayCategories": ["LIGHT"], "capabilities": [{"type": "AlexaInterface", "interface": "Alexa", "version": "3",
                "properties": {"supported": [{"name": "powerState"}], "retrievable": true}}]}]}},
            "context": {"properties": [{"namespace": "Alexa.PowerController", "name": "powerState", "value": "ON",
                "timeOfSample": "2017-09-27T18:30:30.45Z", "uncertaintyInMilliseconds": 0}]}});
        let mut nodes = Vec::new();
        collect_pointers(&sample, String::new(), &mut nodes);
        let pointer = nodes[path_pick % nodes.len()].clone();
        if let Some(slot) = sample.pointer_mut(&pointer) {
            *slot = replacement;
        }
        parse_everything(&sample);
    }
}

fn collect_pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(o) => o
            .iter()
            .for_each(|(k, c)| collect_pointers(c, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| collect_pointers(c, format!("{at}/{i}"), out)),
        _ => {}
    }
}
