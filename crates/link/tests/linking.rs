//! Account linking over real HTTP on loopback, on SQLite and PostgreSQL: the flow, refresh,
//! revocation, the validator, and every error the issue names.

mod common;

use common::*;
use rask_link::TokenProblem;
use rask_store::testing;

#[tokio::test]
async fn the_code_flow_then_refresh_then_revoke() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let code = s.code(&[]).await;
        let t = s.exchange(&code).await;
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["expires_in"], 3600);
        assert_eq!(t["scope"], "smart_home");
        let access = t["access_token"].as_str().unwrap().to_owned();
        assert!(access.len() >= 43, "256 random bits");

        let v = s.validator.clone();
        assert_eq!(v.user(&access).await.unwrap().name, "alice");
        assert_eq!(v.user("nonsense").await.unwrap_err(), TokenProblem::Unknown);

        let refresh = t["refresh_token"].as_str().unwrap();
        let (st, r, h) = s
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        assert_eq!(h["cache-control"], "no-store");
        assert_ne!(r["refresh_token"], t["refresh_token"], "rotated");
        assert_eq!(
            v.user(r["access_token"].as_str().unwrap()).await.unwrap().name,
            "alice"
        );

        // RFC 7009: revoking the new refresh token ends the whole link.
        let rv = reqwest::Client::new()
            .post(format!("{}/oauth/revoke", s.url))
            .basic_auth(CLIENT, Some(SECRET))
            .form(&[("token", r["refresh_token"].as_str().unwrap())])
            .send()
            .await
            .unwrap();
        assert_eq!(rv.status(), 200);
        assert!(matches!(v.user(&access).await, Err(TokenProblem::Revoked(_))));
        let rv = reqwest::Client::new()
            .post(format!("{}/oauth/revoke", s.url))
            .basic_auth(CLIENT, Some(SECRET))
            .form(&[("token", "unknown")])
            .send()
            .await
            .unwrap();
        assert_eq!(rv.status(), 200, "unknown tokens are fine to revoke");

        let log = s.store.link_log(20).await.unwrap();
        let steps: Vec<&str> = log.iter().rev().map(|e| e.step.as_str()).collect();
        assert_eq!(
            steps,
            [
                "authorize",
                "login",
                "consent",
                "token",
                "refresh",
                "revoke",
                "revoke"
            ],
            "{log:#?}"
        );
        assert!(
            log.iter()
                .all(|e| !e.detail.contains(&access) && !e.detail.contains("st4te"))
        );
    }
}

#[tokio::test]
async fn a_code_used_twice_revokes_what_it_issued() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let code = s.code(&[]).await;
        let t = s.exchange(&code).await;
        let (st, e, _) = s
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
        let v = s.validator.clone();
        assert!(
            matches!(v.user(t["access_token"].as_str().unwrap()).await, Err(TokenProblem::Revoked(r)) if r.contains("used twice"))
        );
        let (st, _, _) = s
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", t["refresh_token"].as_str().unwrap()),
                ],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!(st, 400, "the refresh token went with it");
    }
}

#[tokio::test]
async fn an_old_refresh_token_used_again_revokes_the_family() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let t = s.exchange(&s.code(&[]).await).await;
        let old = t["refresh_token"].as_str().unwrap();
        let (_, r, _) = s
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", old)],
                Some((CLIENT, SECRET)),
            )
            .await;
        // Its successor is used: the old one coming back now is a replay, not a lost answer.
        let (_, r, _) = s
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", r["refresh_token"].as_str().unwrap()),
                ],
                Some((CLIENT, SECRET)),
            )
            .await;
        let (st, e, _) = s
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", old)],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
        let newest = r["refresh_token"].as_str().unwrap();
        let (st, e, _) = s
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", newest)],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!(st, 400, "the whole family is revoked: {e}");
        assert!(e["error_description"].as_str().unwrap().contains("revoked"));
    }
}

#[tokio::test]
async fn client_authentication_errors() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let code = s.code(&[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let (st, e, h) = s.token(&form, Some((CLIENT, "wrong"))).await;
        assert_eq!((st, e["error"].as_str()), (401, Some("invalid_client")));
        assert_eq!(h["www-authenticate"], "Basic realm=\"rask\"");
        let mut body = form.to_vec();
        body.extend([("client_id", BODY_CLIENT), ("client_secret", "wrong")]);
        let (st, e, h) = s.token(&body, None).await;
        assert_eq!((st, e["error"].as_str()), (401, Some("invalid_client")));
        assert!(h.get("www-authenticate").is_none(), "no Basic was tried");
        // This client is configured for Basic only.
        let mut body = form.to_vec();
        body.extend([("client_id", CLIENT), ("client_secret", SECRET)]);
        let (st, e, _) = s.token(&body, None).await;
        assert_eq!((st, e["error"].as_str()), (401, Some("invalid_client")));
        assert!(e["error_description"].as_str().unwrap().contains("HTTP Basic"));
        let (st, e, _) = s.token(&form, None).await;
        assert_eq!((st, e["error"].as_str()), (401, Some("invalid_client")));
        let (st, e, _) = s.token(&body, Some((CLIENT, SECRET))).await;
        assert_eq!(
            (st, e["error"].as_str()),
            (400, Some("invalid_request")),
            "both at once"
        );
        // The code was not spent by the failed attempts.
        s.exchange(&code).await;
    }
}

