//! Works with Alexa readiness, checked offline: the requirements Amazon publishes for a smart
//! home skill, each a row with its verdict, read off the skill's own answers.
//!
//! This file holds the decisions only: given an answer (a `Discover.Response`, a
//! `StateReport`, an `Alexa.Response`), which rows pass and which fail, and why. The run that
//! sends the directives and collects the answers is a thin loop on top (next: link, grant,
//! discover, every directive of every declared interface with valid and out-of-range values,
//! ReportState, the Event Gateway read for ChangeReports and Add/DeleteReports).
//!
//! Sources, in Amazon's words:
//! - Works with Alexa skill requirements, <https://developer.amazon.com/en-US/docs/alexa/smarthome/wwa-skill-requirements.html>
//!   ("Target version 3 of the Smart Home API", "include manufacturer and model in the
//!   additionalAttributes object", "set all capability properties to retrievable and
//!   proactivelyReported", "always report the state of all capability properties, including
//!   properties defined by EndpointHealth", "implement EndpointHealth");
//! - state reporting, <https://developer.amazon.com/en-US/docs/alexa/smarthome/state-reporting-for-a-smart-home-skill.html>
//!   (timeOfSample, uncertaintyInMilliseconds).

use serde::Serialize;
use serde_json::Value;

/// The Works with Alexa skill requirements page.
pub const WWA: &str = "https://developer.amazon.com/en-US/docs/alexa/smarthome/wwa-skill-requirements.html";
/// State reporting.
pub const STATE_REPORTING: &str =
    "https://developer.amazon.com/en-US/docs/alexa/smarthome/state-reporting-for-a-smart-home-skill.html";

/// How a requirement fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Met.
    Pass,
    /// Not met: the row says what was found and what to fix.
    Fail,
    /// Nothing in the skill to check it on (no such interface, say).
    NotApplicable,
}

/// One requirement, checked once (for the skill, or for one endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The requirement, in Amazon's words.
    pub requirement: &'static str,
    /// Where Amazon says so.
    pub doc: &'static str,
    /// The endpoint it was checked on, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found; on a failure, what to fix.
    pub detail: String,
}

fn row(
    requirement: &'static str,
    doc: &'static str,
    endpoint: Option<&str>,
    failures: Vec<String>,
    ok: &str,
) -> Row {
    let (verdict, detail) = if failures.is_empty() {
        (Verdict::Pass, ok.to_owned())
    } else {
        (Verdict::Fail, failures.join("; "))
    };
    Row {
        requirement,
        doc,
        endpoint: endpoint.map(str::to_owned),
        verdict,
        detail,
    }
}

const VERSION_3: &str = "Target version 3 of the Smart Home API";
const ATTRIBUTES: &str = "Include manufacturer and model in the additionalAttributes object";
const HEALTH: &str = "Implement EndpointHealth";
const REPORTABLE: &str = "Set all capability properties to retrievable and proactivelyReported";
const ALL_PROPERTIES: &str =
    "Always report the state of all capability properties, including those defined by EndpointHealth";
const SAMPLES: &str =
    "Report when each property was sampled (timeOfSample, not in the future) and its uncertainty";

