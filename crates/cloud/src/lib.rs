//! Clients of Alexa's cloud.
//!
//! - [`region`]: Alexa's regions and the base URL of each API there (configurable, so that
//!   tests and `rask serve`'s demo point at `rask sim`);
//! - [`lwa`]: Login with Amazon, all three grants, with a per-scope token cache;
//! - [`gateway`]: the Event Gateway client, whose errors are decided by Amazon's
//!   `payload.code` rather than the HTTP status alone;
//! - [`retry`]: what to do after each gateway answer, as a plain decision.

pub mod gateway;
pub mod lwa;
pub mod region;
pub mod retry;

/// The HTTP client rask uses for Alexa's cloud: rustls, a deadline, no cookies.
pub fn http_client(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("rask/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these settings always builds")
}
