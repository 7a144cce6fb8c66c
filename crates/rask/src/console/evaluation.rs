//! The Works with Alexa page: the last evaluation kept (`rask check --evaluate`, or this
//! page's button), each row with its verdict, what was found and Amazon's page.
//!
//! The button runs `rask check --evaluate-only` as a child process of this binary (nothing
//! leaves the machine): the evaluation
//! starts a simulator and a scratch rask of its own, whose tasks end with that process rather
//! than linger in the server.

use std::time::Duration;

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use super::auth::{CsrfForm, Signed};
use super::{Console, Frame, render, when};

/// How long the button waits for the evaluation.
const RUN_FOR: Duration = Duration::from_secs(120);

/// One evaluation at a time from the console: a second click waits for none, it is told.
static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One row as shown.
struct RowView {
    verdict: &'static str,
    class: &'static str,
    requirement: String,
    endpoint: String,
    detail: String,
    doc: String,
}

#[derive(askama::Template)]
#[template(path = "console/evaluation.html")]
struct Page {
    f: Frame,
    /// When, and the counts, of the last evaluation; `None` before the first.
    last: Option<(String, i64, i64, i64, i64)>,
    rows: Vec<RowView>,
    stopped: Option<String>,
    said: Option<String>,
}

fn rows(report: &Value) -> Vec<RowView> {
    report["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let name = r["verdict"].as_str().unwrap_or("");
            let class = match name {
                "pass" => "good",
                "fail" => "bad",
                "not_checked" => "warn",
                _ => "",
            };
            let verdict = match rask_sim::evaluate::label(name) {
                "-" => "not checked",
                l => l,
            };
            let text = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            RowView {
                verdict,
                class,
                requirement: text("requirement"),
                endpoint: text("endpoint"),
                detail: text("detail"),
                doc: text("doc"),
            }
        })
        .collect()
}

async fn page(c: &Console, session: &Signed, said: Option<String>) -> Response {
    let kept = match c.0.store.last_evaluation().await {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "the last evaluation could not be read");
            None
        }
    };
    let report: Value = kept
        .as_ref()
        .and_then(|k| serde_json::from_str(&k.report).ok())
        .unwrap_or(Value::Null);
    render(Page {
        f: Frame::page("Works with Alexa", "/evaluation", session),
        last: kept.map(|k| (when(k.at), k.passed, k.failed, k.not_applicable, k.not_checked)),
        rows: rows(&report),
        stopped: report["error"].as_str().map(str::to_owned),
        said,
    })
}

/// `GET /evaluation`.
pub(super) async fn show(State(c): State<Console>, session: Signed) -> Response {
    page(&c, &session, None).await
}

/// `POST /evaluation/run`: `rask check --evaluate-only` for the configuration rask runs with, then
/// back to the page, which shows what it kept.
pub(super) async fn run(State(c): State<Console>, session: Signed, Form(form): Form<CsrfForm>) -> Response {
    if let Err(forged) = session.check(&form.csrf) {
        return forged.into_response();
    }
    let Ok(_one) = RUNNING.try_lock() else {
        return page(
            &c,
            &session,
            Some("an evaluation is running already: wait for it".into()),
        )
        .await;
    };
    let before = c.0.store.last_evaluation().await.ok().flatten().map(|k| k.at);
    let mut cmd = match std::env::current_exe() {
        Ok(exe) => tokio::process::Command::new(exe),
        Err(e) => return page(&c, &session, Some(format!("the evaluation could not start: {e}"))).await,
    };
    cmd.args(["check", "--evaluate-only"])
        .env("RASK_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(source) = &c.0.source {
        cmd.arg("--config").arg(source);
    }
    let outcome = match cmd.spawn() {
        Err(e) => Err(format!("the evaluation could not start: {e}")),
        Ok(mut child) => match tokio::time::timeout(RUN_FOR, child.wait()).await {
            Err(_) => Err(format!(
                "the evaluation took longer than {} s and was stopped",
                RUN_FOR.as_secs()
            )),
            Ok(Err(e)) => Err(format!("the evaluation could not be followed: {e}")),
            // 0: every check passed; 1: some failed. A new evaluation kept says it ran.
            Ok(Ok(status))
                if matches!(status.code(), Some(0 | 1))
                    && c.0.store.last_evaluation().await.ok().flatten().map(|k| k.at) != before =>
            {
                Ok(())
            }
            Ok(Ok(status)) => Err(format!(
                "the evaluation could not run ({status}): run rask check --evaluate to see why"
            )),
        },
    };
    super::actions::log(
        &c,
        &session.owner,
        "evaluate",
        match &outcome {
            Ok(()) => "Works with Alexa evaluation run",
            Err(e) => e,
        },
    )
    .await;
    match outcome {
        Ok(()) => Redirect::to("/evaluation").into_response(),
        Err(e) => page(&c, &session, Some(e)).await,
    }
}
