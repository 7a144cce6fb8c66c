//! rask's own rules for directives: what Alexa sends, which the official schema does not cover.
//!
//! A directive is checked as JSON, not as a parsed [`DirectiveMessage`](super::DirectiveMessage),
//! so that every broken rule is reported with its JSON path, all at once, instead of stopping
//! at the first field serde cannot read.

use serde_json::{Map, Value};

use super::directive::DirectivePayload;
use crate::check::Finding;
use crate::limits;

/// Every rule `value` breaks as a Smart Home directive message. Empty means valid.
pub fn check_directive(value: &Value) -> Vec<Finding> {
    let mut c = Checker::default();
    let Some(top) = c.object(value, "") else {
        return c.findings;
    };
    c.only_keys(top, "", &["directive"]);
    let Some(directive) = c.required_object(top, "", "directive") else {
        return c.findings;
    };
    c.only_keys(directive, "/directive", &["header", "endpoint", "payload"]);

    let header = c.required_object(directive, "/directive", "header");
    let (namespace, name) = match header {
        Some(h) => c.header(h),
        None => (None, None),
    };
    let payload = directive.get("payload");
    if payload.is_none() {
        c.fail("/directive", "required", "the directive has no payload");
    } else if !payload.is_some_and(Value::is_object) {
        c.fail("/directive/payload", "type", "the payload must be a JSON object");
    }

    let (Some(namespace), Some(name)) = (namespace, name) else {
        return c.findings;
    };
    if !DirectivePayload::is_known(namespace, name) {
        c.fail(
            "/directive/header",
            "known directive",
            format!("{namespace}.{name} is not a Smart Home directive rask knows"),
        );
        return c.findings;
    }

    let endpointless = matches!(
        (namespace, name),
        ("Alexa.Discovery", "Discover") | ("Alexa.Authorization", "AcceptGrant")
    );
    match directive.get("endpoint") {
        Some(_) if endpointless => {
            c.fail(
                "/directive/endpoint",
                "no endpoint",
                format!("{namespace}.{name} has no endpoint"),
            );
        }
        Some(e) => c.endpoint(e),
        None if !endpointless => c.fail(
            "/directive",
            "required",
            format!("{namespace}.{name} must name an endpoint"),
        ),
        None => {}
    }
    if !endpointless && header.is_some_and(|h| !h.contains_key("correlationToken")) {
        c.fail(
            "/directive/header",
            "required",
            format!("{namespace}.{name} must carry a correlationToken for its answer"),
        );
    }

    if let Some(p) = payload.filter(|p| p.is_object()) {
        c.payload(namespace, name, p);
    }
    c.findings
}

#[derive(Default)]
struct Checker {
    findings: Vec<Finding>,
}

impl Checker {
    fn fail(&mut self, path: &str, rule: &str, message: impl Into<String>) {
        self.findings.push(Finding::new(path, rule, message));
    }

