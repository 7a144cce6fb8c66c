//! Login with Amazon: `POST /auth/o2/token`.
//!
//! Grants: authorization_code (the codes the sim puts in `AcceptGrant`), refresh_token, and
//! client_credentials for `alexa:skill_messaging` and `alexa::proactive_events`. Client
//! credentials by HTTP Basic or in the body, not both. Errors as RFC 6749 §5.2 JSON:
//! `invalid_client` is 401 (with `WWW-Authenticate` when Basic was used), the rest 400.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use rask_model::lwa::{OAuthErrorCode, TokenError, TokenRequest};
use serde_json::json;

use crate::Sim;
use crate::faults::Target;
use crate::http::{self, body_for_log};
use crate::log::Entry;

/// `POST /auth/o2/token` (also `/auth/O2/token`, as Amazon's SDKs spell it).
pub async fn post_token(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(injected) = crate::faults::inject(&sim, Target::Lwa).await {
        let entry = Entry::new("lwa", injected.status, body_for_log(&body));
        if let Some(r) = injected.raw_response(&sim, entry) {
            return r;
        }
        let status = injected.status;
        let code = injected
            .code
            .map(|c| OAuthErrorCode::from(c.as_str()))
            .unwrap_or_else(|| default_code(status));
        let err = TokenError::new(code, "injected by rask sim");
        return answer(&sim, status, Err(err), false, &body, Some("fault injected"));
    }
    let basic = http::basic(&headers);
    // A JSON body would parse as a form of one odd key, and then lack credentials: say what
    // is really wrong with it.
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let not_form = content_type
        .as_deref()
        .is_some_and(|t| t != "application/x-www-form-urlencoded")
        || body
            .trim_ascii_start()
            .first()
            .is_some_and(|b| matches!(b, b'{' | b'['));
    if not_form {
        let err = TokenError::new(
            OAuthErrorCode::InvalidRequest,
            "The request body is not a form: send application/x-www-form-urlencoded",
        );
        return answer(&sim, 400, Err(err), false, &body, None);
    }
    let request: TokenRequest = match serde_urlencoded::from_bytes(&body) {
        Ok(r) => r,
        Err(e) => {
            let err = TokenError::new(
                OAuthErrorCode::InvalidRequest,
                format!("The request body is not a form: {e}"),
            );
            return answer(&sim, 400, Err(err), false, &body, None);
        }
    };
    let used_basic = basic.is_some();
    let creds = match (basic, &request.client_id, &request.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(TokenError::new(
            OAuthErrorCode::InvalidRequest,
            "Client credentials were sent both by HTTP Basic and in the body; use one",
        )),
        (Some(Ok(pair)), None, None) => Ok(pair),
        (Some(Err(())), ..) => Err(TokenError::new(
            OAuthErrorCode::InvalidClient,
            "The Authorization header is not valid HTTP Basic",
        )),
        (None, Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
        (None, ..) => Err(TokenError::new(
            OAuthErrorCode::InvalidClient,
            "Client authentication failed: no client credentials",
        )),
    };
    let outcome = creds.and_then(|(id, secret)| {
        let grant = request
            .grant()
            .map_err(|e| TokenError::new(e.code(), e.to_string()))?;
        sim.world().lwa_token(&id, &secret, grant, Instant::now())
    });
    let status = match &outcome {
        Ok(_) => 200,
        Err(e) => e.error.status(),
    };
    answer(&sim, status, outcome, used_basic, &body, None)
}

fn default_code(status: u16) -> OAuthErrorCode {
    match status {
        401 => OAuthErrorCode::InvalidClient,
        500 => OAuthErrorCode::ServerError,
        503 | 429 => OAuthErrorCode::TemporarilyUnavailable,
        _ => OAuthErrorCode::InvalidRequest,
    }
}

fn answer(
    sim: &Sim,
    status: u16,
    outcome: Result<rask_model::lwa::TokenResponse, TokenError>,
    used_basic: bool,
    body: &[u8],
    note: Option<&str>,
) -> Response {
    let status_code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    // The log never shows the client secret the caller sent.
    let mut logged = body_for_log(body);
    if let serde_json::Value::String(s) = &logged {
        let redacted: Vec<(String, String)> = url::form_urlencoded::parse(s.as_bytes())
            .map(|(k, v)| {
                let v = if k == "client_secret" {
                    "[redacted]".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        logged = serde_json::Value::Object(
            redacted
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        );
    }
    let mut entry = Entry::new("lwa", status, logged);
    let response = match outcome {
        Ok(t) => {
            entry.name = Some("token".into());
            http::json(status_code, &json!(t))
        }
        Err(e) => {
            entry = entry.error(format!(
                "{}{}",
                e,
                note.map(|n| format!(" ({n})")).unwrap_or_default()
            ));
            let mut r = http::json(status_code, &json!(e));
            if status == 401 && used_basic {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Login with Amazon\""),
                );
            }
            r
        }
    };
    sim.world().log.push(entry);
    response
}
