//! Messages from the out-of-session outbox to `rask sim`, on SQLite and PostgreSQL: each in its
//! user's region, retried after a 429, given up after a refusal or past expiry, and taken over
//! from a worker that died holding it.

use std::sync::Arc;
use std::time::Duration;

use rask_cloud::lwa::LwaClient;
use rask_cloud::region::Endpoints;
use rask_cloud::services::OutOfSession;
use rask_home::out_of_session::{ServiceDelivery, message_call};
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
    let http = rask_cloud::http_client(Duration::from_secs(5));
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
