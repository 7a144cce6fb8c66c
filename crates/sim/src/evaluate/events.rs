//! The run's second half: what the Event Gateway hears. A physical change is caused for each
//! endpoint with a proactively reported property (by its hook, or by the person) after the
//! user's Event Gateway tokens are made to expire, and the gateway is watched for the
//! ChangeReport; then the gateway's log is read for AddOrUpdateReport and DeleteReport.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::rows::{self, Verdict, plain};
use super::run::{Run, now_ms, proactively_reported};
use super::{ChangeHook, EvaluationRequest};
use crate::log::Entry;

/// How soon after a physical change Works with Alexa wants its ChangeReport.
pub const CHANGE_REPORT_WITHIN: Duration = Duration::from_secs(3);

impl Run<'_> {
    /// The ChangeReport rows: each endpoint with proactively reported properties is changed
    /// by its hook (or by the person, given the time) and the Event Gateway is watched.
    pub(super) async fn changes(&mut self, discovered: &[Value], request: &EvaluationRequest) {
        let mut expired_at: Option<u64> = None;
        for hook in &request.changes {
            if !discovered
                .iter()
                .any(|e| e["endpointId"] == hook.endpoint_id.as_str())
            {
                self.rows.push(plain(
                    rows::CHANGE,
                    rows::WWA,
                    Some(&hook.endpoint_id),
                    Verdict::NotChecked,
                    "a change hook names this endpoint, but Discover did not return it",
                ));
            }
        }
        for endpoint in discovered {
            let id = endpoint["endpointId"].as_str().unwrap_or("");
            if !proactively_reported(endpoint) {
                self.rows.push(plain(
                    rows::CHANGE,
                    rows::WWA,
                    Some(id),
                    Verdict::NotApplicable,
                    "no property it declares is proactively reported",
                ));
                continue;
            }
            let hook = request.changes.iter().find(|h| h.endpoint_id == id);
            if hook.is_none() && request.wait_for_change_seconds == 0 {
                self.rows.push(plain(
                    rows::CHANGE,
                    rows::WWA,
                    Some(id),
                    Verdict::NotChecked,
                    "no way to cause a physical change was given: name a change hook for it \
                     (rask: the device's state webhook) or let the evaluation wait for the person",
                ));
                continue;
            }
            if expired_at.is_none() {
                // The skill's Event Gateway token is made stale first: the ChangeReport that
                // follows also shows the skill refreshing it at Login with Amazon.
                let mut w = self.sim.world();
                if w.expire_tokens(self.user, Instant::now()).is_ok() {
                    expired_at = Some(w.log.last_seq());
                }
            }
            let mark = self.sim.world().log.last_seq();
            let (verdict, detail) = match hook {
                Some(h) => self.change_by_hook(endpoint, id, h, mark).await,
                None => {
                    self.change_by_hand(endpoint, id, request.wait_for_change_seconds, mark)
                        .await
                }
            };
            if verdict == Verdict::Pass {
                // Now it has reported: its state can be read, whatever it said before.
                if let Ok(ex) = self.report_state("ReportState after the change", id).await {
                    self.state_report(endpoint, id, &ex);
                }
            }
            self.rows
                .push(plain(rows::CHANGE, rows::WWA, Some(id), verdict, detail));
            self.publish();
        }
        let (verdict, detail) = match expired_at {
            Some(mark) => self.event_token_verdict(mark),
            None => (
                Verdict::NotChecked,
                "no event was caused in this run (see the ChangeReport rows)".to_owned(),
            ),
        };
        self.rows.push(plain(
            rows::EVENT_TOKEN,
            rows::AUTHORIZATION,
            None,
            verdict,
            detail,
        ));
    }

    async fn change_by_hook(
        &mut self,
        endpoint: &Value,
        id: &str,
        hook: &ChangeHook,
        mark: u64,
    ) -> (Verdict, String) {
        let bodies = if hook.bodies.is_empty() {
            vec![String::new()]
        } else {
            hook.bodies.clone()
        };
        let mut changed = Instant::now();
        for body in &bodies {
            // The change is the last body's: the clock starts as it is sent.
            changed = Instant::now();
            let mut post = self.sim.client().post(&hook.url).body(body.clone());
            if let Some(b) = &hook.bearer {
                post = post.bearer_auth(b);
            }
            match post.send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    return (
                        Verdict::NotChecked,
                        format!(
                            "the change hook answered HTTP {}: check its URL and secret",
                            r.status()
                        ),
                    );
                }
                Err(e) => {
                    return (
                        Verdict::NotChecked,
                        format!("the change hook could not be reached: {e}"),
                    );
                }
            }
        }
        match self
            .wait_for_change(id, mark, changed + CHANGE_REPORT_WITHIN)
            .await
        {
            Some(Ok(entry)) => match rows::change_report(endpoint, &entry.body) {
                Some(why) => (Verdict::Fail, why),
                None => (
                    Verdict::Pass,
                    format!(
                        "ChangeReport accepted {} ms after the change",
                        changed.elapsed().as_millis()
                    ),
                ),
            },
            Some(Err(refused)) => (
                Verdict::Fail,
                format!("the Event Gateway refused its ChangeReport: {refused}"),
            ),
            None => (
                Verdict::Fail,
                format!(
                    "no ChangeReport reached the Event Gateway within {} s of the change: send one \
                     for every change of a proactively reported property",
                    CHANGE_REPORT_WITHIN.as_secs()
                ),
            ),
        }
    }

    async fn change_by_hand(
        &mut self,
        endpoint: &Value,
        id: &str,
        seconds: u64,
        mark: u64,
    ) -> (Verdict, String) {
        let seconds = seconds.min(super::MAX_WAIT_SECONDS);
        let name = endpoint["friendlyName"].as_str().unwrap_or(id);
        self.waiting(Some(format!(
            "change {name} ({id}) by hand now: the evaluation waits {seconds} s for its ChangeReport"
        )));
        let found = self
            .wait_for_change(id, mark, Instant::now() + Duration::from_secs(seconds))
            .await;
        self.waiting(None);
        match found {
            None => (
                Verdict::NotChecked,
                format!("no ChangeReport came within the {seconds} s given for the change by hand"),
            ),
            Some(Err(refused)) => (
                Verdict::Fail,
                format!("the Event Gateway refused its ChangeReport: {refused}"),
            ),
            Some(Ok(entry)) => {
                if let Some(why) = rows::change_report(endpoint, &entry.body) {
                    return (Verdict::Fail, why);
                }
                // By hand, the change's time is the skill's word for it: its timeOfSample.
                let arrived = now_ms();
                let sampled = entry.body["event"]["payload"]["change"]["properties"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["timeOfSample"].as_str().and_then(rows::parse_time))
                    .max();
                match sampled {
                    // A second's grace for two clocks, as for every timeOfSample.
                    Some(at) if at > arrived + 1_000 => (
                        Verdict::Fail,
                        "the ChangeReport says it was sampled in the future".to_owned(),
                    ),
                    Some(at) if arrived - at <= CHANGE_REPORT_WITHIN.as_millis() as i64 + 500 => (
                        Verdict::Pass,
                        format!(
                            "ChangeReport accepted {} ms after the sample it reports",
                            arrived - at
                        ),
                    ),
                    Some(at) => (
                        Verdict::Fail,
                        format!(
                            "the ChangeReport came {} ms after the sample it reports",
                            arrived - at
                        ),
                    ),
                    None => (
                        Verdict::Fail,
                        "the ChangeReport carries no readable timeOfSample".to_owned(),
                    ),
                }
            }
        }
    }

    /// The first ChangeReport about `id` after `mark` the Event Gateway accepted (or, at the
    /// deadline, refused), polling the log.
    async fn wait_for_change(&self, id: &str, mark: u64, deadline: Instant) -> Option<Result<Entry, String>> {
        loop {
            let reports = self.gateway(mark, "Alexa.ChangeReport", Some(id));
            if let Some(ok) = reports.iter().find(|e| e.valid) {
                return Some(Ok(ok.clone()));
            }
            if Instant::now() >= deadline {
                return reports
                    .last()
                    .map(|e| Err(e.error.clone().unwrap_or_else(|| format!("HTTP {}", e.status))));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the skill got an event accepted after its Event Gateway token was expired.
    fn event_token_verdict(&self, mark: u64) -> (Verdict, String) {
        let events = self.sim.world().log.since(mark, Some("gateway"));
        // A refusal for an expired token has no owner (the token names none any more): those
        // of the run's window are taken as this skill's.
        let refused = events
            .iter()
            .filter(|e| e.status == 401 && e.skill_id.is_none())
            .count();
        match events.iter().find(|e| e.valid && self.ours(e)) {
            Some(_) if refused > 0 => (
                Verdict::Pass,
                format!("refused {refused} time(s) with the expired token, then refreshed and sent again"),
            ),
            Some(_) => (
                Verdict::Pass,
                "refreshed before sending: the event went through on the first try".to_owned(),
            ),
            None if refused > 0 => (
                Verdict::Fail,
                "the event was refused for its expired token and never sent again with a fresh one"
                    .to_owned(),
            ),
            None => (
                Verdict::NotChecked,
                "no event reached the Event Gateway after the token expired".to_owned(),
            ),
        }
    }

    /// AddOrUpdateReport and DeleteReport as the Event Gateway received them for this user,
    /// waiting `seconds` first for the person to add and remove a device.
    pub(super) async fn proactive_discovery(&mut self, seconds: u64) {
        let seconds = seconds.min(super::MAX_WAIT_SECONDS);
        if seconds > 0 {
            self.waiting(Some(format!(
                "add a device and remove one now (rask: a [[devices]] entry and a restart): the evaluation watches the Event Gateway for {seconds} s"
            )));
            let deadline = Instant::now() + Duration::from_secs(seconds);
            while Instant::now() < deadline
                && !(self.sent_ever("Alexa.Discovery.AddOrUpdateReport")
                    && self.sent_ever("Alexa.Discovery.DeleteReport"))
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            self.waiting(None);
        }
        for (requirement, name, how) in [
            (rows::ADDED, "Alexa.Discovery.AddOrUpdateReport", "add a device"),
            (rows::DELETED, "Alexa.Discovery.DeleteReport", "remove a device"),
        ] {
            let sent = self.gateway(0, name, None);
            let (verdict, detail) = match (sent.iter().rfind(|e| e.valid), sent.last()) {
                (Some(e), _) => (Verdict::Pass, format!("accepted at {}", e.time)),
                (None, Some(e)) => (
                    Verdict::Fail,
                    format!(
                        "the Event Gateway refused it: {}",
                        e.error.clone().unwrap_or_else(|| format!("HTTP {}", e.status))
                    ),
                ),
                (None, None) => (
                    Verdict::NotChecked,
                    format!(
                        "the skill sent none for this user while the sim watched: {how} during an evaluation \
                         that waits for it (rask: a [[devices]] change and a restart)"
                    ),
                ),
            };
            self.rows
                .push(plain(requirement, rows::DISCOVERY, None, verdict, detail));
        }
    }

    fn sent_ever(&self, name: &str) -> bool {
        self.gateway(0, name, None).iter().any(|e| e.valid)
    }

    /// The Event Gateway's entries named `name` from this skill for this user after `mark`.
    fn gateway(&self, mark: u64, name: &str, endpoint: Option<&str>) -> Vec<Entry> {
        self.sim
            .world()
            .log
            .since(mark, Some("gateway"))
            .into_iter()
            .filter(|e| {
                self.ours(e)
                    && e.name.as_deref() == Some(name)
                    && endpoint.is_none_or(|id| e.body["event"]["endpoint"]["endpointId"] == id)
            })
            .collect()
    }

    /// A gateway entry from this skill for this user.
    fn ours(&self, e: &Entry) -> bool {
        e.skill_id.as_deref() == Some(self.skill_id) && e.user.as_deref() == Some(self.user)
    }
}