    fn object<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        let o = v.as_object();
        if o.is_none() {
            self.fail(
                path,
                "type",
                format!("expected a JSON object, found {}", kind_of(v)),
            );
        }
        o
    }

    fn required_object<'a>(
        &mut self,
        parent: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'a Map<String, Value>> {
        match parent.get(key) {
            None => {
                self.fail(path, "required", format!("\"{key}\" is missing"));
                None
            }
            Some(v) => self.object(v, &format!("{path}/{key}")),
        }
    }

    fn only_keys(&mut self, o: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for k in o.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.fail(
                &format!("{path}/{k}"),
                "additionalProperties",
                format!("\"{k}\" is not allowed here"),
            );
        }
    }

    fn required_str<'a>(&mut self, o: &'a Map<String, Value>, path: &str, key: &str) -> Option<&'a str> {
        match o.get(key) {
            None => {
                self.fail(path, "required", format!("\"{key}\" is missing"));
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(v) => {
                self.fail(
                    &format!("{path}/{key}"),
                    "type",
                    format!("expected a string, found {}", kind_of(v)),
                );
                None
            }
        }
    }

    fn header<'a>(&mut self, h: &'a Map<String, Value>) -> (Option<&'a str>, Option<&'a str>) {
        let p = "/directive/header";
        self.only_keys(
            h,
            p,
            &[
                "namespace",
                "name",
                "instance",
                "payloadVersion",
                "messageId",
                "correlationToken",
            ],
        );
        let namespace = self.required_str(h, p, "namespace");
        let name = self.required_str(h, p, "name");
        if let Some(v) = self.required_str(h, p, "payloadVersion") {
            if v != "3" {
                self.fail(
                    &format!("{p}/payloadVersion"),
                    "payloadVersion",
                    format!("must be \"3\", is {v:?}"),
                );
            }
        }
        if let Some(id) = self.required_str(h, p, "messageId") {
            if let Err(e) = limits::check_message_id(id) {
                self.fail(&format!("{p}/messageId"), "messageId", e.to_string());
            }
        }
        for key in ["correlationToken", "instance"] {
            if let Some(v) = h.get(key).filter(|v| !v.is_string()) {
                self.fail(
                    &format!("{p}/{key}"),
                    "type",
                    format!("expected a string, found {}", kind_of(v)),
                );
            }
        }
        (namespace, name)
    }

    fn scope(&mut self, v: &Value, path: &str) {
        let Some(s) = self.object(v, path) else {
            return;
        };
        if let Some(t) = self.required_str(s, path, "type") {
            if t != "BearerToken" && t != "BearerTokenWithPartition" {
                self.fail(
                    &format!("{path}/type"),
                    "enum",
                    format!("must be BearerToken, is {t:?}"),
                );
            }
        }
        if let Some(t) = self.required_str(s, path, "token") {
            if t.is_empty() {
                self.fail(&format!("{path}/token"), "minLength", "the token is empty");
            }
        }
    }

    fn endpoint(&mut self, v: &Value) {
        let p = "/directive/endpoint";
        let Some(e) = self.object(v, p) else { return };
        self.only_keys(e, p, &["scope", "endpointId", "cookie"]);
        if let Some(id) = self.required_str(e, p, "endpointId") {
            if let Err(err) = limits::check_endpoint_id(id) {
                self.fail(&format!("{p}/endpointId"), "endpointId", err.to_string());
            }
        }
        match e.get("scope") {
            Some(s) => self.scope(s, &format!("{p}/scope")),
            None => self.fail(
                p,
                "required",
                "\"scope\" is missing: the directive carries no user token",
            ),
        }
        if let Some(cookie) = e.get("cookie") {
            match cookie.as_object() {
                Some(c) => {
                    for (k, v) in c.iter().filter(|(_, v)| !v.is_string()) {
                        self.fail(
                            &format!("{p}/cookie/{k}"),
                            "type",
                            format!("cookie values are strings, found {}", kind_of(v)),
                        );
                    }
                }
                None => self.fail(
                    &format!("{p}/cookie"),
                    "type",
                    "the cookie must be an object of strings",
                ),
            }
        }
    }

    fn payload(&mut self, namespace: &str, name: &str, payload: &Value) {
        let p = "/directive/payload";
        if let Err(e) = DirectivePayload::from_parts(namespace, name, payload.clone()) {
            self.fail(p, "payload shape", format!("{namespace}.{name}: {e}"));
            return;
        }
        let int = |key: &str| payload.get(key).and_then(Value::as_i64);
        let ranges: &[(&str, i64, i64)] = match (namespace, name) {
            ("Alexa.BrightnessController", "SetBrightness") => &[("brightness", 0, 100)],
            ("Alexa.BrightnessController", "AdjustBrightness") => &[("brightnessDelta", -100, 100)],
            ("Alexa.PercentageController", "SetPercentage") => &[("percentage", 0, 100)],
            ("Alexa.PercentageController", "AdjustPercentage") => &[("percentageDelta", -100, 100)],
            ("Alexa.PowerLevelController", "SetPowerLevel") => &[("powerLevel", 0, 100)],
            ("Alexa.PowerLevelController", "AdjustPowerLevel") => &[("powerLevelDelta", -100, 100)],
            ("Alexa.Speaker", "SetVolume") => &[("volume", 0, 100)],
            ("Alexa.Speaker", "AdjustVolume") => &[("volume", -100, 100)],
            ("Alexa.StepSpeaker", "AdjustVolume") => &[("volumeSteps", -100, 100)],
            ("Alexa.ColorTemperatureController", "SetColorTemperature") => {
                &[("colorTemperatureInKelvin", 1000, 10000)]
            }
            _ => &[],
        };
        for (key, min, max) in ranges {
            if let Some(x) = int(key).filter(|x| x < min || x > max) {
                self.fail(
                    &format!("{p}/{key}"),
                    "range",
                    format!("{key} must be {min} to {max}, is {x}"),
                );
            }
        }
        match (namespace, name) {
            ("Alexa.ColorController", "SetColor") => {
                for (key, max) in [("hue", 360.0), ("saturation", 1.0), ("brightness", 1.0)] {
                    if let Some(x) = payload["color"][key].as_f64().filter(|x| *x < 0.0 || *x > max) {
                        self.fail(
                            &format!("{p}/color/{key}"),
                            "range",
                            format!("{key} must be 0 to {max}, is {x}"),
                        );
                    }
                }
            }
            ("Alexa.Discovery", "Discover") => {
                if let Some(s) = payload.get("scope") {
                    self.scope(s, &format!("{p}/scope"));
                }
            }
            ("Alexa.Authorization", "AcceptGrant") => {
                if payload["grant"]["type"] != "OAuth2.AuthorizationCode" {
                    self.fail(
                        &format!("{p}/grant/type"),
                        "enum",
                        "grant.type must be OAuth2.AuthorizationCode",
                    );
                }
                if payload["grant"]["code"].as_str().is_some_and(str::is_empty) {
                    self.fail(&format!("{p}/grant/code"), "minLength", "the grant code is empty");
                }
                self.scope(&payload["grantee"], &format!("{p}/grantee"));
            }
            _ => {}
        }
    }
}

