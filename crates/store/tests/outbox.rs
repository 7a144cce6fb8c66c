//! The outbox on SQLite and PostgreSQL: a delivery batch larger than one multi-row statement
//! settles, retries and logs every row, in order, in one `apply`; a delivered row leaves the
//! outbox with its wait in the log.

use rask_store::activity::Resend;
use rask_store::outbox::{Attempt, NewEvent, Settled, Write};
use rask_store::{now_ms, testing};

#[tokio::test]
async fn a_large_mixed_batch_is_applied_whole() {
    for s in testing::both().await {
        let uid = uuid::Uuid::new_v4().to_string();
        s.add_user(&uid, &format!("u-{uid}"), "x").await.unwrap();
        let now = now_ms();
        let events: Vec<NewEvent> = (0..250)
            .map(|i| NewEvent {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: uid.clone(),
                endpoint_id: format!("door-{i}"),
                kind: "DoorbellPress".into(),
                event: "{}".into(),
                created_at: now,
                expires_at: now + 30_000,
            })
            .collect();
        s.enqueue(&events).await.unwrap();
        let claimed = s.claim_due("test", now, 12_000, 1_000).await.unwrap();
        assert_eq!(claimed.len(), 250);

        let attempt = |i: usize, outcome: &str| Attempt {
            at: now + i as i64,
            outbox_id: events[i].id.clone(),
            user_id: uid.clone(),
            endpoint_id: events[i].endpoint_id.clone(),
            kind: "DoorbellPress".into(),
            attempt: 1,
            outcome: outcome.into(),
            detail: format!("event {i}"),
            queued_at: now,
        };
        let mut writes = Vec::new();
        for (i, e) in events.iter().enumerate() {
            match i {
                0..200 => writes.push(Write::Settle {
                    how: Settled::Delivered,
                    outcome: "202".into(),
                    attempt: attempt(i, "delivered"),
                }),
                200..230 => writes.push(Write::Settle {
                    how: Settled::Dropped,
                    outcome: "expired".into(),
                    attempt: attempt(i, "dropped"),
                }),
                _ => {
                    writes.push(Write::Log(attempt(i, "retry")));
                    writes.push(Write::Retry {
                        id: e.id.clone(),
                        next_attempt_at: now + 60_000,
                        retries: 1,
                        refreshed: false,
                    });
                }
            }
        }
        // The delivered rows first, alone (PostgreSQL settles them in one statement), then
        // the rest together.
        s.apply(&writes[..200]).await.unwrap();
        assert_eq!(s.pending_events().await.unwrap(), 50);
        assert_eq!(
            s.event_log(1_000)
                .await
                .unwrap()
                .iter()
                .filter(|a| a.user_id == uid)
                .count(),
            200
        );
        s.apply(&writes[200..]).await.unwrap();

        assert_eq!(
            s.pending_events().await.unwrap(),
            20,
            "only the retried rows stay pending"
        );
        assert!(
            s.claim_due("test", now + 1, 12_000, 1_000)
                .await
                .unwrap()
                .is_empty(),
            "settled rows are never claimed again; retried ones wait for their time"
        );
        let again = s.claim_due("test", now + 60_000, 12_000, 1_000).await.unwrap();
        assert_eq!(again.len(), 20);
        assert!(again.iter().all(|p| p.retries == 1 && !p.refreshed));

        let log = s.event_log(1_000).await.unwrap();
        let mine: Vec<&Attempt> = log.iter().filter(|a| a.user_id == uid).collect();
        assert_eq!(mine.len(), 250, "every attempt is logged once");
        let details: Vec<String> = mine.iter().rev().map(|a| a.detail.clone()).collect();
        let expected: Vec<String> = (0..250).map(|i| format!("event {i}")).collect();
        assert_eq!(details, expected, "in the order the worker wrote them");
        assert_eq!(
            s.delivery_latencies().await.unwrap(),
            (0..200).collect::<Vec<i64>>(),
            "each delivered event's wait, from the log alone"
        );
        // A delivered row has left the outbox, and is still not sent again; a dropped one
        // stays, to be sent again.
        assert_eq!(
            s.resend_event(&events[0].id, now).await.unwrap(),
            Resend::NotDropped
        );
        assert_eq!(
            s.resend_event(&events[200].id, now).await.unwrap(),
            Resend::Queued
        );
    }
}
