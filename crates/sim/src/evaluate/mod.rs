//! `rask sim evaluate`: Works with Alexa readiness of a smart-home skill, checked offline.
//!
//! Amazon checks a smart-home skill twice before customers see it (the Smart Home Test Tool
//! and the Works with Alexa requirements), and both need the live cloud and a published
//! skill. An evaluation does the same from the sim, against any skill it can reach: it links
//! the account if needed, grants, discovers, drives every declared interface with values in
//! and out of range, asks for each endpoint's state, causes a physical change where the skill
//! offers a way and reads the Event Gateway for the ChangeReport, and refreshes the user's
//! tokens mid-run. Each requirement becomes a [`Row`] in Amazon's words with its doc link.
//!
//! - [`rows`]: the decisions (which rows an answer passes), pure;
//! - [`probes`]: which directives an endpoint gets, pure;
//! - [`run`]: the thin loop that sends them and collects the answers, and `events`, its
//!   half that watches the Event Gateway.
//!
//! Evaluations run in the background; the sim keeps the last [`KEPT`] of them, each at
//! `/sim/evaluations/{id}` while it runs and after.

mod events;
pub mod probes;
pub mod rows;
pub mod run;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

pub use events::CHANGE_REPORT_WITHIN;
pub use rows::{Row, Verdict, discovery, state};
pub use run::{evaluate, start};

/// A verdict as `rask sim evaluate` and the owner's console print it, from its JSON name.
pub fn label(verdict: &str) -> &'static str {
    match verdict {
        "pass" => "ok",
        "fail" => "FAIL",
        "not_applicable" => "n/a",
        _ => "-",
    }
}

/// How many evaluations the sim keeps (running ones are never dropped).
pub const KEPT: usize = 20;
/// The longest the run waits for the person (a change by hand, a device added).
pub const MAX_WAIT_SECONDS: u64 = 600;

/// What to evaluate, and how the run may reach the skill's side.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvaluationRequest {
    /// The login on the skill's account-linking page, when the user is not linked yet.
    #[serde(default, skip_serializing)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// Ways to make a physical change happen, one per endpoint (such as rask's state webhook).
    #[serde(default)]
    pub changes: Vec<ChangeHook>,
    /// With no hook for an endpoint, how long to wait for the person to change it by hand
    /// (0: do not ask; its ChangeReport row is then not checked).
    #[serde(default)]
    pub wait_for_change_seconds: u64,
    /// How long, at the end, to watch the Event Gateway for an `AddOrUpdateReport` and a
    /// `DeleteReport` (the person adds and removes a device meanwhile); 0 reads only what
    /// the skill already sent this user.
    #[serde(default)]
    pub wait_for_discovery_seconds: u64,
}

/// An HTTP call that makes an endpoint's state change as a person would (rask:
/// `POST /hooks/devices/{id}/state` with the device's secret).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangeHook {
    /// The endpoint that changes.
    pub endpoint_id: String,
    /// Where to POST.
    pub url: String,
    /// Sent as `Authorization: Bearer`; never shown again.
    #[serde(default, skip_serializing)]
    pub bearer: Option<String>,
    /// Bodies posted in turn (say `closed` then `open`): the last differs from the one before,
    /// so it is a change whatever the state was. Default: one empty POST.
    #[serde(default)]
    pub bodies: Vec<String>,
}

/// Where an evaluation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// Still sending.
    Running,
    /// Every row decided.
    Done,
    /// It could not go on (no link and no login given, say): see `error`.
    Stopped,
}

/// Latencies of the skill's answers over the run, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Answers timed.
    pub count: usize,
    /// Median.
    pub p50_ms: u64,
    /// 90th percentile.
    pub p90_ms: u64,
    /// 99th percentile.
    pub p99_ms: u64,
    /// The slowest.
    pub max_ms: u64,
}

impl Latency {
    /// The distribution of `samples` (ms).
    pub fn of(samples: &[u64]) -> Latency {
        let mut s = samples.to_vec();
        s.sort_unstable();
        let at = |q: f64| {
            if s.is_empty() {
                0
            } else {
                s[(((s.len() - 1) as f64) * q).round() as usize]
            }
        };
        Latency {
            count: s.len(),
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            max_ms: s.last().copied().unwrap_or(0),
        }
    }
}

