//! Clients of Alexa's cloud.
//!
//! - [`region`]: Alexa's regions and the base URL of each API there (configurable, so that
//!   tests and `rask serve`'s demo point at `rask sim`);
//! - [`lwa`]: Login with Amazon, all three grants, with a per-scope token cache;
//! - [`gateway`]: the Event Gateway client, whose errors are decided by Amazon's
//!   `payload.code` rather than the HTTP status alone;
//! - [`retry`]: what to do after each gateway answer, as a plain decision;
//! - [`enumeration`]: Endpoint Enumeration, the gadgets paired with a custom-skill user's Echo;
//! - [`services`]: Skill Messaging and Proactive Events, to a skill's users out of session.

pub mod enumeration;
pub mod gateway;
pub mod lwa;
pub mod region;
pub mod retry;
pub mod services;

/// The HTTP client rask uses for Alexa's cloud: rustls, a deadline, no cookies.
pub fn http_client(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("rask/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these settings always builds")
}

/// A transport error with its causes ("connection refused", "invalid peer certificate:
/// UnknownIssuer"), which reqwest's own message leaves out; never the URL's query.
pub fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out = format!("{out}: {text}");
        }
        source = s.source();
    }
    out
}
