//! What real Alexa needs, with the real binaries: the `rask-lambda` forwarder under an
//! in-process Lambda service in front of `rask serve` (signature, region, deadlines), `rask
//! serve` over HTTPS, and `rask check` against rask sim.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{rask, start};
use rask_lambda::testing::{FakeLambda, Invocation};
use rask_model::forwarder::Signature;
use serde_json::{Value, json};

const FORWARDER_SECRET: &str = "a-forwarder-secret-for-tests-0123456789";

/// The forwarder executable, built beside `rask` by `cargo test --workspace`.
fn lambda_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_rask")).with_file_name("rask-lambda");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p rask-lambda` (cargo test --workspace does)",
        path.display()
    );
    path
}

/// A running forwarder, killed when dropped.
struct Forwarder(std::process::Child);

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn forwarder(lambda: &FakeLambda, rask_url: &str, aws_region: &str, deadline_ms: &str) -> Forwarder {
    forwarder_with_secret(lambda, rask_url, aws_region, deadline_ms, FORWARDER_SECRET)
}

fn forwarder_with_secret(
    lambda: &FakeLambda,
    rask_url: &str,
    aws_region: &str,
    deadline_ms: &str,
    secret: &str,
) -> Forwarder {
    let child = Command::new(lambda_binary())
        .env_clear()
        .envs(lambda.function_env())
        .env("AWS_REGION", aws_region)
        .env("RASK_URL", rask_url)
        .env("RASK_FORWARDER_SECRET", secret)
        .env("RASK_DEADLINE_MS", deadline_ms)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rask-lambda starts");
    Forwarder(child)
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn turn_on() -> Value {
    json!({"directive": {
        "header": {"namespace": "Alexa.PowerController", "name": "TurnOn", "messageId": "m-1",
                   "correlationToken": "corr-1", "payloadVersion": "3"},
        "endpoint": {"scope": {"type": "BearerToken", "token": "access-token"}, "endpointId": "gate"},
        "payload": {}}})
}

/// A directive rask answers INVALID_DIRECTIVE before looking at its token: a signature that
/// passes shows as that, one that does not as a 401.
fn unknown_directive() -> Vec<u8> {
    serde_json::to_vec(&json!({"directive": {
        "header": {"namespace": "Alexa.Unheard", "name": "Of", "messageId": "m-9", "payloadVersion": "3"},
        "payload": {}}}))
    .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn post_signed(url: &str, body: &[u8], signature: Option<&Signature>) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .post(format!("{url}/alexa/smarthome"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        for (k, v) in s.headers() {
            r = r.header(k, v);
        }
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn answer(outcome: Invocation) -> Value {
    match outcome {
        Invocation::Response(v) => v,
        other => panic!("the forwarder failed as a Lambda: {other:?}"),
    }
}

#[tokio::test]
async fn through_the_forwarder_alexa_links_grants_in_the_lambdas_region_and_discovers() {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // rask's own default region is NA; the forwarder runs in eu-west-1, and that must win.
    let config = common::smart_home_config(
        "rask-forwarder",
        &format!("http://{addr}"),
        "NA",
        "forwarder_secret_env = \"RASK_TEST_FORWARDER_SECRET\"\n\
         [[devices]]\nid = \"gate\"\nname = \"Garden gate\"\nkind = \"doorbell\"\nsecret_env = \"RASK_TEST_GATE_SECRET\"\n",
    );
    let cfg = config.to_str().unwrap();
    let o = rask(
        &["user", "add", "alice", "--config", cfg],
        Some("correct horse battery\n"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let server = start(
        &["serve", "--config", cfg],
        &[
            ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
            ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
            ("RASK_TEST_GATE_SECRET", "gate-secret-0123456789"),
            ("RASK_TEST_FORWARDER_SECRET", FORWARDER_SECRET),
        ],
    );
    let url = server.url();
    let lambda = FakeLambda::start().await;
    let _forwarder = forwarder(&lambda, &url, "eu-west-1", "1500");

    // Alexa (the sim) calls the Lambda, never rask: AcceptGrant and Discover pass through.
    let skill = common::link_and_grant_via(&sim, &url, &lambda.invoke_url(), rask_sim::Region::Eu).await;
    let spec = serde_json::from_value(json!({"namespace": "Alexa.Discovery", "name": "Discover"})).unwrap();
    let discover = rask_sim::drivers::smarthome::send(&sim, &skill, "alice", &spec)
        .await
        .unwrap();
    assert!(discover.valid, "{discover:#?}");
    assert_eq!(
        discover.received["event"]["payload"]["endpoints"][0]["endpointId"],
        "gate"
    );

    // The signed region was recorded at AcceptGrant, and events go to that region's gateway.
    let o = rask(&["status", "--config", cfg], None);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("alice: active (EU)"), "{out}");
    let r = reqwest::Client::new()
        .post(format!("{url}/hooks/devices/gate/press"))
        .bearer_auth("gate-secret-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = sim.world().log.since(0, Some("gateway"));
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 1, "the press reached the gateway");
    assert_eq!(seen[0].region.as_deref(), Some("EU"));

    // Straight to rask: unsigned, signed with another secret, stale or replayed is refused.
    let body = unknown_directive();
    let refused = |(status, v): (u16, Value)| {
        assert_eq!(status, 401, "{v}");
        assert_eq!(
            v["event"]["payload"]["type"], "INVALID_AUTHORIZATION_CREDENTIAL",
            "{v}"
        );
        v["event"]["payload"]["message"].as_str().unwrap().to_owned()
    };
    let m = refused(post_signed(&url, &body, None).await);
    assert!(m.contains("x-rask-region is missing"), "{m}");
    let wrong = Signature::sign(
        b"another-secret-of-enough-length-000000",
        "us-east-1",
        now(),
        "n-1",
        &body,
    );
    let m = refused(post_signed(&url, &body, Some(&wrong)).await);
    assert!(m.contains("does not match"), "{m}");
    let stale = Signature::sign(
        FORWARDER_SECRET.as_bytes(),
        "us-east-1",
        now() - 600,
        "n-2",
        &body,
    );
    let m = refused(post_signed(&url, &body, Some(&stale)).await);
    assert!(m.contains("away from this server's clock"), "{m}");
    let good = Signature::sign(FORWARDER_SECRET.as_bytes(), "us-east-1", now(), "n-3", &body);
    let (status, v) = post_signed(&url, &body, Some(&good)).await;
    assert_eq!(
        (status, &v["event"]["payload"]["type"]),
        (200, &json!("INVALID_DIRECTIVE")),
        "{v}"
    );
    let m = refused(post_signed(&url, &body, Some(&good)).await);
    assert!(m.contains("already accepted once"), "{m}");

    // A forwarder deployed with another secret: rask refuses it, and Alexa hears INTERNAL_ERROR
    // (the bridge's fault), never that the user's own token is bad.
    let misconfigured = FakeLambda::start().await;
    let _other = forwarder_with_secret(
        &misconfigured,
        &url,
        "us-east-1",
        "1500",
        "not-the-secret-rask-has-0123456789abcdef",
    );
    let refused = answer(misconfigured.invoke(turn_on()).await);
    assert_eq!(refused["event"]["payload"]["type"], "INTERNAL_ERROR", "{refused}");
    assert_eq!(refused["event"]["header"]["correlationToken"], "corr-1");
    let m = refused["event"]["payload"]["message"].as_str().unwrap();
    assert!(m.contains("HTTP 401") && m.contains("does not match"), "{m}");

    // rask stopped (SIGSTOP: connections queue, nothing answers): BRIDGE_UNREACHABLE by the
    // forwarder's 1.5 s deadline, well inside Alexa's 8 s.
    signal(server.pid(), "-STOP");
    let started = Instant::now();
    let slow = answer(lambda.invoke(turn_on()).await);
    let waited = started.elapsed();
    signal(server.pid(), "-CONT");
    assert_eq!(slow["event"]["payload"]["type"], "BRIDGE_UNREACHABLE", "{slow}");
    assert_eq!(slow["event"]["header"]["correlationToken"], "corr-1");
    assert!(
        slow["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("within 1500 ms"),
        "{slow}"
    );
    assert!(waited < Duration::from_secs(8), "{waited:?}");

    // rask gone: the same, at once.
    drop(server);
    let down = answer(lambda.invoke(turn_on()).await);
    assert_eq!(down["event"]["payload"]["type"], "BRIDGE_UNREACHABLE", "{down}");
    assert!(
        down["event"]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{down}"
    );
}

/// A free loopback port (free a moment ago).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn rask_serve_speaks_https_and_refuses_plain_http_cleanly_and_check_sees_the_chain() {
    let dir = std::env::temp_dir().join(format!("rask-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let identity = rask_sim::tls::TlsIdentity::generate(&["127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), &identity.cert_chain_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &identity.key_pem).unwrap();
    std::fs::write(dir.join("ca.pem"), identity.ca_pem.as_ref().unwrap()).unwrap();
    let port = free_port();
    let config = dir.join("rask.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\npublic_url = \"https://127.0.0.1:{port}\"\n\
             tls_cert_file = \"{d}/cert.pem\"\ntls_key_file = \"{d}/key.pem\"\ntrusted_proxies = [\"127.0.0.1\"]\n\
             [database]\nurl = \"sqlite://{d}/rask.db\"\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let server = start(&["serve", "--config", cfg], &[]);
    assert_eq!(server.url(), format!("https://127.0.0.1:{port}"));

    let ca = reqwest::Certificate::from_pem(identity.ca_pem.as_ref().unwrap().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let r = client
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok");

    // Plain HTTP to the TLS port: a 400 that says what to do, and the server carries on.
    let r = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("speaks HTTPS"));
    let r = client
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    // Behind a trusted proxy (here: loopback), the linking log names the forwarded client.
    let r = client
        .get(format!(
            "https://127.0.0.1:{port}/oauth/authorize?client_id=nobody&response_type=code&state=s"
        ))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let o = rask(&["link", "log", "--config", cfg], None);
    let log = String::from_utf8_lossy(&o.stdout);
    assert!(log.contains("from 198.51.100.7: FAILED"), "{log}");

    // rask check fetches the public URL as any client would: this private CA is not trusted...
    let o = rask(&["check", "--config", cfg], None);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("FAIL  public url") && out.contains("certificate"),
        "{out}"
    );
    // ...unless told to trust it.
    let ca_file = dir.join("ca.pem");
    let o = rask(
        &["check", "--config", cfg, "--ca-file", ca_file.to_str().unwrap()],
        None,
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("ok    public url: https://127.0.0.1"), "{out}");
    drop(server);

    // A key file that is not a key stops the start, naming the key.
    std::fs::write(dir.join("key.pem"), "not a key").unwrap();
    let o = rask(&["serve", "--config", cfg], None);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("server.tls_cert_file"), "{err}");
}

/// A sim holding the skill's LWA client ("rask-lwa"/"rask-lwa-secret"), as the developer
/// console would: what `rask check` tries the credentials against.
async fn sim_with_the_skills_lwa_client() -> (rask_sim::Sim, std::net::SocketAddr) {
    let (sim, addr) = rask_sim::Sim::start(rask_sim::SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let registration = json!({"vendorId": "M2AAAAAAAAAAAA", "smartHomeEndpoint": "http://127.0.0.1:9/alexa/smarthome",
                              "lwaClientId": "rask-lwa", "lwaClientSecret": "rask-lwa-secret"});
    sim.world()
        .register_skill(serde_json::from_value(registration).unwrap())
        .unwrap();
    (sim, addr)
}

// Multi-threaded: the sim must answer while the test waits on `rask check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rask_check_tries_the_credentials_at_lwa_and_names_every_bad_key() {
    let (_sim, addr) = sim_with_the_skills_lwa_client().await;
    let config = common::smart_home_config("rask-check", &format!("http://{addr}"), "NA", "");
    let cfg = config.to_str().unwrap();
    let env = |lwa: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rask"));
        c.args(["check", "--config", cfg])
            .env("RASK_TEST_LINK_SECRET", "link-secret-0123456789")
            .env("RASK_TEST_LWA_SECRET", lwa)
            .env("RASK_LOG", "warn");
        c.output().unwrap()
    };

    let o = env("rask-lwa-secret");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("ok    config:"), "{out}");
    assert!(
        out.contains("ok    alexa credentials: Login with Amazon"),
        "{out}"
    );

    let o = env("not-the-secret");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  alexa credentials:"), "{out}");
    assert!(out.contains("invalid_client"), "LWA's own answer: {out}");
    assert!(out.contains("Build > Permissions"), "the console page: {out}");

    // A forwarder secret too short to resist guessing is named with its key.
    let short = common::smart_home_config(
        "rask-check-short",
        &format!("http://{addr}"),
        "NA",
        "forwarder_secret_env = \"RASK_TEST_FORWARDER_SECRET\"\n",
    );
    let o = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["check", "--config", short.to_str().unwrap()])
        .env("RASK_TEST_LINK_SECRET", "link-secret-0123456789")
        .env("RASK_TEST_LWA_SECRET", "rask-lwa-secret")
        .env("RASK_TEST_FORWARDER_SECRET", "hunter2")
        .env("RASK_LOG", "warn")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "FAIL  forwarder secret: alexa.forwarder_secret_env: the secret has 7 bytes; use at least 32"
        ),
        "{out}"
    );
    assert!(
        !out.contains("hunter2"),
        "the secret itself is never printed: {out}"
    );

    // An invalid file: one line per bad key, and rask serve refuses with the same lines.
    let bad = config.with_file_name("bad.toml");
    std::fs::write(
        &bad,
        "[server]\ntrusted_proxies = [\"proxy.local\"]\ntls_cert_file = \"c.pem\"\n\
         [alexa]\nlwa_client_id = \"x\"\nlwa_client_secret_env = \"S\"\nregion = \"MARS\"\n",
    )
    .unwrap();
    let o = rask(&["check", "--config", bad.to_str().unwrap()], None);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(
        fails,
        [
            "FAIL  config: server.tls_key_file: set both tls_cert_file and tls_key_file, or neither",
            "FAIL  config: server.trusted_proxies[0]: \"proxy.local\" is not an IP address",
            "FAIL  config: alexa.region: \"MARS\" is not NA, EU or FE",
            "FAIL  config: alexa.forwarder_secret_env: required with api = \"amazon\": Alexa reaches rask only through the forwarder Lambda, which signs each directive with this secret (docs/deploy.md)",
        ],
        "{out}"
    );
    let o = rask(&["serve", "--config", bad.to_str().unwrap()], None);
    let err = String::from_utf8_lossy(&o.stderr);
    for line in &fails {
        assert!(err.contains(line.trim_start_matches("FAIL  config: ")), "{err}");
    }
}

