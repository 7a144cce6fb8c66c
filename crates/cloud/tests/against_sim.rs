//! rask-cloud's clients against `rask sim`, which answers as Amazon documents.

use std::time::{Duration, Instant};

use rask_cloud::gateway::{EventGateway, GatewayCode, GatewayError};
use rask_cloud::lwa::{LwaClient, LwaError};
use rask_cloud::region::{Endpoints, Region};
use rask_model::lwa::{OAuthErrorCode, SCOPE_SKILL_MESSAGING};
use rask_model::smarthome::EventMessage;
use rask_sim::{Sim, SimConfig};
use serde_json::json;

struct World {
    sim: Sim,
    url: String,
    skill: String,
    lwa: LwaClient,
    gateway: EventGateway,
}

async fn world() -> World {
    let (sim, addr) = Sim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{addr}");
    let skill = sim
        .world()
        .register_skill(
            serde_json::from_value(json!({"lwaClientId": "client-1", "lwaClientSecret": "secret-1"}))
                .unwrap(),
        )
        .unwrap()
        .skill_id;
    sim.world()
        .add_user("alice", rask_sim::Region::Eu, vec![])
        .unwrap();
    sim.world().enable(&skill, "alice").unwrap();
    let endpoints = Endpoints::simulator(&url);
    let http = rask_cloud::http_client(Duration::from_secs(10));
    let lwa = LwaClient::new(http.clone(), endpoints.token_url(), "client-1", "secret-1");
    World {
        sim,
        url,
        skill,
        lwa,
        gateway: EventGateway::new(http, endpoints),
    }
}

fn grant_code(w: &World) -> String {
    w.sim
        .world()
        .mint_grant_code(&w.skill, "alice", Instant::now())
        .unwrap()
}

fn press(token: &str) -> EventMessage {
    EventMessage::doorbell_press("front-door", token, time::OffsetDateTime::now_utc())
}

async fn fault(w: &World, body: serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/sim/faults", w.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn grant_code_exchange_then_events_then_refresh() {
    let w = world().await;
    let t = w.lwa.exchange_code(&grant_code(&w)).await.unwrap();
    let refresh = t.refresh_token.clone().unwrap();
    w.gateway
        .send(Region::Eu, &t.access_token, &press(&t.access_token))
        .await
        .unwrap();

    // The wrong region's gateway does not know the grant.
    let e = w
        .gateway
        .send(Region::Na, &t.access_token, &press(&t.access_token))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            GatewayError::Rejected {
                status: 403,
                code: GatewayCode::SkillNeverEnabled,
                ..
            }
        ),
        "{e:?}"
    );

    fault(&w, json!({"action": "expireTokens", "user": "alice"})).await;
    let e = w
        .gateway
        .send(Region::Eu, &t.access_token, &press(&t.access_token))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            GatewayError::Rejected {
                status: 401,
                code: GatewayCode::InvalidAccessToken,
                ..
            }
        ),
        "{e:?}"
    );
    let fresh = w.lwa.refresh(&refresh).await.unwrap();
    w.gateway
        .send(Region::Eu, &fresh.access_token, &press(&fresh.access_token))
        .await
        .unwrap();

    // A spent code is invalid_grant: the credentials are refused, retrying cannot help.
    let spent = w
        .sim
        .world()
        .mint_grant_code(&w.skill, "alice", Instant::now())
        .unwrap();
    w.lwa.exchange_code(&spent).await.unwrap();
    let e = w.lwa.exchange_code(&spent).await.unwrap_err();
    assert!(
        matches!(&e, LwaError::Refused(t) if t.error == OAuthErrorCode::InvalidGrant),
        "{e:?}"
    );
    assert!(e.credentials_refused());
}

