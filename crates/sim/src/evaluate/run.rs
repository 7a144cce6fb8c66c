//! The evaluation run: the thin loop that acts as Alexa towards the skill (through the same
//! drivers as every other sim request, so every exchange is in the event log), collects the
//! answers and hands them to [`super::rows`] for the verdicts.
//!
//! Order: link (if needed), AcceptGrant, Discover; the link's access token is then made to
//! expire, so the next directive makes the sim refresh it; for each endpoint ReportState and
//! every probe of [`super::probes`]; then the physical changes, after the user's Event Gateway
//! tokens are made to expire, so each ChangeReport also shows the skill refreshing them; last
//! the Event Gateway read for AddOrUpdateReport and DeleteReport. A skill that does not answer
//! costs the sim's skill timeout (Amazon's 8 s) for that directive, and the run goes on.

use std::time::Instant;

use serde_json::{Value, json};

use super::probes::{self, Expect, UNREACHABLE as UNREACHABLE_TYPES};
use super::rows::{self, Row, Verdict, plain};
use super::{Evaluation, EvaluationRequest, Latency, Progress};
use crate::Sim;
use crate::drivers::{DriverError, Exchange, TIMED_OUT, link, smarthome};

/// Starts an evaluation of `skill_id` as `user` in the background; returns its id, for
/// `/sim/evaluations/{id}`.
pub fn start(sim: &Sim, skill_id: &str, user: &str, request: EvaluationRequest) -> Result<u64, DriverError> {
    let id = open(sim, skill_id, user)?;
    let (sim, skill_id, user) = (sim.clone(), skill_id.to_owned(), user.to_owned());
    tokio::spawn(async move { drive(&sim, id, &skill_id, &user, &request).await });
    Ok(id)
}

/// Runs an evaluation to its end and returns it.
pub async fn evaluate(
    sim: &Sim,
    skill_id: &str,
    user: &str,
    request: EvaluationRequest,
) -> Result<Evaluation, DriverError> {
    let id = open(sim, skill_id, user)?;
    Ok(drive(sim, id, skill_id, user, &request).await)
}

fn open(sim: &Sim, skill_id: &str, user: &str) -> Result<u64, DriverError> {
    let mut w = sim.world();
    let skill = w.skill(skill_id)?;
    if skill.smart_home_endpoint.is_none() {
        return Err(DriverError::NoEndpoint(skill_id.to_owned(), "smart-home"));
    }
    w.user(user)?;
    let from = w.log.last_seq();
    w.evaluations.open(skill_id, user, from).map_err(|running| {
        DriverError::World(crate::world::WorldError::Busy(format!(
            "evaluation {running} of this skill for {user:?} is still running: wait for it (/sim/evaluations/{running})"
        )))
    })
}

/// What the run has gathered.
pub(super) struct Run<'a> {
    pub(super) sim: &'a Sim,
    id: u64,
    pub(super) skill_id: &'a str,
    pub(super) user: &'a str,
    pub(super) rows: Vec<Row>,
    /// (what was sent, ms, timed out) for every directive.
    timed: Vec<(String, u64, bool)>,
    /// Schema findings, by answer.
    invalid: Vec<String>,
    /// (what was sent, the payloadVersion of its answer) where that is not 3.
    versions: Vec<(String, String)>,
}

async fn drive(sim: &Sim, id: u64, skill_id: &str, user: &str, request: &EvaluationRequest) -> Evaluation {
    let mut run = Run {
        sim,
        id,
        skill_id,
        user,
        rows: Vec::new(),
        timed: Vec::new(),
        invalid: Vec::new(),
        versions: Vec::new(),
    };
    let stopped = run.steps(request).await.err();
    run.finish(stopped)
}

