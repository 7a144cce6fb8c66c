//! Login with Amazon (LWA): token requests, responses and errors at `/auth/o2/token`.
//!
//! The same shapes serve both directions in rask: rask's clients send them to LWA (or the
//! simulator), the simulator answers them, and rask's own account-linking server answers
//! Alexa with the OAuth 2.0 equivalents.

use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

use crate::wire_enum::wire_enum;

wire_enum! {
    /// `grant_type`.
    GrantType {
        AuthorizationCode = "authorization_code",
        RefreshToken = "refresh_token",
        ClientCredentials = "client_credentials",
    }
}

/// The scope for the Skill Messaging API (single colon).
pub const SCOPE_SKILL_MESSAGING: &str = "alexa:skill_messaging";
/// The scope for the Proactive Events API (double colon).
pub const SCOPE_PROACTIVE_EVENTS: &str = "alexa::proactive_events";

/// A token request as sent in the form body (`application/x-www-form-urlencoded`).
///
/// Every field is optional on the wire; [`TokenRequest::grant`] checks that the ones the grant
/// type needs are there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// Which grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// authorization_code: the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// authorization_code: the redirect URI used to get the code, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// authorization_code with PKCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
    /// refresh_token: the refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// client_credentials (and optionally others): the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Client id, when sent in the body rather than by HTTP Basic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Client secret, when sent in the body rather than by HTTP Basic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A token request's grant, with the parameters that grant requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Exchange an authorization code.
    AuthorizationCode {
        /// The code.
        code: String,
        /// The redirect URI, if one was used.
        redirect_uri: Option<String>,
        /// PKCE verifier.
        code_verifier: Option<String>,
    },
    /// Exchange a refresh token.
    RefreshToken {
        /// The refresh token.
        refresh_token: String,
        /// Narrower scope, rarely used.
        scope: Option<String>,
    },
    /// A token for the client itself.
    ClientCredentials {
        /// The scope, such as `alexa:skill_messaging`.
        scope: String,
    },
}

/// Why a token request cannot be read: each maps to an OAuth error code.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenRequestError {
    /// No `grant_type`, or a parameter the grant needs is missing.
    #[error("{0}")]
    InvalidRequest(String),
    /// A `grant_type` this server does not support.
    #[error("grant_type {0:?} is not supported")]
    UnsupportedGrantType(String),
}

impl TokenRequestError {
    /// The OAuth error code for this error.
    pub fn code(&self) -> OAuthErrorCode {
        match self {
            Self::InvalidRequest(_) => OAuthErrorCode::InvalidRequest,
            Self::UnsupportedGrantType(_) => OAuthErrorCode::UnsupportedGrantType,
        }
    }
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.is_empty()).cloned()
}

impl TokenRequest {
    /// An authorization-code request.
    pub fn authorization_code(code: impl Into<String>, redirect_uri: Option<String>) -> Self {
        TokenRequest {
            grant_type: Some("authorization_code".into()),
            code: Some(code.into()),
            redirect_uri,
            ..Default::default()
        }
    }

    /// A refresh-token request.
    pub fn refresh(refresh_token: impl Into<String>) -> Self {
        TokenRequest {
            grant_type: Some("refresh_token".into()),
            refresh_token: Some(refresh_token.into()),
            ..Default::default()
        }
    }

    /// A client-credentials request for `scope`.
    pub fn client_credentials(scope: impl Into<String>) -> Self {
        TokenRequest {
            grant_type: Some("client_credentials".into()),
            scope: Some(scope.into()),
            ..Default::default()
        }
    }

    /// The same request with the client credentials in the body.
    pub fn with_client(mut self, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(client_secret.into());
        self
    }

    /// The grant this request asks for, with its required parameters checked.
    pub fn grant(&self) -> Result<Grant, TokenRequestError> {
        let missing = |p: &str, g: &str| {
            TokenRequestError::InvalidRequest(format!("{p} is required for grant_type={g}"))
        };
        let grant_type = non_empty(&self.grant_type)
            .ok_or_else(|| TokenRequestError::InvalidRequest("grant_type is required".into()))?;
        match GrantType::from(grant_type.as_str()) {
            GrantType::AuthorizationCode => Ok(Grant::AuthorizationCode {
                code: non_empty(&self.code).ok_or_else(|| missing("code", &grant_type))?,
                redirect_uri: non_empty(&self.redirect_uri),
                code_verifier: non_empty(&self.code_verifier),
            }),
            GrantType::RefreshToken => Ok(Grant::RefreshToken {
                refresh_token: non_empty(&self.refresh_token)
                    .ok_or_else(|| missing("refresh_token", &grant_type))?,
                scope: non_empty(&self.scope),
            }),
            GrantType::ClientCredentials => Ok(Grant::ClientCredentials {
                scope: non_empty(&self.scope).ok_or_else(|| missing("scope", &grant_type))?,
            }),
            GrantType::Unknown(g) => Err(TokenRequestError::UnsupportedGrantType(g)),
        }
    }
}