#[tokio::test]
async fn gateway_errors_are_typed_by_amazons_code() {
    let w = world().await;
    let t = w.lwa.exchange_code(&grant_code(&w)).await.unwrap().access_token;
    for (status, code) in [
        (429, GatewayCode::Throttling),
        (500, GatewayCode::InternalService),
        (503, GatewayCode::ServiceUnavailable),
    ] {
        fault(&w, json!({"target": "gateway", "status": status})).await;
        let e = w.gateway.send(Region::Eu, &t, &press(&t)).await.unwrap_err();
        assert!(
            matches!(&e, GatewayError::Rejected { status: s, code: c, .. } if *s == status && *c == code),
            "{e:?}"
        );
    }
    // The code wins over the status.
    fault(
        &w,
        json!({"target": "gateway", "status": 400, "code": "SKILL_DISABLED_EXCEPTION"}),
    )
    .await;
    let e = w.gateway.send(Region::Eu, &t, &press(&t)).await.unwrap_err();
    assert!(
        matches!(
            e,
            GatewayError::Rejected {
                status: 400,
                code: GatewayCode::SkillNeverEnabled,
                ..
            }
        ),
        "{e:?}"
    );

    fault(
        &w,
        json!({"action": "disableSkill", "user": "alice", "skillId": w.skill}),
    )
    .await;
    let e = w.gateway.send(Region::Eu, &t, &press(&t)).await.unwrap_err();
    assert!(
        matches!(
            e,
            GatewayError::Rejected {
                code: GatewayCode::SkillNeverEnabled,
                ..
            }
        ),
        "{e:?}"
    );

    let nobody = EventGateway::new(
        rask_cloud::http_client(Duration::from_secs(2)),
        Endpoints::simulator("http://127.0.0.1:9"),
    );
    assert!(matches!(
        nobody.send(Region::Eu, &t, &press(&t)).await,
        Err(GatewayError::Transport(_))
    ));
}

