//! The official Alexa Smart Home message schema, embedded, and validation against it.
//!
//! The schema (`alexa-smarthome/validation_schemas/`, Amazon Software License, copied
//! byte-identical from github.com/alexa/alexa-smarthome) covers only what a skill sends to
//! Alexa. Two things about it shape this module:
//!
//! - it is not strict JSON (one trailing comma), so it is loaded through [`strip_trailing_commas`];
//! - it is one big `oneOf` over every message kind, so a failure against the whole schema says
//!   only "not valid under any of the schemas". Each message is therefore validated against the
//!   one branch its header's namespace and name select, and nested `oneOf`/`anyOf` failures are
//!   narrowed to the branch that came closest, so that a finding names the exact field and rule.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::{Map, Value};

use crate::check::Finding;

/// The schema file as published, trailing comma included.
pub const SCHEMA_TEXT: &str =
    include_str!("../alexa-smarthome/validation_schemas/alexa_smart_home_message_schema.json");

/// The outcome of validating one message.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaVerdict {
    /// The message satisfies its branch of the schema.
    Valid,
    /// The message breaks these rules.
    Invalid(Vec<Finding>),
    /// The schema has no branch for this namespace and name (`DeleteReport`, for one).
    NoDefinition {
        /// The header's namespace.
        namespace: String,
        /// The header's name.
        name: String,
    },
}

/// The compiled schema: one lazily compiled validator per message kind.
pub struct SmartHomeSchema {
    branches: HashMap<(String, String), usize>,
    sources: Vec<Value>,
    compiled: Vec<OnceLock<Result<Validator, String>>>,
}

static SCHEMA: LazyLock<SmartHomeSchema> = LazyLock::new(SmartHomeSchema::load);

impl SmartHomeSchema {
    /// The process-wide instance.
    pub fn get() -> &'static SmartHomeSchema {
        &SCHEMA
    }

    fn load() -> Self {
        let root: Value = serde_json::from_str(&strip_trailing_commas(SCHEMA_TEXT))
            .expect("the embedded schema parses once its trailing comma is removed");
        let definitions = root
            .get("definitions")
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        let mut leaves = Vec::new();
        collect_leaves(&root, &mut leaves);
        let mut branches = HashMap::new();
        let mut sources = Vec::new();
        for (keys, leaf) in leaves {
            let mut schema = leaf.clone();
            if let Some(o) = schema.as_object_mut() {
                o.insert(
                    "$schema".into(),
                    Value::String("http://json-schema.org/draft-04/schema#".into()),
                );
                o.insert("definitions".into(), definitions.clone());
            }
            for key in keys {
                branches.insert(key, sources.len());
            }
            sources.push(schema);
        }
        let compiled = sources.iter().map(|_| OnceLock::new()).collect();
        SmartHomeSchema {
            branches,
            sources,
            compiled,
        }
    }

    /// Every (namespace, name) the schema defines.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.branches.keys().map(|(a, b)| (a.as_str(), b.as_str()))
    }

    /// Whether the schema defines events of this namespace and name.
    pub fn defines(&self, namespace: &str, name: &str) -> bool {
        self.branches
            .contains_key(&(namespace.to_owned(), name.to_owned()))
    }

    fn validator(&self, i: usize) -> Result<&Validator, String> {
        self.compiled[i]
            .get_or_init(|| jsonschema::draft4::new(&self.sources[i]).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Validates an event message (`{"event": ..., "context"?: ...}`).
    pub fn validate(&self, message: &Value) -> SchemaVerdict {
        let header = &message["event"]["header"];
        let (Some(namespace), Some(name)) = (header["namespace"].as_str(), header["name"].as_str()) else {
            return SchemaVerdict::Invalid(vec![Finding::new(
                "/event/header",
                "required",
                "an event needs a header with a namespace and a name",
            )]);
        };
        let Some(&i) = self.branches.get(&(namespace.to_owned(), name.to_owned())) else {
            return SchemaVerdict::NoDefinition {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            };
        };
        let validator = match self.validator(i) {
            Ok(v) => v,
            Err(e) => {
                return SchemaVerdict::Invalid(vec![Finding::new(
                    "",
                    "schema",
                    format!("the schema does not compile: {e}"),
                )]);
            }
        };
        let mut findings = Vec::new();
        for error in validator.iter_errors(message) {
            narrow(&error, &mut findings);
        }
        if findings.is_empty() {
            SchemaVerdict::Valid
        } else {
            SchemaVerdict::Invalid(findings)
        }
    }

    /// Whether an event message is valid (a message the schema does not define is not).
    pub fn is_valid(&self, message: &Value) -> bool {
        matches!(self.validate(message), SchemaVerdict::Valid)
    }
}

/// Finds every branch that fixes `event.header.namespace` and `event.header.name` by `enum`.
fn collect_leaves<'a>(node: &'a Value, out: &mut Vec<(Vec<(String, String)>, &'a Value)>) {
    let header = &node["properties"]["event"]["properties"]["header"]["properties"];
    if let (Some(namespaces), Some(names)) = (
        header["namespace"]["enum"].as_array(),
        header["name"]["enum"].as_array(),
    ) {
        let mut keys = Vec::new();
        for ns in namespaces.iter().filter_map(Value::as_str) {
            for n in names.iter().filter_map(Value::as_str) {
                keys.push((ns.to_owned(), n.to_owned()));
            }
        }
        out.push((keys, node));
        return;
    }
    if let Some(branches) = node.get("oneOf").and_then(Value::as_array) {
        for b in branches {
            collect_leaves(b, out);
        }
    }
}

/// Turns a validation error into findings, descending into the closest `oneOf`/`anyOf` branch.
fn narrow(error: &ValidationError<'_>, out: &mut Vec<Finding>) {
    let context = match error.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            Some(context)
        }
        _ => None,
    };
    if let Some(best) = context.and_then(|c| closest_branch(c)) {
        for e in best {
            narrow(e, out);
        }
        return;
    }
    let mut message = error.to_string();
    if let ValidationErrorKind::Pattern { .. } = error.kind() {
        // The schema's date patterns run to 300 characters; quoting one helps nobody.
        if message.len() > 160 {
            message = format!(
                "{} does not match the schema's pattern for this field",
                error.instance()
            );
        }
    }
    out.push(Finding::new(
        error.instance_path().as_str(),
        error.kind().keyword(),
        message,
    ));
}

