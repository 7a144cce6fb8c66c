//! `rask sim evaluate` against smart-home skills broken on purpose: one that answers with
//! payloadVersion 2, drops EndpointHealth from its Alexa.Response and never sends a
//! ChangeReport fails exactly those rows; one that hangs is reported and the run goes on.

mod common;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};

/// A small smart-home skill with account linking that always lets Alexa in, broken on purpose
/// as a configuration says.
#[derive(Clone)]
struct Broken {
    /// The payloadVersion of every answer.
    version: &'static str,
    /// Whether an Alexa.Response carries EndpointHealth.
    health_in_response: bool,
    /// A directive name it never answers.
    hang_on: Option<&'static str>,
}

async fn broken_skill(b: Broken) -> String {
    let app = Router::new()
        .route(
            "/authorize",
            get(
                |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    let to = format!(
                        "{}?code=a-code&state={}",
                        q.get("redirect_uri").cloned().unwrap_or_default(),
                        q.get("state").cloned().unwrap_or_default()
                    );
                    axum::response::Redirect::to(&to)
                },
            ),
        )
        .route(
            "/token",
            post(|| async {
                axum::Json(json!({"access_token": uuid_like(), "token_type": "bearer",
                                  "expires_in": 3600, "refresh_token": uuid_like()}))
            }),
        )
        .route("/change", post(|| async { "changed, and nobody told" }))
        .route("/smarthome", post(answer))
        .with_state(b);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn uuid_like() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn answer(State(b): State<Broken>, axum::Json(d): axum::Json<Value>) -> axum::Json<Value> {
    let h = &d["directive"]["header"];
    let name = h["name"].as_str().unwrap_or("");
    if b.hang_on == Some(name) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let header = |namespace: &str, name: &str| {
        let mut v = json!({"namespace": namespace, "name": name, "payloadVersion": b.version,
                           "messageId": "5f8a426e-01e4-4cc9-8b79-65f8bd0fd8a4"});
        if let Some(t) = h["correlationToken"].as_str() {
            v["correlationToken"] = json!(t);
        }
        v
    };
    let now = rask_model::timestamp::now_millis();
    let power = json!({"namespace": "Alexa.PowerController", "name": "powerState", "value": "ON",
                       "timeOfSample": now, "uncertaintyInMilliseconds": 0});
    let health = json!({"namespace": "Alexa.EndpointHealth", "name": "connectivity", "value": {"value": "OK"},
                        "timeOfSample": now, "uncertaintyInMilliseconds": 0});
    let endpoint = json!({"endpointId": "lamp"});
    axum::Json(match name {
        "Discover" => json!({"event": {
        "header": {"namespace": "Alexa.Discovery", "name": "Discover.Response", "payloadVersion": b.version,
                   "messageId": "5f8a426e-01e4-4cc9-8b79-65f8bd0fd8a4"},
        "payload": {"endpoints": [{
            "endpointId": "lamp", "manufacturerName": "Broken Inc", "friendlyName": "Lamp",
            "description": "A lamp", "displayCategories": ["LIGHT"],
            "additionalAttributes": {"manufacturer": "Broken Inc", "model": "L1"},
            "capabilities": [
                {"type": "AlexaInterface", "interface": "Alexa", "version": "3"},
                {"type": "AlexaInterface", "interface": "Alexa.PowerController", "version": "3",
                 "properties": {"supported": [{"name": "powerState"}], "retrievable": true, "proactivelyReported": true}},
                {"type": "AlexaInterface", "interface": "Alexa.EndpointHealth", "version": "3",
                 "properties": {"supported": [{"name": "connectivity"}], "retrievable": true, "proactivelyReported": true}}
            ]}]}}}),
        "AcceptGrant" => {
            json!({"event": {"header": header("Alexa.Authorization", "AcceptGrant.Response"), "payload": {}}})
        }
        "ReportState" => {
            json!({"event": {"header": header("Alexa", "StateReport"), "endpoint": endpoint, "payload": {}},
                                "context": {"properties": [power, health]}})
        }
        _ => {
            let mut properties = vec![power];
            if b.health_in_response {
                properties.push(health);
            }
            json!({"event": {"header": header("Alexa", "Response"), "endpoint": endpoint, "payload": {}},
                   "context": {"properties": properties}})
        }
    })
}

