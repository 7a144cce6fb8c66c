//! `POST /auth/o2/token`: every grant, both ways of client authentication, every documented
//! error with its status.

use serde_json::Value;

use crate::common::Harness;

async fn token(
    h: &Harness,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut r = h.http.post(format!("{}/auth/o2/token", h.url)).form(form);
    if let Some((id, secret)) = basic {
        r = r.basic_auth(id, Some(secret));
    }
    let r = r.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, r.json().await.unwrap(), headers)
}

#[tokio::test]
async fn client_credentials_in_the_body_and_by_basic() {
    let h = Harness::start().await;
    let (id, secret) = (h.lwa.0.as_str(), h.lwa.1.as_str());
    let (status, body, headers) = token(
        &h,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "alexa:skill_messaging"),
            ("client_id", id),
            ("client_secret", secret),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "alexa:skill_messaging");
    assert!(body["access_token"].as_str().unwrap().starts_with("Atc|"));
    assert_eq!(headers["cache-control"], "no-store");

    let (status, body, _) = token(
        &h,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "alexa::proactive_events"),
        ],
        Some((id, secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "alexa::proactive_events");
}

#[tokio::test]
async fn the_sdk_spelling_of_the_path_works() {
    let h = Harness::start().await;
    let r = h
        .http
        .post(format!("{}/auth/O2/token", h.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "alexa:skill_messaging"),
            ("client_id", &h.lwa.0),
            ("client_secret", &h.lwa.1),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn client_authentication_errors() {
    let h = Harness::start().await;
    let id = h.lwa.0.as_str();
    let cc = [
        ("grant_type", "client_credentials"),
        ("scope", "alexa:skill_messaging"),
    ];

    let (status, body, headers) = token(
        &h,
        &[cc[0], cc[1], ("client_id", id), ("client_secret", "wrong")],
        None,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(headers.get("www-authenticate").is_none());

    let (status, body, headers) = token(&h, &cc, Some((id, "wrong"))).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));

    let (status, body, _) = token(&h, &cc, None).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));

    let (status, body, _) = token(
        &h,
        &[cc[0], cc[1], ("client_id", id), ("client_secret", &h.lwa.1)],
        Some((id, &h.lwa.1)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "both Basic and body"
    );

    let r = h
        .http
        .post(format!("{}/auth/o2/token", h.url))
        .header("authorization", "Basic !!!notbase64")
        .form(&cc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // JSON instead of a form, credentials and all: the body is what is wrong, not the client.
    let json = serde_json::json!({"grant_type": "client_credentials", "scope": "alexa:skill_messaging",
                                   "client_id": id, "client_secret": h.lwa.1});
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        let r = h
            .http
            .post(format!("{}/auth/o2/token", h.url))
            .header("content-type", content_type)
            .body(json.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{content_type}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{content_type}: {body}");
    }
}

#[tokio::test]
async fn grant_errors() {
    let h = Harness::start().await;
    let auth = Some((h.lwa.0.as_str(), h.lwa.1.as_str()));
    let (s, b, _) = token(&h, &[("grant_type", "password"), ("username", "a")], auth).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (s, b, _) = token(&h, &[("scope", "alexa:skill_messaging")], auth).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_request")));
    let (s, b, _) = token(&h, &[("grant_type", "client_credentials")], auth).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_request")),
        "no scope"
    );
    let (s, b, _) = token(
        &h,
        &[("grant_type", "client_credentials"), ("scope", "profile")],
        auth,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_scope")));
    let (s, b, _) = token(
        &h,
        &[("grant_type", "authorization_code"), ("code", "ANnever-issued")],
        auth,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let (s, b, _) = token(
        &h,
        &[("grant_type", "refresh_token"), ("refresh_token", "Atzr|nope")],
        auth,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let (s, b, _) = token(&h, &[("grant_type", "authorization_code")], auth).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_request")),
        "no code"
    );

    let r = h
        .http
        .post(format!("{}/auth/o2/token", h.url))
        .basic_auth(&h.lwa.0, Some(&h.lwa.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=a&scope=b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"], "invalid_request");
}

#[tokio::test]
async fn grant_codes_are_single_use_and_refresh_tokens_work() {
    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;
    assert!(lwa.starts_with("Atza|") && lwa.len() >= 350);
    let refresh = h.skill.state.lock().unwrap().grants["alice"]
        .refresh_token
        .clone()
        .unwrap();
    let auth = Some((h.lwa.0.as_str(), h.lwa.1.as_str()));
    let (s, b, _) = token(
        &h,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        auth,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_ne!(b["access_token"].as_str().unwrap(), lwa);
    assert_eq!(
        b["refresh_token"].as_str().unwrap(),
        refresh,
        "LWA refresh tokens do not rotate"
    );

    // The grant code the skill already exchanged cannot be used again.
    let directive = h
        .skill
        .state
        .lock()
        .unwrap()
        .directives
        .iter()
        .rev()
        .find(|d| d["directive"]["header"]["name"] == "AcceptGrant")
        .cloned()
        .unwrap();
    let code = directive["directive"]["payload"]["grant"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b, _) = token(&h, &[("grant_type", "authorization_code"), ("code", &code)], auth).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    assert!(b["error_description"].as_str().unwrap().contains("already used"));
}

#[tokio::test]
async fn an_expired_grant_code_is_invalid_grant() {
    let config = rask_sim::SimConfig {
        // Expired the moment it is issued: whatever the machine's speed, the skill is too late.
        grant_code_lifetime: std::time::Duration::ZERO,
        ..Default::default()
    };
    let h = Harness::with_config(config).await;
    let l = h.link("alice", crate::common::PASSWORD).await;
    assert_eq!(l["linked"], true);
    let (_, g) = h
        .post(
            &format!("/sim/skills/{}/users/alice/grant", h.skill_id),
            serde_json::json!({}),
        )
        .await;
    // The skill answered ACCEPT_GRANT_FAILED because LWA refused the expired code.
    assert_eq!(
        g["received"]["event"]["payload"]["type"], "ACCEPT_GRANT_FAILED",
        "{g:#}"
    );
    let why = h.skill.state.lock().unwrap().grant_error.clone().unwrap();
    assert!(why.contains("invalid_grant") && why.contains("expired"), "{why}");
}

#[tokio::test]
async fn injected_faults() {
    let h = Harness::start().await;
    let (s, _) = h
        .post(
            "/sim/faults",
            serde_json::json!({"target": "lwa", "status": 503, "count": 2}),
        )
        .await;
    assert_eq!(s, 201);
    let auth = Some((h.lwa.0.as_str(), h.lwa.1.as_str()));
    let cc = [
        ("grant_type", "client_credentials"),
        ("scope", "alexa:skill_messaging"),
    ];
    for _ in 0..2 {
        let (s, b, _) = token(&h, &cc, auth).await;
        assert_eq!((s, b["error"].as_str()), (503, Some("temporarily_unavailable")));
    }
    let (s, _, _) = token(&h, &cc, auth).await;
    assert_eq!(s, 200, "the fault is used up");

    h.post(
        "/sim/faults",
        serde_json::json!({"target": "lwa", "status": 400, "code": "invalid_grant"}),
    )
    .await;
    let (s, b, _) = token(&h, &cc, auth).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));

    // The log shows every call, the secret redacted.
    let events = h.events("lwa").await;
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| !e.to_string().contains(&h.lwa.1)));
}