#[tokio::test]
async fn grant_errors() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let auth = Some((CLIENT, SECRET));
        let (st, e, _) = s.token(&[("grant_type", "password")], auth).await;
        assert_eq!((st, e["error"].as_str()), (400, Some("unsupported_grant_type")));
        let (st, e, _) = s.token(&[("code", "x")], auth).await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_request")));
        let (st, e, _) = s
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", "never-issued"),
                    ("redirect_uri", REDIRECT),
                ],
                auth,
            )
            .await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));

        let code = s.code(&[]).await;
        let (st, e, _) = s
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    (
                        "redirect_uri",
                        "https://pitangui.amazon.com/api/skill/link/M2AAAAAAAAAAAA",
                    ),
                ],
                auth,
            )
            .await;
        assert_eq!(
            (st, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "bound to its redirect_uri"
        );

        let t = s.exchange(&s.code(&[]).await).await;
        let (st, e, _) = s
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", t["refresh_token"].as_str().unwrap()),
                    ("scope", "admin"),
                ],
                auth,
            )
            .await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_scope")));

        let r = reqwest::Client::new()
            .post(format!("{}/oauth/token", s.url))
            .basic_auth(CLIENT, Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=a&grant_type=b")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    for store in testing::both().await {
        let config = rask_link::LinkConfig {
            code_lifetime: std::time::Duration::from_millis(1),
            ..config()
        };
        let s = Server::with_config(store, config).await;
        let code = s.code(&[]).await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let (st, e, _) = s
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
        assert!(e["error_description"].as_str().unwrap().contains("expired"));
    }
}

#[tokio::test]
async fn pkce() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = rask_link::pkce::challenge(verifier);
        let pk = [
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let code = s.code(&pk).await;
        let form = |v: &'static str, code: &str| {
            vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code.to_string()),
                ("redirect_uri", REDIRECT.to_string()),
                ("code_verifier", v.to_string()),
            ]
        };
        let wrong = form("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &code);
        let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (st, e, _) = s.token(&wrong, Some((CLIENT, SECRET))).await;
        assert_eq!(
            (st, e["error"].as_str()),
            (400, Some("invalid_grant")),
            "PKCE mismatch"
        );
        assert!(e["error_description"].as_str().unwrap().contains("code_verifier"));

        let code = s.code(&pk).await;
        let right = form(verifier, &code);
        let right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (st, _, _) = s.token(&right, Some((CLIENT, SECRET))).await;
        assert_eq!(st, 200);

        let code = s.code(&pk).await;
        let (st, _, _) = s
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!(st, 400, "the verifier is required once a challenge was sent");
    }
}

#[tokio::test]
async fn authorize_errors_are_shown_or_redirected_as_rfc_6749_says() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let b = s.browser();
        // A redirect_uri off the list is shown to the user, never followed.
        let bad = s.authorize_url(&[]).replace("layla.amazon.com", "evil.example");
        let r = b.get(&bad).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none());
        assert!(r.text().await.unwrap().contains("not an allowed redirect URI"));
        let r = b
            .get(
                s.authorize_url(&[])
                    .replace("client_id=alexa", "client_id=mallory"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);

        let r = b
            .get(
                s.authorize_url(&[])
                    .replace("response_type=code", "response_type=token"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        let loc = r.headers()["location"].to_str().unwrap();
        assert!(
            loc.starts_with(&format!("{REDIRECT}?error=unsupported_response_type"))
                && loc.ends_with("state=st4te"),
            "{loc}"
        );
        let r = b
            .get(s.authorize_url(&[]).replace("state=st4te&", ""))
            .send()
            .await
            .unwrap();
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .contains("error=invalid_request")
        );
        let r = b
            .get(s.authorize_url(&[]).replace("scope=smart_home", "scope=admin"))
            .send()
            .await
            .unwrap();
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .contains("error=invalid_scope")
        );

        // Denying consent goes back with access_denied.
        let page = b
            .get(s.authorize_url(&[]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let consent = s
            .submit(&b, &page, |f| f.fill_login("alice", PASSWORD))
            .await
            .text()
            .await
            .unwrap();
        let deny = s
            .submit(&b, &consent, |f| {
                let mut v: Vec<(String, String)> = f
                    .fields
                    .iter()
                    .map(|x| (x.name.clone(), x.value.clone()))
                    .collect();
                v.push(("decision".into(), "deny".into()));
                v
            })
            .await;
        assert!(
            deny.headers()["location"]
                .to_str()
                .unwrap()
                .contains("error=access_denied")
        );
    }
}

#[tokio::test]
async fn pages_need_their_csrf_token_and_cookies_are_strict() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let b = s.browser();
        let r = b.get(s.authorize_url(&[])).send().await.unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/oauth"),
            "{cookie}"
        );
        assert!(!cookie.contains("Secure"), "plain HTTP in this test");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let html = r.text().await.unwrap();
        let forged = s
            .submit(&b, &html, |f| {
                f.fill_login("alice", PASSWORD)
                    .into_iter()
                    .map(|(k, v)| if k == "csrf" { (k, "forged".into()) } else { (k, v) })
                    .collect()
            })
            .await;
        assert_eq!(forged.status(), 400);
        assert!(
            forged
                .text()
                .await
                .unwrap()
                .contains("expired or did not come from this site")
        );
        // Another browser, without the session cookie, is refused too.
        let other = s
            .submit(&s.browser(), &html, |f| f.fill_login("alice", PASSWORD))
            .await;
        assert_eq!(other.status(), 400);
        let log = s.store.link_log(5).await.unwrap();
        assert!(log.iter().any(|e| e.step == "csrf" && !e.ok));
    }
}

