//! `/metrics` and the JSON logs as a monitoring system and a log pipeline meet them: the real
//! binary on its embedded default, driven as Alexa and a doorbell would drive it.

mod common;

use std::process::Command;
use std::time::Duration;

/// The value of the series `name{labels}` (labels as printed), if it is there.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn scrape(url: &str) -> String {
    let r = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flow_shows_in_metrics_and_in_json_logs_with_its_request() {
    let d = common::fresh_dir("metrics");
    let log_path = d.join("rask.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(&d)
        // JSON's own default filter: info, with the request spans.
        .env_remove("RASK_LOG")
        .env("RASK_LOG_FORMAT", "json")
        .env_remove("RASK_SECRET_KEY")
        .env_remove("RASK_DATABASE_URL");
    let server = common::start_logging(cmd, 21, std::fs::File::create(&log_path).unwrap());
    let url = server.url();
    let text = server.lines.join("\n");

    // Alexa links, grants, discovers; the custom skill is opened; a forgery is refused.
    for step in [
        "sim link ",
        "sim grant ",
        "Alexa.Discovery.Discover",
        "LaunchRequest",
    ] {
        common::run_printed(&text, step, &d);
    }
    let launch = text.lines().find(|l| l.contains("LaunchRequest")).unwrap().trim();
    let forged = Command::new("sh")
        .args(["-c", &format!("{launch} --forge unsigned")])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        forged.status.success(),
        "{}",
        String::from_utf8_lossy(&forged.stderr)
    );

    // A directive with a token rask never issued, and a scanner's path.
    let http = reqwest::Client::new();
    let directive = serde_json::json!({"directive": {
        "header": {"namespace": "Alexa.PowerController", "name": "TurnOn", "messageId": "m1",
                   "correlationToken": "c1", "payloadVersion": "3"},
        "endpoint": {"scope": {"type": "BearerToken", "token": "not-a-token"}, "endpointId": "hall-light"},
        "payload": {}}});
    let refused = http
        .post(format!("{url}/alexa/smarthome"))
        .json(&directive)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 200);
    let scanned = http.get(format!("{url}/wp-login.php?x=1")).send().await.unwrap();
    assert_eq!(scanned.status(), 404);

    // The doorbell, with the caller's request id.
    let secret = common::printed_secret(&text, "front-door/press");
    let pressed = http
        .post(format!("{url}/hooks/devices/front-door/press"))
        .bearer_auth(&secret)
        .header("x-request-id", "press-from-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(pressed.status(), 202);
    assert_eq!(pressed.headers()["x-request-id"], "press-from-test-1");

    let delivered = r#"rask_deliveries_total{kind="DoorbellPress",region="NA",outcome="delivered"}"#;
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = scrape(&url).await;
        // The counter counts the attempt; the row is settled just after.
        let pending = r#"rask_outbox_pending{queue="events"}"#;
        if value(&metrics, delivered) == Some(1.0) && value(&metrics, pending) == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (series, want) in [
        (delivered, 1.0),
        (
            r#"rask_directives_total{namespace="Alexa.Discovery",name="Discover",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"rask_directives_total{namespace="Alexa.Authorization",name="AcceptGrant",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"rask_directives_total{namespace="Alexa.PowerController",name="TurnOn",outcome="INVALID_AUTHORIZATION_CREDENTIAL"}"#,
            1.0,
        ),
        (
            r#"rask_skill_requests_total{type="LaunchRequest",verdict="answered"}"#,
            1.0,
        ),
        (
            r#"rask_skill_requests_total{type="unread",verdict="refused"}"#,
            1.0,
        ),
        (
            r#"rask_http_requests_total{route="other",method="GET",status="404"}"#,
            1.0,
        ),
        (
            r#"rask_http_requests_total{route="/hooks/devices/{id}/{trigger}",method="POST",status="202"}"#,
            1.0,
        ),
        (r#"rask_grants{state="active"}"#, 1.0),
        (r#"rask_outbox_pending{queue="events"}"#, 0.0),
        (r#"rask_build_info{version=""#, f64::NAN),
    ] {
        match value(&metrics, series) {
            Some(v) if want.is_nan() || v == want => {}
            None if want.is_nan() && metrics.contains(series) => {}
            other => panic!("{series}: {other:?}, want {want}\n{metrics}"),
        }
    }
    assert!(
        metrics.contains(r#"rask_http_request_duration_seconds_bucket{le="0.005",route="/alexa/smarthome"}"#)
            || metrics.contains(
                r#"rask_http_request_duration_seconds_bucket{route="/alexa/smarthome",le="0.005"}"#
            ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("wp-login"),
        "a path as sent never becomes a label"
    );
    // docs/metrics.md lists every series served.
    let doc = include_str!("../../../docs/metrics.md");
    for name in metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
    {
        assert!(
            doc.contains(&format!("`{name}")),
            "docs/metrics.md does not list {name}"
        );
    }

    // A proxied request from loopback is not taken for local.
    let proxied = http
        .get(format!("{url}/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 403);
    assert!(proxied.text().await.unwrap().contains("docs/metrics.md"));

    // The log: one JSON object per line, each request's lines carry its id, user and device.
    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| {
                l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(message))
            })
            .unwrap_or_else(|| panic!("no {message:?} in\n{log}"))
    };
    let press = find("doorbell press queued");
    assert_eq!(press["span"]["id"], "press-from-test-1");
    assert_eq!(press["span"]["device"], "front-door");
    assert_eq!(press["span"]["route"], "/hooks/devices/{id}/{trigger}");
    let grant = find("AcceptGrant: events can now be sent");
    assert_eq!(grant["span"]["user"], "demo");
    assert_eq!(grant["span"]["id"].as_str().map(str::len), Some(32));
    assert!(!log.contains(&secret), "the doorbell's secret is never logged");
    assert!(
        !log.contains("demo-password"),
        "the demo user's password is never logged"
    );
}

#[test]
fn a_bad_log_format_is_named() {
    let o = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["status"])
        .env("RASK_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("RASK_LOG_FORMAT is \"xml\": use json"));
}

/// Behind a trusted proxy, /metrics answers the networks `[metrics] allow` names for the
/// clients the proxy names, and anyone with the bearer token; nobody else, loopback included
/// (every request through the proxy comes from it).
#[tokio::test]
async fn metrics_elsewhere_only_as_configured() {
    let d = common::fresh_dir("metrics-access");
    let token = "m".repeat(40);
    std::fs::write(
        d.join("rask.toml"),
        "[server]\nbind = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]\n\
         [metrics]\ntoken_env = \"TEST_METRICS_TOKEN\"\nallow = [\"198.51.100.0/24\"]\n",
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(["serve", "--config", "rask.toml"])
        .current_dir(&d)
        .env("RASK_LOG", "warn")
        .env("TEST_METRICS_TOKEN", &token)
        .env_remove("RASK_SECRET_KEY")
        .env_remove("RASK_DATABASE_URL");
    let server = common::start_command(cmd, 1);
    let url = server.url();
    let http = reqwest::Client::new();
    let status = |from: &'static str, bearer: Option<String>| {
        let mut r = http.get(format!("{url}/metrics")).header("x-forwarded-for", from);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("203.0.113.9", None).await, 403, "a stranger");
    assert_eq!(status("198.51.100.7", None).await, 200, "an allowed network");
    assert_eq!(status("203.0.113.9", Some(token.clone())).await, 200, "the token");
    assert_eq!(
        status("203.0.113.9", Some("m".repeat(39))).await,
        401,
        "a wrong token"
    );
    // A client's own X-Forwarded-For naming loopback (passed on by the proxy) opens nothing.
    assert_eq!(status("127.0.0.1", None).await, 403, "a made-up loopback client");
    let bare = http.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(bare.status(), 403, "through a trusted proxy that names no client");
}
