//! Login with Amazon: exchanging AcceptGrant codes, refreshing users' tokens, and
//! client-credentials tokens for Skill Messaging and Proactive Events, cached per scope.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rask_model::lwa::{OAuthErrorCode, TokenError, TokenRequest, TokenResponse};

/// How long before expiry a cached token is replaced (Amazon's SDK uses 60 s).
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Why LWA gave no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LwaError {
    /// LWA answered with an OAuth error: `invalid_grant` (the user revoked, or the code is
    /// spent), `invalid_client` (wrong client id or secret), ...
    #[error("Login with Amazon refused: {0}")]
    Refused(TokenError),
    /// LWA answered something that is not a token or an OAuth error.
    #[error("Login with Amazon answered HTTP {status}: {body}")]
    Unexpected {
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// LWA could not be reached.
    #[error("Login with Amazon could not be reached: {0}")]
    Transport(String),
}

impl LwaError {
    /// Whether LWA failed or could not be reached, so that the same request may succeed
    /// later: a transport failure, a 5xx or a 429, `server_error` or
    /// `temporarily_unavailable`. Any other OAuth error (a scope the skill lacks, say) stays
    /// until a person acts.
    pub fn transient(&self) -> bool {
        match self {
            LwaError::Transport(_) => true,
            LwaError::Unexpected { status, .. } => *status >= 500 || *status == 429,
            LwaError::Refused(e) => matches!(
                e.error,
                OAuthErrorCode::ServerError | OAuthErrorCode::TemporarilyUnavailable
            ),
        }
    }

    /// Whether LWA refused the credentials themselves (the grant or the client), so that
    /// retrying cannot help until a person acts.
    pub fn credentials_refused(&self) -> bool {
        matches!(self, LwaError::Refused(e) if matches!(e.error, OAuthErrorCode::InvalidGrant | OAuthErrorCode::InvalidClient | OAuthErrorCode::UnauthorizedClient))
    }
}

/// An LWA client for one skill's "Alexa Client" credentials.
pub struct LwaClient {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    cache: Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for LwaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LwaClient")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl LwaClient {
    /// A client posting to `token_url` with these credentials (sent in the body, as Amazon's
    /// SDKs do).
    pub fn new(
        http: reqwest::Client,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        LwaClient {
            http,
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    async fn request(&self, r: TokenRequest) -> Result<TokenResponse, LwaError> {
        let form = r.with_client(self.client_id.clone(), self.client_secret.clone());
        let response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| LwaError::Transport(crate::describe(&e.without_url())))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| LwaError::Transport(crate::describe(&e.without_url())))?;
        if status == 200 {
            return serde_json::from_slice(&body).map_err(|_| LwaError::Unexpected {
                status,
                body: snippet(&body),
            });
        }
        match serde_json::from_slice::<TokenError>(&body) {
            Ok(e) => Err(LwaError::Refused(e)),
            Err(_) => Err(LwaError::Unexpected {
                status,
                body: snippet(&body),
            }),
        }
    }

    /// Exchanges the code from `AcceptGrant` for the user's access and refresh tokens.
    pub async fn exchange_code(&self, code: &str) -> Result<TokenResponse, LwaError> {
        self.request(TokenRequest::authorization_code(code, None)).await
    }

    /// A fresh access token for a user's refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, LwaError> {
        self.request(TokenRequest::refresh(refresh_token)).await
    }

    /// A client-credentials token for `scope`, from the cache while it has more than a minute
    /// to live.
    pub async fn token_for_scope(&self, scope: &str) -> Result<String, LwaError> {
        let now = Instant::now();
        if let Some((t, until)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(scope) {
            if now + EXPIRY_MARGIN < *until {
                return Ok(t.clone());
            }
        }
        let t = self.request(TokenRequest::client_credentials(scope)).await?;
        let until = now + Duration::from_secs(t.expires_in);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(scope.to_owned(), (t.access_token.clone(), until));
        Ok(t.access_token)
    }

    /// Drops the cached token for `scope`: Amazon refused it before its time.
    pub fn forget_scope(&self, scope: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(scope);
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.into_owned()
    }
}
