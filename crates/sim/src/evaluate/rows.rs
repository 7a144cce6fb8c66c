//! The rows of an evaluation: the requirements Amazon publishes for a smart home skill, each
//! decided from the skill's own answers. Pure: the run ([`super::run`]) brings the answers.
//!
//! Sources, in Amazon's words:
//! - Works with Alexa skill requirements, <https://developer.amazon.com/en-US/docs/alexa/smarthome/wwa-skill-requirements.html>
//!   ("Target version 3 of the Smart Home API", "include manufacturer and model in the
//!   additionalAttributes object", "set all capability properties to retrievable and
//!   proactivelyReported", "always report the state of all capability properties, including
//!   properties defined by EndpointHealth", "implement EndpointHealth", change reports within
//!   3 seconds of a physical change);
//! - state reporting, <https://developer.amazon.com/en-US/docs/alexa/smarthome/state-reporting-for-a-smart-home-skill.html>
//!   (timeOfSample, uncertaintyInMilliseconds);
//! - Alexa.Response, <https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-response.html>
//!   (Alexa waits 8 seconds for an answer);
//! - Alexa.ErrorResponse, <https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-errorresponse.html>;
//! - Alexa.Authorization, <https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-authorization.html>;
//! - Alexa.Discovery (AddOrUpdateReport, DeleteReport), <https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-discovery.html>;
//! - Alexa.ChangeReport, <https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-changereport.html>;
//! - account linking requirements, <https://developer.amazon.com/en-US/docs/alexa/account-linking/requirements-account-linking.html>.

use serde::Serialize;
use serde_json::Value;

/// The Works with Alexa skill requirements page.
pub const WWA: &str = "https://developer.amazon.com/en-US/docs/alexa/smarthome/wwa-skill-requirements.html";
/// State reporting.
pub const STATE_REPORTING: &str =
    "https://developer.amazon.com/en-US/docs/alexa/smarthome/state-reporting-for-a-smart-home-skill.html";
/// Alexa.Response.
pub const RESPONSE: &str = "https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-response.html";
/// Alexa.ErrorResponse.
pub const ERROR_RESPONSE: &str =
    "https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-errorresponse.html";
/// Alexa.Authorization.
pub const AUTHORIZATION: &str =
    "https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-authorization.html";
/// Alexa.Discovery.
pub const DISCOVERY: &str = "https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-discovery.html";
/// Alexa.ChangeReport.
pub const CHANGE_REPORT: &str =
    "https://developer.amazon.com/en-US/docs/alexa/device-apis/alexa-changereport.html";
/// Account linking requirements.
pub const ACCOUNT_LINKING: &str =
    "https://developer.amazon.com/en-US/docs/alexa/account-linking/requirements-account-linking.html";
/// Amazon's published message schema, which every answer is validated against.
pub const SCHEMA: &str = "https://github.com/alexa/alexa-smarthome/tree/master/validation_schemas";

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
    /// It applies, but this run could not check it: the row says what would let it.
    NotChecked,
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

pub(crate) fn row(
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

/// A row with `verdict` and `detail` as given.
pub(crate) fn plain(
    requirement: &'static str,
    doc: &'static str,
    endpoint: Option<&str>,
    verdict: Verdict,
    detail: impl Into<String>,
) -> Row {
    Row {
        requirement,
        doc,
        endpoint: endpoint.map(str::to_owned),
        verdict,
        detail: detail.into(),
    }
}

pub(crate) const VERSION_3: &str = "Target version 3 of the Smart Home API";
pub(crate) const ATTRIBUTES: &str = "Include manufacturer and model in the additionalAttributes object";
pub(crate) const HEALTH: &str = "Implement EndpointHealth";
pub(crate) const REPORTABLE: &str = "Set all capability properties to retrievable and proactivelyReported";
pub(crate) const ALL_PROPERTIES: &str =
    "Always report the state of all capability properties, including those defined by EndpointHealth";
pub(crate) const SAMPLES: &str =
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
    declared_where(endpoint, |_| true)
}