/// How many rows of each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Met.
    pub pass: usize,
    /// Not met.
    pub fail: usize,
    /// Nothing to check it on.
    pub not_applicable: usize,
    /// Could not be checked in this run (the row says how to).
    pub not_checked: usize,
}

/// One evaluation, running or finished.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Its number in this sim.
    pub id: u64,
    /// The skill evaluated.
    pub skill_id: String,
    /// The simulated user it ran as.
    pub user: String,
    /// Where it is.
    pub progress: Progress,
    /// When it started, UTC.
    pub started: String,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// What it waits for from the person, while it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// Why it stopped early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The verdicts so far.
    pub rows: Vec<Row>,
    /// Counts of `rows` by verdict.
    pub summary: Summary,
    /// How fast the skill answered.
    pub latency: Latency,
    /// The first and last event-log sequence numbers of the run (`/sim/events?since=`).
    pub log_from: u64,
    /// See `log_from`.
    pub log_to: u64,
}

impl Evaluation {
    /// Whether it finished with no failed row.
    pub fn passed(&self) -> bool {
        self.progress == Progress::Done && self.summary.fail == 0
    }

    pub(crate) fn count(&mut self) {
        let mut s = Summary::default();
        for r in &self.rows {
            match r.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::NotApplicable => s.not_applicable += 1,
                Verdict::NotChecked => s.not_checked += 1,
            }
        }
        self.summary = s;
    }
}

/// The evaluations the sim keeps, newest last.
#[derive(Debug, Default)]
pub struct Evaluations {
    kept: VecDeque<Evaluation>,
    next: u64,
}

impl Evaluations {
    /// Starts keeping a new evaluation; returns its id, or the id of the one of this skill
    /// and user still running (one at a time: two would expire each other's tokens).
    pub fn open(&mut self, skill_id: &str, user: &str, log_from: u64) -> Result<u64, u64> {
        if let Some(running) = self
            .kept
            .iter()
            .find(|e| e.progress == Progress::Running && e.skill_id == skill_id && e.user == user)
        {
            return Err(running.id);
        }
        self.next += 1;
        if self.kept.len() >= KEPT
            && let Some(oldest) = self.kept.iter().position(|e| e.progress != Progress::Running)
        {
            self.kept.remove(oldest);
        }
        self.kept.push_back(Evaluation {
            id: self.next,
            skill_id: skill_id.to_owned(),
            user: user.to_owned(),
            progress: Progress::Running,
            started: rask_model::timestamp::now_millis(),
            finished: None,
            waiting_for: None,
            error: None,
            rows: Vec::new(),
            summary: Summary::default(),
            latency: Latency::default(),
            log_from,
            log_to: log_from,
        });
        Ok(self.next)
    }

    /// The evaluation `id`, if still kept.
    pub fn get(&self, id: u64) -> Option<&Evaluation> {
        self.kept.iter().find(|e| e.id == id)
    }

    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Evaluation> {
        self.kept.iter_mut().find(|e| e.id == id)
    }

    /// Every kept evaluation, newest first.
    pub fn list(&self) -> Vec<&Evaluation> {
        self.kept.iter().rev().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_are_read_off_the_sorted_samples() {
        let l = Latency::of(&[30, 10, 20, 40, 8_100]);
        assert_eq!((l.count, l.p50_ms, l.p90_ms, l.max_ms), (5, 30, 8_100, 8_100));
        assert_eq!(Latency::of(&[]), Latency::default());
    }

    #[test]
    fn only_the_last_evaluations_are_kept() {
        let mut e = Evaluations::default();
        for n in 0..KEPT + 3 {
            let id = e.open("s", &format!("u{n}"), 0).unwrap();
            e.get_mut(id).unwrap().progress = Progress::Done;
        }
        let running = e.open("s", "u", 0).unwrap();
        assert_eq!(e.open("s", "u", 0), Err(running), "one at a time for a user");
        assert!(e.get(3).is_none());
        assert_eq!(e.list()[0].id, running);
        assert_eq!(e.list().len(), KEPT);
    }
}
