//! `rask message` with the real binaries: a user opens the custom skill (its region is
//! recorded), `rask message` queues a message for them, and the running `rask serve` sends it
//! to their region's Skill Messaging, which delivers `Messaging.MessageReceived`, signed, back
//! to the skill. A user who never opened the skill is refused, saying why.

mod common;

use std::time::Duration;

use common::{rask, start};
use rask_sim::SimConfig;
use rask_sim::drivers::custom;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_message_reaches_the_skill_through_the_users_region() {
    let common::CustomSim {
        sim,
        url: sim_url,
        skill_id,
        dir,
        root,
    } = common::custom_sim("message", SimConfig::default(), Some("skill-client")).await;
    sim.world()
        .add_user("alice", rask_sim::Region::Fe, vec![])
        .unwrap();
    let secret = dir.join("client-secret");
    std::fs::write(&secret, "skill-client-secret\n").unwrap();
    let extra = format!(
        "[skill]\nid = \"{skill_id}\"\ncert_mirror = \"{sim_url}\"\ntrust_root_file = \"{}\"\n\
         client_id = \"skill-client\"\nclient_secret_file = \"{}\"\napi = \"{sim_url}\"\n",
        root.display(),
        secret.display()
    );
    let config = common::smart_home_config("message", &sim_url, "NA", &extra);
    let config = config.to_str().unwrap();
    let envs = [
        ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
        ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
    ];
    let server = start(&["serve", "--config", config], &envs);
    sim.world()
        .set_custom_endpoint(&skill_id, &format!("{}/alexa/skill", server.url()))
        .unwrap();
    let user = sim
        .world()
        .enablement(&skill_id, "alice")
        .map(|e| e.user_id.clone());

    // Before alice ever opened the skill: her region is unknown, and rask says so.
    let never = rask(
        &[
            "message",
            "amzn1.ask.account.NOBODY",
            "list=groceries",
            "--config",
            config,
        ],
        None,
    );
    assert_eq!(never.status.code(), Some(2));
    let said = String::from_utf8_lossy(&never.stderr);
    assert!(
        said.contains("has not used the skill yet") && said.contains("open the skill once"),
        "{said}"
    );

    let opened = custom::send(
        &sim,
        &skill_id,
        "alice",
        &serde_json::from_value(json!({"type": "LaunchRequest"})).unwrap(),
    )
    .await
    .unwrap();
    assert!(opened.valid, "{opened:#?}");
    let user = user.unwrap_or_else(|_| {
        sim.world()
            .enablement(&skill_id, "alice")
            .unwrap()
            .user_id
            .clone()
    });

    let bad = rask(&["message", &user, "no-equals-sign", "--config", config], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not KEY=VALUE"));

    let queued = rask(
        &[
            "message",
            &user,
            "list=groceries",
            "item=milk",
            "--key",
            "change-7",
            "--config",
            config,
        ],
        None,
    );
    assert!(
        queued.status.success(),
        "{}",
        String::from_utf8_lossy(&queued.stderr)
    );
    let out = String::from_utf8_lossy(&queued.stdout);
    assert!(out.contains("queued") && out.contains("(FE)"), "{out}");
    let again = rask(
        &[
            "message",
            &user,
            "list=groceries",
            "--key",
            "change-7",
            "--config",
            config,
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("already queued"));

    // rask serve sends it to the Far East; the sim delivers it to the skill, signed.
    let mut delivered = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        delivered = sim
            .world()
            .log
            .since(0, Some("skill.messaging"))
            .into_iter()
            .find(|e| e.status == 200);
        if delivered.is_some() {
            break;
        }
    }
    let delivered = delivered.expect("the message reached the skill");
    assert_eq!(
        delivered.sent.as_ref().unwrap()["request"]["message"],
        json!({"list": "groceries", "item": "milk", "messageId": "change-7"}),
        "the key travels in the data, so that the skill hands the message on once"
    );
    let accepted: Vec<_> = sim
        .world()
        .log
        .since(0, Some("messaging"))
        .into_iter()
        .filter(|e| e.status == 202)
        .collect();
    assert_eq!(accepted.len(), 1, "sent once, for one key");
    assert_eq!(accepted[0].region.as_deref(), Some("FE"));

    // A proactive event: to alice in her region, and to everyone in each region.
    let now = time::OffsetDateTime::now_utc();
    let event = |reference: &str, expiry: time::OffsetDateTime| {
        json!({
            "timestamp": rask_model::timestamp::seconds(now), "referenceId": reference,
            "expiryTime": rask_model::timestamp::seconds(expiry),
            "event": {"name": "AMAZON.OrderStatus.Updated",
                      "payload": {"state": {"status": "ORDER_SHIPPED"},
                                  "order": {"seller": {"name": "localizedattribute:sellerName"}}}},
            "localizedAttributes": [{"locale": "en-US", "sellerName": "The Shop"}]
        })
    };
    let file = dir.join("event.json");
    std::fs::write(
        &file,
        event("order-1", now + time::Duration::hours(1)).to_string(),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let one = rask(
        &["notify", "--file", file, "--user", &user, "--config", config],
        None,
    );
    assert!(one.status.success(), "{}", String::from_utf8_lossy(&one.stderr));
    assert!(String::from_utf8_lossy(&one.stdout).contains("for FE"));
    let twice = rask(
        &["notify", "--file", file, "--user", &user, "--config", config],
        None,
    );
    assert!(String::from_utf8_lossy(&twice.stdout).contains("already queued"));
    let all = rask(
        &["notify", "--file", file, "--everyone", "--config", config],
        None,
    );
    assert!(all.status.success(), "{}", String::from_utf8_lossy(&all.stderr));
    let late = dir.join("late.json");
    std::fs::write(
        &late,
        event("order-2", now - time::Duration::hours(1)).to_string(),
    )
    .unwrap();
    let refused = rask(
        &[
            "notify",
            "--file",
            late.to_str().unwrap(),
            "--everyone",
            "--config",
            config,
        ],
        None,
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("expiryTime"));

    // The same from fields: the seller's name, which Amazon wants per locale, goes into
    // localizedAttributes for --locale; a value the schema does not allow is refused.
    let fields = rask(
        &[
            "notify",
            "AMAZON.OrderStatus.Updated",
            "state.status=ORDER_SHIPPED",
            "order.seller.name=The Shop",
            "--user",
            &user,
            "--reference-id",
            "order-9",
            "--config",
            config,
        ],
        None,
    );
    assert!(
        fields.status.success(),
        "{}",
        String::from_utf8_lossy(&fields.stderr)
    );
    let wrong = rask(
        &[
            "notify",
            "AMAZON.OrderStatus.Updated",
            "state.status=LOST",
            "order.seller.name=The Shop",
            "--user",
            &user,
            "--config",
            config,
        ],
        None,
    );
    assert_eq!(wrong.status.code(), Some(2));
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        said.contains("/event/payload/state/status") && said.contains("ORDER_SHIPPED"),
        "{said}"
    );

    let mut sent = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sent = sim
            .world()
            .log
            .since(0, Some("proactive"))
            .into_iter()
            .filter(|e| e.status == 202)
            .map(|e| {
                (
                    e.region.clone().unwrap_or_default(),
                    e.sent.clone().or(Some(e.body.clone())).unwrap_or_default(),
                )
            })
            .collect();
        if sent.len() >= 5 {
            break;
        }
    }
    let mut regions: Vec<&str> = sent.iter().map(|(r, _)| r.as_str()).collect();
    regions.sort();
    assert_eq!(
        regions,
        ["EU", "FE", "FE", "FE", "NA"],
        "two unicasts in FE, a multicast in each region"
    );
    let from_fields = sent
        .iter()
        .map(|(_, body)| body)
        .find(|b| b["referenceId"] == "order-9")
        .expect("the event from fields was sent");
    assert_eq!(
        from_fields["event"]["payload"]["order"]["seller"]["name"],
        "localizedattribute:sellerName"
    );
    assert_eq!(
        from_fields["localizedAttributes"],
        json!([{"locale": "en-US", "sellerName": "The Shop"}])
    );
}
