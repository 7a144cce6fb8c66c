//! Account-linking settings: the OAuth clients (Alexa, one per skill) and the lifetimes.

use std::time::Duration;

use crate::ratelimit::Limits;
use crate::secret::Secret;

/// Amazon's account-linking redirect hosts, one per region (NA, EU, FE).
pub const AMAZON_REDIRECT_HOSTS: [&str; 3] =
    ["pitangui.amazon.com", "layla.amazon.com", "alexa.amazon.co.jp"];

/// How a client authenticates at the token endpoint (the Alexa console's
/// "Authentication Scheme").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// HTTP Basic only.
    Basic,
    /// `client_id` and `client_secret` in the form body only.
    Body,
    /// Either.
    #[default]
    Either,
}

/// One OAuth client: what the Alexa developer console holds for a skill.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// "Your Client ID".
    pub id: String,
    /// "Your Secret".
    pub secret: Secret,
    /// The name on the consent page, such as "Alexa".
    pub name: String,
    /// Vendor ids: each allows Amazon's three redirect URIs `https://{host}/api/skill/link/{vendor id}`.
    pub vendor_ids: Vec<String>,
    /// Further redirect URIs allowed exactly as written.
    pub redirect_uris: Vec<String>,
    /// The scopes this client may ask for; the first is the default.
    pub scopes: Vec<String>,
    /// How it authenticates.
    pub auth: ClientAuth,
}

impl ClientConfig {
    /// Whether `uri` is on this client's allow-list (exact match).
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
            || self.vendor_ids.iter().any(|v| {
                AMAZON_REDIRECT_HOSTS
                    .iter()
                    .any(|h| uri == format!("https://{h}/api/skill/link/{v}"))
            })
    }
}

/// Everything account linking needs to know.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The OAuth clients.
    pub clients: Vec<ClientConfig>,
    /// Life of an authorization code (10 minutes).
    pub code_lifetime: Duration,
    /// Life of an access token (1 hour; Alexa needs at least 6 minutes).
    pub access_token_lifetime: Duration,
    /// How long a refresh token may go unused before it dies (1 year). Each use starts the
    /// count again, so a link in use never expires.
    pub refresh_idle_lifetime: Duration,
    /// How long after a refresh the refresh token it replaced may be presented again by its
    /// client (whose answer was lost) and get a new pair instead of ending the link (60 s).
    pub refresh_grace: Duration,
    /// Life of a login-page session (30 minutes).
    pub session_lifetime: Duration,
    /// Whether cookies carry `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// Login rate limits.
    pub limits: Limits,
    /// Token-endpoint limits: failed requests per address per window (`per_address`).
    pub token_limits: Limits,
    /// The service's name on the pages.
    pub service_name: String,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            clients: Vec::new(),
            code_lifetime: Duration::from_secs(600),
            access_token_lifetime: Duration::from_secs(3600),
            refresh_idle_lifetime: Duration::from_secs(365 * 24 * 3600),
            refresh_grace: Duration::from_secs(60),
            session_lifetime: Duration::from_secs(1800),
            secure_cookies: false,
            limits: Limits::default(),
            // Alexa's token calls come from a few Amazon addresses shared by every user, and
            // seldom fail: the bar is high enough never to meet them, low enough to stop a
            // stranger's flood.
            token_limits: Limits {
                per_account: u32::MAX,
                per_address: 60,
                window: std::time::Duration::from_secs(15 * 60),
            },
            service_name: "rask".to_owned(),
        }
    }
}

impl LinkConfig {
    /// The client with this id.
    pub fn client(&self, id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.id == id)
    }
}