#[tokio::test]
async fn client_credential_tokens_are_cached_per_scope() {
    let w = world().await;
    let a = w.lwa.token_for_scope(SCOPE_SKILL_MESSAGING).await.unwrap();
    let b = w.lwa.token_for_scope(SCOPE_SKILL_MESSAGING).await.unwrap();
    assert_eq!(a, b);
    let lwa_calls = w.sim.world().log.since(0, Some("lwa")).len();
    assert_eq!(lwa_calls, 1, "the second call came from the cache");

    let wrong = LwaClient::new(
        reqwest::Client::new(),
        Endpoints::simulator(&w.url).token_url(),
        "client-1",
        "not-the-secret",
    );
    let e = wrong.token_for_scope(SCOPE_SKILL_MESSAGING).await.unwrap_err();
    assert!(
        matches!(&e, LwaError::Refused(t) if t.error == OAuthErrorCode::InvalidClient),
        "{e:?}"
    );
    assert!(e.credentials_refused());
    assert!(!e.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn endpoint_enumeration_lists_custom_gadgets_and_types_each_refusal() {
    use rask_cloud::enumeration::{EnumerationError, get_endpoints};
    let w = world().await;
    let robot = json!({"endpointId": "amzn1.ask.endpoint.R1", "friendlyName": "Robot",
        "capabilities": [{"type": "AlexaInterface", "interface": "Custom.Robot", "version": "1.0"},
                         {"type": "AlexaInterface", "interface": "Alexa.Gadget.StateListener", "version": "1.0"}]});
    w.sim
        .world()
        .set_gadgets("alice", vec![serde_json::from_value(robot).unwrap()])
        .unwrap();
    let token = w.sim.world().mint_api_token(&w.skill, "alice", Instant::now());
    let http = rask_cloud::http_client(Duration::from_secs(10));
    let eu = format!("{}/eu", w.url);

    let gadgets = get_endpoints(&http, &eu, &token).await.unwrap();
    assert_eq!(gadgets.len(), 1);
    assert_eq!(gadgets[0].endpoint_id, "amzn1.ask.endpoint.R1");
    assert_eq!(
        gadgets[0].custom_interfaces().collect::<Vec<_>>(),
        ["Custom.Robot"]
    );

    let refused = get_endpoints(&http, &eu, "not-a-token").await.unwrap_err();
    assert!(
        matches!(&refused, EnumerationError::Unauthorized { code, .. } if code == "UNAUTHORIZED"),
        "{refused}"
    );
    let other_region = get_endpoints(&http, &format!("{}/fe", w.url), &token)
        .await
        .unwrap_err();
    assert!(
        matches!(other_region, EnumerationError::Forbidden { .. }),
        "{other_region}"
    );
    for status in [400, 500, 503] {
        w.sim
            .world()
            .faults
            .add(serde_json::from_value(json!({"target": "endpoints", "status": status})).unwrap());
        let e = get_endpoints(&http, &eu, &token).await.unwrap_err();
        match status {
            400 => assert!(matches!(e, EnumerationError::BadRequest { .. }), "{e}"),
            s => assert!(
                matches!(e, EnumerationError::Unavailable { status, .. } if status == s),
                "{e}"
            ),
        }
    }
    // A hang longer than the deadline: given up on, not waited for.
    w.sim
        .world()
        .faults
        .add(serde_json::from_value(json!({"target": "endpoints", "hangMs": 10000})).unwrap());
    let e = get_endpoints(&http, &eu, &token).await.unwrap_err();
    assert!(matches!(e, EnumerationError::Transport(_)), "{e}");
    // Still works after all that.
    assert_eq!(get_endpoints(&http, &eu, &token).await.unwrap().len(), 1);
}

#[tokio::test]
async fn skill_messages_go_to_each_users_region_and_every_answer_is_typed() {
    use rask_cloud::services::{OutOfSession, ServiceError};
    use rask_model::messaging::SkillMessageRequest;
    let w = world().await;
    for (name, region) in [("nadia", rask_sim::Region::Na), ("fumiko", rask_sim::Region::Fe)] {
        w.sim.world().add_user(name, region, vec![]).unwrap();
        w.sim.world().enable(&w.skill, name).unwrap();
    }
    let id = |user: &str| w.sim.world().enablement(&w.skill, user).unwrap().user_id.clone();
    let endpoints = Endpoints::simulator(&w.url);
    let http = rask_cloud::http_client(Duration::from_secs(2));
    let lwa = std::sync::Arc::new(LwaClient::new(
        http.clone(),
        endpoints.token_url(),
        "client-1",
        "secret-1",
    ));
    let out = OutOfSession::new(http, lwa, endpoints);
    let message = SkillMessageRequest::new(serde_json::from_value(json!({"order": "shipped"})).unwrap());

    for (user, region) in [
        ("nadia", Region::Na),
        ("alice", Region::Eu),
        ("fumiko", Region::Fe),
    ] {
        out.send_message(region, &id(user), &message).await.unwrap();
    }
    let accepted: Vec<Option<String>> = w
        .sim
        .world()
        .log
        .since(0, Some("messaging"))
        .iter()
        .filter(|e| e.status == 202)
        .map(|e| e.region.clone())
        .collect();
    assert_eq!(
        accepted,
        [Some("NA".into()), Some("EU".into()), Some("FE".into())]
    );
    let tokens = || w.sim.world().log.since(0, Some("lwa")).len();
    assert_eq!(tokens(), 1, "one client-credentials token for all three");

    // In another region than the user's: Amazon does not know them there.
    let e = out
        .send_message(Region::Fe, &id("alice"), &message)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::UnknownUser(_)), "{e}");

    // A 403 once: a fresh token, and it goes through; twice: refused, not retried.
    w.sim
        .world()
        .faults
        .add(serde_json::from_value(json!({"target": "messaging", "status": 403})).unwrap());
    out.send_message(Region::Eu, &id("alice"), &message)
        .await
        .unwrap();
    assert_eq!(tokens(), 2, "the token was fetched again after the 403");
    w.sim
        .world()
        .faults
        .add(serde_json::from_value(json!({"target": "messaging", "status": 403, "count": 2})).unwrap());
    let e = out
        .send_message(Region::Eu, &id("alice"), &message)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Forbidden(_)) && !e.retryable(), "{e}");

    for (status, retryable) in [(400, false), (429, true), (500, true)] {
        w.sim
            .world()
            .faults
            .add(serde_json::from_value(json!({"target": "messaging", "status": status})).unwrap());
        let e = out
            .send_message(Region::Eu, &id("alice"), &message)
            .await
            .unwrap_err();
        assert_eq!(e.retryable(), retryable, "{status}: {e}");
    }
    w.sim
        .world()
        .faults
        .add(serde_json::from_value(json!({"target": "messaging", "hangMs": 5000})).unwrap());
    let e = out
        .send_message(Region::Eu, &id("alice"), &message)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Transport(_)), "{e}");

    // Too big, or expiring outside 60 s to a day: refused here, nothing sent.
    let before = w.sim.world().log.since(0, Some("messaging")).len();
    let big = SkillMessageRequest::new(serde_json::from_value(json!({"blob": "x".repeat(7000)})).unwrap());
    assert!(matches!(
        out.send_message(Region::Eu, &id("alice"), &big).await,
        Err(ServiceError::Invalid(_))
    ));
    let mut soon = message.clone();
    soon.expires_after_seconds = Some(10);
    assert!(matches!(
        out.send_message(Region::Eu, &id("alice"), &soon).await,
        Err(ServiceError::Invalid(_))
    ));
    assert_eq!(w.sim.world().log.since(0, Some("messaging")).len(), before);
}

