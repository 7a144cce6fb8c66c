//! The skill as an axum `Router`, to nest anywhere (`/alexa/skill` in rask).
//!
//! It takes the raw body bytes, so that the signature is checked over exactly what Alexa
//! signed, before anything parses them. A request that fails verification, is not an Alexa
//! request, or is for another skill gets 400 and one log line with the reason, never the body,
//! and no handler runs. Whatever the handlers do, a request that passes gets 200 and a valid
//! response.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rask_model::custom::RequestEnvelope;
use rask_model::limits::logged;

use crate::skill::Skill;
use crate::verify::Verifier;

/// The largest request body taken. Alexa's requests are a few KB.
pub const MAX_REQUEST_BYTES: usize = 128 * 1024;

#[derive(Clone)]
struct Hosted {
    skill: Skill,
    verifier: Option<Verifier>,
}

/// `POST /`: the skill's endpoint. `verifier: None` turns request verification off (for a
/// skill behind something that verifies already, or a test); say so loudly where it is set.
pub fn router(skill: Skill, verifier: Option<Verifier>) -> Router {
    Router::new()
        .route("/", post(endpoint))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(Hosted { skill, verifier })
}

/// 400, with the reason in the log only: the caller learns nothing about this server (a
/// mirror's address, say) from the answer.
fn refuse(why: impl std::fmt::Display) -> Response {
    tracing::warn!("a custom-skill request was refused: {why}");
    crate::metrics::request("unread", "refused");
    (
        StatusCode::BAD_REQUEST,
        "refused: not a valid Alexa request for this skill",
    )
        .into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn endpoint(State(h): State<Hosted>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(v) = &h.verifier {
        let cert_url = header_str(&headers, "SignatureCertChainUrl");
        let signature = header_str(&headers, "Signature-256");
        if let Err(e) = v.verify_signature(cert_url, signature, &body).await {
            return refuse(e);
        }
    }
    let envelope: RequestEnvelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        // Where and what kind, not serde's message, which quotes the body.
        Err(e) => {
            return refuse(format!(
                "not an Alexa request: {:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ));
        }
    };
    if let Some(v) = &h.verifier
        && let Err(e) = v.check_timestamp(&envelope)
    {
        return refuse(e);
    }
    match h.skill.skill_id() {
        Some(id) => {
            let session_app = envelope
                .session
                .as_ref()
                .map(|s| s.application.application_id.as_str());
            if envelope.application_id() != id || session_app.is_some_and(|s| s != id) {
                return refuse(format!(
                    "the request is for skill {}, not this one",
                    logged(envelope.application_id())
                ));
            }
        }
        // Verified but for any skill: another skill's genuine requests would be answered.
        None if h.verifier.is_some() => {
            return refuse("this skill has no skill id: set one with Skill::builder().skill_id(...)");
        }
        None => {}
    }
    // Named on every line logged while answering, where the server's request span has a
    // `user` field (rask serve's does).
    tracing::Span::current().record("user", &*logged(&envelope.context.system.user.user_id));
    let kind = crate::metrics::type_label(&envelope.request.body);
    let answer = h.skill.invoke(envelope).await;
    crate::metrics::request(
        kind,
        if answer.error.is_some() {
            "failed"
        } else {
            "answered"
        },
    );
    // Nobody hears the apology for a message or a skill event; a 500 makes Alexa send it again.
    let status = if answer.retry {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    (status, [(header::CONTENT_TYPE, "application/json")], answer.bytes).into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::{Value, json};

    use super::*;
    use crate::verify::testkit::*;
    use crate::{HandlerInput, ResponseBuilder};

    const SKILL: &str = "amzn1.ask.skill.test";

    fn body(skill: &str, timestamp: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "version": "1.0",
            "session": {"new": true, "sessionId": "s", "application": {"applicationId": skill},
                        "user": {"userId": "u"}},
            "context": {"System": {"application": {"applicationId": skill}, "user": {"userId": "u"}}},
            "request": {"type": "LaunchRequest", "requestId": "r", "timestamp": timestamp, "locale": "en-US"}
        }))
        .unwrap()
    }

    /// The skill on loopback, and how many times its handler ran.
    async fn serve(verify: bool) -> (String, Arc<AtomicUsize>) {
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let skill = Skill::builder()
            .skill_id(SKILL)
            .on_launch(move |_: HandlerInput| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Ok(ResponseBuilder::new().speak("Welcome.")) }
            })
            .build();
        let verifier = if verify {
            let p = pki(crate::verify::SIGNER_NAME, CA_KEY, SIGNER_KEY);
            Some(verifier(&p, at(2026, 6, 1)).await.0)
        } else {
            None
        };
        let app = Router::new().nest("/alexa/skill", router(skill, verifier));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/alexa/skill"), ran)
    }

    async fn post(url: &str, body: Vec<u8>, headers: &[(&str, String)]) -> (u16, String) {
        let mut r = reqwest::Client::new().post(url).body(body);
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let resp = r.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    type Headers = Vec<(&'static str, String)>;

    fn signed(body: &[u8]) -> Headers {
        vec![
            ("SignatureCertChainUrl", CERT_URL.to_owned()),
            ("Signature-256", sign(SIGNER_KEY, body)),
        ]
    }

    #[tokio::test]
    async fn a_signed_request_is_answered_and_every_forgery_refused_before_any_handler() {
        let (url, ran) = serve(true).await;
        let good = body(SKILL, "2026-06-01T00:00:10Z");
        let (status, text) = post(&url, good.clone(), &signed(&good)).await;
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["response"]["outputSpeech"]["text"], "Welcome.");
        assert_eq!(ran.load(Ordering::SeqCst), 1);

        let mut changed = good.clone();
        changed.extend_from_slice(b" ");
        let old = body(SKILL, "2026-05-31T23:50:00Z");
        let other = body("amzn1.ask.skill.other", "2026-06-01T00:00:10Z");
        let cases: Vec<(&str, Vec<u8>, Headers, &str)> = vec![
            (
                "unsigned",
                good.clone(),
                vec![],
                "SignatureCertChainUrl header is missing",
            ),
            (
                "a changed body",
                changed,
                signed(&good),
                "does not match the body",
            ),
            (
                "an old timestamp",
                old.clone(),
                signed(&old),
                "request.timestamp is 600 s from now",
            ),
            (
                "another skill's id",
                other.clone(),
                signed(&other),
                "is for skill amzn1.ask.skill.other",
            ),
            (
                "a bad certificate URL",
                good.clone(),
                vec![
                    (
                        "SignatureCertChainUrl",
                        "https://s3.amazonaws.com:563/echo.api/c.pem".into(),
                    ),
                    ("Signature-256", sign(SIGNER_KEY, &good)),
                ],
                "must use port 443",
            ),
            (
                "a stranger's signature",
                good.clone(),
                vec![
                    ("SignatureCertChainUrl", CERT_URL.to_owned()),
                    ("Signature-256", sign(STRANGER_KEY, &good)),
                ],
                "does not match the body",
            ),
        ];
        for (what, b, h, why) in cases {
            let (status, text) = post(&url, b, &h).await;
            assert_eq!(status, 400, "{what}: {text}");
            // The reason is logged, never told to the caller.
            assert_eq!(
                text, "refused: not a valid Alexa request for this skill",
                "{what} ({why})"
            );
        }
        assert_eq!(ran.load(Ordering::SeqCst), 1, "no handler ran for any of them");
    }

    #[tokio::test]
    async fn a_verified_skill_without_an_id_answers_no_one() {
        let skill = Skill::builder()
            .on_launch(|_: HandlerInput| async { Ok(ResponseBuilder::new().speak("anyone")) })
            .build();
        let p = pki(crate::verify::SIGNER_NAME, CA_KEY, SIGNER_KEY);
        let v = verifier(&p, at(2026, 6, 1)).await.0;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(skill, Some(v))).await });
        let b = body("amzn1.ask.skill.anyone", "2026-06-01T00:00:10Z");
        let (status, _) = post(&url, b.clone(), &signed(&b)).await;
        assert_eq!(status, 400, "a genuine request for another skill");
    }

    #[tokio::test]
    async fn arbitrary_bytes_get_a_400_never_a_panic() {
        let (url, ran) = serve(false).await;
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut bodies: Vec<Vec<u8>> = vec![
            vec![],
            b"null".to_vec(),
            b"{}".to_vec(),
            b"[]".to_vec(),
            vec![0xff, 0xfe, 0x00],
            br#"{"version":"1.0","context":{},"request":{}}"#.to_vec(),
            br#"{"version":"1.0","context":{"System":{"application":{"applicationId":1}}},"request":{"type":"LaunchRequest"}}"#.to_vec(),
        ];
        for len in [1usize, 7, 64, 1000, 5000] {
            bodies.push(
                (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect(),
            );
        }
        for b in bodies {
            let (status, _) = post(&url, b, &[]).await;
            assert_eq!(status, 400);
        }
        let (status, _) = post(&url, vec![b' '; MAX_REQUEST_BYTES + 1], &[]).await;
        assert_eq!(status, 413);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        // Still serving, and verification off still checks the skill id.
        let (status, _) = post(&url, body(SKILL, "2020-01-01T00:00:00Z"), &[]).await;
        assert_eq!(status, 200);
        let (status, _) = post(&url, body("amzn1.ask.skill.other", "2020-01-01T00:00:00Z"), &[]).await;
        assert_eq!(status, 400);
    }
}
