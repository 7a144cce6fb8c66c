//! Doorbell presses from the hook through the outbox to the sim's Event Gateway, and every
//! gateway fault the issue names: a 401 then success after a refresh, 429, three 500s then
//! success, 403 (the grant revoked, nothing more sent), and a gateway down past the useful life.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Home, black_hole, grant, home_with, sealer};
use rask_cloud::gateway::EventGateway;
use rask_cloud::lwa::LwaClient;
use rask_cloud::region::Endpoints;
use rask_home::Registry;
use rask_home::delivery::Delivery;
use rask_home::triggers::{self, Triggers};
use rask_link::secret::Secret;
use rask_store::grants::GrantState;
use rask_store::{Store, testing};
use serde_json::{Value, json};

const DOOR_SECRET: &str = "door-secret-1";

struct Rig {
    h: Home,
    delivery: Delivery,
}

async fn rig(store: Store) -> Rig {
    let delivery_store = store.clone();
    let secrets = HashMap::from([("front-door".to_string(), Secret::new(DOOR_SECRET))]);
    // The tests run the worker by hand (run_once), so the hook's wake-up goes nowhere.
    let hooks = triggers::router(Triggers::new(
        store.clone(),
        Registry::demo(),
        secrets,
        Arc::new(tokio::sync::Notify::new()),
    ));
    let h = home_with(store, hooks).await;
    let delivery = worker(&h, delivery_store);
    Rig { h, delivery }
}

/// The real worker on `store`, pointed at the sim.
fn worker(h: &Home, store: Store) -> Delivery {
    worker_at(&h.sim_url, store)
}

/// The real worker on `store`, pointed at Amazon's APIs at `url`.
fn worker_at(url: &str, store: Store) -> Delivery {
    let endpoints = Endpoints::simulator(url);
    let mut delivery = Delivery::new(
        store,
        sealer(),
        Arc::new(LwaClient::new(
            rask_cloud::http_client(Duration::from_secs(5)),
            endpoints.token_url(),
            "rask-lwa",
            "rask-lwa-secret",
        )),
        EventGateway::new(rask_cloud::http_client(Duration::from_secs(5)), endpoints),
    );
    delivery.policy.base_delay = Duration::from_millis(50);
    delivery
}

/// The gateway's events' message ids, each once, and how many events there were.
fn sent_ids(r: &Rig) -> (usize, std::collections::HashSet<String>) {
    let sent = gateway_events(r);
    let ids = sent
        .iter()
        .filter_map(|e| e.body["event"]["header"]["messageId"].as_str())
        .map(str::to_owned)
        .collect();
    (sent.len(), ids)
}