#[tokio::test]
async fn wrong_passwords_are_rate_limited_with_a_clear_message() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let b = s.browser();
        let mut html = b
            .get(s.authorize_url(&[]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for i in 0..5 {
            let r = s
                .submit(&b, &html, |f| f.fill_login("alice", "wrong password"))
                .await;
            assert_eq!(r.status(), 200, "attempt {i}");
            html = r.text().await.unwrap();
            assert!(html.contains("Wrong user name or password."));
        }
        let r = s.submit(&b, &html, |f| f.fill_login("alice", PASSWORD)).await;
        assert_eq!(r.status(), 429, "locked even with the right password");
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Too many failed sign-ins for this account. Try again in 15 minutes.")
        );
        let log = s.store.link_log(10).await.unwrap();
        assert!(
            log.iter()
                .any(|e| e.step == "login" && e.detail == "wrong password")
        );
        assert!(
            log.iter()
                .any(|e| e.step == "login" && e.detail.starts_with("refused: Too many"))
        );
    }
}

#[tokio::test]
async fn expired_access_tokens_are_told_apart() {
    for store in testing::both().await {
        let config = rask_link::LinkConfig {
            access_token_lifetime: std::time::Duration::from_millis(1),
            ..config()
        };
        let s = Server::with_config(store, config).await;
        let t = s.exchange(&s.code(&[]).await).await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let v = s.validator.clone();
        assert_eq!(
            v.user(t["access_token"].as_str().unwrap()).await.unwrap_err(),
            TokenProblem::Expired
        );
    }
}