/// The branch that came closest to matching. Branches of Alexa's schema are told apart by an
/// `enum` on a discriminator (`type`, `namespace`, `name`): a branch that fails there is the
/// wrong branch, whatever else it says. Among the rest: fewest errors, then the deepest.
fn closest_branch<'e, 'i>(branches: &'e [Vec<ValidationError<'i>>]) -> Option<&'e Vec<ValidationError<'i>>> {
    let wrong_discriminator = |e: &ValidationError<'_>| {
        let path = e.instance_path().as_str();
        matches!(
            e.kind(),
            ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. }
        ) && (path.ends_with("/type") || path.ends_with("/namespace") || path.ends_with("/name"))
    };
    branches.iter().filter(|b| !b.is_empty()).min_by_key(|b| {
        let mismatches = b.iter().filter(|e| wrong_discriminator(e)).count();
        let depth = b
            .iter()
            .map(|e| e.instance_path().as_str().matches('/').count())
            .max()
            .unwrap_or(0);
        (mismatches, b.len(), std::cmp::Reverse(depth))
    })
}

/// Removes commas that directly precede `]` or `}` outside strings: JSON5's trailing commas,
/// which the published schema has one of.
pub fn strip_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars = text.char_indices();
    let (mut in_string, mut escaped) = (false, false);
    for (i, c) in chars {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            ',' => {
                let next = text[i + 1..].trim_start().chars().next();
                if !matches!(next, Some(']') | Some('}')) {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trailing_commas_only_outside_strings() {
        assert_eq!(
            strip_trailing_commas(r#"{"a": [1, 2, ], "b": ",]", }"#),
            r#"{"a": [1, 2 ], "b": ",]" }"#
        );
    }

    #[test]
    fn the_schema_knows_the_event_kinds() {
        let s = SmartHomeSchema::get();
        assert!(s.defines("Alexa.DoorbellEventSource", "DoorbellPress"));
        assert!(s.defines("Alexa.Discovery", "Discover.Response"));
        assert!(s.defines("Alexa.Authorization", "ErrorResponse"));
        assert!(!s.defines("Alexa.Discovery", "DeleteReport"));
    }

    #[test]
    fn a_bad_property_value_is_named_precisely() {
        let msg = json!({
            "event": {"header": {"namespace": "Alexa", "name": "Response", "payloadVersion": "3",
                                 "messageId": "abc-123", "correlationToken": "c"},
                      "endpoint": {"endpointId": "lamp"}, "payload": {}},
            "context": {"properties": [{"namespace": "Alexa.PowerController", "name": "powerState",
                "value": "MAYBE", "timeOfSample": "2017-09-27T18:30:30.45Z", "uncertaintyInMilliseconds": 0}]}
        });
        let SchemaVerdict::Invalid(f) = SmartHomeSchema::get().validate(&msg) else {
            panic!("should be invalid")
        };
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, "/context/properties/0/value");
        assert_eq!(f[0].rule, "enum");
    }

    #[test]
    fn a_fractional_doorbell_timestamp_is_refused() {
        let msg = json!({"event": {
            "header": {"namespace": "Alexa.DoorbellEventSource", "name": "DoorbellPress", "payloadVersion": "3", "messageId": "m-1"},
            "endpoint": {"scope": {"type": "BearerToken", "token": "t"}, "endpointId": "door"},
            "payload": {"cause": {"type": "PHYSICAL_INTERACTION"}, "timestamp": "2018-10-18T11:44:18.485Z"}},
            "context": {}});
        let SchemaVerdict::Invalid(f) = SmartHomeSchema::get().validate(&msg) else {
            panic!("should be invalid")
        };
        assert_eq!(f[0].path, "/event/payload/timestamp");
        assert_eq!(f[0].rule, "pattern");
    }
}
