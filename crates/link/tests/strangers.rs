//! What strangers can make the token endpoint keep: every logged field is bounded, and a flood
//! of failed requests from one address is turned away before any work is spent on it.

mod common;

use common::*;
use rask_store::testing;

#[tokio::test]
async fn a_megabyte_client_id_is_logged_as_two_hundred_characters() {
    for store in testing::both().await {
        let s = Server::start(store).await;
        let huge = "x".repeat(1024 * 1024 - 64);
        for _ in 0..20 {
            let (st, e, _) = s
                .token(
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", "c"),
                        ("client_id", &huge),
                        ("client_secret", "s"),
                    ],
                    None,
                )
                .await;
            assert_eq!((st, e["error"].as_str()), (401, Some("invalid_client")), "{e}");
        }
        let log = s.store.link_log(100).await.unwrap();
        assert_eq!(log.len(), 20);
        let kept: usize = log
            .iter()
            .map(|e| e.client_id.as_deref().unwrap_or("").len() + e.detail.len())
            .sum();
        assert!(kept < 20 * 600, "20 MB in, {kept} bytes kept");
        let first = &log[0];
        assert!(
            first
                .client_id
                .as_deref()
                .unwrap()
                .ends_with("(cut, 1048512 characters in all)"),
            "{:?}",
            first.client_id
        );
        assert!(first.detail.contains("(cut,"), "{}", first.detail);
    }
}

#[tokio::test]
async fn failed_token_requests_from_one_address_are_limited() {
    let store = rask_store::Store::connect(&testing::sqlite_url()).await.unwrap();
    let mut config = config();
    config.token_limits.per_address = 5;
    let s = Server::with_config(store, config).await;
    // A working exchange does not count against the address.
    let t = s.exchange(&s.code(&[]).await).await;
    for _ in 0..5 {
        let (st, _, _) = s
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
                Some((CLIENT, SECRET)),
            )
            .await;
        assert_eq!(st, 400);
    }
    let (st, e, h) = s
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
    assert_eq!(st, 429, "{e}");
    assert!(
        e["error_description"].as_str().unwrap().contains("try again in"),
        "{e}"
    );
    assert!(h.contains_key("retry-after"));
    let logged = s.store.link_log(100).await.unwrap().len();
    let (st, _, _) = s
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
            Some((CLIENT, SECRET)),
        )
        .await;
    assert_eq!(st, 429);
    assert_eq!(
        s.store.link_log(100).await.unwrap().len(),
        logged,
        "a refused flood writes nothing"
    );
    // The refused request spent nothing: the refresh token still works for its client (here,
    // once the address's window has passed; a new server stands for that).
    let fresh = Server::with_config(s.store.clone(), common::config()).await;
    let (st, _, _) = fresh
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
    assert_eq!(st, 200);
}