/// The rows a `Discover.Response` decides: the API version for the skill, and for each
/// endpoint its additional attributes, EndpointHealth, and reportable properties.
pub fn discovery(answer: &Value) -> Vec<Row> {
    let endpoints = answer["event"]["payload"]["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut version = Vec::new();
    let payload_version = answer["event"]["header"]["payloadVersion"].as_str().unwrap_or("");
    if payload_version != "3" {
        version.push(format!(
            "the Discover.Response has payloadVersion {payload_version:?}: answer with \"3\""
        ));
    }
    for e in &endpoints {
        let id = e["endpointId"].as_str().unwrap_or("?");
        for c in e["capabilities"].as_array().into_iter().flatten() {
            let v = c["version"].as_str().unwrap_or("");
            if v != "3" {
                version.push(format!(
                    "{id}: {} has version {v:?}: declare \"3\"",
                    c["interface"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    let mut rows = vec![row(
        VERSION_3,
        WWA,
        None,
        version,
        "payloadVersion 3, every capability version 3",
    )];
    for e in &endpoints {
        let id = e["endpointId"].as_str().unwrap_or("?");
        let a = &e["additionalAttributes"];
        let missing: Vec<String> = ["manufacturer", "model"]
            .iter()
            .filter(|k| a[**k].as_str().is_none_or(|v| v.trim().is_empty()))
            .map(|k| format!("additionalAttributes.{k} is missing: add it to the endpoint"))
            .collect();
        rows.push(row(
            ATTRIBUTES,
            WWA,
            Some(id),
            missing,
            "manufacturer and model given",
        ));
        let caps: Vec<&Value> = e["capabilities"].as_array().into_iter().flatten().collect();
        let health = caps.iter().any(|c| {
            c["interface"] == "Alexa.EndpointHealth" && supported(c).contains(&"connectivity".to_owned())
        });
        rows.push(row(
            HEALTH,
            WWA,
            Some(id),
            if health {
                Vec::new()
            } else {
                vec!["no Alexa.EndpointHealth capability with connectivity: declare it and report it".into()]
            },
            "Alexa.EndpointHealth with connectivity",
        ));
        let not_reportable: Vec<String> = caps
            .iter()
            .filter(|c| !supported(c).is_empty())
            .filter_map(|c| {
                let p = &c["properties"];
                let off: Vec<&str> = ["retrievable", "proactivelyReported"]
                    .into_iter()
                    .filter(|k| p[*k] != Value::Bool(true))
                    .collect();
                (!off.is_empty()).then(|| {
                    format!(
                        "{}: {} not true",
                        c["interface"].as_str().unwrap_or("?"),
                        off.join(" and ")
                    )
                })
            })
            .collect();
        rows.push(row(
            REPORTABLE,
            WWA,
            Some(id),
            not_reportable,
            "every property retrievable and proactively reported",
        ));
    }
    rows
}

/// The property names a capability declares as supported.
fn supported(capability: &Value) -> Vec<String> {
    capability["properties"]["supported"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

/// Every (interface, instance, property) the discovered `endpoint` declares.
fn declared(endpoint: &Value) -> Vec<(String, Option<String>, String)> {
    endpoint["capabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| {
            let interface = c["interface"].as_str().unwrap_or("").to_owned();
            let instance = c["instance"].as_str().map(str::to_owned);
            supported(c)
                .into_iter()
                .map(move |p| (interface.clone(), instance.clone(), p))
        })
        .collect()
}

/// The rows an answer carrying the endpoint's state decides (a `StateReport`, or an
/// `Alexa.Response` to a control directive): every declared property there, each sampled in
/// the past with an uncertainty. `now` is Unix ms; `what` names the answer in the rows.
pub fn state(endpoint: &Value, answer: &Value, what: &str, now: i64) -> Vec<Row> {
    let id = endpoint["endpointId"].as_str().unwrap_or("?");
    let reported: Vec<&Value> = answer["context"]["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let missing: Vec<String> = declared(endpoint)
        .into_iter()
        .filter(|(interface, instance, name)| {
            !reported.iter().any(|p| {
                p["namespace"] == interface.as_str()
                    && p["name"] == name.as_str()
                    && p["instance"].as_str().map(str::to_owned) == *instance
            })
        })
        .map(|(interface, instance, name)| {
            let at = instance.map(|i| format!(" ({i})")).unwrap_or_default();
            format!("the {what} lacks {interface}.{name}{at}: report every declared property in its context")
        })
        .collect();
    let mut samples = Vec::new();
    for p in &reported {
        let name = format!(
            "{}.{}",
            p["namespace"].as_str().unwrap_or("?"),
            p["name"].as_str().unwrap_or("?")
        );
        match p["timeOfSample"].as_str().and_then(parse_time) {
            None => samples.push(format!("{name} has no readable timeOfSample")),
            // A second's grace: the skill's clock and the sim's are not one clock.
            Some(at) if at > now + 1_000 => samples.push(format!(
                "{name} was sampled in the future ({})",
                p["timeOfSample"]
            )),
            Some(_) => {}
        }
        if p["uncertaintyInMilliseconds"]
            .as_u64()
            .is_none_or(|u| u > 86_400_000)
        {
            samples.push(format!(
                "{name} has no uncertaintyInMilliseconds between 0 and a day"
            ));
        }
    }
    vec![
        row(
            ALL_PROPERTIES,
            WWA,
            Some(id),
            missing,
            &format!("the {what} carries every declared property"),
        ),
        row(
            SAMPLES,
            STATE_REPORTING,
            Some(id),
            samples,
            "every property sampled in the past, with its uncertainty",
        ),
    ]
}

/// An RFC 3339 time as Unix ms.
fn parse_time(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(path: &str) -> Value {
        let file = format!(
            "{}/../model/alexa-smarthome/sample_messages/{path}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
    }

    /// Amazon's Discovery sample, with the first endpoint's additionalAttributes on every
    /// endpoint (the sample shows them on the first only).
    fn compliant() -> Value {
        let mut d = sample("Discovery/Discovery.response.json");
        let attributes = d["event"]["payload"]["endpoints"][0]["additionalAttributes"].clone();
        for e in d["event"]["payload"]["endpoints"].as_array_mut().unwrap() {
            e["additionalAttributes"] = attributes.clone();
        }
        d
    }

    #[test]
    fn amazons_own_discovery_sample_fails_only_where_it_leaves_the_attributes_out() {
        let rows = discovery(&sample("Discovery/Discovery.response.json"));
        assert_eq!(
            rows.len(),
            1 + 3 * 10,
            "the version, and three rows for each of ten endpoints"
        );
        let failed: Vec<(&str, &str)> = rows
            .iter()
            .filter(|r| r.verdict != Verdict::Pass)
            .map(|r| (r.requirement, r.endpoint.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(failed.len(), 9, "{failed:#?}");
        assert!(
            failed
                .iter()
                .all(|(r, e)| *r == ATTRIBUTES && *e != "endpoint-001"),
            "{failed:#?}"
        );
        assert!(discovery(&compliant()).iter().all(|r| r.verdict == Verdict::Pass));
    }

    #[test]
    fn a_skill_on_version_2_without_health_or_attributes_fails_exactly_those_rows() {
        let mut d = compliant();
        d["event"]["header"]["payloadVersion"] = "2".into();
        let first = &mut d["event"]["payload"]["endpoints"][0];
        first["additionalAttributes"]
            .as_object_mut()
            .unwrap()
            .remove("model");
        first["capabilities"]
            .as_array_mut()
            .unwrap()
            .retain(|c| c["interface"] != "Alexa.EndpointHealth");
        first["capabilities"][1]["properties"]["proactivelyReported"] = false.into();
        let rows = discovery(&d);
        let failed: Vec<(&str, Option<&str>)> = rows
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| (r.requirement, r.endpoint.as_deref()))
            .collect();
        assert_eq!(
            failed,
            [
                (VERSION_3, None),
                (ATTRIBUTES, Some("endpoint-001")),
                (HEALTH, Some("endpoint-001")),
                (REPORTABLE, Some("endpoint-001")),
            ]
        );
        let why = rows
            .iter()
            .find(|r| r.requirement == REPORTABLE && r.verdict == Verdict::Fail)
            .unwrap();
        assert!(
            why.detail
                .contains("Alexa.PowerController: proactivelyReported not true"),
            "{}",
            why.detail
        );
    }

    #[test]
    fn a_state_report_must_carry_every_declared_property_sampled_in_the_past() {
        let d = sample("Discovery/Discovery.response.json");
        let thermostat = d["event"]["payload"]["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["endpointId"] == "endpoint-004")
            .unwrap()
            .clone();
        let report = sample("StateReport/StateReport.json");
        let now = parse_time("2017-09-27T18:30:31Z").unwrap();
        let rows = state(&thermostat, &report, "StateReport", now);
        assert!(rows.iter().all(|r| r.verdict == Verdict::Pass), "{rows:#?}");

        let mut without_health = report.clone();
        without_health["context"]["properties"]
            .as_array_mut()
            .unwrap()
            .retain(|p| p["namespace"] != "Alexa.EndpointHealth");
        without_health["context"]["properties"][0]["timeOfSample"] = "2017-09-27T18:40:00Z".into();
        let rows = state(&thermostat, &without_health, "Alexa.Response", now);
        assert_eq!(rows[0].verdict, Verdict::Fail);
        assert!(
            rows[0].detail.contains("lacks Alexa.EndpointHealth.connectivity"),
            "{}",
            rows[0].detail
        );
        assert_eq!(rows[1].verdict, Verdict::Fail);
        assert!(
            rows[1].detail.contains("sampled in the future"),
            "{}",
            rows[1].detail
        );
    }
}
