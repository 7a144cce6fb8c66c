//! The configuration's checks, each named by its key, and the examples in the docs kept valid.

use rask_home::capabilities::DeviceProperty;

use super::*;

fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
    let read = document::read(text, "rask.toml");
    match read.config {
        Some(c) => c.checked(read.errors, &read.removed, false),
        None => Err(read.errors),
    }
}

#[test]
fn a_bad_value_is_named_by_its_key_and_line() {
    let errors = parse("[server]\nbind = \"localhost\"\n").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "server.bind");
    assert!(
        errors[0].problem.contains("(line 2 of rask.toml)"),
        "{}",
        errors[0].problem
    );
}

#[test]
fn every_error_in_the_file_is_reported_at_once() {
    let errors = parse(
        "[server]\nbind = \"localhost\"\ncolour = \"blue\"\n[linking]\naccess_token_seconds = \"soon\"\n\
         [[linking.clients]]\nid = \"alexa\"\nauthentication = \"magic\"\n",
    )
    .unwrap_err();
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"server.bind"), "{errors:#?}");
    assert!(keys.contains(&"server.colour"), "{errors:#?}");
    assert!(keys.contains(&"linking.access_token_seconds"), "{errors:#?}");
    assert!(
        keys.iter().any(|k| k.starts_with("linking.clients[0].")),
        "{errors:#?}"
    );
    let colour = errors.iter().find(|e| e.key == "server.colour").unwrap();
    assert!(
        colour.problem.starts_with("not a key rask knows"),
        "{}",
        colour.problem
    );
    // A key reported for its value is not reported again as missing.
    assert_eq!(
        keys.iter()
            .filter(|k| **k == "linking.access_token_seconds")
            .count(),
        1
    );
}

#[test]
fn a_bad_section_does_not_hide_the_errors_after_it() {
    // The device's kind has the wrong type (taken out, it is then missing): the server's
    // bad value after it is still reported.
    let errors =
        parse("[[devices]]\nid = \"a\"\nname = \"A\"\nkind = 5\n[server]\nbind = \"nowhere\"\n").unwrap_err();
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"devices[0].kind"), "{errors:#?}");
    assert!(keys.contains(&"server.bind"), "{errors:#?}");
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("devices")).count(),
        1,
        "{errors:#?}"
    );
}

#[test]
fn bad_syntax_names_the_line() {
    let errors = parse("[server\nbind = 1\n").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "rask.toml");
    assert!(
        errors[0].problem.contains("line 1 of rask.toml"),
        "{}",
        errors[0].problem
    );
}

#[test]
fn defaults_are_loopback_and_sqlite() {
    let c = parse("").unwrap();
    assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database.url, "sqlite://rask-data/rask.db");
}

#[test]
fn one_error_per_bad_key() {
    let errors = parse(
        "[linking]\naccess_token_seconds = 60\n[[linking.clients]]\nid = \"alexa\"\nauthentication = \"magic\"\n",
    )
    .unwrap_err();
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "linking.access_token_seconds",
            "linking.clients[0].secret_env",
            "linking.clients[0].vendor_ids",
            "linking.clients[0].authentication"
        ]
    );
}

/// The documentation's example is a configuration rask accepts.
#[test]
fn the_complete_example_in_docs_config_md_is_valid() {
    let example = block("## A complete example");
    let config = parse(&example).unwrap_or_else(|e| panic!("{e:?}"));
    let devices = config.registry(true);
    assert_eq!(devices.devices().len(), 4);
    let coffee = devices.get("coffee-machine").unwrap();
    assert_eq!(
        coffee
            .wiring
            .command_payload(DeviceProperty::Power, &serde_json::json!("ON")),
        r#"{"state": "ON"}"#
    );
}

/// The first TOML block of docs/config.md after `heading`.
fn block(heading: &str) -> String {
    block_in(include_str!("../../../../docs/config.md"), heading)
}

/// The first TOML block of `doc` after `heading`.
fn block_in(doc: &str, heading: &str) -> String {
    doc.split(heading)
        .nth(1)
        .and_then(|rest| rest.split("```toml\n").nth(1))
        .and_then(|block| block.split("```").next())
        .unwrap_or_else(|| panic!("the document has {heading}"))
        .to_owned()
}