/// A successful token response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token (`Atza|…` at Amazon).
    pub access_token: String,
    /// Always `bearer` at LWA.
    pub token_type: String,
    /// Seconds until the access token expires. Amazon has documented it as a number and
    /// as a string; both are read.
    #[serde(deserialize_with = "number_or_string")]
    pub expires_in: u64,
    /// For authorization_code and refresh_token grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// For client_credentials grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Number(u64),
        Text(String),
    }
    match N::deserialize(d)? {
        N::Number(n) => Ok(n),
        N::Text(s) => s.trim().parse().map_err(|_| {
            serde::de::Error::custom(format_args!("expires_in {s:?} is not a number of seconds"))
        }),
    }
}

wire_enum! {
    /// OAuth 2.0 error codes (RFC 6749 §5.2 and §4.1.2.1) as LWA and rask use them.
    OAuthErrorCode {
        InvalidRequest = "invalid_request",
        InvalidClient = "invalid_client",
        InvalidGrant = "invalid_grant",
        UnauthorizedClient = "unauthorized_client",
        UnsupportedGrantType = "unsupported_grant_type",
        InvalidScope = "invalid_scope",
        AccessDenied = "access_denied",
        UnsupportedResponseType = "unsupported_response_type",
        ServerError = "server_error",
        TemporarilyUnavailable = "temporarily_unavailable",
    }
}

impl OAuthErrorCode {
    /// The HTTP status a token endpoint answers with this code: 401 for `invalid_client`,
    /// 500/503 for server trouble, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An OAuth error body: `{error, error_description?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
#[error("{error}{}", error_description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct TokenError {
    /// The code.
    pub error: OAuthErrorCode,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// A page about the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl TokenError {
    /// An error with a description.
    pub fn new(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        TokenError {
            error,
            error_description: Some(description.into()),
            error_uri: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grants_check_their_parameters() {
        let r = TokenRequest::authorization_code("c", None).with_client("id", "secret");
        assert_eq!(
            r.grant(),
            Ok(Grant::AuthorizationCode {
                code: "c".into(),
                redirect_uri: None,
                code_verifier: None
            })
        );
        assert_eq!(
            TokenRequest::default().grant(),
            Err(TokenRequestError::InvalidRequest("grant_type is required".into()))
        );
        let mut no_code = TokenRequest::authorization_code("", None);
        no_code.code = None;
        assert_eq!(
            no_code.grant().unwrap_err().code(),
            OAuthErrorCode::InvalidRequest
        );
        let weird = TokenRequest {
            grant_type: Some("password".into()),
            ..Default::default()
        };
        assert_eq!(
            weird.grant(),
            Err(TokenRequestError::UnsupportedGrantType("password".into()))
        );
        assert_eq!(
            TokenRequest::client_credentials(SCOPE_SKILL_MESSAGING).grant(),
            Ok(Grant::ClientCredentials {
                scope: "alexa:skill_messaging".into()
            })
        );
    }

    #[test]
    fn expires_in_may_be_a_string() {
        let a: TokenResponse = serde_json::from_value(
            json!({"access_token": "Atza|a", "token_type": "bearer", "expires_in": "3600"}),
        )
        .unwrap();
        let b: TokenResponse = serde_json::from_value(
            json!({"access_token": "Atza|a", "token_type": "bearer", "expires_in": 3600}),
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(
            serde_json::from_value::<TokenResponse>(
                json!({"access_token": "a", "token_type": "bearer", "expires_in": "soon"})
            )
            .is_err()
        );
    }

    #[test]
    fn errors_read_and_print() {
        let e: TokenError = serde_json::from_value(json!({"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : code"})).unwrap();
        assert_eq!(e.error, OAuthErrorCode::InvalidGrant);
        assert_eq!(
            e.to_string(),
            "invalid_grant: The request has an invalid grant parameter : code"
        );
        assert_eq!(OAuthErrorCode::InvalidClient.status(), 401);
    }
}
