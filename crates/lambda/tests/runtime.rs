//! The real `rask-lambda` executable under an in-process Lambda service
//! ([`rask_lambda::testing::FakeLambda`]), forwarding to small stand-ins for rask: one that
//! checks the signature, one that is down, one that never answers, one that answers garbage.
//! Forwarding to the real `rask serve` is tested in crates/rask/tests/reaching_alexa.rs.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use rask_lambda::testing::{FakeLambda, Invocation};
use rask_model::forwarder::Signature;
use serde_json::{Value, json};

const SECRET: &str = "forwarder-secret-for-tests-0123456789";

struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(lambda: &FakeLambda, rask_url: &str, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask-lambda"));
    cmd.env_clear()
        .envs(lambda.function_env())
        .env("AWS_REGION", "eu-west-1")
        .env("RASK_URL", rask_url)
        .env("RASK_FORWARDER_SECRET", SECRET);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

fn function(lambda: &FakeLambda, rask_url: &str, extra: &[(&str, &str)]) -> Function {
    let child = command(lambda, rask_url, extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rask-lambda starts");
    Function(child)
}

fn turn_on() -> Value {
    json!({"directive": {
        "header": {"namespace": "Alexa.PowerController", "name": "TurnOn", "messageId": "m-1",
                   "correlationToken": "corr-1", "payloadVersion": "3"},
        "endpoint": {"scope": {"type": "BearerToken", "token": "access-token"}, "endpointId": "lamp"},
        "payload": {}}})
}

fn response(outcome: Invocation) -> Value {
    match outcome {
        Invocation::Response(v) => v,
        other => panic!("the function failed as a Lambda: {other:?}"),
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn the_directive_arrives_signed_with_the_region_and_the_answer_comes_back() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(HeaderMap, Bytes)>();
    let rask = serve(Router::new().route(
        "/alexa/smarthome",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                tx.send((headers, body)).unwrap();
                axum::Json(json!({"event": {"header": {"namespace": "Alexa", "name": "Response",
                    "messageId": "r-1", "correlationToken": "corr-1", "payloadVersion": "3"}, "payload": {}}}))
            }
        }),
    ))
    .await;
    let lambda = FakeLambda::start().await;
    let _f = function(&lambda, &rask, &[]);

    let answer = response(lambda.invoke(turn_on()).await);
    assert_eq!(
        answer["event"]["header"]["name"], "Response",
        "rask's answer, unchanged"
    );
    let (headers, body) = rx.recv().await.unwrap();
    let received: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(received, turn_on(), "the directive, unchanged");
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let signature = Signature::from_headers(get).unwrap();
    assert_eq!(signature.region, "eu-west-1");
    assert!(
        signature.nonce.starts_with("00000000-0000-4000-8000-"),
        "the Lambda request id"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    signature.verify(SECRET.as_bytes(), &body, now).unwrap();
}

#[tokio::test]
async fn a_rask_that_is_down_is_bridge_unreachable_and_accept_grant_fails_as_such() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lambda = FakeLambda::start().await;
    let _f = function(&lambda, &format!("http://127.0.0.1:{port}"), &[]);

    let answer = response(lambda.invoke(turn_on()).await);
    assert_eq!(answer["event"]["payload"]["type"], "BRIDGE_UNREACHABLE");
    assert_eq!(answer["event"]["header"]["correlationToken"], "corr-1");
    assert!(
        answer["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );

    let grant = json!({"directive": {
        "header": {"namespace": "Alexa.Authorization", "name": "AcceptGrant", "messageId": "m-2", "payloadVersion": "3"},
        "payload": {"grant": {"type": "OAuth2.AuthorizationCode", "code": "c"},
                    "grantee": {"type": "BearerToken", "token": "t"}}}});
    let answer = response(lambda.invoke(grant).await);
    assert_eq!(answer["event"]["header"]["namespace"], "Alexa.Authorization");
    assert_eq!(answer["event"]["payload"]["type"], "ACCEPT_GRANT_FAILED");
}

#[tokio::test]
async fn a_rask_slower_than_the_deadline_is_bridge_unreachable_inside_alexas_budget() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let lambda = FakeLambda::start().await;
    let _f = function(&lambda, &url, &[("RASK_DEADLINE_MS", "1000")]);

    let started = Instant::now();
    let answer = response(lambda.invoke(turn_on()).await);
    assert_eq!(answer["event"]["payload"]["type"], "BRIDGE_UNREACHABLE");
    assert!(
        answer["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("within 1000 ms"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "Alexa would have given up"
    );
}

#[tokio::test]
async fn an_answer_that_is_not_an_alexa_event_is_internal_error_and_a_proxy_without_rask_unreachable() {
    let rask = serve(
        Router::new()
            .route(
                "/alexa/smarthome",
                post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "<html>oops</html>") }),
            )
            .route(
                "/proxy/alexa/smarthome",
                post(|| async { (axum::http::StatusCode::BAD_GATEWAY, "<html>bad gateway</html>") }),
            ),
    )
    .await;
    let lambda = FakeLambda::start().await;
    let _f = function(&lambda, &rask, &[]);
    let answer = response(lambda.invoke(turn_on()).await);
    assert_eq!(answer["event"]["payload"]["type"], "INTERNAL_ERROR");
    assert!(
        answer["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 500")
    );
    drop(_f);

    // A reverse proxy whose rask is gone answers 502: that is rask unreachable.
    let lambda = FakeLambda::start().await;
    let _f = function(&lambda, &format!("{rask}/proxy"), &[]);
    let answer = response(lambda.invoke(turn_on()).await);
    assert_eq!(
        answer["event"]["payload"]["type"], "BRIDGE_UNREACHABLE",
        "{answer}"
    );
    assert!(
        answer["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 502")
    );
}

#[tokio::test]
async fn the_lambdas_own_timeout_cuts_the_deadline_short() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    // A function configured with a 2 s timeout, and rask's default 7 s deadline: the forwarder
    // must answer before Lambda kills it, or Alexa would see a Lambda failure.
    let mut lambda = FakeLambda::start().await;
    lambda.timeout = Duration::from_secs(2);
    let _f = function(&lambda, &url, &[]);
    let answer = response(lambda.invoke(turn_on()).await);
    assert_eq!(
        answer["event"]["payload"]["type"], "BRIDGE_UNREACHABLE",
        "{answer}"
    );
}

#[tokio::test]
async fn a_missing_setting_stops_the_function_naming_the_variable() {
    let lambda = FakeLambda::start().await;
    let out = command(&lambda, "https://home.example.com", &[])
        .env_remove("RASK_FORWARDER_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("RASK_FORWARDER_SECRET"), "{log}");
}