/// The `[skill]` example is valid in the complete example's house (its doorbell, its broker).
#[test]
fn the_skill_example_in_docs_config_md_is_valid() {
    let text = block("## A complete example") + &block("## `[skill]`: a custom skill, without code");
    let config = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let skill = config.skill.unwrap();
    assert_eq!(skill.intents.len(), 3);
    assert!(skill.intents[2].set.is_some());
    assert!(skill.verify_requests, "verification is on by default");
}

/// The out-of-session example is valid in the complete example's house (its broker).
#[test]
fn the_out_of_session_example_in_docs_config_md_is_valid() {
    let text = block("## A complete example")
        + &block("## Reaching users out of session: messages, notifications, the HTTP API");
    let config = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let skill = config.skill.unwrap();
    assert_eq!(skill.message_key_field(), "messageId");
    assert!(skill.messages.unwrap().webhook.is_some());
    assert_eq!(config.api_keys.len(), 1);
    assert_eq!(
        config.api_keys[0].actions,
        [crate::api::Action::Messages, crate::api::Action::Notifications]
    );
}

/// docs/sim.md's rehearsal configuration is valid and draws no warning; with the
/// forwarder's secret kept, rask warns that the sim's directives would all be refused.
#[test]
fn the_rehearsal_in_docs_sim_md_is_valid_and_a_kept_forwarder_secret_is_warned_of() {
    let text = block_in(
        include_str!("../../../../docs/sim.md"),
        "### Rehearsing a deployment",
    );
    let config = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(config.alexa.as_ref().unwrap().region, "EU");
    assert_eq!(config.unsigned_rehearsal(), None);
    let kept = format!("{text}forwarder_secret_env = \"RASK_FORWARDER_SECRET\"\n");
    let warning = parse(&kept).unwrap().unsigned_rehearsal().unwrap();
    assert!(warning.contains("x-rask-region is missing"), "{warning}");
}

/// docs/config.md's `[metrics]` example is valid, and a bad network is named by its place.
#[test]
fn the_metrics_example_is_valid_and_a_bad_network_is_named() {
    let config = parse(&block("## `[metrics]`: who may read `/metrics`")).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(config.metrics.unwrap().allow, ["10.0.0.0/8"]);
    let errors = parse("[metrics]\nallow = [\"10.0.0.0/8\", \"ten\"]\n").unwrap_err();
    assert_eq!(errors[0].key, "metrics.allow[1]", "{errors:?}");
}

/// The gadget skill example is valid in the complete example's house.
#[test]
fn the_gadget_skill_example_in_docs_config_md_is_valid() {
    let text = block("## A complete example") + &block("### A gadget skill");
    let config = parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let skill = config.skill.unwrap();
    assert_eq!(skill.interfaces, ["Custom.Robot"]);
    assert_eq!(skill.gadget_events.len(), 2);
    assert!(skill.intents[0].gadget_directive.is_some());
}

#[test]
fn a_topic_has_one_use() {
    let errors = parse(
        "[mqtt]\nurl = \"mqtt://127.0.0.1\"\n\
         [[devices]]\nid = \"a\"\nname = \"A\"\nkind = \"plug\"\ncommand_topic = \"t/a\"\nstate_topic = \"t/a\"\n\
         [[devices]]\nid = \"b\"\nname = \"B\"\nkind = \"doorbell\"\nmqtt_topic = \"t/b\"\n\
         [[devices]]\nid = \"c\"\nname = \"C\"\nkind = \"motion_sensor\"\nstate_topic = \"t/b\"\n",
    )
    .unwrap_err();
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].starts_with("devices[0].command_topic") && lines[0].contains("devices[0].state_topic"));
    assert!(lines[1].starts_with("devices[2].state_topic") && lines[1].contains("devices[1].mqtt_topic"));
    // A two-channel relay: one command topic, two state topics.
    parse(
        "[mqtt]\nurl = \"mqtt://127.0.0.1\"\n\
         [[devices]]\nid = \"l1\"\nname = \"One\"\nkind = \"plug\"\ncommand_topic = \"relay/set\"\nstate_topic = \"relay/1\"\n\
         [[devices]]\nid = \"l2\"\nname = \"Two\"\nkind = \"plug\"\ncommand_topic = \"relay/set\"\nstate_topic = \"relay/2\"\n",
    )
    .unwrap();
}

