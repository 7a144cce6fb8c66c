//! HTTP plumbing shared by the handlers: the outbound client, bearer and Basic credentials,
//! and JSON answers.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;

/// The client the drivers use to call skills: no automatic redirects (the linking driver
/// follows them itself, to see where they go), a deadline, rustls.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("rask-sim/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these settings always builds")
}

/// The token of `Authorization: Bearer <token>`, if present.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The (id, secret) of `Authorization: Basic ...`: `Some(Err)` when the header is Basic but
/// unreadable.
pub fn basic(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ());
    Some(
        decoded
            .and_then(|d| String::from_utf8(d).map_err(|_| ()))
            .and_then(|s| {
                let (id, secret) = s.split_once(':').ok_or(())?;
                Ok((percent_decode(id), percent_decode(secret)))
            }),
    )
}

/// RFC 6749 §2.3.1 form-encodes the id and secret before Basic encoding.
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// A JSON answer with a status.
pub fn json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, axum::Json(body.clone())).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The body as JSON for the log: parsed if it is JSON, else the text.
pub fn body_for_log(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_from_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
        assert_eq!(basic(&h), None);
        let creds = base64::engine::general_purpose::STANDARD.encode("id%3A1:s%2Bcret");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {creds}")).unwrap(),
        );
        assert_eq!(basic(&h), Some(Ok(("id:1".into(), "s+cret".into()))));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic(&h), Some(Err(())));
    }
}
