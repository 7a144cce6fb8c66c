//! The shop's skill against `rask sim`: a customer in the EU opens it, an order ships, and the
//! notification reaches them (in the EU); after they turn order notifications off in the Alexa
//! app, the next one is refused before it is sent.

use std::time::Duration;

use rask_sim::drivers::custom;
use rask_sim::{Region, Sim, SimConfig};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipped_order_reaches_the_customer_in_their_region() {
    let (sim, addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{addr}");
    let skill_id = sim
        .world()
        .register_skill(
            serde_json::from_value(
                json!({"name": "shop", "lwaClientId": "shop", "lwaClientSecret": "shop-secret"}),
            )
            .unwrap(),
        )
        .unwrap()
        .skill_id;
    sim.world().add_user("elena", Region::Eu, vec![]).unwrap();
    let shop = order_updates::Shop {
        skill_id: skill_id.clone(),
        client: ("shop".into(), "shop-secret".into()),
        endpoints: rask_cloud::region::Endpoints::simulator(&sim_url),
        store: rask_store::Store::connect(&rask_store::testing::sqlite_url())
            .await
            .unwrap(),
    };
    let queue = shop.notifier();
    let app = axum::Router::new().nest("/alexa/skill", rask_skill::service::router(shop.skill(), None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let skill_url = format!("http://{}/alexa/skill", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    sim.world().set_custom_endpoint(&skill_id, &skill_url).unwrap();

    let user = sim.world().enable(&skill_id, "elena").unwrap().user_id.clone();
    let before = order_updates::tell_shipped(&queue, &user, "1001", "The Shop")
        .await
        .unwrap_err();
    assert!(before.to_string().contains("open the skill once"), "{before}");

    let opened = custom::send(
        &sim,
        &skill_id,
        "elena",
        &serde_json::from_value(json!({"type": "LaunchRequest"})).unwrap(),
    )
    .await
    .unwrap();
    assert!(opened.valid, "{opened:#?}");
    let queued = order_updates::tell_shipped(&queue, &user, "1001", "The Shop")
        .await
        .unwrap();
    assert_eq!(queued.region.as_str(), "EU");
    let mut held = Vec::new();
    for _ in 0..100 {
        let n: Value = reqwest::get(format!("{sim_url}/sim/users/elena/notifications"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        held = n["notifications"][&skill_id]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !held.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(held.len(), 1, "the notification reached elena");
    assert_eq!(held[0]["payload"]["order"]["seller"]["name"], "The Shop");

    // Order notifications off in the Alexa app: the skill is told, and the next one is refused.
    reqwest::Client::new()
        .post(format!(
            "{sim_url}/sim/skills/{skill_id}/users/elena/subscriptions"
        ))
        .json(&json!({"events": []}))
        .send()
        .await
        .unwrap();
    for _ in 0..100 {
        let seen = shop.store.skill_user(&skill_id, &user).await.unwrap().unwrap();
        if seen.subscriptions.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = order_updates::tell_shipped(&queue, &user, "1002", "The Shop")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "unsubscribed", "{refused}");
}
