//! The simulator's settings.

use std::time::Duration;

/// How the simulated Alexa behaves where Amazon leaves room.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Life of LWA access tokens (Amazon: 3600 s).
    pub access_token_lifetime: Duration,
    /// Life of the grant codes the sim puts in `AcceptGrant` (Amazon does not say; 5 minutes).
    pub grant_code_lifetime: Duration,
    /// Life of `apiAccessToken`s in custom-skill requests (Amazon: about an hour).
    pub api_access_token_lifetime: Duration,
    /// How long Alexa waits for a skill's answer (Amazon: 8 s for smart home).
    pub skill_timeout: Duration,
    /// How long Alexa waits for the account-linking token endpoint (Amazon: 4.5 s).
    pub token_endpoint_timeout: Duration,
    /// First retry of an undelivered Skill Messaging message (Amazon: 30 s, then doubling).
    pub message_retry_initial: Duration,
    /// The URL clients should use for the sim, when it differs from the bound address.
    pub public_url: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            access_token_lifetime: Duration::from_secs(3600),
            grant_code_lifetime: Duration::from_secs(300),
            api_access_token_lifetime: Duration::from_secs(3600),
            skill_timeout: Duration::from_secs(8),
            token_endpoint_timeout: Duration::from_millis(4500),
            message_retry_initial: Duration::from_secs(30),
            public_url: None,
        }
    }
}
