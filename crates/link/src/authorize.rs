//! Judging an authorization request (RFC 6749 §4.1.1), as plain decisions.
//!
//! A bad `client_id` or `redirect_uri` is shown to the user and never redirected, so that rask
//! can never be used to bounce a browser to an unknown site (§4.1.2.1). Every other problem is
//! sent back to Alexa's redirect URI as `error=...` with the `state`.

use rask_model::lwa::OAuthErrorCode;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::LinkConfig;
use crate::pkce;

/// The parameters as they arrive, in the query (GET) or the form (POST).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeParams {
    /// The client.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Where to send the browser back.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// Alexa's anti-forgery value, returned unchanged.
    #[serde(default)]
    pub state: Option<String>,
    /// Must be `code`.
    #[serde(default)]
    pub response_type: Option<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// PKCE challenge.
    #[serde(default)]
    pub code_challenge: Option<String>,
    /// PKCE method; only `S256`.
    #[serde(default)]
    pub code_challenge_method: Option<String>,
}

impl AuthorizeParams {
    /// The parameters for the log: the state and challenge are not written down.
    pub fn redacted(&self) -> String {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        format!(
            "client_id={} redirect_uri={} response_type={} scope={} state={} pkce={}",
            show(&self.client_id),
            show(&self.redirect_uri),
            show(&self.response_type),
            show(&self.scope),
            self.state
                .as_ref()
                .map(|s| format!("({} characters)", s.len()))
                .unwrap_or_else(|| "(none)".into()),
            self.code_challenge
                .as_ref()
                .map(|_| self
                    .code_challenge_method
                    .clone()
                    .unwrap_or_else(|| "plain".into()))
                .unwrap_or_else(|| "no".into()),
        )
    }
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// The client.
    pub client_id: String,
    /// The checked redirect URI.
    pub redirect_uri: String,
    /// Alexa's state.
    pub state: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
}

impl AuthorizeRequest {
    /// The parameters to carry in the pages' hidden fields.
    pub fn params(&self) -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some(self.client_id.clone()),
            redirect_uri: Some(self.redirect_uri.clone()),
            state: Some(self.state.clone()),
            response_type: Some("code".into()),
            scope: Some(self.scopes.join(" ")),
            code_challenge: self.code_challenge.clone(),
            code_challenge_method: self.code_challenge.as_ref().map(|_| "S256".into()),
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Shown to the user, never redirected: the client or redirect URI cannot be trusted.
    ShowUser(String),
    /// Sent back to the redirect URI.
    Redirect(RedirectError),
}

/// An error for the redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectError {
    /// The checked redirect URI.
    pub redirect_uri: String,
    /// The OAuth error code.
    pub error: OAuthErrorCode,
    /// A human-readable description.
    pub description: String,
    /// Alexa's state, when it sent one.
    pub state: Option<String>,
}

impl RedirectError {
    /// The `Location` to send the browser to.
    pub fn location(&self) -> String {
        let mut pairs = vec![
            ("error", self.error.as_str().to_owned()),
            ("error_description", self.description.clone()),
        ];
        if let Some(s) = &self.state {
            pairs.push(("state", s.clone()));
        }
        with_query(&self.redirect_uri, &pairs)
    }
}

/// The `Location` after consent: the redirect URI with `state` and `code`.
pub fn success_location(redirect_uri: &str, code: &str, state: &str) -> String {
    with_query(
        redirect_uri,
        &[("state", state.to_owned()), ("code", code.to_owned())],
    )
}

fn with_query(uri: &str, pairs: &[(&str, String)]) -> String {
    match Url::parse(uri) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            u.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}