/// Registers the broken skill at `url` in `sim`, with its one user "eve".
fn register(sim: &rask_sim::Sim, url: &str) -> String {
    let registration = json!({
        "name": "broken", "smartHomeEndpoint": format!("{url}/smarthome"),
        "accountLinking": {"authorizationUri": format!("{url}/authorize"), "tokenUri": format!("{url}/token"),
                           "clientId": "alexa", "clientSecret": "whatever-it-is"}
    });
    let mut w = sim.world();
    let skill = w
        .register_skill(serde_json::from_value(registration).unwrap())
        .unwrap()
        .skill_id;
    let _ = w.add_user("eve", rask_sim::Region::Na, vec![]);
    skill
}

/// Starts an evaluation through the sim's HTTP API and waits for its end.
async fn evaluate_over_http(sim_url: &str, skill: &str, body: Value) -> Value {
    let client = reqwest::Client::new();
    let started = client
        .post(format!("{sim_url}/sim/skills/{skill}/evaluations"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let answer: Value = started.json().await.unwrap();
    assert_eq!(answer["url"], location);
    for _ in 0..600 {
        let e: Value = client.get(&location).send().await.unwrap().json().await.unwrap();
        if e["progress"] != "running" {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the evaluation did not end within a minute");
}

#[tokio::test]
async fn a_broken_skill_fails_exactly_the_rows_it_breaks() {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sim_url = format!("http://{addr}");
    let url = broken_skill(Broken {
        version: "2",
        health_in_response: false,
        hang_on: None,
    })
    .await;
    let skill = register(&sim, &url);
    let e = evaluate_over_http(
        &sim_url,
        &skill,
        json!({"user": "eve", "username": "eve", "password": "any",
               "changes": [{"endpointId": "lamp", "url": format!("{url}/change")}]}),
    )
    .await;
    assert_eq!(e["progress"], "done", "{e:#}");
    assert_eq!(
        common::evaluation_failures(&e),
        vec![
            ("Target version 3 of the Smart Home API".to_owned(), None),
            (
                "Always report the state of all capability properties, including those defined by EndpointHealth"
                    .to_owned(),
                Some("lamp".to_owned())
            ),
            (
                "Send a ChangeReport within 3 seconds of a physical change of a proactively reported property"
                    .to_owned(),
                Some("lamp".to_owned())
            ),
        ],
        "{e:#}"
    );
    let version = common::evaluation_row(&e, "Target version 3", None)["detail"]
        .as_str()
        .unwrap();
    assert!(version.contains(r#"payloadVersion "2""#), "{version}");
    let health = common::evaluation_row(&e, "Always report the state", Some("lamp"))["detail"]
        .as_str()
        .unwrap();
    assert!(
        health.contains("the Alexa.Response to TurnOn lacks Alexa.EndpointHealth.connectivity"),
        "{health}"
    );
    assert!(
        !health.contains("StateReport"),
        "its StateReport was right: {health}"
    );
    let change = common::evaluation_row(&e, "Send a ChangeReport", Some("lamp"))["detail"]
        .as_str()
        .unwrap();
    assert!(
        change.contains("no ChangeReport reached the Event Gateway within 3 s"),
        "{change}"
    );
    assert_eq!(e["summary"]["fail"], 3);
    // The link's token was refreshed mid-run, through the broken skill's token URI.
    assert_eq!(
        common::evaluation_row(&e, "Link accounts", None)["verdict"],
        "pass",
        "{e:#}"
    );

    // Listed, and found by id; an unknown one is a clear 404.
    let list: Value = reqwest::get(format!("{sim_url}/sim/evaluations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["evaluations"][0]["id"], e["id"]);
    let missing = reqwest::get(format!("{sim_url}/sim/evaluations/999"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // A web page's form cannot start one: the sim's API takes JSON, said so.
    let form = reqwest::Client::new()
        .post(format!("{sim_url}/sim/skills/{skill}/evaluations"))
        .header("content-type", "text/plain")
        .body(r#"{"user": "eve"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    // Nor a page of another site, even with JSON or with no body at all.
    for (path, body) in [
        (
            format!("/sim/skills/{skill}/evaluations"),
            Some(json!({"user": "eve"})),
        ),
        (format!("/sim/skills/{skill}/users/eve/grant"), None),
    ] {
        let mut r = reqwest::Client::new()
            .post(format!("{sim_url}{path}"))
            .header("origin", "https://pages.example");
        if let Some(b) = body {
            r = r.json(&b);
        }
        assert_eq!(r.send().await.unwrap().status(), 403, "{path}");
    }
    // Without a login for an unlinked user, it stops at once and says what to give.
    sim.world()
        .add_user("mallory", rask_sim::Region::Na, vec![])
        .unwrap();
    let stopped = evaluate_over_http(&sim_url, &skill, json!({"user": "mallory"})).await;
    assert_eq!(stopped["progress"], "stopped");
    assert!(
        stopped["error"]
            .as_str()
            .unwrap()
            .contains("give the login for the skill's linking page"),
        "{stopped:#}"
    );
}

#[tokio::test]
async fn a_skill_that_hangs_past_8_s_is_reported_and_the_run_goes_on() {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = broken_skill(Broken {
        version: "3",
        health_in_response: true,
        hang_on: Some("TurnOn"),
    })
    .await;
    let skill = register(&sim, &url);
    let request = serde_json::from_value(json!({"username": "eve", "password": "any"})).unwrap();
    let (s, k) = (sim.clone(), skill.clone());
    let run = tokio::spawn(async move { rask_sim::evaluate::evaluate(&s, &k, "eve", request).await });
    // While it waits on the hang, a second evaluation for eve is refused: one at a time.
    while !sim
        .world()
        .evaluations
        .list()
        .iter()
        .any(|e| e.progress == rask_sim::evaluate::Progress::Running)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = reqwest::Client::new()
        .post(format!("http://{addr}/sim/skills/{skill}/evaluations"))
        .json(&json!({"user": "eve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 409);
    let said: Value = second.json().await.unwrap();
    assert!(
        said["error"].as_str().unwrap().contains("is still running"),
        "{said}"
    );
    let e = serde_json::to_value(run.await.unwrap().unwrap()).unwrap();
    assert_eq!(e["progress"], "done", "{e:#}");
    let timely = common::evaluation_row(&e, "Answer each directive within 8 seconds", None);
    assert_eq!(timely["verdict"], "fail");
    assert!(
        timely["detail"]
            .as_str()
            .unwrap()
            .contains("Alexa.PowerController.TurnOn {} to lamp: no answer within 8000 ms"),
        "{timely:#}"
    );
    let directives = common::evaluation_row(&e, "Answer every directive", Some("lamp"));
    assert_eq!(directives["verdict"], "fail");
    assert!(
        directives["detail"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{directives:#}"
    );
    // One hang says enough: its next directive (TurnOff) was not sent to cost 8 s more.
    assert!(
        directives["detail"]
            .as_str()
            .unwrap()
            .contains("the rest of its directives were not sent"),
        "{directives:#}"
    );
    assert!(
        !sim.world()
            .log
            .since(0, Some("skill.smarthome"))
            .iter()
            .any(|x| x.name.as_deref() == Some("Alexa.PowerController.TurnOff")),
        "TurnOff was not sent"
    );
    // It carried on: the rows after the hang were decided, and only those two failed.
    assert_eq!(common::evaluation_failures(&e).len(), 2, "{e:#}");
    assert_eq!(
        common::evaluation_row(&e, "Always report the state", Some("lamp"))["verdict"],
        "pass"
    );
    assert!(e["latency"]["maxMs"].as_u64().unwrap() >= 8_000, "{e:#}");
}