/// Every (interface, instance, property) of the capabilities of `endpoint` that `keep` keeps.
fn declared_where(endpoint: &Value, keep: impl Fn(&Value) -> bool) -> Vec<(String, Option<String>, String)> {
    endpoint["capabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| keep(c))
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

pub(crate) const LINKING: &str =
    "Link accounts with the authorization code grant, and let Alexa refresh the access token";
pub(crate) const ACCEPT_GRANT: &str =
    "Handle AcceptGrant: exchange the grant code for the user's Event Gateway tokens";
pub(crate) const VALID: &str = "Every answer is valid under the Smart Home message schema";
pub(crate) const STATE_REPORT: &str = "Answer ReportState with a StateReport";
pub(crate) const DIRECTIVES: &str =
    "Answer every directive of the interfaces the endpoint declares with Alexa.Response";
pub(crate) const OUT_OF_RANGE: &str =
    "Answer a value outside the endpoint's range with the ErrorResponse type Amazon documents";
pub(crate) const UNREACHABLE: &str = "Answer ENDPOINT_UNREACHABLE when the device cannot be reached";
pub(crate) const TIMELY: &str = "Answer each directive within 8 seconds";
pub(crate) const CHANGE: &str =
    "Send a ChangeReport within 3 seconds of a physical change of a proactively reported property";
pub(crate) const EVENT_TOKEN: &str =
    "Refresh the Event Gateway access token when it expires, and send the event again";
pub(crate) const ADDED: &str =
    "Send AddOrUpdateReport to the Event Gateway when a device is added or changed";
pub(crate) const DELETED: &str = "Send DeleteReport to the Event Gateway when a device is removed";

/// The version row of the answers other than the Discover.Response: (what was sent, the
/// payloadVersion its answer carried) for each not on 3; `None` when all were.
pub(crate) fn versions(off: &[(String, String)]) -> Option<Row> {
    let first = off.first()?;
    let named: Vec<&str> = off.iter().take(5).map(|(what, _)| what.as_str()).collect();
    let more = off.len().saturating_sub(named.len());
    Some(plain(
        VERSION_3,
        WWA,
        None,
        Verdict::Fail,
        format!(
            "{} answers carry payloadVersion {:?}, not \"3\" (the answers to {}{}): answer every directive with payloadVersion \"3\"",
            off.len(),
            first.1,
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    ))
}

/// What is wrong with `answer` as the answer to a directive expected to bring `expect`:
/// `None` when it is right.
pub(crate) fn directive_answer(answer: &Value, expect: &super::probes::Expect) -> Option<String> {
    use super::probes::Expect;
    let header = &answer["event"]["header"];
    let name = header["name"].as_str().unwrap_or("");
    let error_type = answer["event"]["payload"]["type"].as_str().unwrap_or("");
    match expect {
        Expect::Success if matches!(name, "Response" | "DeferredResponse") => None,
        Expect::Success if name == "ErrorResponse" => Some(format!(
            "answered ErrorResponse {error_type} ({:?}): a supported directive with a valid value must succeed",
            answer["event"]["payload"]["message"].as_str().unwrap_or("")
        )),
        Expect::Success => Some(format!("answered {name:?}, not Alexa.Response")),
        Expect::Error(types) if name == "ErrorResponse" && types.contains(&error_type) => None,
        Expect::Error(types) if name == "ErrorResponse" => Some(format!(
            "answered ErrorResponse {error_type}: Amazon documents {} for this",
            types.join(" or ")
        )),
        Expect::Error(types) => Some(format!(
            "answered {name:?}: a value outside the range must be refused with ErrorResponse {}",
            types.join(" or ")
        )),
    }
}

/// What is wrong with a ChangeReport about `endpoint`: `None` when it reports at least one
/// property, each one the endpoint declares as proactively reported.
pub(crate) fn change_report(endpoint: &Value, report: &Value) -> Option<String> {
    let changed: Vec<&Value> = report["event"]["payload"]["change"]["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    if changed.is_empty() {
        return Some("the ChangeReport names no changed property in payload.change.properties".into());
    }
    // Connectivity alone is not the change that was made: the device's own property is.
    if changed.iter().all(|p| p["namespace"] == "Alexa.EndpointHealth") {
        return Some(
            "the ChangeReport names only Alexa.EndpointHealth: name the property that changed".into(),
        );
    }
    let reported = declared_where(endpoint, |c| c["properties"]["proactivelyReported"] == true);
    let strangers: Vec<String> = changed
        .iter()
        .filter(|p| {
            !reported.iter().any(|(interface, instance, name)| {
                p["namespace"] == interface.as_str()
                    && p["name"] == name.as_str()
                    && p["instance"].as_str().map(str::to_owned) == *instance
            })
        })
        .map(|p| {
            format!(
                "{}.{}",
                p["namespace"].as_str().unwrap_or("?"),
                p["name"].as_str().unwrap_or("?")
            )
        })
        .collect();
    (!strangers.is_empty()).then(|| {
        format!(
            "the ChangeReport says {} changed, which the endpoint does not declare as proactively reported",
            strangers.join(", ")
        )
    })
}

/// The latency row from every timed answer: (what was sent, ms, whether it timed out).
pub(crate) fn timely(timed: &[(String, u64, bool)], limit_ms: u64) -> Row {
    let late: Vec<String> = timed
        .iter()
        .filter(|(_, ms, timed_out)| *timed_out || *ms > limit_ms)
        .map(|(what, ms, timed_out)| {
            if *timed_out {
                format!("{what}: no answer within {limit_ms} ms (Alexa gives up: SKILL_RESPONSE_TIMEOUT_EXCEPTION)")
            } else {
                format!("{what}: answered after {ms} ms")
            }
        })
        .collect();
    let l = super::Latency::of(&timed.iter().map(|t| t.1).collect::<Vec<_>>());
    let spread = format!(
        "{} answers: p50 {} ms, p90 {} ms, p99 {} ms, slowest {} ms",
        l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
    );
    let mut r = row(TIMELY, RESPONSE, None, late, &spread);
    if r.verdict == Verdict::Fail {
        r.detail = format!("{}; {spread}", r.detail);
    }
    r
}

/// Rows of one requirement about one endpoint, made one: failed if any failed (their details
/// joined), else passed if any passed (as the last pass says), else as the first. Order is the first appearance's.
/// At most [`MERGED_FAILURES`] failures are spelt out in one row; the rest are counted.
pub(crate) fn merge(rows: Vec<Row>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    // (requirement, endpoint) -> (its place in `out`, failures merged into it, failures left out)
    let mut at: std::collections::HashMap<(&'static str, Option<String>), (usize, usize, usize)> =
        std::collections::HashMap::new();
    for r in rows {
        let key = (r.requirement, r.endpoint.clone());
        let Some((i, merged, left_out)) = at.get_mut(&key) else {
            at.insert(key, (out.len(), usize::from(r.verdict == Verdict::Fail), 0));
            out.push(r);
            continue;
        };
        let o = &mut out[*i];
        match (o.verdict, r.verdict) {
            (Verdict::Fail, Verdict::Fail) if *merged < MERGED_FAILURES => {
                o.detail = format!("{}; {}", o.detail, r.detail);
                *merged += 1;
            }
            (Verdict::Fail, Verdict::Fail) => *left_out += 1,
            (Verdict::Fail, _) => {}
            (_, Verdict::Fail) => {
                *o = r;
                *merged = 1;
            }
            (_, Verdict::Pass) => *o = r,
            _ => {}
        }
    }
    for (i, _, left_out) in at.into_values() {
        if left_out > 0 {
            out[i].detail = format!("{}; and {left_out} more like these", out[i].detail);
        }
    }
    out
}

/// How many failures one merged row spells out.
pub(crate) const MERGED_FAILURES: usize = 10;

/// An RFC 3339 time as Unix ms.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
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

    /// The endpoint `id` of Amazon's Discovery sample.
    fn discovered(id: &str) -> Value {
        sample("Discovery/Discovery.response.json")["event"]["payload"]["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["endpointId"] == id)
            .unwrap()
            .clone()
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
    fn a_change_report_names_a_proactively_reported_property_of_its_endpoint() {
        let light = discovered("endpoint-001");
        let report = sample("ChangeReport/ChangeReport.json");
        assert_eq!(
            change_report(&light, &report),
            None,
            "Amazon's sample about a light"
        );
        let mut stranger = report.clone();
        stranger["event"]["payload"]["change"]["properties"][0]["namespace"] = "Alexa.LockController".into();
        stranger["event"]["payload"]["change"]["properties"][0]["name"] = "lockState".into();
        assert!(
            change_report(&light, &stranger)
                .unwrap()
                .contains("Alexa.LockController.lockState changed, which the endpoint does not declare")
        );
        let mut health = report.clone();
        health["event"]["payload"]["change"]["properties"] = serde_json::json!([
            {"namespace": "Alexa.EndpointHealth", "name": "connectivity", "value": {"value": "OK"},
             "timeOfSample": "2017-09-27T18:30:30.45Z", "uncertaintyInMilliseconds": 0}]);
        assert!(
            change_report(&light, &health)
                .unwrap()
                .contains("only Alexa.EndpointHealth")
        );
        let mut empty = report;
        empty["event"]["payload"]["change"]["properties"] = serde_json::json!([]);
        assert!(change_report(&light, &empty).is_some());
    }

    #[test]
    fn a_state_report_must_carry_every_declared_property_sampled_in_the_past() {
        let thermostat = discovered("endpoint-004");
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
