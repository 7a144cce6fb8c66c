//! Bad input: whatever a client sends, each API answers with its own error body and status,
//! nothing crashes, and the world is unharmed (the happy path still works afterwards).

use serde_json::Value;

use crate::common::{Harness, PASSWORD, doorbell};

/// The error body each API uses, recognised by shape.
fn api_error_shape(path: &str, body: &Value) -> bool {
    if path.contains("/auth/") {
        body["error"].is_string()
    } else if path.contains("/v3/events") {
        body["payload"]["code"].is_string() && body["header"]["name"] == "Exception"
    } else if path.starts_with("/sim") {
        body["error"].is_string()
    } else {
        body["code"].is_number() && body["message"].is_string()
    }
}

#[tokio::test]
async fn garbage_gets_each_apis_own_error_and_breaks_nothing() {
    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;
    let user_id = h.user_id("alice");
    let paths = [
        "/auth/o2/token".to_string(),
        "/eu/v3/events".into(),
        format!("/eu/v1/skillmessages/users/{user_id}"),
        "/eu/v1/proactiveEvents/stages/development".into(),
        "/eu/v1/proactiveEvents".into(),
        "/sim/skills".into(),
        "/sim/users".into(),
        "/sim/faults".into(),
        format!("/sim/skills/{}/users/alice/directives", h.skill_id),
        format!("/sim/skills/{}/users/alice/requests", h.skill_id),
        format!("/sim/skills/{}/users/alice/link", h.skill_id),
        format!("/sim/skills/{}/evaluations", h.skill_id),
    ];
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"text\"".to_vec(),
        b"{\"event\": 5}".to_vec(),
        b"{\"data\": [1, 2]}".to_vec(),
        b"grant_type=%ZZ".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        br#"{"directive": {"header": {}}}"#.to_vec(),
        br#"{"type": 3, "name": {"a": 1}}"#.to_vec(),
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20 {
        let len = (seed % 300) as usize;
        bodies.push(
            (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed & 0xff) as u8
                })
                .collect(),
        );
    }
    for path in &paths {
        for body in &bodies {
            for token in [Some(lwa.as_str()), None] {
                let mut r = h.http.post(format!("{}{path}", h.url)).body(body.clone());
                if let Some(t) = token {
                    r = r.bearer_auth(t);
                }
                let r = r.header("content-type", "application/json").send().await.unwrap();
                let status = r.status().as_u16();
                let text = r.text().await.unwrap();
                assert!(
                    (400..500).contains(&status),
                    "{path} answered {status} to {body:?}: {text}"
                );
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                assert!(
                    api_error_shape(path, &v),
                    "{path} answered {status} with a foreign body: {text}"
                );
            }
        }
    }
    // Nothing broke: a valid event still goes through, and the link still works.
    let r = h
        .http
        .post(format!("{}/eu/v3/events", h.url))
        .bearer_auth(&lwa)
        .json(&doorbell(&lwa))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(h.link("alice", PASSWORD).await["linked"], true);
}

#[tokio::test]
async fn the_console_shows_skills_users_and_verdicts() {
    let h = Harness::start().await;
    let lwa = h.link_and_grant().await;
    h.http
        .post(format!("{}/eu/v3/events", h.url))
        .bearer_auth(&lwa)
        .json(&doorbell(&lwa))
        .send()
        .await
        .unwrap();
    h.http
        .post(format!("{}/eu/v3/events", h.url))
        .bearer_auth("Atza|forged")
        .json(&doorbell("x"))
        .send()
        .await
        .unwrap();
    let page = h.http.get(format!("{}/sim/", h.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    let bare = h.http.get(format!("{}/sim", h.url)).send().await.unwrap();
    assert_eq!(bare.status(), 200);
    assert!(html.contains(&h.skill_id));
    assert!(html.contains("alice") && html.contains("EU") && html.contains("linked, granted"));
    assert!(html.contains("Alexa.DoorbellEventSource.DoorbellPress"));
    assert!(html.contains("INVALID_ACCESS_TOKEN_EXCEPTION"));
    assert!(html.contains("<span class=\"good\">valid</span>"));
}
