//! The skill side: the custom skill's recent requests with their verdict (kept in memory by
//! rask-skill, the last 50 since start) and the messages and notifications sent out of
//! session, with Amazon's answer.

use axum::extract::State;
use axum::response::Response;

use super::auth::Signed;
use super::{Console, Frame, outcome_class, render, when};

struct Call {
    at: String,
    kind: String,
    user: String,
    region: String,
    status: String,
    class: &'static str,
    attempts: i64,
    outcome: String,
}

#[derive(askama::Template)]
#[template(path = "console/skill.html")]
struct SkillPage {
    f: Frame,
    hosted: bool,
    /// When, type, verdict, class.
    requests: Vec<(String, &'static str, &'static str, &'static str)>,
    calls: Vec<Call>,
}

/// `GET /skill`.
pub(super) async fn show(State(c): State<Console>, session: Signed) -> Response {
    let requests = rask_skill::metrics::recent()
        .into_iter()
        .map(|r| {
            let class = match r.verdict {
                "answered" => "good",
                _ => "bad",
            };
            (when(r.at as i64), r.r#type, r.verdict, class)
        })
        .collect();
    let calls =
        c.0.store
            .service_calls(100)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|s| Call {
                at: when(s.created_at),
                kind: s.kind,
                user: rask_model::limits::logged(&s.user_id).into_owned(),
                region: s.region,
                class: outcome_class(&s.status),
                status: s.status,
                attempts: s.attempts,
                outcome: s.outcome.unwrap_or_default(),
            })
            .collect();
    render(SkillPage {
        f: Frame::page("Skill", "/skill", &session),
        hosted: c.0.skill_hosted,
        requests,
        calls,
    })
}