#[tokio::test]
async fn proactive_events_by_stage_and_audience_with_amazons_refusals() {
    use rask_cloud::services::{OutOfSession, ServiceError, Stage};
    use rask_model::proactive::{ProactiveEventRequest, RelevantAudience};
    let w = world().await;
    let alice = w
        .sim
        .world()
        .enablement(&w.skill, "alice")
        .unwrap()
        .user_id
        .clone();
    let endpoints = Endpoints::simulator(&w.url);
    let http = rask_cloud::http_client(Duration::from_secs(5));
    let lwa = std::sync::Arc::new(LwaClient::new(
        http.clone(),
        endpoints.token_url(),
        "client-1",
        "secret-1",
    ));
    let out = OutOfSession::new(http, lwa, endpoints);
    let now = time::OffsetDateTime::now_utc();
    let at = |t: time::OffsetDateTime| rask_model::timestamp::seconds(t);
    let event = |reference: &str, audience: RelevantAudience| -> ProactiveEventRequest {
        serde_json::from_value(json!({
            "timestamp": at(now), "referenceId": reference,
            "expiryTime": at(now + time::Duration::hours(1)),
            "event": {"name": "AMAZON.OrderStatus.Updated",
                      "payload": {"state": {"status": "ORDER_SHIPPED"},
                                  "order": {"seller": {"name": "localizedattribute:sellerName"}}}},
            "localizedAttributes": [{"locale": "en-US", "sellerName": "The Shop"}],
            "relevantAudience": audience
        }))
        .unwrap()
    };
    out.send_event(
        Region::Eu,
        Stage::Development,
        &event("order-1", RelevantAudience::unicast(&alice)),
    )
    .await
    .unwrap();
    out.send_event(
        Region::Eu,
        Stage::Development,
        &event("order-2", RelevantAudience::multicast()),
    )
    .await
    .unwrap();
    let e = out
        .send_event(
            Region::Eu,
            Stage::Development,
            &event("order-1", RelevantAudience::unicast(&alice)),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Duplicate(_)), "{e}");
    w.sim
        .world()
        .faults
        .add(serde_json::from_value(json!({"target": "proactive", "status": 432})).unwrap());
    let e = out
        .send_event(
            Region::Eu,
            Stage::Live,
            &event("order-3", RelevantAudience::unicast(&alice)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, ServiceError::LimitReached(_)) && !e.retryable(),
        "{e}"
    );
    // Broken before it leaves: an unknown schema, an expiry in the past.
    let mut odd = event("order-4", RelevantAudience::multicast());
    odd.event.name = "AMAZON.Custom.Thing".into();
    assert!(matches!(
        out.send_event(Region::Eu, Stage::Live, &odd).await,
        Err(ServiceError::Invalid(_))
    ));
    let mut late = event("order-5", RelevantAudience::multicast());
    late.expiry_time = at(now - time::Duration::hours(1));
    assert!(matches!(
        out.send_event(Region::Eu, Stage::Live, &late).await,
        Err(ServiceError::Invalid(_))
    ));
}