#[test]
fn a_devices_manufacturer_and_model_come_from_the_file_and_are_checked() {
    let c = parse("[[devices]]\nid = \"bell\"\nname = \"Bell\"\nkind = \"doorbell\"\nsecret_env = \"BELL\"\nmanufacturer = \"Acme\"\nmodel = \"DB-1\"\n").unwrap();
    let d = &c.registry(true).devices()[0].clone();
    assert_eq!((d.manufacturer.as_str(), d.model.as_str()), ("Acme", "DB-1"));
    let errors = parse("[[devices]]\nid = \"bell\"\nname = \"Bell\"\nkind = \"doorbell\"\nsecret_env = \"BELL\"\nmanufacturer = \" \"\n").unwrap_err();
    assert_eq!(errors[0].key, "devices[0].manufacturer", "{errors:?}");
}

#[test]
fn device_wiring_keys_are_checked_each_by_name() {
    let errors = parse(
        "[mqtt]\nurl = \"mqtt://127.0.0.1\"\n\
         [[devices]]\nid = \"lamp\"\nname = \"Lamp\"\nkind = \"light\"\nstate_topic = \"home/lamp\"\n\
         [devices.state_fields]\ncolour = \"c\"\n[devices.command_templates]\nbrightness = \"dim\"\n\
         [[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"contact_sensor\"\n\
         [devices.command_templates]\ncontact = \"{value}\"\n\
         [[devices]]\nid = \"blind\"\nname = \"Blind\"\nkind = \"blind\"\ncommand_topic = \"home/#\"\nconfirm_timeout_ms = 20000\n\
         [[devices]]\nid = \"temp\"\nname = \"Temp\"\nkind = \"temperature_sensor\"\nstate_topic = \"t\"\ntemperature_scale = \"RANKINE\"\n",
    )
    .unwrap_err();
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "devices[0].command_topic",
            "devices[0].state_fields.colour",
            "devices[0].command_templates.brightness",
            "devices[1].state_topic",
            "devices[1].command_templates.contact",
            "devices[2].command_topic",
            "devices[2].confirm_timeout_ms",
            "devices[3].temperature_scale",
        ],
        "{lines:#?}"
    );
    assert!(lines[1].contains("(it has: power, brightness)"), "{}", lines[1]);
    assert!(lines[6].contains("slow = true"), "{}", lines[6]);
    let ok = parse(
        "[mqtt]\nurl = \"mqtt://127.0.0.1\"\n[[devices]]\nid = \"blind\"\nname = \"Blind\"\nkind = \"shutter\"\n\
         command_topic = \"rfy/blind/set\"\nstate_topic = \"rfy/blind\"\nslow = true\nconfirm_timeout_ms = 60000\n\
         [devices.command_templates]\nmode = \"{value}\"\n",
    )
    .unwrap();
    let shutter = ok.registry(true).devices()[0].clone();
    assert!(shutter.wiring.slow);
    assert_eq!(
        shutter
            .wiring
            .command_payload(DeviceProperty::Mode, &serde_json::json!("Position.Down")),
        "Position.Down"
    );
}

#[test]
fn alexa_and_devices_are_checked() {
    let errors = parse(
        "[alexa]\nlwa_client_id = \"x\"\nregion = \"MARS\"\n[[devices]]\nid = \"front door\"\nname = \"Door\"\nkind = \"toaster\"\n",
    )
    .unwrap_err();
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "alexa.lwa_client_secret_env",
            "alexa.region",
            "alexa.forwarder_secret_env",
            "devices[0].id",
            "devices[0].kind"
        ]
    );
    let ok = parse("[[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"doorbell\"\nsecret_env = \"S\"\n")
        .unwrap();
    assert_eq!(ok.registry(true).devices().len(), 1);
    assert_eq!(Config::default().registry(false), rask_home::Registry::demo());
}

#[test]
fn a_bad_broker_url_and_a_doorbell_without_a_trigger_name_their_keys() {
    let errors = parse(
        "[mqtt]\nurl = \"http://broker\"\n[[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"doorbell\"\n",
    )
    .unwrap_err();
    let keys: Vec<_> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["mqtt.url", "devices[0].mqtt_topic"]);
    let errors =
        parse("[[devices]]\nid = \"door\"\nname = \"Door\"\nkind = \"doorbell\"\nmqtt_topic = \"a/b\"\n")
            .unwrap_err();
    assert!(errors[0].problem.contains("[mqtt]"), "{}", errors[0]);
}

#[test]
fn unknown_keys_are_errors() {
    let e = parse("[server]\nbnid = \"127.0.0.1:1\"\n").unwrap_err();
    assert_eq!(e[0].key, "server.bnid");
    assert!(
        e[0].problem
            .starts_with("not a key rask knows; expected one of `bind`"),
        "{}",
        e[0]
    );
}
