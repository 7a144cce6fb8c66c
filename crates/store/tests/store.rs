//! The store's promises, on SQLite and on PostgreSQL alike.

use rask_store::oauth::{NewCode, NewFamily, NewTokens};
use rask_store::{Store, StoreError, digest, now_ms, testing};

async fn user(s: &Store, name: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    s.add_user(&id, name, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
        .await
        .unwrap();
    id
}

fn tokens(tag: &str) -> NewTokens {
    NewTokens {
        access_hash: digest(&format!("a-{tag}")),
        access_expires_at: now_ms() + 60_000,
        refresh_hash: digest(&format!("r-{tag}")),
    }
}

#[tokio::test]
async fn users_are_unique_by_name() {
    for s in testing::both().await {
        let id = user(&s, "alice").await;
        assert_eq!(s.user_by_name("alice").await.unwrap().unwrap().id, id);
        assert_eq!(s.user_by_id(&id).await.unwrap().unwrap().name, "alice");
        let again = s.add_user("other-id", "alice", "x").await;
        assert!(
            matches!(again, Err(StoreError::Duplicate(_))),
            "{:?}: {again:?}",
            s.backend()
        );
        assert!(s.user_by_name("bob").await.unwrap().is_none());
        assert!(s.set_password("alice", "new").await.unwrap());
        assert_eq!(s.users().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_code_is_spent_once_even_when_raced() {
    for s in testing::both().await {
        let uid = user(&s, "alice").await;
        let code = NewCode {
            code_hash: digest("the-code"),
            client_id: "alexa".into(),
            user_id: uid.clone(),
            redirect_uri: "https://layla.amazon.com/api/skill/link/M1".into(),
            scope: "devices".into(),
            code_challenge: None,
            expires_at: now_ms() + 600_000,
        };
        s.insert_code(&code).await.unwrap();
        let now = now_ms();
        let mut handles = Vec::new();
        for i in 0..8 {
            let (s, uid, hash) = (s.clone(), uid.clone(), code.code_hash.clone());
            handles.push(tokio::spawn(async move {
                let family = NewFamily {
                    id: format!("fam-{i}"),
                    client_id: "alexa".into(),
                    user_id: uid,
                    scope: "devices".into(),
                };
                s.issue_family(&family, Some(&hash), &tokens(&format!("c{i}")), now)
                    .await
                    .unwrap()
            }));
        }
        let mut won = 0;
        for h in handles {
            won += h.await.unwrap() as usize;
        }
        assert_eq!(won, 1, "{:?}", s.backend());
        let stored = s.code(&code.code_hash).await.unwrap().unwrap();
        assert!(stored.used_at.is_some() && stored.family_id.is_some());
        assert!(s.code(&digest("never")).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn families_tokens_rotation_and_revocation() {
    for s in testing::both().await {
        let uid = user(&s, "alice").await;
        let now = now_ms();
        let family = NewFamily {
            id: "fam-1".into(),
            client_id: "alexa".into(),
            user_id: uid.clone(),
            scope: "devices".into(),
        };
        assert!(s.issue_family(&family, None, &tokens("1"), now).await.unwrap());
        let a = s.access_token(&digest("a-1")).await.unwrap().unwrap();
        assert_eq!(
            (a.family.user_id.as_str(), a.family.revoked.is_none()),
            (uid.as_str(), true)
        );

        let r = s.refresh_token(&digest("r-1")).await.unwrap().unwrap();
        assert_eq!((r.family.id.as_str(), r.rotated_at), ("fam-1", None));
        assert!(
            s.rotate_refresh("fam-1", &digest("r-1"), &tokens("2"), now)
                .await
                .unwrap()
        );
        assert!(
            !s.rotate_refresh("fam-1", &digest("r-1"), &tokens("x"), now)
                .await
                .unwrap(),
            "a token rotates once"
        );
        let r = s.refresh_token(&digest("r-1")).await.unwrap().unwrap();
        assert_eq!(r.replaced_by.as_deref(), Some(digest("r-2").as_str()));
        assert!(
            s.refresh_token(&digest("r-x")).await.unwrap().is_none(),
            "the loser issued nothing"
        );
        // Its answer lost, the client comes back with r-1: the unused r-2 pair is replaced.
        assert!(
            s.reissue_unused("fam-1", &digest("r-1"), &digest("r-2"), &tokens("3"), now)
                .await
                .unwrap()
        );
        assert!(
            s.access_token(&digest("a-2")).await.unwrap().is_none(),
            "withdrawn"
        );
        assert!(
            s.refresh_token(&digest("r-2")).await.unwrap().is_none(),
            "withdrawn"
        );
        // Once the successor is used, nothing more is reissued.
        assert!(
            s.rotate_refresh("fam-1", &digest("r-3"), &tokens("4"), now)
                .await
                .unwrap()
        );
        assert!(
            !s.reissue_unused("fam-1", &digest("r-1"), &digest("r-3"), &tokens("5"), now)
                .await
                .unwrap()
        );
        assert_eq!(
            s.family_of_token(&digest("r-4")).await.unwrap().as_deref(),
            Some("fam-1")
        );
        assert_eq!(
            s.family_of_token(&digest("a-4")).await.unwrap().as_deref(),
            Some("fam-1")
        );

        s.revoke_family("fam-1", "refresh token reused", now)
            .await
            .unwrap();
        s.revoke_family("fam-1", "second reason", now).await.unwrap();
        let f = s.family("fam-1").await.unwrap().unwrap();
        assert_eq!(f.revoked.unwrap().1, "refresh token reused");
        assert!(
            s.access_token(&digest("a-4"))
                .await
                .unwrap()
                .unwrap()
                .family
                .revoked
                .is_some()
        );
    }
}

#[tokio::test]
async fn sessions_and_the_link_log() {
    for s in testing::both().await {
        let uid = user(&s, "alice").await;
        let now = now_ms();
        s.create_session(&digest("sid"), "csrf-1", now + 60_000)
            .await
            .unwrap();
        assert_eq!(
            s.session(&digest("sid"), now).await.unwrap().unwrap().user_id,
            None
        );
        s.log_in_session(&digest("sid"), &uid, "csrf-2").await.unwrap();
        let sess = s.session(&digest("sid"), now).await.unwrap().unwrap();
        assert_eq!(
            (sess.user_id.as_deref(), sess.csrf.as_str()),
            (Some(uid.as_str()), "csrf-2")
        );
        assert!(
            s.session(&digest("sid"), now + 120_000).await.unwrap().is_none(),
            "expired"
        );
        assert_eq!(s.purge_sessions(now + 120_000).await.unwrap(), 1);

        for (i, step) in ["authorize", "login", "token"].iter().enumerate() {
            let e = rask_store::link_log::LogEntry {
                id: 0,
                at: now + i as i64,
                client_id: Some("alexa".into()),
                user_name: Some("alice".into()),
                remote: Some("127.0.0.1".into()),
                step: step.to_string(),
                ok: i != 1,
                detail: format!("step {i}"),
            };
            s.log_link_step(&e).await.unwrap();
        }
        let log = s.link_log(2).await.unwrap();
        assert_eq!(
            log.iter().map(|e| e.step.as_str()).collect::<Vec<_>>(),
            vec!["token", "login"]
        );
        assert!(!log[1].ok);
    }
}

#[tokio::test]
async fn a_bad_url_is_a_clear_error() {
    let e = Store::connect("mysql://x").await.unwrap_err();
    assert!(e.to_string().contains("use sqlite://PATH or postgres://"), "{e}");
}