/// Judges the parameters against the configuration.
pub fn judge(p: &AuthorizeParams, config: &LinkConfig) -> Result<AuthorizeRequest, Refusal> {
    let client_id = p.client_id.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| {
        Refusal::ShowUser(
            "The link request names no client (client_id is missing). Start again from the Alexa app.".into(),
        )
    })?;
    let client = config.client(client_id).ok_or_else(|| {
        Refusal::ShowUser(format!("The link request names a client this server does not know ({client_id:?}). Check \"Your Client ID\" in the Alexa developer console."))
    })?;
    let redirect_uri = p
        .redirect_uri
        .as_deref()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Refusal::ShowUser("The link request has no redirect_uri. Start again from the Alexa app.".into())
        })?;
    if !client.allows_redirect(redirect_uri) {
        return Err(Refusal::ShowUser(format!(
            "The link request wants to return to {redirect_uri}, which is not an allowed redirect URI for this client. \
             Add the skill's vendor id or this URI to rask's configuration."
        )));
    }
    let redirect = |error: OAuthErrorCode, description: &str| {
        Refusal::Redirect(RedirectError {
            redirect_uri: redirect_uri.to_owned(),
            error,
            description: description.to_owned(),
            state: p.state.clone(),
        })
    };
    match p.response_type.as_deref() {
        Some("code") => {}
        None | Some("") => {
            return Err(redirect(
                OAuthErrorCode::InvalidRequest,
                "response_type is required",
            ));
        }
        Some(_) => {
            return Err(redirect(
                OAuthErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    let state = p
        .state
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| redirect(OAuthErrorCode::InvalidRequest, "state is required"))?;
    let scopes: Vec<String> = match p.scope.as_deref().map(str::split_whitespace) {
        Some(requested) if p.scope.as_deref().is_some_and(|s| !s.trim().is_empty()) => {
            let requested: Vec<String> = requested.map(str::to_owned).collect();
            if let Some(bad) = requested.iter().find(|s| !client.scopes.contains(s)) {
                return Err(redirect(
                    OAuthErrorCode::InvalidScope,
                    &format!("scope {bad:?} is not available to this client"),
                ));
            }
            requested
        }
        _ => client.scopes.iter().take(1).cloned().collect(),
    };
    let code_challenge = match (&p.code_challenge, p.code_challenge_method.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(redirect(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(c), Some("S256")) if pkce::is_s256_challenge(c) => Some(c.clone()),
        (Some(_), Some("S256")) => {
            return Err(redirect(
                OAuthErrorCode::InvalidRequest,
                "code_challenge is not an S256 challenge",
            ));
        }
        (Some(_), _) => {
            return Err(redirect(
                OAuthErrorCode::InvalidRequest,
                "only code_challenge_method=S256 is supported",
            ));
        }
    };
    Ok(AuthorizeRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state,
        scopes,
        code_challenge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClientAuth, ClientConfig};
    use crate::secret::Secret;

    fn config() -> LinkConfig {
        LinkConfig {
            clients: vec![ClientConfig {
                id: "alexa".into(),
                secret: Secret::new("s"),
                name: "Alexa".into(),
                vendor_ids: vec!["M2AAAAAAAAAAAA".into()],
                redirect_uris: vec!["https://example.com/cb".into()],
                scopes: vec!["devices".into(), "profile".into()],
                auth: ClientAuth::Either,
            }],
            ..Default::default()
        }
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some("alexa".into()),
            redirect_uri: Some("https://layla.amazon.com/api/skill/link/M2AAAAAAAAAAAA".into()),
            state: Some("xyz".into()),
            response_type: Some("code".into()),
            scope: Some("devices".into()),
            ..Default::default()
        }
    }

    #[test]
    fn amazons_redirect_uris_for_the_vendor_are_allowed() {
        let c = config();
        for region in rask_model::region::Region::ALL {
            let mut p = params();
            p.redirect_uri = Some(format!(
                "https://{}/api/skill/link/M2AAAAAAAAAAAA",
                region.redirect_host()
            ));
            assert!(judge(&p, &c).is_ok(), "{region}");
        }
        let mut p = params();
        p.redirect_uri = Some("https://example.com/cb".into());
        assert!(judge(&p, &c).is_ok());
        p.redirect_uri = Some("https://layla.amazon.com/api/skill/link/OTHERVENDOR".into());
        assert!(matches!(judge(&p, &c), Err(Refusal::ShowUser(_))));
        p.redirect_uri = Some("https://evil.example/api/skill/link/M2AAAAAAAAAAAA".into());
        assert!(matches!(judge(&p, &c), Err(Refusal::ShowUser(_))));
    }

    #[test]
    fn a_bad_client_is_shown_never_redirected() {
        let mut p = params();
        p.client_id = Some("mallory".into());
        assert!(matches!(judge(&p, &config()), Err(Refusal::ShowUser(m)) if m.contains("mallory")));
        p.client_id = None;
        assert!(matches!(judge(&p, &config()), Err(Refusal::ShowUser(_))));
    }

    #[test]
    fn other_errors_go_back_to_alexa_with_the_state() {
        let c = config();
        let mut p = params();
        p.response_type = Some("token".into());
        let Err(Refusal::Redirect(e)) = judge(&p, &c) else {
            panic!()
        };
        assert_eq!(e.error, OAuthErrorCode::UnsupportedResponseType);
        assert!(e.location().starts_with(
            "https://layla.amazon.com/api/skill/link/M2AAAAAAAAAAAA?error=unsupported_response_type"
        ));
        assert!(e.location().ends_with("&state=xyz"));

        let mut p = params();
        p.state = None;
        let Err(Refusal::Redirect(e)) = judge(&p, &c) else {
            panic!()
        };
        assert_eq!((e.error, e.state), (OAuthErrorCode::InvalidRequest, None));

        let mut p = params();
        p.scope = Some("devices admin".into());
        let Err(Refusal::Redirect(e)) = judge(&p, &c) else {
            panic!()
        };
        assert_eq!(e.error, OAuthErrorCode::InvalidScope);

        let mut p = params();
        p.code_challenge = Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGKSsfhm-c".into());
        p.code_challenge_method = Some("plain".into());
        let Err(Refusal::Redirect(e)) = judge(&p, &c) else {
            panic!()
        };
        assert_eq!(e.error, OAuthErrorCode::InvalidRequest);
        p.code_challenge_method = Some("S256".into());
        assert_eq!(
            judge(&p, &c).unwrap().code_challenge.as_deref(),
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGKSsfhm-c")
        );
    }

    #[test]
    fn no_scope_means_the_default() {
        let mut p = params();
        p.scope = None;
        assert_eq!(judge(&p, &config()).unwrap().scopes, vec!["devices"]);
        assert_eq!(
            success_location("https://x.example/cb", "c0de", "s t"),
            "https://x.example/cb?state=s+t&code=c0de"
        );
    }

    #[test]
    fn the_log_never_shows_the_state() {
        let mut p = params();
        p.state = Some("secret-state-value".into());
        assert!(!p.redacted().contains("secret-state-value"));
    }
}
