//! Grants on SQLite and PostgreSQL: sealed at rest, one state, single-flight refresh, said once.

use base64::Engine;
use rask_store::grants::GrantState;
use rask_store::sealer::Sealer;
use rask_store::{now_ms, testing};
use sqlx::Row;

fn sealer() -> Sealer {
    Sealer::from_base64(&base64::engine::general_purpose::STANDARD.encode([42u8; 32])).unwrap()
}

#[tokio::test]
async fn grants_are_sealed_and_have_one_visible_state() {
    for s in testing::both().await {
        let k = sealer();
        let uid = uuid::Uuid::new_v4().to_string();
        s.add_user(&uid, "alice", "x").await.unwrap();
        assert!(s.grant(&k, &uid).await.unwrap().is_none(), "no grant yet");
        s.save_grant(
            &k,
            &uid,
            "EU",
            "Atza|access",
            "Atzr|refresh",
            now_ms() + 3_600_000,
        )
        .await
        .unwrap();
        let g = s.grant(&k, &uid).await.unwrap().unwrap();
        assert_eq!(
            (g.region.as_str(), g.access_token.as_str(), g.state),
            ("EU", "Atza|access", GrantState::Active)
        );
        assert!(!format!("{g:?}").contains("Atza"), "Debug never shows tokens");

        // At rest the tokens are not readable.
        let raw = s.raw_grant_columns(&uid).await;
        assert!(!raw.contains("Atza") && !raw.contains("Atzr"), "{raw}");
        let other =
            Sealer::from_base64(&base64::engine::general_purpose::STANDARD.encode([1u8; 32])).unwrap();
        assert!(
            s.grant(&other, &uid).await.is_err(),
            "another key cannot open them"
        );

        s.set_grant_state(
            &uid,
            GrantState::Refused,
            Some("invalid_grant: The request has an invalid grant parameter"),
        )
        .await
        .unwrap();
        assert!(s.report_grant_state_once(&uid).await.unwrap());
        assert!(!s.report_grant_state_once(&uid).await.unwrap(), "said once");
        let g = s.grant(&k, &uid).await.unwrap().unwrap();
        assert_eq!(g.state, GrantState::Refused);
        assert!(g.detail.unwrap().starts_with("invalid_grant"));
        assert!(
            !s.take_refresh_lease(&uid, now_ms(), 30_000).await.unwrap(),
            "a refused grant is not refreshed"
        );

        // A new AcceptGrant makes it active again.
        s.save_grant(&k, &uid, "NA", "Atza|2", "Atzr|2", now_ms())
            .await
            .unwrap();
        assert_eq!(s.grants(&k).await.unwrap()[0].state, GrantState::Active);
    }
}

#[tokio::test]
async fn one_refresh_at_a_time() {
    for s in testing::both().await {
        let k = sealer();
        let uid = uuid::Uuid::new_v4().to_string();
        s.add_user(&uid, "alice", "x").await.unwrap();
        s.save_grant(&k, &uid, "EU", "a1", "r1", now_ms()).await.unwrap();
        let now = now_ms();
        let mut handles = Vec::new();
        for _ in 0..6 {
            let (s, uid) = (s.clone(), uid.clone());
            handles.push(tokio::spawn(async move {
                s.take_refresh_lease(&uid, now, 30_000).await.unwrap()
            }));
        }
        let mut winners = 0;
        for h in handles {
            winners += h.await.unwrap() as usize;
        }
        assert_eq!(winners, 1, "{:?}", s.backend());
        assert_eq!(
            s.grant(&k, &uid).await.unwrap().unwrap().state,
            GrantState::Refreshing
        );
        assert!(
            s.take_refresh_lease(&uid, now + 31_000, 30_000).await.unwrap(),
            "an abandoned lease can be taken over"
        );
        s.refreshed_grant(&k, &uid, "a2", "r2", now + 3_600_000)
            .await
            .unwrap();
        let g = s.grant(&k, &uid).await.unwrap().unwrap();
        assert_eq!((g.state, g.access_token.as_str()), (GrantState::Active, "a2"));
    }
}

// Reads the stored columns as they are, for the "sealed at rest" check.
trait RawGrant {
    async fn raw_grant_columns(&self, uid: &str) -> String;
}

impl RawGrant for rask_store::Store {
    async fn raw_grant_columns(&self, uid: &str) -> String {
        let row =
            sqlx::query("SELECT access_token_sealed, refresh_token_sealed FROM grants WHERE user_id = $1")
                .bind(uid)
                .fetch_one(self.pool())
                .await
                .unwrap();
        format!("{} {}", row.get::<String, _>(0), row.get::<String, _>(1))
    }
}
