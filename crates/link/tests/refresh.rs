//! What follows a refused or lost token request, on SQLite and PostgreSQL: a refused refresh
//! spends nothing; a refresh whose answer was lost can be retried within the grace window;
//! another client's code or refresh token is refused without being spent or revoking anything.

mod common;

use std::time::Duration;

use common::*;
use rask_link::TokenProblem;
use rask_store::testing;

async fn refresh(
    s: &Server,
    token: &str,
    extra: &[(&str, &str)],
    client: (&str, &str),
) -> (u16, serde_json::Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    let (st, v, _) = s.token(&form, Some(client)).await;
    (st, v)
}

#[tokio::test]
async fn a_refused_refresh_spends_nothing() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let t = s.exchange(&s.code(&[]).await).await;
        let token = t["refresh_token"].as_str().unwrap();
        // A scope never granted: refused...
        let (st, e) = refresh(&s, token, &[("scope", "lists")], (CLIENT, SECRET)).await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_scope")), "{e}");
        // ...by another client: refused...
        let (st, e) = refresh(&s, token, &[], (PLUS_CLIENT, PLUS_SECRET)).await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
        // ...and the token still works for its own client, once, as if nothing happened.
        let (st, r) = refresh(&s, token, &[], (CLIENT, SECRET)).await;
        assert_eq!(st, 200, "{r}");
        let v = s.validator.clone();
        assert_eq!(
            v.user(r["access_token"].as_str().unwrap()).await.unwrap().name,
            "alice"
        );
        assert_eq!(
            v.user(t["access_token"].as_str().unwrap()).await.unwrap().name,
            "alice",
            "the link was never revoked"
        );
    }
}

#[tokio::test]
async fn a_refresh_whose_answer_was_lost_is_retried_within_the_grace_window() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let t = s.exchange(&s.code(&[]).await).await;
        let token = t["refresh_token"].as_str().unwrap();
        let (st, lost) = refresh(&s, token, &[], (CLIENT, SECRET)).await;
        assert_eq!(st, 200);
        // Alexa never got that answer and tries again with the same token.
        let (st, again) = refresh(&s, token, &[], (CLIENT, SECRET)).await;
        assert_eq!(st, 200, "within the grace window: {again}");
        assert_ne!(again["refresh_token"], lost["refresh_token"]);
        let v = s.validator.clone();
        assert_eq!(
            v.user(again["access_token"].as_str().unwrap())
                .await
                .unwrap()
                .name,
            "alice"
        );
        assert_eq!(
            v.user(lost["access_token"].as_str().unwrap()).await,
            Err(TokenProblem::Unknown),
            "the pair nobody received is withdrawn"
        );
        let (st, _) = refresh(&s, lost["refresh_token"].as_str().unwrap(), &[], (CLIENT, SECRET)).await;
        assert_eq!(st, 400, "the withdrawn refresh token is no more");
        // The new pair goes on working.
        let (st, next) = refresh(
            &s,
            again["refresh_token"].as_str().unwrap(),
            &[],
            (CLIENT, SECRET),
        )
        .await;
        assert_eq!(st, 200, "{next}");
        // Its successor used, the first token coming back is a replay: the link is revoked.
        let (st, e) = refresh(&s, token, &[], (CLIENT, SECRET)).await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
        assert!(matches!(
            v.user(next["access_token"].as_str().unwrap()).await,
            Err(TokenProblem::Revoked(_))
        ));
    }
}

#[tokio::test]
async fn past_the_grace_window_an_old_refresh_token_revokes_the_link() {
    let store = rask_store::Store::connect(&testing::sqlite_url()).await.unwrap();
    let mut config = config();
    config.refresh_grace = Duration::from_millis(200);
    let s = Server::with_config(store, config).await;
    let t = s.exchange(&s.code(&[]).await).await;
    let token = t["refresh_token"].as_str().unwrap();
    let (_, r) = refresh(&s, token, &[], (CLIENT, SECRET)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (st, e) = refresh(&s, token, &[], (CLIENT, SECRET)).await;
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
    let v = s.validator.clone();
    assert!(matches!(
        v.user(r["access_token"].as_str().unwrap()).await,
        Err(TokenProblem::Revoked(_))
    ));
}

#[tokio::test]
async fn another_clients_code_is_refused_without_being_spent() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let code = s.code(&[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ];
        let (st, e, _) = s.token(&form, Some((PLUS_CLIENT, PLUS_SECRET))).await;
        assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
        // A wrong redirect_uri from the right client: refused, not spent either.
        let wrong = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            (
                "redirect_uri",
                "https://pitangui.amazon.com/api/skill/link/M2AAAAAAAAAAAA",
            ),
        ];
        let (st, _, _) = s.token(&wrong, Some((CLIENT, SECRET))).await;
        assert_eq!(st, 400);
        // The code still works for its own client.
        let t = s.exchange(&code).await;
        let v = s.validator.clone();
        assert_eq!(
            v.user(t["access_token"].as_str().unwrap()).await.unwrap().name,
            "alice"
        );
    }
}
