//! The out-of-session HTTP API with the real binary, the sim and Mosquitto: a service calls
//! `POST /api/v1/messages` for users in NA, EU and FE; each message goes to its user's region,
//! the sim delivers `Messaging.MessageReceived`, signed, and rask hands it on to MQTT and to a
//! signed webhook, once each, even when the webhook fails first (Alexa sends it again) and when
//! Alexa delivers it twice. Proactive events reach the users who subscribe; a user who
//! unsubscribes or disables the skill is refused before anything is sent; keys do only what
//! they may.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::mqtt::{broker, subscribe};
use common::{rask, start};
use rask_sim::drivers::custom;
use rask_sim::{Region, SimConfig};
use serde_json::{Value, json};

const SHOP_KEY: &str = "rask_shop_0123456789abcdef0123456789abcdef";
const FEED_KEY: &str = "rask_feed_0123456789abcdef0123456789abcdef";
const HOOK_SECRET: &str = "hook-secret-0123456789";

/// A webhook that refuses its first call and records the rest, checking each signature.
async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::http::{HeaderMap, StatusCode};
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (kept, calls) = (kept.clone(), calls.clone());
            async move {
                let t: i64 = headers["x-rask-timestamp"].to_str().unwrap().parse().unwrap();
                let expected = rask_home::handoff::signature(HOOK_SECRET.as_bytes(), t, &body);
                assert_eq!(headers["x-rask-signature"].to_str().unwrap(), expected);
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                kept.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

async fn call(url: &str, key: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = reqwest::Client::new().post(url).json(&body);
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..150 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen in 15 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_calls_reach_each_region_and_messages_are_handed_on_once() {
    let config = SimConfig {
        message_retry_initial: Duration::from_millis(200),
        ..SimConfig::default()
    };
    let common::CustomSim {
        sim,
        url: sim_url,
        skill_id,
        root,
        ..
    } = common::custom_sim("api", config, Some("shop-client")).await;
    for (name, region) in [
        ("alice", Region::Na),
        ("bruno", Region::Eu),
        ("chiyo", Region::Fe),
    ] {
        sim.world().add_user(name, region, vec![]).unwrap();
    }
    let (hook_url, hooked) = webhook().await;
    let prefix = format!("api-test-{}", std::process::id());
    let mut published = subscribe(&format!("{prefix}/#")).await;
    let extra = format!(
        r#"
[mqtt]
url = "{broker}"
client_id = "{prefix}-rask"

[skill]
id = "{skill_id}"
cert_mirror = "{sim_url}"
trust_root_file = "{root}"
client_id = "shop-client"
client_secret_env = "RASK_TEST_SHOP_SECRET"
api = "{sim_url}"

[skill.messages]
mqtt_topic = "{prefix}/orders"
webhook = "{hook_url}"
webhook_secret_env = "RASK_TEST_HOOK_SECRET"

[[api_keys]]
name = "shop"
sha256 = "{shop_hash}"
actions = ["messages", "notifications"]

[[api_keys]]
name = "feed"
secret_env = "RASK_TEST_FEED_KEY"
actions = ["notifications"]
"#,
        broker = broker(),
        root = root.display(),
        shop_hash = rask_store::digest(SHOP_KEY),
    );
    let config = common::smart_home_config("api", &sim_url, "NA", &extra);
    let config = config.to_str().unwrap();
    let envs = [
        ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
        ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
        ("RASK_TEST_SHOP_SECRET", "shop-client-secret"),
        ("RASK_TEST_HOOK_SECRET", HOOK_SECRET),
        ("RASK_TEST_FEED_KEY", FEED_KEY),
    ];
    let server = start(&["serve", "--config", config], &envs);
    let base = server.url();
    sim.world()
        .set_custom_endpoint(&skill_id, &format!("{base}/alexa/skill"))
        .unwrap();
    let mut users = Vec::new();
    for name in ["alice", "bruno", "chiyo"] {
        let opened = custom::send(
            &sim,
            &skill_id,
            name,
            &serde_json::from_value(json!({"type": "LaunchRequest"})).unwrap(),
        )
        .await
        .unwrap();
        assert!(opened.valid, "{opened:#?}");
        users.push(sim.world().enablement(&skill_id, name).unwrap().user_id.clone());
    }

    let openapi: Value = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(openapi["paths"]["/api/v1/messages"]["post"].is_object());

    // Keys do only what they may; bad calls name the field.
    let messages = format!("{base}/api/v1/messages");
    let order = |user: &str, n: u32| json!({"user": user, "data": {"order": n.to_string()}, "key": format!("order-{n}")});
    let (status, body) = call(&messages, None, order(&users[0], 1)).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")));
    let (status, body) = call(
        &messages,
        Some("rask_not_a_key_0123456789abcdef"),
        order(&users[0], 1),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = call(&messages, Some(FEED_KEY), order(&users[0], 1)).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("\"feed\" may not send messages"),
        "{body}"
    );
    let (status, body) = call(
        &messages,
        Some(SHOP_KEY),
        json!({"user": users[0], "data": {"a": "b"}, "expiresAfterSeconds": 5}),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("/expiresAfterSeconds")),
        "{body}"
    );
    let (status, body) = call(&messages, Some(SHOP_KEY), order("amzn1.ask.account.NOBODY", 1)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_user")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("open the skill once"));

    // One message per user, each to the user's region.
    let mut ids = Vec::new();
    for (n, (user, region)) in users.iter().zip(["NA", "EU", "FE"]).enumerate() {
        let (status, body) = call(&messages, Some(SHOP_KEY), order(user, n as u32 + 1)).await;
        assert_eq!((status, body["region"].as_str()), (202, Some(region)), "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, again) = call(&messages, Some(SHOP_KEY), order(&users[0], 1)).await;
    assert_eq!((status, again["duplicate"].as_bool()), (202, Some(true)));
    assert_eq!(
        again["id"].as_str(),
        Some(ids[0].as_str()),
        "the same key is the same message"
    );

    // Handed on to MQTT once each, and to the webhook once each after its first refusal
    // (Alexa sent that message again).
    let mut on_mqtt = Vec::new();
    while on_mqtt.len() < 3 {
        let (topic, payload) = tokio::time::timeout(Duration::from_secs(15), published.recv())
            .await
            .expect("messages published")
            .unwrap();
        assert_eq!(topic, format!("{prefix}/orders"));
        on_mqtt.push(serde_json::from_str::<Value>(&payload).unwrap());
    }
    let mut orders: Vec<&str> = on_mqtt
        .iter()
        .map(|m| m["message"]["order"].as_str().unwrap())
        .collect();
    orders.sort();
    assert_eq!(orders, ["1", "2", "3"]);
    assert!(
        on_mqtt
            .iter()
            .all(|m| users.contains(&m["userId"].as_str().unwrap().to_owned()))
    );
    assert_eq!(
        on_mqtt[0]["message"]["messageId"]
            .as_str()
            .map(|k| k.starts_with("order-")),
        Some(true)
    );
    until("the webhook's three messages", async || {
        (hooked.lock().unwrap().len() == 3).then_some(())
    })
    .await;

    // Alexa delivers one again: handed on nowhere a second time.
    let data = on_mqtt[0]["message"].as_object().unwrap().clone();
    let user_name = ["alice", "bruno", "chiyo"][users
        .iter()
        .position(|u| u == on_mqtt[0]["userId"].as_str().unwrap())
        .unwrap()];
    assert!(custom::deliver_message(&sim, &skill_id, user_name, &data).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(published.try_recv().is_err(), "published once");
    assert_eq!(hooked.lock().unwrap().len(), 3, "posted once");

    let sent = until("the first call settled", async || {
        let c: Value = reqwest::Client::new()
            .get(format!("{base}/api/v1/calls/{}", ids[0]))
            .bearer_auth(SHOP_KEY)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (c["status"] == "sent").then_some(c)
    })
    .await;
    assert_eq!(
        (sent["region"].as_str(), sent["attempts"].as_i64()),
        (Some("NA"), Some(1))
    );

    // A proactive event for everyone: one call per region, and each user has it.
    let notifications = format!("{base}/api/v1/notifications");
    let event = |audience: Value, reference: &str| {
        let mut e = json!({
            "referenceId": reference,
            "event": {"name": "AMAZON.OrderStatus.Updated",
                      "payload": {"state": {"status": "ORDER_SHIPPED"},
                                  "order": {"seller": {"name": "localizedattribute:sellerName"}}}},
            "localizedAttributes": [{"locale": "en-US", "sellerName": "The Shop"}]
        });
        e.as_object_mut()
            .unwrap()
            .extend(audience.as_object().unwrap().clone());
        e
    };
    let (status, body) = call(
        &notifications,
        Some(FEED_KEY),
        event(json!({"everyone": true}), "sale-1"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["calls"].as_array().unwrap().len(), 3);
    let held = until("alice's notification", async || {
        let n: Value = reqwest::get(format!("{sim_url}/sim/users/alice/notifications"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let list = n["notifications"][&skill_id].as_array()?.clone();
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(
        held[0]["payload"]["order"]["seller"]["name"], "The Shop",
        "{held:?}"
    );
    let (status, body) = call(&notifications, Some(FEED_KEY), json!({"event": {}})).await;
    assert_eq!(status, 400, "{body}");

    // Bruno turns off all but weather alerts: an order update to him is refused before it goes.
    let r = reqwest::Client::new()
        .post(format!(
            "{sim_url}/sim/skills/{skill_id}/users/bruno/subscriptions"
        ))
        .json(&json!({"events": ["AMAZON.WeatherAlert.Activated"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refused = until("bruno's unsubscription recorded", async || {
        let (status, body) = call(
            &notifications,
            Some(FEED_KEY),
            event(json!({"user": users[1]}), "order-up-1"),
        )
        .await;
        (status == 409).then_some(body)
    })
    .await;
    assert_eq!(refused["error"], "unsubscribed", "{refused}");

    // Chiyo disables the skill: nothing more goes to her.
    let r = reqwest::Client::new()
        .post(format!("{sim_url}/sim/skills/{skill_id}/users/chiyo/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let refused = until("chiyo's disabling recorded", async || {
        let (status, body) = call(&messages, Some(SHOP_KEY), order(&users[2], 9)).await;
        (status == 409).then_some(body)
    })
    .await;
    assert_eq!(refused["error"], "skill_disabled", "{refused}");

    // rask status says what went where, and what Amazon answered.
    let status = rask(&["status", "--config", config], None);
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(out.contains("out-of-session calls:"), "{out}");
    assert!(
        out.contains("message for")
            && out.contains("in EU: sent after 1 attempt(s): Amazon accepted it (202)"),
        "{out}"
    );
}

/// SIGKILL while accepted messages wait in the outbox (Amazon refusing them for now): after a
/// restart every one is sent, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_messages_in_the_outbox_loses_none() {
    const MESSAGES: usize = 40;
    let common::CustomSim {
        sim,
        url: sim_url,
        skill_id,
        root,
        ..
    } = common::custom_sim("api-kill", SimConfig::default(), Some("shop-client")).await;
    sim.world().add_user("emma", Region::Eu, vec![]).unwrap();
    let extra = format!(
        "[skill]\nid = \"{skill_id}\"\ncert_mirror = \"{sim_url}\"\ntrust_root_file = \"{}\"\n\
         client_id = \"shop-client\"\nclient_secret_env = \"RASK_TEST_SHOP_SECRET\"\napi = \"{sim_url}\"\n\
         [[api_keys]]\nname = \"shop\"\nsha256 = \"{}\"\nactions = [\"messages\"]\nper_second = 1000\n",
        root.display(),
        rask_store::digest(SHOP_KEY)
    );
    let config = common::smart_home_config("api-kill", &sim_url, "NA", &extra);
    let config = config.to_str().unwrap();
    let envs = [
        ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
        ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
        ("RASK_TEST_SHOP_SECRET", "shop-client-secret"),
    ];
    let first = start(&["serve", "--config", config], &envs);
    sim.world()
        .set_custom_endpoint(&skill_id, &format!("{}/alexa/skill", first.url()))
        .unwrap();
    custom::send(
        &sim,
        &skill_id,
        "emma",
        &serde_json::from_value(json!({"type": "LaunchRequest"})).unwrap(),
    )
    .await
    .unwrap();
    let user = sim.world().enablement(&skill_id, "emma").unwrap().user_id.clone();
    // Amazon busy: every message is refused 503 and waits for its next attempt.
    sim.world().faults.add(
        serde_json::from_value(json!({"target": "messaging", "status": 503, "count": 100_000})).unwrap(),
    );
    let url = format!("{}/api/v1/messages", first.url());
    for n in 0..MESSAGES {
        let (status, body) = call(
            &url,
            Some(SHOP_KEY),
            json!({"user": user, "data": {"n": n.to_string()}, "key": format!("m-{n}")}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(first); // SIGKILL
    sim.world().faults.clear();

    let second = start(&["serve", "--config", config], &envs);
    let accepted = until("every message sent after the restart", async || {
        let sent: Vec<String> = sim
            .world()
            .log
            .since(0, Some("messaging"))
            .into_iter()
            .filter(|e| e.status == 202)
            .map(|e| e.body["data"]["n"].as_str().unwrap_or_default().to_owned())
            .collect();
        (sent.len() >= MESSAGES).then_some(sent)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut distinct = accepted.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), MESSAGES, "every message: {accepted:?}");
    assert_eq!(
        sim.world()
            .log
            .since(0, Some("messaging"))
            .iter()
            .filter(|e| e.status == 202)
            .count(),
        MESSAGES,
        "and none twice (none was in flight to a 202 at the kill)"
    );
    drop(second);
}
