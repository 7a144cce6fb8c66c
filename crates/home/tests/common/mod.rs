//! A rask home on loopback (account linking and the smart-home endpoint) with rask sim as
//! Alexa, the account linked; shared by the smart-home and delivery tests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use rask_cloud::lwa::LwaClient;
use rask_cloud::region::Endpoints;
use rask_home::{Registry, SmartHome};
use rask_link::secret::Secret;
use rask_link::{ClientAuth, ClientConfig, LinkConfig, Linking};
use rask_model::region::Region;
use rask_sim::{Sim, SimConfig};
use rask_store::Store;
use rask_store::sealer::Sealer;
use serde_json::json;

pub const PASSWORD: &str = "correct horse battery";

pub struct Home {
    pub url: String,
    pub store: Store,
    pub sealer: Sealer,
    pub sim: Sim,
    pub sim_url: String,
    pub skill: String,
}

pub async fn home(store: Store) -> Home {
    home_with(store, axum::Router::new()).await
}

/// A home whose server also serves `extra` routes.
pub async fn home_with(store: Store, extra: axum::Router) -> Home {
    let (sim, addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{addr}");
    let sealer = sealer();
    store
        .add_user(
            &uuid::Uuid::new_v4().to_string(),
            "alice",
            &rask_link::password::hash(PASSWORD).unwrap(),
        )
        .await
        .unwrap();
    let link = LinkConfig {
        clients: vec![ClientConfig {
            id: "alexa".into(),
            secret: Secret::new("link-secret"),
            name: "Alexa".into(),
            vendor_ids: vec!["M2AAAAAAAAAAAA".into()],
            redirect_uris: vec![],
            scopes: vec!["smart_home".into()],
            auth: ClientAuth::Either,
        }],
        ..Default::default()
    };
    let endpoints = Endpoints::simulator(&sim_url);
    let lwa = LwaClient::new(
        rask_cloud::http_client(Duration::from_secs(5)),
        endpoints.token_url(),
        "rask-lwa",
        "rask-lwa-secret",
    );
    let app = rask_link::router(Linking::new(link, store.clone()))
        .merge(rask_home::router(SmartHome::new(
            store.clone(),
            sealer.clone(),
            std::sync::Arc::new(lwa),
            Registry::demo(),
            Region::Eu,
        )))
        .merge(extra);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });

    let skill = sim
        .world()
        .register_skill(serde_json::from_value(json!({
            "vendorId": "M2AAAAAAAAAAAA",
            "smartHomeEndpoint": format!("{url}/alexa/smarthome"),
            "lwaClientId": "rask-lwa", "lwaClientSecret": "rask-lwa-secret",
            "accountLinking": {"authorizationUri": format!("{url}/oauth/authorize"), "tokenUri": format!("{url}/oauth/token"),
                               "clientId": "alexa", "clientSecret": "link-secret", "scopes": ["smart_home"]}
        })).unwrap())
        .unwrap()
        .skill_id;
    sim.world().add_user("alice", Region::Eu, vec![]).unwrap();
    let req = serde_json::from_value(json!({"username": "alice", "password": PASSWORD})).unwrap();
    assert!(
        rask_sim::drivers::link::link(&sim, &skill, "alice", &req)
            .await
            .unwrap()
            .linked
    );
    Home {
        url,
        store,
        sealer,
        sim,
        sim_url,
        skill,
    }
}

/// The test key that seals LWA tokens.
pub fn sealer() -> Sealer {
    Sealer::from_base64(&base64::engine::general_purpose::STANDARD.encode([3u8; 32])).unwrap()
}

/// Sends AcceptGrant through the sim; the grant must be accepted.
pub async fn grant(h: &Home) {
    let ex = rask_sim::drivers::smarthome::accept_grant(&h.sim, &h.skill, "alice")
        .await
        .unwrap();
    assert!(ex.valid, "{ex:#?}");
}

/// An address that takes connections and never answers: a worker pointed at it hangs in every
/// call, as one whose process dies mid-call.
pub async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}
