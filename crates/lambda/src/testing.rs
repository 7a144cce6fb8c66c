//! AWS Lambda, in-process, for tests: the documented Runtime API (`GET
//! /2018-06-01/runtime/invocation/next`, `POST .../{id}/response`, `POST .../{id}/error`, `POST
//! /2018-06-01/runtime/init/error`) that a real `rask-lambda` process polls, and an invoke side
//! that hands it events as Alexa does: directly, or through `POST /invoke`, which a simulator can
//! use as a skill's smart-home endpoint.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

/// How one invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The function returned this.
    Response(Value),
    /// The function reported an error (a Lambda failure, which Alexa shows as a skill error).
    Error(Value),
    /// Nothing came back before the function's timeout.
    TimedOut,
}

struct Pending {
    id: String,
    event: Value,
    deadline_ms: u64,
}

#[derive(Default)]
struct Inner {
    queue: Mutex<VecDeque<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Invocation>>>,
    init_errors: Mutex<Vec<Value>>,
    arrived: Notify,
    next_id: Mutex<u64>,
}

/// A stand-in for the Lambda service, serving on loopback.
#[derive(Clone)]
pub struct FakeLambda {
    addr: SocketAddr,
    inner: Arc<Inner>,
    /// The function's timeout (Lambda's setting; default 8 s, Alexa's own limit).
    pub timeout: Duration,
}

impl FakeLambda {
    /// Starts serving on a free loopback port.
    pub async fn start() -> FakeLambda {
        let inner = Arc::new(Inner::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("an address");
        let lambda = FakeLambda {
            addr,
            inner,
            timeout: Duration::from_secs(8),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/invoke", post(invoke_route))
            .with_state(lambda.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        lambda
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// The environment Lambda gives a function's process: the Runtime API address and the
    /// function's name, memory, version and log names (lambda_runtime needs them all).
    pub fn function_env(&self) -> [(&'static str, String); 6] {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.runtime_api()),
            ("AWS_LAMBDA_FUNCTION_NAME", "rask-forwarder".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/rask-forwarder".into()),
        ]
    }

    /// A URL that invokes the function with the POSTed JSON and answers its response (or 502).
    pub fn invoke_url(&self) -> String {
        format!("http://{}/invoke", self.addr)
    }

    /// Errors the runtime reported at initialisation.
    pub fn init_errors(&self) -> Vec<Value> {
        self.inner.init_errors.lock().unwrap().clone()
    }

    /// Invokes the function with `event` and waits for it, up to its timeout.
    pub async fn invoke(&self, event: Value) -> Invocation {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut n = self.inner.next_id.lock().unwrap();
            *n += 1;
            format!("00000000-0000-4000-8000-{:012}", *n)
        };
        let deadline = SystemTime::now() + self.timeout;
        let deadline_ms = deadline
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        self.inner.waiting.lock().unwrap().insert(id.clone(), tx);
        self.inner.queue.lock().unwrap().push_back(Pending {
            id: id.clone(),
            event,
            deadline_ms,
        });
        self.inner.arrived.notify_one();
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => {
                self.inner.waiting.lock().unwrap().remove(&id);
                Invocation::TimedOut
            }
        }
    }
}

async fn next(State(l): State<FakeLambda>) -> Response {
    loop {
        let notified = l.inner.arrived.notified();
        if let Some(p) = l.inner.queue.lock().unwrap().pop_front() {
            let mut headers = HeaderMap::new();
            let set = |h: &mut HeaderMap, k: &'static str, v: String| {
                h.insert(k, HeaderValue::from_str(&v).expect("a header value"));
            };
            set(&mut headers, "lambda-runtime-aws-request-id", p.id);
            set(
                &mut headers,
                "lambda-runtime-deadline-ms",
                p.deadline_ms.to_string(),
            );
            set(
                &mut headers,
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-west-1:123456789012:function:rask-forwarder".into(),
            );
            set(
                &mut headers,
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".into(),
            );
            return (headers, Json(p.event)).into_response();
        }
        notified.await;
    }
}

fn finish(l: &FakeLambda, id: &str, outcome: Invocation) -> StatusCode {
    match l.inner.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        // The documented answer for an unknown or already answered request id.
        None => StatusCode::BAD_REQUEST,
    }
}

async fn respond(State(l): State<FakeLambda>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    finish(&l, &id, Invocation::Response(value))
}

async fn fail(State(l): State<FakeLambda>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    finish(&l, &id, Invocation::Error(value))
}

async fn init_error(State(l): State<FakeLambda>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    l.inner.init_errors.lock().unwrap().push(value);
    StatusCode::ACCEPTED
}

async fn invoke_route(State(l): State<FakeLambda>, Json(event): Json<Value>) -> Response {
    match l.invoke(event).await {
        Invocation::Response(v) => Json(v).into_response(),
        Invocation::Error(v) => (StatusCode::BAD_GATEWAY, Json(v)).into_response(),
        Invocation::TimedOut => (StatusCode::GATEWAY_TIMEOUT, "Task timed out").into_response(),
    }
}
