//! `rask validate` as a user runs it: the real binary, real files, exit codes and output.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn rask(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rask starts");
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn valid_messages_exit_zero_and_say_what_they_are() {
    let o = rask(
        &[
            "validate",
            "examples/messages/doorbell-press.json",
            "examples/messages/turn-on.json",
            "examples/messages/gadget-response.json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("valid   examples/messages/doorbell-press.json: smart-home event Alexa.DoorbellEventSource.DoorbellPress"), "{out}");
    assert!(
        out.contains("smart-home directive Alexa.PowerController.TurnOn"),
        "{out}"
    );
    assert!(out.contains("custom-skill response"), "{out}");
}

#[test]
fn every_official_sample_is_valid() {
    let dir = repo().join("crates/model/alexa-smarthome/sample_messages");
    let mut files = Vec::new();
    for d in std::fs::read_dir(&dir).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            files.push(f.unwrap().path().display().to_string());
        }
    }
    assert_eq!(files.len(), 75);
    let args: Vec<&str> = std::iter::once("validate")
        .chain(files.iter().map(String::as_str))
        .collect();
    let o = rask(&args, None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o).lines().filter(|l| l.starts_with("valid ")).count(), 75);
}

#[test]
fn schema_failures_name_the_path_and_the_rule() {
    let o = rask(
        &["validate", "examples/messages/doorbell-press-invalid.json"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.starts_with("INVALID examples/messages/doorbell-press-invalid.json"),
        "{out}"
    );
    assert!(
        out.contains("/event/endpoint/endpointId: \"front door\""),
        "{out}"
    );
    assert!(
        out.contains("/event/payload/timestamp:") && out.contains("[pattern]"),
        "{out}"
    );
}

#[test]
fn bad_json_names_line_and_column() {
    let o = rask(
        &["validate", "-"],
        Some("{\n  \"directive\": {\n    \"header\": }\n}"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o).trim(),
        "INVALID -: not JSON: line 3, column 15: expected value"
    );
}

#[test]
fn unknown_directives_are_not_valid() {
    let o = rask(
        &["validate", "-"],
        Some(
            r#"{"directive": {"header": {"namespace": "Alexa.Teleporter",
        "name": "Beam", "payloadVersion": "3", "messageId": "m-1", "correlationToken": "c"},
        "endpoint": {"scope": {"type": "BearerToken", "token": "t"}, "endpointId": "pad"}, "payload": {}}}"#,
        ),
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("Alexa.Teleporter.Beam is not a Smart Home directive rask knows [known directive]"),
        "{out}"
    );
}

/// A file that cannot be read is named, and every file after it is still checked.
#[test]
fn a_missing_file_is_a_usage_error_that_names_it() {
    let o = rask(&["validate", "no-such-file.json"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read no-such-file.json"));
    let sample = repo().join("crates/model/alexa-smarthome/sample_messages/Discovery/Discovery.request.json");
    let o = rask(&["validate", "no-such-file.json", sample.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2), "an error, once the rest is checked");
    let out = stdout(&o);
    assert!(out.contains("UNREADABLE no-such-file.json"), "{out}");
    assert!(
        out.contains("valid   ") && out.contains("Discovery.request.json"),
        "{out}"
    );
}

/// A proactive event is checked offline against its schema: each field it lacks or gets wrong,
/// and each `localizedattribute:` reference a locale does not give.
#[test]
fn proactive_events_are_checked_against_their_schema() {
    let later = |hours: i64| {
        rask_model::timestamp::seconds(time::OffsetDateTime::now_utc() + time::Duration::hours(hours))
    };
    let event = |payload: serde_json::Value, locales: serde_json::Value| {
        serde_json::json!({
            "timestamp": later(0), "referenceId": "trash-1", "expiryTime": later(2),
            "event": {"name": "AMAZON.TrashCollectionAlert.Activated", "payload": payload},
            "localizedAttributes": locales,
            "relevantAudience": {"type": "Multicast", "payload": {}}
        })
        .to_string()
    };
    let good = event(
        serde_json::json!({"alert": {"garbageTypes": ["WASTE_PAPER", "GLASS"], "collectionDayOfWeek": "TUESDAY"}}),
        serde_json::json!([{"locale": "en-GB"}]),
    );
    let o = rask(&["validate", "-"], Some(&good));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("AMAZON.TrashCollectionAlert.Activated"),
        "{}",
        stdout(&o)
    );
    let bad = event(
        serde_json::json!({"alert": {"garbageTypes": ["GOLD"]}}),
        serde_json::json!([{"locale": "en-GB"}]),
    );
    let o = rask(&["validate", "-"], Some(&bad));
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("/event/payload/alert/garbageTypes/0:") && out.contains("[enum]"),
        "{out}"
    );
    assert!(
        out.contains("/event/payload/alert/collectionDayOfWeek:") && out.contains("[required]"),
        "{out}"
    );
}