/// How a JSON value's type reads in a message: "a string", "null", ...
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn_on() -> Value {
        json!({"directive": {
            "header": {"namespace": "Alexa.PowerController", "name": "TurnOn", "payloadVersion": "3",
                       "messageId": "1bd5d003-31b9-476f-ad03-71d471922820", "correlationToken": "c"},
            "endpoint": {"scope": {"type": "BearerToken", "token": "t"}, "endpointId": "endpoint-001", "cookie": {}},
            "payload": {}
        }})
    }

    fn rules(v: &Value) -> Vec<(String, String)> {
        check_directive(v).into_iter().map(|f| (f.path, f.rule)).collect()
    }

    #[test]
    fn a_good_directive_passes() {
        assert_eq!(rules(&turn_on()), vec![]);
    }

    #[test]
    fn each_header_rule_is_reported_with_its_path() {
        let mut v = turn_on();
        v["directive"]["header"]["payloadVersion"] = json!("2");
        v["directive"]["header"]["messageId"] = json!("has space");
        assert_eq!(
            rules(&v),
            vec![
                ("/directive/header/payloadVersion".into(), "payloadVersion".into()),
                ("/directive/header/messageId".into(), "messageId".into()),
            ]
        );
    }

    #[test]
    fn unknown_namespace_or_name_is_not_valid() {
        let mut v = turn_on();
        v["directive"]["header"]["name"] = json!("TurnSideways");
        assert_eq!(
            rules(&v),
            vec![("/directive/header".into(), "known directive".into())]
        );
    }

    #[test]
    fn endpoint_rules() {
        let mut v = turn_on();
        v["directive"]["endpoint"]["endpointId"] = json!("front door");
        v["directive"]["endpoint"]
            .as_object_mut()
            .unwrap()
            .remove("scope");
        assert_eq!(
            rules(&v),
            vec![
                ("/directive/endpoint/endpointId".into(), "endpointId".into()),
                ("/directive/endpoint".into(), "required".into()),
            ]
        );
        v["directive"].as_object_mut().unwrap().remove("endpoint");
        assert_eq!(rules(&v), vec![("/directive".into(), "required".into())]);
    }

    #[test]
    fn values_out_of_range() {
        let v = json!({"directive": {
            "header": {"namespace": "Alexa.BrightnessController", "name": "SetBrightness", "payloadVersion": "3",
                       "messageId": "m", "correlationToken": "c"},
            "endpoint": {"scope": {"type": "BearerToken", "token": "t"}, "endpointId": "e"},
            "payload": {"brightness": 140}
        }});
        assert_eq!(
            rules(&v),
            vec![("/directive/payload/brightness".into(), "range".into())]
        );
    }

    #[test]
    fn payload_shape() {
        let v = json!({"directive": {
            "header": {"namespace": "Alexa.Discovery", "name": "Discover", "payloadVersion": "3", "messageId": "m"},
            "payload": {}
        }});
        let f = check_directive(&v);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "payload shape");
        assert!(f[0].message.contains("scope"), "{}", f[0].message);
    }

    #[test]
    fn not_an_object() {
        assert_eq!(rules(&json!([1])), vec![("".into(), "type".into())]);
        assert_eq!(
            rules(&json!({"directive": 3})),
            vec![("/directive".into(), "type".into())]
        );
    }
}