#[tokio::test]
async fn a_refresh_token_dies_only_after_going_unused_for_its_idle_life() {
    for store in testing::both().await {
        let config = rask_link::LinkConfig {
            refresh_idle_lifetime: std::time::Duration::from_millis(400),
            ..config()
        };
        let s = Server::with_config(store, config).await;
        let mut refresh = s.exchange(&s.code(&[]).await).await["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        // Used every 250 ms, it outlives its 400 ms idle life many times over.
        for _ in 0..4 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let (st, r, _) = s
                .token(
                    &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                    Some((CLIENT, SECRET)),
                )
                .await;
            assert_eq!(st, 200, "{r}");
            refresh = r["refresh_token"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (st, e, _) = s
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
        assert!(
            e["error_description"]
                .as_str()
                .unwrap()
                .contains("unused for too long")
        );
    }
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let store = rask_store::Store::connect(&testing::sqlite_url()).await.unwrap();
    let s = Server::with_config(
        store,
        rask_link::LinkConfig {
            secure_cookies: true,
            ..config()
        },
    )
    .await;
    let r = s.browser().get(s.authorize_url(&[])).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
}

#[tokio::test]
async fn basic_secrets_work_whether_or_not_the_client_form_encodes_them() {
    let store = rask_store::Store::connect(&testing::sqlite_url()).await.unwrap();
    let s = Server::start(store).await;
    let cc = [("grant_type", "refresh_token"), ("refresh_token", "none")];
    // As sent by curl -u and Python's HTTPBasicAuth: raw.
    let (st, e, _) = s.token(&cc, Some((PLUS_CLIENT, PLUS_SECRET))).await;
    assert_eq!(
        (st, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "authenticated, then the grant fails: {e}"
    );
    // As RFC 6749 §2.3.1 says: form-encoded first.
    let encoded: String = url::form_urlencoded::byte_serialize(PLUS_SECRET.as_bytes()).collect();
    let (st, _, _) = s.token(&cc, Some((PLUS_CLIENT, &encoded))).await;
    assert_eq!(st, 400, "authenticated");
    let (st, e, _) = s.token(&cc, Some((PLUS_CLIENT, "ab cd/ef+=="))).await;
    assert_eq!((st, e["error"].as_str()), (401, Some("invalid_client")));
}

#[tokio::test]
async fn a_client_id_repeated_in_the_body_is_fine_a_different_one_is_not() {
    let store = rask_store::Store::connect(&testing::sqlite_url()).await.unwrap();
    let s = Server::start(store).await;
    let code = s.code(&[]).await;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", "someone-else"),
    ];
    let (st, e, _) = s.token(&form, Some((CLIENT, SECRET))).await;
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_request")));
    form[3] = ("client_id", CLIENT);
    let (st, e, _) = s.token(&form, Some((CLIENT, SECRET))).await;
    assert_eq!(st, 200, "{e}");
}

#[tokio::test]
async fn a_verifier_for_a_code_without_a_challenge_is_a_downgrade() {
    let store = rask_store::Store::connect(&testing::sqlite_url()).await.unwrap();
    let s = Server::start(store).await;
    let code = s.code(&[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
    ];
    let (st, e, _) = s.token(&form, Some((CLIENT, SECRET))).await;
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn only_the_owning_client_revokes_or_replays() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let code = s.code(&[]).await;
        let t = s.exchange(&code).await;
        let access = t["access_token"].as_str().unwrap();
        let r = reqwest::Client::new()
            .post(format!("{}/oauth/revoke", s.url))
            .basic_auth(PLUS_CLIENT, Some(PLUS_SECRET))
            .form(&[("token", access)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["error"], "unauthorized_client");
        // Another client presenting the spent code cannot revoke alice's link either.
        let (st, _, _) = s
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ],
                Some((PLUS_CLIENT, PLUS_SECRET)),
            )
            .await;
        assert_eq!(st, 400);
        assert_eq!(s.validator.clone().user(access).await.unwrap().name, "alice");
    }
}

#[tokio::test]
async fn signing_in_rotates_the_session_and_deciding_ends_it() {
    let store = rask_store::Store::connect(&testing::sqlite_url()).await.unwrap();
    let s = Server::start(store).await;
    let b = s.browser();
    let first = b.get(s.authorize_url(&[])).send().await.unwrap();
    let before = first.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = first.text().await.unwrap();
    let consent = s.submit(&b, &html, |f| f.fill_login("alice", PASSWORD)).await;
    let after = consent.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(before, after, "a new session id at sign-in");
    let html = consent.text().await.unwrap();
    let done = s.submit(&b, &html, |f| f.fill_consent()).await;
    assert_eq!(done.status(), 302);
    // The same browser linking again must sign in again.
    let again = b
        .get(s.authorize_url(&[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("Sign in to rask"), "{again}");
}

#[tokio::test]
async fn parallel_wrong_passwords_cannot_outrun_the_limit() {
    let store = rask_store::Store::connect(&testing::sqlite_url()).await.unwrap();
    let s = Server::start(store).await;
    let b = s.browser();
    let html = b
        .get(s.authorize_url(&[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = rask_sim::drivers::form::forms(&html)
        .remove(0)
        .fill_login("alice", "wrong password");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (b, url, form) = (b.clone(), format!("{}/oauth/authorize", s.url), form.clone());
        tasks.push(tokio::spawn(async move {
            b.post(url).form(&form).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let tried = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        tried <= 5,
        "at most 5 attempts reached the password check: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 429, 503].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn sign_ins_turned_away_as_busy_do_not_lock_the_account() {
    let store = rask_store::Store::connect(&testing::sqlite_url()).await.unwrap();
    let s = Server::start(store).await;
    let b = s.browser();
    let html = b
        .get(s.authorize_url(&[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = rask_sim::drivers::form::forms(&html)
        .remove(0)
        .fill_login("alice", PASSWORD);
    // More at once than there are password-check slots: some are turned away unjudged.
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (b, url, form) = (b.clone(), format!("{}/oauth/authorize", s.url), form.clone());
        tasks.push(tokio::spawn(async move {
            b.post(url).form(&form).send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(
        statuses.contains(&503),
        "the crowd outran the password-check slots: {statuses:?}"
    );
    assert!(!statuses.contains(&429), "{statuses:?}");
    // The person trying once more, alone, gets in: the busy refusals counted against nobody.
    let r = s.walk(&s.browser(), &s.authorize_url(&[]), PASSWORD).await;
    assert_eq!(r.status(), 302, "signed in and sent back to Alexa");
    Server::code_of(&r);
}