impl Run<'_> {
    async fn steps(&mut self, request: &EvaluationRequest) -> Result<(), String> {
        self.link(request).await?;
        self.grant().await?;
        let discovered = self.discover().await?;
        self.refresh_link(&discovered).await?;
        for endpoint in &discovered {
            self.endpoint(endpoint).await?;
            self.publish();
        }
        self.changes(&discovered, request).await;
        self.proactive_discovery(request.wait_for_discovery_seconds).await;
        Ok(())
    }

    async fn link(&mut self, request: &EvaluationRequest) -> Result<(), String> {
        let linked = self
            .sim
            .world()
            .enablement(self.skill_id, self.user)
            .is_ok_and(|e| e.enabled && e.link.is_some());
        if linked {
            return Ok(());
        }
        let (Some(username), Some(password)) = (&request.username, &request.password) else {
            return Err(format!(
                "user {:?} has not linked an account with the skill: give the login for the skill's \
                 linking page (username and password) and the evaluation links it first",
                self.user
            ));
        };
        let req = link::LinkRequest {
            username: username.clone(),
            password: password.clone(),
        };
        let outcome = link::link(self.sim, self.skill_id, self.user, &req)
            .await
            .map_err(|e| e.to_string())?;
        if !outcome.linked {
            let why = outcome.error.unwrap_or_default();
            self.rows.push(plain(
                rows::LINKING,
                rows::ACCOUNT_LINKING,
                None,
                Verdict::Fail,
                format!("linking through the skill's login page failed: {why}"),
            ));
            return Err(format!("the account could not be linked: {why}"));
        }
        Ok(())
    }

    async fn grant(&mut self) -> Result<(), String> {
        let started = Instant::now();
        let ex = smarthome::accept_grant(self.sim, self.skill_id, self.user)
            .await
            .map_err(|e| e.to_string())?;
        self.timed("AcceptGrant", started, &ex);
        self.judge_schema("AcceptGrant.Response", &ex);
        let name = ex.received["event"]["header"]["name"].as_str().unwrap_or("");
        let (verdict, detail) = match &ex.error {
            None if name == "AcceptGrant.Response" => (
                Verdict::Pass,
                "AcceptGrant.Response: the skill exchanged the grant code at Login with Amazon".to_owned(),
            ),
            Some(e) => (Verdict::Fail, e.clone()),
            None => (
                Verdict::Fail,
                format!("answered {name:?}, not AcceptGrant.Response"),
            ),
        };
        self.rows.push(plain(
            rows::ACCEPT_GRANT,
            rows::AUTHORIZATION,
            None,
            verdict,
            detail,
        ));
        Ok(())
    }

    async fn discover(&mut self) -> Result<Vec<Value>, String> {
        let ex = self
            .send("Discover", "Alexa.Discovery", "Discover", None, None, json!({}))
            .await?;
        if let Some(e) = &ex.error {
            self.rows.push(plain(
                rows::VERSION_3,
                rows::WWA,
                None,
                Verdict::Fail,
                format!("Discover got no answer: {e}"),
            ));
            return Err(format!("the skill did not answer Discover: {e}"));
        }
        self.rows.extend(rows::discovery(&ex.received));
        if ex.received["event"]["payload"]["endpoints"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            self.rows.push(plain(
                rows::DIRECTIVES,
                rows::RESPONSE,
                None,
                Verdict::NotChecked,
                "Discover answered no endpoints: nothing to evaluate (does this user have devices?)",
            ));
        }
        self.publish();
        Ok(ex.received["event"]["payload"]["endpoints"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Expires the link's access token and sends one directive: the sim must refresh it at
    /// the skill's token URI first, as Alexa does an hour after linking.
    async fn refresh_link(&mut self, discovered: &[Value]) -> Result<(), String> {
        self.sim
            .world()
            .expire_link(self.skill_id, self.user)
            .map_err(|e| e.to_string())?;
        let mark = self.sim.world().log.last_seq();
        let sent = match discovered.first().and_then(|e| e["endpointId"].as_str()) {
            Some(id) => self.report_state("ReportState after the refresh", id).await,
            None => {
                self.send(
                    "Discover after the refresh",
                    "Alexa.Discovery",
                    "Discover",
                    None,
                    None,
                    json!({}),
                )
                .await
            }
        };
        let refreshed = self
            .sim
            .world()
            .log
            .since(mark, Some("linking"))
            .into_iter()
            .find(|e| e.name.as_deref() == Some("RefreshToken"));
        let (verdict, detail) = match (&sent, refreshed) {
            (Ok(_), Some(e)) if e.status == 200 => (
                Verdict::Pass,
                "the expired access token was refreshed at the token URI and the next directive carried the new one"
                    .to_owned(),
            ),
            (Err(e), _) => (Verdict::Fail, e.clone()),
            (Ok(_), Some(e)) => (Verdict::Fail, e.error.unwrap_or_default()),
            (Ok(_), None) => (
                Verdict::Fail,
                "the access token was expired, yet no refresh was made: the sim could not tell why".to_owned(),
            ),
        };
        self.rows
            .push(plain(rows::LINKING, rows::ACCOUNT_LINKING, None, verdict, detail));
        sent.map(|_| ())
    }

    async fn endpoint(&mut self, endpoint: &Value) -> Result<(), String> {
        let id = endpoint["endpointId"].as_str().unwrap_or("").to_owned();
        let first = self.report_state("ReportState", &id).await?;
        let (probes, undriven) = probes::for_endpoint(endpoint);
        let mut answers = Vec::new();
        for p in &probes {
            let what = format!(
                "{}.{}{} {}",
                p.namespace,
                p.name,
                p.instance
                    .as_deref()
                    .map(|i| format!(" ({i})"))
                    .unwrap_or_default(),
                p.payload
            );
            let ex = self
                .send(
                    &what,
                    &p.namespace,
                    p.name,
                    Some(&id),
                    p.instance.as_deref(),
                    p.payload.clone(),
                )
                .await?;
            let timed_out = ex.error.as_deref() == Some(TIMED_OUT);
            answers.push((p, what, ex));
            if timed_out {
                // Each directive it does not answer costs 8 s: one says enough.
                self.rows.push(plain(
                    rows::DIRECTIVES,
                    rows::RESPONSE,
                    Some(&id),
                    Verdict::Fail,
                    "the rest of its directives were not sent after one got no answer",
                ));
                break;
            }
        }
        // A device that said it cannot be reached and refused every directive so is
        // unreachable; one that then did as told was only unheard of (a virtual device that
        // was never set, say), and is asked for its state again.
        // A value out of range may be refused before the device is tried: only the
        // directives in range tell whether it can be reached.
        let unreachable = said_unreachable(&first)
            && answers
                .iter()
                .filter(|(p, _, _)| p.expect == Expect::Success)
                .all(|(_, _, ex)| said_unreachable(ex));
        if unreachable {
            self.state_report(endpoint, &id, &first);
            self.unreachable(&id, &answers);
        } else {
            if said_unreachable(&first) {
                let again = self.report_state("ReportState after the directives", &id).await?;
                self.state_report(endpoint, &id, &again);
            } else {
                self.state_report(endpoint, &id, &first);
            }
            self.directives(endpoint, &id, &answers);
        }
        if !undriven.is_empty() {
            self.rows.push(plain(
                rows::DIRECTIVES,
                rows::RESPONSE,
                Some(&id),
                Verdict::NotChecked,
                format!("the evaluation does not drive {} yet", undriven.join(", ")),
            ));
        }
        Ok(())
    }

    /// The rows of a reachable endpoint's answers to the probes.
    fn directives(&mut self, endpoint: &Value, id: &str, answers: &[(&probes::Probe, String, Exchange)]) {
        let mut ranged = false;
        for (p, what, ex) in answers {
            let (requirement, doc) = match p.expect {
                Expect::Success => (rows::DIRECTIVES, rows::RESPONSE),
                Expect::Error(_) => {
                    ranged = true;
                    (rows::OUT_OF_RANGE, rows::ERROR_RESPONSE)
                }
            };
            let failure = match &ex.error {
                Some(e) => Some(e.clone()),
                None => rows::directive_answer(&ex.received, &p.expect),
            };
            let (verdict, detail) = match failure {
                Some(f) => (Verdict::Fail, format!("{what}: {f}")),
                None => (Verdict::Pass, "answered as Amazon documents".to_owned()),
            };
            self.rows.push(plain(requirement, doc, Some(id), verdict, detail));
            if ex.error.is_none() && ex.received["event"]["header"]["name"] == "Response" {
                self.rows.extend(rows::state(
                    endpoint,
                    &ex.received,
                    &format!("Alexa.Response to {}", p.name),
                    now_ms(),
                ));
            }
        }
        if answers.is_empty() {
            self.report_only(id);
        }
        if !ranged {
            self.no_range(id);
        }
        self.rows.push(plain(
            rows::UNREACHABLE,
            rows::ERROR_RESPONSE,
            Some(id),
            Verdict::NotChecked,
            "the device was reachable throughout; run again with it disconnected to check",
        ));
    }

    /// The directives row of an endpoint that takes none.
    fn report_only(&mut self, id: &str) {
        self.rows.push(plain(
            rows::DIRECTIVES,
            rows::RESPONSE,
            Some(id),
            Verdict::NotApplicable,
            "it only reports (a sensor, a doorbell): no directive to answer",
        ));
    }

    /// The out-of-range row of an endpoint with nothing ranged.
    fn no_range(&mut self, id: &str) {
        self.rows.push(plain(
            rows::OUT_OF_RANGE,
            rows::ERROR_RESPONSE,
            Some(id),
            Verdict::NotApplicable,
            "none of its interfaces has a range to step outside of",
        ));
    }

    /// The rows of an endpoint that cannot be reached: its refusals are right, a value out of
    /// range may be refused as such or as unreachable, the rest waits for a run with the device
    /// connected.
    fn unreachable(&mut self, id: &str, answers: &[(&probes::Probe, String, Exchange)]) {
        let in_range = answers
            .iter()
            .filter(|(p, _, _)| p.expect == Expect::Success)
            .count();
        let detail = if in_range == 0 {
            "it takes no directive, and ReportState said ENDPOINT_UNREACHABLE while it had reported nothing"
                .to_owned()
        } else {
            format!("all {in_range} directives refused as unreachable")
        };
        self.rows.push(plain(
            rows::UNREACHABLE,
            rows::ERROR_RESPONSE,
            Some(id),
            Verdict::Pass,
            detail,
        ));
        let mut ranged = false;
        for (p, what, ex) in answers {
            let Expect::Error(types) = p.expect else { continue };
            ranged = true;
            let (verdict, detail) = match &ex.error {
                Some(e) => (Verdict::Fail, format!("{what}: {e}")),
                None if said_unreachable(ex) => (
                    Verdict::NotChecked,
                    "refused as unreachable: run again once the device can be reached".to_owned(),
                ),
                None => match rows::directive_answer(&ex.received, &Expect::Error(types)) {
                    Some(f) => (Verdict::Fail, format!("{what}: {f}")),
                    None => (Verdict::Pass, "refused as Amazon documents".to_owned()),
                },
            };
            self.rows.push(plain(
                rows::OUT_OF_RANGE,
                rows::ERROR_RESPONSE,
                Some(id),
                verdict,
                detail,
            ));
        }
        if in_range == 0 {
            self.report_only(id);
        } else {
            self.rows.push(plain(
                rows::DIRECTIVES,
                rows::RESPONSE,
                Some(id),
                Verdict::NotChecked,
                "the device could not be reached: run again once it has reported its state",
            ));
        }
        if !ranged {
            self.no_range(id);
        }
        for (requirement, doc) in [
            (rows::ALL_PROPERTIES, rows::WWA),
            (rows::SAMPLES, rows::STATE_REPORTING),
        ] {
            self.rows.push(plain(
                requirement,
                doc,
                Some(id),
                Verdict::NotChecked,
                "no state to read: it has reported nothing yet (a change hook makes it report)",
            ));
        }
    }

    /// Judges a ReportState answer: a StateReport is checked for its properties; an
    /// unreachable device may say so instead.
    pub(super) fn state_report(&mut self, endpoint: &Value, id: &str, ex: &Exchange) {
        let header = &ex.received["event"]["header"];
        let error_type = ex.received["event"]["payload"]["type"].as_str().unwrap_or("");
        let (verdict, detail) = match &ex.error {
            Some(e) => (Verdict::Fail, e.clone()),
            None if header["name"] == "StateReport" => {
                self.rows
                    .extend(rows::state(endpoint, &ex.received, "StateReport", now_ms()));
                (Verdict::Pass, "StateReport".to_owned())
            }
            None if said_unreachable(ex) => (
                Verdict::Pass,
                format!("ErrorResponse {error_type}: the device cannot be reached now"),
            ),
            None => (
                Verdict::Fail,
                format!(
                    "answered {}.{} {error_type}, not a StateReport",
                    header["namespace"].as_str().unwrap_or(""),
                    header["name"].as_str().unwrap_or("")
                ),
            ),
        };
        self.rows.push(plain(
            rows::STATE_REPORT,
            rows::STATE_REPORTING,
            Some(id),
            verdict,
            detail,
        ));
    }

    /// Sends ReportState to `id`, timed, as [`Run::send`].
    pub(super) async fn report_state(&mut self, what: &str, id: &str) -> Result<Exchange, String> {
        self.send(what, "Alexa", "ReportState", Some(id), None, json!({}))
            .await
    }

    /// Sends one directive, timed; a driver error (the link gone) stops the run.
    pub(super) async fn send(
        &mut self,
        what: &str,
        namespace: &str,
        name: &str,
        endpoint_id: Option<&str>,
        instance: Option<&str>,
        payload: Value,
    ) -> Result<Exchange, String> {
        let spec: smarthome::DirectiveSpec = serde_json::from_value(json!({
            "namespace": namespace, "name": name, "endpointId": endpoint_id,
            "instance": instance, "payload": payload,
        }))
        .map_err(|e| e.to_string())?;
        // A refresh of the link's token is the sim's time, not the skill's answer: done first.
        link::fresh_access_token(self.sim, self.skill_id, self.user)
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let ex = smarthome::send(self.sim, self.skill_id, self.user, &spec)
            .await
            .map_err(|e| e.to_string())?;
        let what = match endpoint_id {
            Some(id) => format!("{what} to {id}"),
            None => what.to_owned(),
        };
        self.timed(&what, started, &ex);
        self.judge_schema(&what, &ex);
        Ok(ex)
    }

    fn timed(&mut self, what: &str, started: Instant, ex: &Exchange) {
        self.timed.push((
            what.to_owned(),
            started.elapsed().as_millis() as u64,
            ex.error.as_deref() == Some(TIMED_OUT),
        ));
    }

    /// Schema findings go to the validity row, but a wrong payloadVersion to the version row
    /// only: one defect, one row.
    fn judge_schema(&mut self, what: &str, ex: &Exchange) {
        if ex.error.is_some() {
            return;
        }
        // The Discover.Response's version is the discovery rows' to judge.
        let version = ex.received["event"]["header"]["payloadVersion"]
            .as_str()
            .unwrap_or("");
        if version != "3" && ex.received["event"]["header"]["name"] != "Discover.Response" {
            self.versions.push((what.to_owned(), version.to_owned()));
        }
        let findings: Vec<String> = ex
            .findings
            .iter()
            .filter(|f| !f.path.ends_with("/payloadVersion"))
            .map(|f| format!("{} {}", f.path, f.message))
            .collect();
        if !findings.is_empty() {
            self.invalid.push(format!("{what}: {}", findings.join("; ")));
        }
    }

    pub(super) fn waiting(&self, what: Option<String>) {
        if let Some(e) = self.sim.world().evaluations.get_mut(self.id) {
            e.waiting_for = what;
        }
    }

    /// The rows so far, for whoever reads the evaluation while it runs.
    pub(super) fn publish(&self) {
        let rows = rows::merge(self.rows.clone());
        if let Some(e) = self.sim.world().evaluations.get_mut(self.id) {
            e.rows = rows;
            e.count();
        }
    }

    fn finish(mut self, stopped: Option<String>) -> Evaluation {
        let limit = self.sim.config().skill_timeout.as_millis() as u64;
        self.rows.push(rows::timely(&self.timed, limit));
        if let Some(row) = rows::versions(&self.versions) {
            self.rows.push(row);
        }
        self.rows.push(rows::row(
            rows::VALID,
            rows::SCHEMA,
            None,
            std::mem::take(&mut self.invalid),
            "every answer valid",
        ));
        let rows = rows::merge(std::mem::take(&mut self.rows));
        let latency = Latency::of(&self.timed.iter().map(|t| t.1).collect::<Vec<_>>());
        let mut w = self.sim.world();
        let last = w.log.last_seq();
        let e = w
            .evaluations
            .get_mut(self.id)
            .expect("a running evaluation is never dropped");
        e.rows = rows;
        e.count();
        e.latency = latency;
        e.progress = if stopped.is_some() {
            Progress::Stopped
        } else {
            Progress::Done
        };
        e.error = stopped;
        e.waiting_for = None;
        e.finished = Some(rask_model::timestamp::now_millis());
        e.log_to = last;
        e.clone()
    }
}

/// Whether the answer is an ErrorResponse saying the device or its bridge cannot be reached.
fn said_unreachable(ex: &Exchange) -> bool {
    ex.error.is_none() && rows::directive_answer(&ex.received, &Expect::Error(UNREACHABLE_TYPES)).is_none()
}

/// Whether any capability of `endpoint` reports a property proactively.
pub(super) fn proactively_reported(endpoint: &Value) -> bool {
    endpoint["capabilities"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| {
            c["properties"]["proactivelyReported"] == true
                && c["properties"]["supported"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty())
        })
}

pub(super) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
