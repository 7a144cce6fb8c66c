//! Where rask's log lines go and how they look: standard error, as text for a person or, with
//! `RASK_LOG_FORMAT=json`, one JSON object per line for a log pipeline. `RASK_LOG` picks the
//! levels (`info` unless set; `rask_home=debug,info`, say).
//!
//! A line logged while a request is answered carries the request's span: its id (also sent
//! back as `x-request-id`), method and route, and the user and device once a handler knows
//! them. Secrets never reach a line (tokens, passwords and keys are not logged), and what came
//! from the network is cut to a bounded length first.

/// Installs the log subscriber; `Err` names the variable that is wrong.
pub fn init() -> Result<(), String> {
    let filter = || tracing_subscriber::EnvFilter::try_from_env("RASK_LOG").unwrap_or_else(|_| "info".into());
    let format = std::env::var("RASK_LOG_FORMAT").unwrap_or_default();
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