async fn press(r: &Rig, secret: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/hooks/devices/front-door/press", r.h.url))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Runs the worker until nothing is due or pending for a while.
async fn drain(r: &Rig) {
    for _ in 0..60 {
        r.delivery.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn fault(r: &Rig, body: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/sim/faults", r.h.sim_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

fn gateway_events(r: &Rig) -> Vec<rask_sim::log::Entry> {
    r.h.sim.world().log.since(0, Some("gateway"))
}

async fn outcomes(r: &Rig) -> Vec<String> {
    let mut log = r.h.store.event_log(100).await.unwrap();
    log.reverse();
    log.into_iter().map(|a| a.outcome).collect()
}

#[tokio::test]
async fn a_press_reaches_the_gateway_as_a_valid_doorbell_press() {
    for store in testing::both().await {
        let r = rig(store).await;
        grant(&r.h).await;
        let (status, body) = press(&r, DOOR_SECRET).await;
        assert_eq!((status, body["queued"].as_u64()), (202, Some(1)));
        drain(&r).await;
        let sent = gateway_events(&r);
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert!(sent[0].valid, "{:#?}", sent[0]);
        assert_eq!(
            sent[0].name.as_deref(),
            Some("Alexa.DoorbellEventSource.DoorbellPress")
        );
        assert_eq!(sent[0].region.as_deref(), Some("EU"));
        assert_eq!(sent[0].body["event"]["endpoint"]["endpointId"], "front-door");
        assert_eq!(outcomes(&r).await, ["delivered"]);
    }
}

#[tokio::test]
async fn wrong_secrets_and_unknown_devices_are_refused() {
    let r = rig(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    grant(&r.h).await;
    let (status, wrong) = press(&r, "wrong").await;
    assert_eq!(status, 401, "{wrong}");
    let call = |path: &str| {
        reqwest::Client::new()
            .post(format!("{}/hooks/devices/{path}", r.h.url))
            .bearer_auth(DOOR_SECRET)
            .send()
    };
    // An unknown device and one without a secret get the very answer a wrong secret gets.
    for path in ["garage/press", "hall-light/press"] {
        let resp = call(path).await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        assert_eq!(resp.json::<Value>().await.unwrap(), wrong, "{path}");
    }
    drain(&r).await;
    assert!(gateway_events(&r).is_empty(), "nothing was queued");
    // Refused calls from one address are limited; then even the right secret waits its turn.
    for _ in 0..triggers::FAILURES_PER_ADDRESS {
        press(&r, "wrong").await;
    }
    let (status, body) = press(&r, DOOR_SECRET).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"].as_str().unwrap().contains("try again"), "{body}");
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_then_succeeds() {
    let r = rig(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    grant(&r.h).await;
    let alice = r.h.store.user_by_name("alice").await.unwrap().unwrap();
    let before =
        r.h.store
            .grant(&r.h.sealer, &alice.id)
            .await
            .unwrap()
            .unwrap()
            .access_token;
    fault(&r, json!({"target": "gateway", "status": 401})).await;
    press(&r, DOOR_SECRET).await;
    drain(&r).await;
    assert_eq!(outcomes(&r).await, ["retry", "delivered"]);
    let after = r.h.store.grant(&r.h.sealer, &alice.id).await.unwrap().unwrap();
    assert_ne!(after.access_token, before, "the token was refreshed");
    assert_eq!(after.state, GrantState::Active);
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let r = rig(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    grant(&r.h).await;
    fault(&r, json!({"target": "gateway", "status": 429})).await;
    press(&r, DOOR_SECRET).await;
    drain(&r).await;
    assert_eq!(outcomes(&r).await, ["retry", "delivered"]);

    fault(&r, json!({"target": "gateway", "status": 500, "count": 3})).await;
    press(&r, DOOR_SECRET).await;
    drain(&r).await;
    assert_eq!(outcomes(&r).await[2..], ["retry", "retry", "retry", "delivered"]);
    let accepted = gateway_events(&r).iter().filter(|e| e.status == 202).count();
    assert_eq!(accepted, 2);
}

#[tokio::test]
async fn skill_disabled_revokes_the_grant_and_nothing_more_is_sent() {
    let r = rig(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    grant(&r.h).await;
    fault(
        &r,
        json!({"action": "disableSkill", "user": "alice", "skillId": r.h.skill}),
    )
    .await;
    press(&r, DOOR_SECRET).await;
    drain(&r).await;
    assert_eq!(outcomes(&r).await, ["revoked"]);
    let alice = r.h.store.user_by_name("alice").await.unwrap().unwrap();
    let g = r.h.store.grant(&r.h.sealer, &alice.id).await.unwrap().unwrap();
    assert_eq!(g.state, GrantState::Revoked);
    let detail = g.detail.unwrap();
    assert!(detail.contains("disabled the skill"), "{detail}");
    assert!(
        detail.contains("rask sent it to EU") && detail.contains("alexa.region"),
        "the region rask used and where it came from: {detail}"
    );
    // A revoked grant gets no more events: the hook queues none.
    let (status, body) = press(&r, DOOR_SECRET).await;
    assert_eq!((status, body["queued"].as_u64()), (202, Some(0)));
    assert!(
        body["message"].as_str().unwrap().contains("nobody was told"),
        "{body}"
    );
    drain(&r).await;
    assert_eq!(gateway_events(&r).len(), 1, "only the one that found out");
}

/// A proxy, firewall or CDN in front of the gateway answers 403 with its own HTML page: that
/// says nothing about the user's grant. The press is tried again and delivered, the grant
/// stays active, and the log says whose page it was.
#[tokio::test]
async fn a_403_page_that_is_not_amazons_is_retried_and_never_revokes() {
    let r = rig(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    grant(&r.h).await;
    fault(
        &r,
        json!({"target": "gateway", "status": 403, "count": 2,
               "body": "<html><head><title>403 Forbidden</title></head>\n<body><center>nginx</center></body></html>"}),
    )
    .await;
    press(&r, DOOR_SECRET).await;
    drain(&r).await;
    assert_eq!(outcomes(&r).await, ["retry", "retry", "delivered"]);
    let alice = r.h.store.user_by_name("alice").await.unwrap().unwrap();
    let g = r.h.store.grant(&r.h.sealer, &alice.id).await.unwrap().unwrap();
    assert_eq!(g.state, GrantState::Active);
    let log = r.h.store.event_log(10).await.unwrap();
    let retry = log.iter().find(|a| a.outcome == "retry").unwrap();
    assert!(
        retry.detail.contains("not Amazon's error body") && retry.detail.contains("403 Forbidden"),
        "{}",
        retry.detail
    );
    // And the next press goes out as usual.
    press(&r, DOOR_SECRET).await;
    drain(&r).await;
    assert_eq!(gateway_events(&r).iter().filter(|e| e.status == 202).count(), 2);
}

#[tokio::test]
async fn a_gateway_down_past_the_useful_life_drops_the_press_with_the_reason() {
    let r = rig(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    grant(&r.h).await;
    fault(&r, json!({"target": "gateway", "status": 503, "count": 50})).await;
    // A short useful life for the test: 300 ms instead of 30 s.
    let mut short = Triggers::new(
        r.h.store.clone(),
        Registry::demo(),
        HashMap::new(),
        r.delivery.waker(),
    );
    short.doorbell_life = Duration::from_millis(300);
    assert_eq!(short.press("front-door").await.unwrap(), 1);
    drain(&r).await;
    let out = outcomes(&r).await;
    assert_eq!(out.last().map(String::as_str), Some("dropped"), "{out:?}");
    let log = r.h.store.event_log(1).await.unwrap();
    assert!(log[0].detail.contains("useful life"), "{}", log[0].detail);
}

fn mqtt_url() -> String {
    std::env::var("RASK_TEST_MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".into())
}

/// Publishes `payloads` on `topic` with QoS 1 through a real broker.
async fn publish(topic: &str, payloads: &[&[u8]]) {
    let url = url::Url::parse(&mqtt_url()).unwrap();
    let mut opts = rumqttc::MqttOptions::new(
        format!("rask-test-pub-{}", uuid::Uuid::new_v4()),
        url.host_str().unwrap(),
        url.port().unwrap_or(1883),
    );
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut events) = rumqttc::AsyncClient::new(opts, 16);
    let driver = tokio::spawn(async move {
        loop {
            if events.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    for p in payloads {
        client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, p.to_vec())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    driver.abort();
}

#[tokio::test]
async fn presses_arrive_over_mqtt_and_malformed_payloads_are_counted() {
    let r = rig(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    grant(&r.h).await;
    let topic = format!("rask-test/{}/front-door", uuid::Uuid::new_v4());
    let triggers = Triggers::new(
        r.h.store.clone(),
        Registry::demo(),
        HashMap::new(),
        r.delivery.waker(),
    );
    let listener = rask_home::mqtt::MqttBridge::new(
        &mqtt_url(),
        &format!("rask-test-{}", uuid::Uuid::new_v4()),
        HashMap::from([(topic.clone(), "front-door".to_string())]),
        triggers,
    )
    .unwrap();
    let counts = listener.counts();
    let handle = listener.spawn();
    tokio::time::sleep(Duration::from_millis(500)).await; // connected and subscribed
    publish(
        &topic,
        &[b"pressed", b"\xff\x00 garbage", br#"{"event": "press"}"#],
    )
    .await;
    drain(&r).await;
    handle.abort();
    assert_eq!(counts.malformed.load(std::sync::atomic::Ordering::Relaxed), 1);
    let sent = gateway_events(&r);
    assert_eq!(sent.len(), 2, "two presses, one malformed message: {sent:#?}");
    assert!(sent.iter().all(|e| e.valid));
}

#[test]
fn a_bad_broker_url_is_a_clear_error() {
    let store_less = |url: &str| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = Store::connect(&testing::sqlite_url()).await.unwrap();
            let t = Triggers::new(
                store,
                Registry::demo(),
                HashMap::new(),
                Arc::new(tokio::sync::Notify::new()),
            );
            rask_home::mqtt::MqttBridge::new(url, "c", HashMap::new(), t)
                .err()
                .map(|e| e.to_string())
        })
    };
    let said = store_less("http://broker:1883").unwrap();
    assert!(said.contains("use mqtt://HOST[:PORT]"), "{said}");
    let said = store_less("mqtts://broker:8883").unwrap();
    assert!(said.contains("not supported yet"), "{said}");
    assert!(store_less("not a url").is_some());
    assert!(store_less("mqtt://127.0.0.1:1883").is_none());
}

#[tokio::test]
async fn insufficient_permission_keeps_the_grant_and_is_reported_as_a_console_setting() {
    let r = rig(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    grant(&r.h).await;
    fault(
        &r,
        json!({"target": "gateway", "status": 403, "code": "INSUFFICIENT_PERMISSION_EXCEPTION"}),
    )
    .await;
    press(&r, DOOR_SECRET).await;
    drain(&r).await;
    assert_eq!(outcomes(&r).await, ["alert"]);
    let log = r.h.store.event_log(1).await.unwrap();
    assert!(log[0].detail.contains("Send Alexa Events"), "{}", log[0].detail);
    let alice = r.h.store.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(
        r.h.store
            .grant(&r.h.sealer, &alice.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        GrantState::Active,
        "the grant is kept"
    );
}

#[tokio::test]
async fn lwa_refusing_the_refresh_marks_the_grant_refused_with_lwas_words() {
    let r = rig(Store::connect(&testing::sqlite_url()).await.unwrap()).await;
    grant(&r.h).await;
    // The token needs refreshing and LWA refuses: the user revoked access at Amazon.
    let alice = r.h.store.user_by_name("alice").await.unwrap().unwrap();
    let g = r.h.store.grant(&r.h.sealer, &alice.id).await.unwrap().unwrap();
    r.h.store
        .refreshed_grant(
            &r.h.sealer,
            &alice.id,
            &g.access_token,
            &g.refresh_token,
            rask_store::now_ms(),
        )
        .await
        .unwrap();
    fault(
        &r,
        json!({"target": "lwa", "status": 400, "code": "invalid_grant"}),
    )
    .await;
    press(&r, DOOR_SECRET).await;
    drain(&r).await;
    assert_eq!(outcomes(&r).await, ["refused"]);
    let g = r.h.store.grant(&r.h.sealer, &alice.id).await.unwrap().unwrap();
    assert_eq!(g.state, GrantState::Refused);
    assert!(g.detail.unwrap().contains("invalid_grant"));
    assert!(
        gateway_events(&r).is_empty(),
        "nothing was sent with a dead token"
    );
}

#[tokio::test]
async fn two_workers_on_one_postgresql_database_deliver_each_event_once() {
    let url = testing::postgres_url().await;
    let store = Store::connect(&url).await.unwrap();
    let r = rig(store.clone()).await;
    grant(&r.h).await;
    let endpoints = Endpoints::simulator(&r.h.sim_url);
    // A second rask instance: its own connection pool and worker on the same database.
    let second = Delivery::new(
        Store::connect(&url).await.unwrap(),
        sealer(),
        Arc::new(LwaClient::new(
            rask_cloud::http_client(Duration::from_secs(5)),
            endpoints.token_url(),
            "rask-lwa",
            "rask-lwa-secret",
        )),
        EventGateway::new(rask_cloud::http_client(Duration::from_secs(5)), endpoints),
    );
    let triggers = Triggers::new(
        store.clone(),
        Registry::demo(),
        HashMap::new(),
        r.delivery.waker(),
    );
    for _ in 0..20 {
        triggers.press("front-door").await.unwrap();
    }
    for _ in 0..40 {
        let (a, b) = tokio::join!(r.delivery.run_once(), second.run_once());
        a.unwrap();
        b.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (n, ids) = sent_ids(&r);
    assert_eq!((n, ids.len()), (20, 20), "each of the 20 events exactly once");
    assert_eq!(
        outcomes(&r).await.iter().filter(|o| *o == "delivered").count(),
        20
    );
}

/// Presses handed straight to the running worker (claimed as they are written), in a burst
/// bigger than the room it has for them: the rest wait in the outbox for its claims. Each
/// event is sent once.
#[tokio::test]
async fn a_burst_handed_to_the_running_worker_past_its_room_is_each_sent_once() {
    for store in testing::both().await {
        let r = rig(store.clone()).await;
        grant(&r.h).await;
        let running = worker(&r.h, store.clone());
        let triggers = Triggers::new(store.clone(), Registry::demo(), HashMap::new(), running.waker())
            .handing_to(running.entrance());
        let tasks = running.spawn();
        // The worker's entrance has room for 1,024 rows; 1,500 presses at once.
        let mut presses = tokio::task::JoinSet::new();
        for _ in 0..1_500 {
            let t = triggers.clone();
            presses.spawn(async move { t.press("front-door").await });
        }
        while let Some(queued) = presses.join_next().await {
            assert_eq!(queued.unwrap().unwrap(), 1);
        }
        for _ in 0..600 {
            if sent_ids(&r).0 >= 1_500 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A moment more: nothing is sent twice after the last.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (n, ids) = sent_ids(&r);
        assert_eq!(
            (n, ids.len()),
            (1_500, 1_500),
            "each of 1,500 events exactly once"
        );
        assert_eq!(r.h.store.pending_events().await.unwrap(), 0);
        tasks.iter().for_each(|t| t.abort());
    }
}

/// Rows handed to a worker that dies mid-call (its calls hang, then its tasks stop, as a
/// crash stops them) are its own until its claims run out: no other worker sends them
/// meanwhile, and then another sends each once; nothing more is handed to the dead one.
#[tokio::test]
async fn presses_handed_to_a_worker_that_dies_are_sent_by_another_once_its_claims_run_out() {
    for store in testing::both().await {
        let r = rig(store.clone()).await;
        grant(&r.h).await;
        let mut dying = worker_at(&black_hole().await, store.clone());
        dying.lease = Duration::from_millis(1_500);
        let triggers = Triggers::new(store.clone(), Registry::demo(), HashMap::new(), dying.waker())
            .handing_to(dying.entrance());
        let tasks = dying.clone().spawn();
        for _ in 0..3 {
            assert_eq!(triggers.press("front-door").await.unwrap(), 1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        tasks.iter().for_each(|t| t.abort());
        // The other worker (the rig's) finds nothing it may take while the claims last.
        for _ in 0..5 {
            assert_eq!(r.delivery.run_once().await.unwrap(), 0);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            gateway_events(&r).is_empty(),
            "sent while another worker held them"
        );
        for _ in 0..100 {
            r.delivery.run_once().await.unwrap();
            if sent_ids(&r).0 >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        r.delivery.run_once().await.unwrap();
        let (n, ids) = sent_ids(&r);
        assert_eq!((n, ids.len()), (3, 3), "each of the 3 presses exactly once");
        assert_eq!(outcomes(&r).await, ["delivered", "delivered", "delivered"]);
        // A press after the death is stored for anyone, and the other worker sends it at once.
        assert_eq!(triggers.press("front-door").await.unwrap(), 1);
        r.delivery.run_once().await.unwrap();
        assert_eq!(
            sent_ids(&r).0,
            4,
            "a press after the death held for the dead worker"
        );
    }
}
