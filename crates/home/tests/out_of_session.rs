//! Messages from the out-of-session outbox to `rask sim`, on SQLite and PostgreSQL: each in its
//! user's region, retried after a 429, given up after a refusal or past expiry, and taken over
//! from a worker that died holding it; each fault the sim can make answered as Amazon advises.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::black_hole;

use rask_cloud::lwa::LwaClient;
use rask_cloud::region::Endpoints;
use rask_cloud::services::OutOfSession;
use rask_home::out_of_session::{ServiceDelivery, event_call, message_call};
use rask_home::service_queue::ServiceQueue;
use rask_model::messaging::SkillMessageRequest;
use rask_model::region::Region;
use rask_sim::{Sim, SimConfig};
use rask_store::service_outbox::Enqueued;
use rask_store::{Store, now_ms};
use serde_json::json;

struct World {
    sim: Sim,
    skill: String,
    store: Store,
    worker: ServiceDelivery,
}

async fn world(store: Store) -> World {
    world_waiting(store, Duration::from_secs(5)).await
}

/// A world whose HTTP client gives up after `timeout`.
async fn world_waiting(store: Store, timeout: Duration) -> World {
    let (sim, addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let skill = sim
        .world()
        .register_skill(
            serde_json::from_value(json!({"lwaClientId": "msg-client", "lwaClientSecret": "msg-secret"}))
                .unwrap(),
        )
        .unwrap()
        .skill_id;
    for (name, region) in [
        ("nadia", rask_sim::Region::Na),
        ("elsa", rask_sim::Region::Eu),
        ("fumiko", rask_sim::Region::Fe),
    ] {
        sim.world().add_user(name, region, vec![]).unwrap();
        sim.world().enable(&skill, name).unwrap();
    }
    let endpoints = Endpoints::simulator(&format!("http://{addr}"));
    let http = rask_cloud::http_client(timeout);
    let lwa = Arc::new(LwaClient::new(
        http.clone(),
        endpoints.token_url(),
        "msg-client",
        "msg-secret",
    ));
    let worker = ServiceDelivery::new(store.clone(), OutOfSession::new(http, lwa, endpoints));
    World {
        sim,
        skill,
        store,
        worker,
    }
}

impl World {
    /// Another worker on the same outbox, as another rask process would run, calling Amazon's
    /// APIs at `url`.
    fn another_worker_at(&self, url: &str) -> ServiceDelivery {
        let endpoints = Endpoints::simulator(url);
        let http = rask_cloud::http_client(Duration::from_secs(5));
        let lwa = Arc::new(LwaClient::new(
            http.clone(),
            endpoints.token_url(),
            "msg-client",
            "msg-secret",
        ));
        ServiceDelivery::new(self.store.clone(), OutOfSession::new(http, lwa, endpoints))
    }

    fn user(&self, name: &str) -> String {
        self.sim
            .world()
            .enablement(&self.skill, name)
            .unwrap()
            .user_id
            .clone()
    }

    async fn enqueue(&self, name: &str, region: Region, key: Option<&str>) -> String {
        let message = SkillMessageRequest::new(serde_json::from_value(json!({"list": "groceries"})).unwrap());
        let call = message_call(
            &self.skill,
            &self.user(name),
            region,
            &message,
            key.map(str::to_owned),
            now_ms(),
        )
        .unwrap();
        match self.store.enqueue_service_call(&call).await.unwrap() {
            Enqueued::New(id) | Enqueued::Duplicate(id) => id,
        }
    }

    async fn status(&self, id: &str) -> (String, i64, Option<String>) {
        let r = self.store.service_calls(100).await.unwrap();
        let r = r.iter().find(|r| r.id == id).unwrap();
        (r.status.clone(), r.attempts, r.outcome.clone())
    }

    /// The statuses the sim answered on `api` after log entry `since`, and the last entry.
    fn answers(&self, api: &str, since: u64) -> (Vec<u16>, u64) {
        let log = self.sim.world().log.since(since, None);
        let last = log.last().map_or(since, |e| e.seq);
        (
            log.iter().filter(|e| e.api == api).map(|e| e.status).collect(),
            last,
        )
    }

    /// The first attempt at one new message; what the sim answered it, and its state after.
    async fn attempt(
        &self,
        faults: &[serde_json::Value],
    ) -> (String, Vec<u16>, Vec<u16>, (String, i64, Option<String>)) {
        let (_, since) = self.answers("", 0);
        for f in faults {
            self.fault(f.clone());
        }
        let id = self.enqueue("elsa", Region::Eu, None).await;
        self.worker.run_once().await.unwrap();
        let (messaging, _) = self.answers("messaging", since);
        let (lwa, _) = self.answers("lwa", since);
        let status = self.status(&id).await;
        (id, messaging, lwa, status)
    }

    /// Runs the worker once `id` is due again; its state after.
    async fn retry(&self, id: &str) -> (String, i64, Option<String>) {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        self.worker.run_once().await.unwrap();
        self.status(id).await
    }

    fn fault(&self, v: serde_json::Value) {
        self.sim.world().faults.add(serde_json::from_value(v).unwrap());
    }
}

#[tokio::test]
async fn messages_reach_each_region_once_and_every_failure_is_followed_up() {
    for store in rask_store::testing::stores().await {
        let w = world(store).await;
        let ids = [
            w.enqueue("nadia", Region::Na, Some("change-1")).await,
            w.enqueue("elsa", Region::Eu, None).await,
            w.enqueue("fumiko", Region::Fe, None).await,
        ];
        assert_eq!(
            w.enqueue("nadia", Region::Na, Some("change-1")).await,
            ids[0],
            "one call per key"
        );
        assert_eq!(w.worker.run_once().await.unwrap(), 3);
        for id in &ids {
            assert_eq!(w.status(id).await.0, "sent");
        }
        let mut regions: Vec<Option<String>> = w
            .sim
            .world()
            .log
            .since(0, Some("messaging"))
            .iter()
            .filter(|e| e.status == 202)
            .map(|e| e.region.clone())
            .collect();
        regions.sort();
        assert_eq!(
            regions,
            [Some("EU".into()), Some("FE".into()), Some("NA".into())],
            "sent at once, in any order"
        );
        assert_eq!(w.worker.run_once().await.unwrap(), 0, "nothing is sent twice");

        // 429: tried again after a second, then accepted.
        w.fault(json!({"target": "messaging", "status": 429}));
        let busy = w.enqueue("elsa", Region::Eu, None).await;
        w.worker.run_once().await.unwrap();
        let (status, attempts, outcome) = w.status(&busy).await;
        assert_eq!((status.as_str(), attempts), ("pending", 1), "{outcome:?}");
        assert_eq!(w.worker.run_once().await.unwrap(), 0, "not before its time");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        w.worker.run_once().await.unwrap();
        assert_eq!(w.status(&busy).await.0, "sent");

        // A refusal is final, with Amazon's words; so is a call sent to the wrong region.
        w.fault(json!({"target": "messaging", "status": 400}));
        // One at a time: calls go out together, and the fault answers whichever comes first.
        let bad = w.enqueue("elsa", Region::Eu, None).await;
        w.worker.run_once().await.unwrap();
        let lost = w.enqueue("elsa", Region::Fe, None).await;
        w.worker.run_once().await.unwrap();
        let (status, _, outcome) = w.status(&bad).await;
        assert_eq!(status, "failed");
        assert!(outcome.unwrap().contains("400"));
        let (status, _, outcome) = w.status(&lost).await;
        assert_eq!(status, "failed");
        assert!(outcome.unwrap().contains("404"));

        // A worker that claimed a call and died: its lease runs out, another sends it.
        let orphan = w.enqueue("nadia", Region::Na, None).await;
        let taken = w
            .store
            .claim_service_calls("dead-worker", now_ms(), 300, 10)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(w.worker.run_once().await.unwrap(), 0, "still the dead worker's");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(w.worker.run_once().await.unwrap(), 1);
        assert_eq!(w.status(&orphan).await.0, "sent");
    }
}

/// Every fault the sim makes for Skill Messaging, Proactive Events and LWA, one call at a
/// time, and what rask does next: a bad token is replaced once, a failure of Amazon's or LWA's
/// is tried again later, a refusal is final and says why.
#[tokio::test]
async fn each_fault_is_answered_as_amazon_advises() {
    for store in rask_store::testing::stores().await {
        let w = world_waiting(store, Duration::from_secs(1)).await;
        // A first message, so that the messaging token is cached before the faults.
        let (_, _, lwa, status) = w.attempt(&[]).await;
        assert_eq!((status.0.as_str(), lwa), ("sent", vec![200]));

        let (_, sent, lwa, status) = w.attempt(&[json!({"target": "messaging", "status": 403})]).await;
        assert_eq!(status.0, "sent", "{status:?}");
        assert_eq!((sent, lwa), (vec![403, 202], vec![200]), "a fresh token, once");

        let (_, sent, _, status) = w
            .attempt(&[json!({"target": "messaging", "status": 401, "count": 2})])
            .await;
        assert_eq!((status.0.as_str(), sent), ("failed", vec![401, 401]));
        assert!(status.2.unwrap().contains("did not accept the skill's token"));

        for fault in [
            json!({"target": "messaging", "status": 500}),
            json!({"target": "messaging", "status": 503}),
            json!({"target": "messaging", "status": 429}),
            json!({"target": "messaging", "hangMs": 1500}),
        ] {
            let (id, _, _, status) = w.attempt(std::slice::from_ref(&fault)).await;
            assert_eq!(
                (status.0.as_str(), status.1),
                ("pending", 1),
                "{fault}: {status:?}"
            );
            assert_eq!(w.retry(&id).await.0, "sent", "{fault}");
        }
        // The hung request's late 202 let the sim deliver that message too: the skill
        // deduplicates, as it must for Amazon's own redeliveries.

        // LWA down while a token is replaced: tried again, not given up.
        let (id, sent, lwa, status) = w
            .attempt(&[
                json!({"target": "messaging", "status": 403}),
                json!({"target": "lwa", "status": 500}),
            ])
            .await;
        assert_eq!((sent, lwa), (vec![403], vec![500]));
        assert_eq!(status.0, "pending", "{status:?}");
        assert!(status.2.unwrap().contains("no token"));
        assert_eq!(w.retry(&id).await.0, "sent");

        // LWA refusing the skill's credentials or the scope (the skill lacks the permission):
        // final, with LWA's word, not retried for the message's whole life.
        for (status, code) in [(401, "invalid_client"), (400, "invalid_scope")] {
            let (_, _, lwa, outcome) = w
                .attempt(&[
                    json!({"target": "messaging", "status": 403}),
                    json!({"target": "lwa", "status": status, "code": code}),
                ])
                .await;
            assert_eq!((outcome.0.as_str(), lwa), ("failed", vec![status]), "{outcome:?}");
            assert!(outcome.2.unwrap().contains(code), "{code}");
        }

        // Proactive Events on the live stage: 432 is final; 409 means Amazon has it already.
        for (fault, want, says) in [(432, "failed", "notification limit"), (409, "sent", "already")] {
            w.fault(json!({"target": "proactive", "status": fault}));
            let now = time::OffsetDateTime::now_utc();
            let event: rask_model::proactive::ProactiveEventRequest = serde_json::from_value(json!({
                "timestamp": rask_model::timestamp::seconds(now),
                "referenceId": format!("ring-{fault}"),
                "expiryTime": rask_model::timestamp::seconds(now + time::Duration::hours(1)),
                "event": {"name": "AMAZON.MessageAlert.Activated", "payload": {
                    "state": {"status": "UNREAD", "freshness": "NEW"},
                    "messageGroup": {"creator": {"name": "Front door"}, "count": 1, "urgency": "URGENT"}}},
                "localizedAttributes": [{"locale": "en-US"}],
                "relevantAudience": {"type": "Unicast", "payload": {"user": w.user("elsa")}}
            }))
            .unwrap();
            let call = event_call(&w.skill, Region::Eu, true, &event, now_ms()).unwrap();
            let Enqueued::New(id) = w.store.enqueue_service_call(&call).await.unwrap() else {
                panic!("a new event")
            };
            w.worker.run_once().await.unwrap();
            let (status, attempts, outcome) = w.status(&id).await;
            assert_eq!((status.as_str(), attempts), (want, 1), "{fault}: {outcome:?}");
            assert!(outcome.unwrap().contains(says), "{fault}");
        }
    }
}

/// The running worker is a pipeline: a call Amazon keeps waiting holds up no other, and is
/// sent itself once Amazon answers.
#[tokio::test]
async fn a_hung_call_holds_up_no_other() {
    for store in rask_store::testing::stores().await {
        let w = world(store).await;
        w.fault(json!({"target": "messaging", "hangMs": 3000}));
        let slow = w.enqueue("nadia", Region::Na, None).await;
        let tasks = w.worker.clone().spawn();
        w.worker.waker().notify_one();
        // The slow call is in flight (and hanging) before the others are stored.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut quick = Vec::new();
        for _ in 0..10 {
            quick.push(w.enqueue("elsa", Region::Eu, None).await);
        }
        w.worker.waker().notify_one();
        let deadline = std::time::Instant::now() + Duration::from_millis(2000);
        loop {
            let mut sent = 0;
            for id in &quick {
                sent += (w.status(id).await.0 == "sent") as usize;
            }
            if sent == quick.len() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{sent} of 10 sent while one call hangs"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(w.status(&slow).await.0, "pending", "still waiting for Amazon");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while w.status(&slow).await.0 != "sent" {
            assert!(
                std::time::Instant::now() < deadline,
                "the hung call was never settled"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for t in tasks {
            t.abort();
        }
    }
}

/// Calls the queue hands straight to a worker (claimed as they are written) that dies mid-call
/// are that worker's until its claims run out: no other worker sends them meanwhile; then
/// another sends each once, to its user's region.
#[tokio::test]
async fn calls_handed_to_a_worker_that_dies_are_sent_by_another_once_its_claims_run_out() {
    for store in rask_store::testing::both().await {
        let w = world(store.clone()).await;
        let mut dying = w.another_worker_at(&black_hole().await);
        dying.lease = Duration::from_millis(1_500);
        let queue = ServiceQueue::new(store.clone(), w.skill.as_str()).handing_to(dying.entrance());
        let tasks = dying.clone().spawn();
        let message = SkillMessageRequest::new(serde_json::from_value(json!({"list": "groceries"})).unwrap());
        let mut ids = Vec::new();
        for (name, endpoint) in [
            ("nadia", "https://api.amazonalexa.com"),
            ("elsa", "https://api.eu.amazonalexa.com"),
            ("fumiko", "https://api.fe.amazonalexa.com"),
        ] {
            let user = w.user(name);
            store
                .record_skill_user(&w.skill, &user, endpoint, now_ms())
                .await
                .unwrap();
            ids.push(queue.message(&user, &message, None).await.unwrap().id);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        tasks.iter().for_each(|t| t.abort());
        for _ in 0..5 {
            assert_eq!(
                w.worker.run_once().await.unwrap(),
                0,
                "another worker's calls taken"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for _ in 0..100 {
            w.worker.run_once().await.unwrap();
            if w.answers("messaging", 0).0.len() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        w.worker.run_once().await.unwrap();
        assert_eq!(w.answers("messaging", 0).0, [202, 202, 202], "each call once");
        for id in &ids {
            assert_eq!(w.status(id).await.0, "sent");
        }
    }
}
