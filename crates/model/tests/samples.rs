//! Amazon's official sample messages as the oracle for rask-model's types.
//!
//! Every sample under `alexa-smarthome/sample_messages` (copied from github.com/alexa/alexa-smarthome)
//! must parse into our types and serialize back to the same JSON value, and every skill→Alexa
//! sample must be valid under the official schema and rask's own checks.

use std::path::{Path, PathBuf};

use rask_model::check::{self, MessageKind};
use rask_model::smarthome::{DirectiveMessage, DirectivePayload, EventMessage, EventPayload};
use serde_json::Value;

fn samples() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("sample directory is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("alexa-smarthome/sample_messages"),
        &mut out,
    );
    out.sort();
    out
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("sample is readable");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn all_75_samples_are_present() {
    assert_eq!(samples().len(), 75);
}

#[test]
fn every_sample_round_trips_through_our_types() {
    let mut failures = Vec::new();
    for path in samples() {
        let original = load(&path);
        let back = if original.get("directive").is_some() {
            let m: DirectiveMessage = match serde_json::from_value(original.clone()) {
                Ok(m) => m,
                Err(e) => {
                    failures.push(format!("{}: does not parse: {e}", path.display()));
                    continue;
                }
            };
            assert!(
                !matches!(m.directive.payload, DirectivePayload::Unknown(_)),
                "{}: an official sample directive should be typed",
                path.display()
            );
            serde_json::to_value(&m).unwrap()
        } else {
            let m: EventMessage = match serde_json::from_value(original.clone()) {
                Ok(m) => m,
                Err(e) => {
                    failures.push(format!("{}: does not parse: {e}", path.display()));
                    continue;
                }
            };
            assert!(
                !matches!(m.event.payload, EventPayload::Unknown(_)),
                "{}: an official sample event should be typed",
                path.display()
            );
            serde_json::to_value(&m).unwrap()
        };
        if back != original {
            failures.push(format!(
                "{}: changed in the round trip:\n  was {original}\n  now {back}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_sample_passes_rask_validate() {
    let mut failures = Vec::new();
    for path in samples() {
        let report = check::check_value(&load(&path));
        let expected = if path.to_string_lossy().contains("request") || path.ends_with("ReportState.json") {
            MessageKind::SmartHomeDirective
        } else {
            MessageKind::SmartHomeEvent
        };
        if report.kind != Some(expected) || !report.is_valid() {
            failures.push(format!(
                "{}: {} {:?}",
                path.display(),
                report.describe(),
                report.findings
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
