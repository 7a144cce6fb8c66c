//! Where rask's log lines go and how they look: standard error, as text for a person or, with
//! `RASK_LOG_FORMAT=json`, one JSON object per line for a log pipeline. `RASK_LOG` picks the
//! levels (`info` unless set; `rask_home=debug,info`, say).
//!
//! With JSON, a line logged while a request is answered carries the request's span: its id
//! (also sent back as `x-request-id`) and route, and the user and device once a handler knows
//! them. Text logs leave the span out unless asked (`RASK_LOG=info,rask::request=debug`): a
//! live span costs about 5 % of a TurnOn's throughput (docs/PERFORMANCE.md). Secrets never reach a line (tokens, passwords and keys are not logged), and what came
//! from the network is cut to a bounded length first.

/// The target of the listener's per-request span.
pub const REQUEST_TARGET: &str = "rask::request";

/// What JSON logs show unless `RASK_LOG` says otherwise: info, with the request spans.
const JSON_DEFAULT: &str = "info,rask::request=debug";

/// Installs the log subscriber; `Err` names the variable that is wrong.
pub fn init() -> Result<(), String> {
    let format = std::env::var("RASK_LOG_FORMAT").unwrap_or_default();
    let default = if format == "json" { JSON_DEFAULT } else { "info" };
    let filter =
        || tracing_subscriber::EnvFilter::try_from_env("RASK_LOG").unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match format.as_str() {
        "" | "text" => builder.with_env_filter(filter()).init(),
        "json" => builder
            .json()
            // The request's fields once, as "span"; not the list of every enclosing span.
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter())
            .init(),
        other => {
            return Err(format!(
                "RASK_LOG_FORMAT is {:?}: use json, or text (the default)",
                rask_model::limits::logged(other)
            ));
        }
    }
    Ok(())
}