// Multi-threaded: the sim must answer while the test waits on `rask check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rask_check_sends_a_signed_probe_through_the_public_url() {
    let (_sim, addr) = sim_with_the_skills_lwa_client().await;
    let port = free_port();
    let identity = rask_sim::tls::TlsIdentity::generate(&["127.0.0.1".into()]).unwrap();
    // One config signs (rask check, and the server in the first half), the other does not.
    let config = |name: &str, extra: &str| {
        let path = common::smart_home_config(name, &format!("http://{addr}"), "EU", extra);
        let d = path.parent().unwrap().to_owned();
        std::fs::write(d.join("cert.pem"), &identity.cert_chain_pem).unwrap();
        std::fs::write(d.join("key.pem"), &identity.key_pem).unwrap();
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "[server]\nbind = \"127.0.0.1:0\"\n",
            &format!(
                "[server]\nbind = \"127.0.0.1:{port}\"\npublic_url = \"https://127.0.0.1:{port}/\"\n\
                 tls_cert_file = \"{d}/cert.pem\"\ntls_key_file = \"{d}/key.pem\"\n",
                d = d.display()
            ),
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let signing = config(
        "rask-probe-signing",
        "forwarder_secret_env = \"RASK_TEST_FORWARDER_SECRET\"\n",
    );
    let unsigned = config("rask-probe-unsigned", "");
    let ca_file = signing.with_file_name("ca.pem");
    std::fs::write(&ca_file, identity.ca_pem.as_ref().unwrap()).unwrap();
    let secrets = [
        ("RASK_TEST_LINK_SECRET", "link-secret-0123456789"),
        ("RASK_TEST_LWA_SECRET", "rask-lwa-secret"),
    ];
    let check = |forwarder_secret: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_rask"))
            .args(["check", "--config", signing.to_str().unwrap()])
            .args(["--ca-file", ca_file.to_str().unwrap()])
            .envs(secrets)
            .env("RASK_TEST_FORWARDER_SECRET", forwarder_secret)
            .env("RASK_LOG", "warn")
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };

    let server = start(
        &["serve", "--config", signing.to_str().unwrap()],
        &[
            secrets[0],
            secrets[1],
            ("RASK_TEST_FORWARDER_SECRET", FORWARDER_SECRET),
        ],
    );
    assert!(server.url().starts_with("https://"), "{}", server.first_line);
    let (code, out) = check(FORWARDER_SECRET);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "ok    forwarder probe: https://127.0.0.1:{port}/alexa/smarthome accepts a directive signed with this secret and refuses one signed with another"
        )),
        "{out}"
    );
    // The forwarder (and rask check) hold a secret the server does not.
    let (code, out) = check("another-forwarder-secret-0123456789abcdef");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("FAIL  forwarder probe:")
            && out.contains("refused a directive signed with this config's secret")
            && out.contains("RASK_FORWARDER_SECRET differs from rask's"),
        "{out}"
    );
    drop(server);

    // The rask at the public URL was started without a forwarder secret: it checks nothing.
    let _server = start(&["serve", "--config", unsigned.to_str().unwrap()], &secrets);
    let (code, out) = check(FORWARDER_SECRET);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "accepted a directive signed with another secret: the rask serving it checks no signatures"
        ),
        "{out}"
    );
}
