//! `rask sim`: run the simulator, or drive a running one from the command line.
//!
//! With no subcommand it serves. Each subcommand is one call to the simulator's `/sim/` API
//! and prints the JSON answer; it exits 1 when the simulator says the skill's answer was not
//! valid or the call failed.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use rask_sim::{Sim, SimConfig};
use serde_json::{Map, Value, json};

/// Arguments of `rask sim`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// How to serve.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9090", value_name = "ADDR:PORT")]
    bind: SocketAddr,
    /// Life of LWA access tokens, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    token_lifetime: u64,
    /// First retry of an undelivered skill message, in seconds (Amazon: 30).
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    message_retry: u64,
    /// The URL clients use to reach the sim, if not the bound address (behind a proxy).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Serve HTTPS, as Amazon does, with a certificate from a local CA made at start
    /// (unless --cert and --key are given). Amazon's own SDKs refuse plain HTTP.
    #[arg(long)]
    tls: bool,
    /// With --tls: the certificate chain, PEM.
    #[arg(long, requires_all = ["tls", "key"], value_name = "FILE")]
    cert: Option<std::path::PathBuf>,
    /// With --tls: the private key, PEM.
    #[arg(long, requires_all = ["tls", "cert"], value_name = "FILE")]
    key: Option<std::path::PathBuf>,
    /// With --tls and no --cert: where to write the local CA's certificate for clients to trust.
    #[arg(long, default_value = "rask-sim-ca.pem", value_name = "FILE")]
    ca_out: std::path::PathBuf,
}

#[derive(clap::Args)]
struct Target {
    /// The simulator's URL.
    #[arg(
        long,
        env = "RASK_SIM_URL",
        default_value = "http://127.0.0.1:9090",
        global = true
    )]
    sim: String,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Register a skill: its endpoints, account-linking settings and LWA client.
    Skill(SkillArgs),
    /// Add a simulated Amazon user with one Echo.
    User {
        /// The user's name in the sim.
        name: String,
        /// NA, EU or FE.
        #[arg(long, default_value = "NA")]
        region: String,
        #[command(flatten)]
        target: Target,
    },
    /// Link the user's account as the Alexa app does, through the skill's login page.
    Link {
        /// Skill id.
        skill: String,
        /// User name in the sim.
        user: String,
        /// What to type as user name on the skill's login page.
        #[arg(long)]
        username: String,
        /// The password for the skill's login page (or RASK_SIM_PASSWORD).
        #[arg(long, env = "RASK_SIM_PASSWORD", hide_env_values = true)]
        password: String,
        #[command(flatten)]
        target: Target,
    },
    /// Send AcceptGrant with a fresh LWA grant code.
    Grant {
        /// Skill id.
        skill: String,
        /// User name in the sim.
        user: String,
        #[command(flatten)]
        target: Target,
    },
    /// Send a smart-home directive, such as Alexa.Discovery.Discover or Alexa.PowerController.TurnOn.
    Directive {
        /// Skill id.
        skill: String,
        /// User name in the sim.
        user: String,
        /// NAMESPACE.NAME.
        directive: String,
        /// Target endpoint id.
        #[arg(long)]
        endpoint: Option<String>,
        /// Payload as JSON.
        #[arg(long)]
        payload: Option<String>,
        /// Interface instance (RangeController, ModeController, ToggleController).
        #[arg(long)]
        instance: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Evaluate a smart-home skill against the Works with Alexa requirements, offline: link
    /// (if needed), grant, discover, every directive of every declared interface in and out
    /// of range, ReportState, ChangeReports, a token refresh mid-run. Exits 1 on a failed row.
    Evaluate(EvaluateArgs),
    /// Send a custom-skill request: LaunchRequest, IntentRequest or SessionEndedRequest.
    Request {
        /// Skill id.
        skill: String,
        /// User name in the sim.
        user: String,
        /// The request type.
        kind: String,
        /// The intent, for IntentRequest.
        #[arg(long)]
        intent: Option<String>,
        /// A slot value, NAME=VALUE; repeat for more.
        #[arg(long = "slot", value_name = "NAME=VALUE")]
        slots: Vec<String>,
        /// Send a forgery instead, which the skill must refuse with 400: unsigned,
        /// bad-signature, changed-body, old-timestamp, other-skill or bad-cert-url.
        #[arg(long, value_name = "KIND")]
        forge: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Make a user's gadget send an event (delivered while a skill's event handler lets it).
    GadgetEvent {
        /// User name in the sim.
        user: String,
        /// The gadget's endpoint id.
        endpoint: String,
        /// One of the gadget's custom interfaces, such as Custom.Robot.
        #[arg(long)]
        namespace: String,
        /// The event's name, such as Spun.
        #[arg(long)]
        name: String,
        /// Its payload, JSON.
        #[arg(long, default_value = "{}")]
        payload: String,
        #[command(flatten)]
        target: Target,
    },
    /// Print the directives a user's gadget received.
    Gadget {
        /// User name in the sim.
        user: String,
        /// The gadget's endpoint id.
        endpoint: String,
        #[command(flatten)]
        target: Target,
    },
    /// Print what the sim received, with verdicts.
    Events {
        /// Only entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Only one API: lwa, gateway, messaging, proactive, endpoints, skill.smarthome, ...
        #[arg(long)]
        api: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Make the next calls to an API fail or hang.
    Fault {
        /// lwa, gateway, messaging, proactive or endpoints.
        api: String,
        /// Answer with this status.
        #[arg(long)]
        status: Option<u16>,
        /// The error code in the body.
        #[arg(long)]
        code: Option<String>,
        /// Wait this long first, in milliseconds.
        #[arg(long)]
        hang_ms: Option<u64>,
        /// Answer with this body instead of Amazon's (a proxy's HTML page, say); needs --status.
        #[arg(long)]
        body: Option<String>,
        /// The Content-Type of --body (default text/html).
        #[arg(long)]
        content_type: Option<String>,
        /// How many calls.
        #[arg(long, default_value_t = 1)]
        count: u32,
        #[command(flatten)]
        target: Target,
    },
    /// Expire every LWA access token of a user now.
    ExpireTokens {
        /// User name in the sim.
        user: String,
        #[command(flatten)]
        target: Target,
    },
    /// Disable a skill for a user, as in the Alexa app.
    Disable {
        /// Skill id.
        skill: String,
        /// User name in the sim.
        user: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(clap::Args)]
struct EvaluateArgs {
    /// Skill id.
    skill: String,
    /// User name in the sim.
    user: String,
    /// The login for the skill's linking page, if the user has not linked yet.
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// Its password (or RASK_SIM_PASSWORD).
    #[arg(long, env = "RASK_SIM_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// A JSON file with the ways to cause a physical change: `[{"endpointId", "url",
    /// "bearer"?, "bodies"?}]` (rask: each device's state webhook and secret).
    #[arg(long, value_name = "FILE")]
    changes: Option<std::path::PathBuf>,
    /// For an endpoint without a change hook, wait this long for you to change it by hand.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    wait_for_change: u64,
    /// At the end, watch this long for the AddOrUpdateReport and DeleteReport of a device you
    /// add and remove meanwhile.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    wait_for_discovery: u64,
    /// Print the whole evaluation as JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
}

#[derive(clap::Args)]
struct SkillArgs {
    /// A name for the console.
    #[arg(long)]
    name: Option<String>,
    /// Where smart-home directives go.
    #[arg(long)]
    smart_home: Option<String>,
    /// Where custom-skill requests go.
    #[arg(long)]
    custom: Option<String>,
    /// Account linking: authorization URI.
    #[arg(long, requires_all = ["token_uri", "client_id", "client_secret"])]
    authorization_uri: Option<String>,
    /// Account linking: access token URI.
    #[arg(long)]
    token_uri: Option<String>,
    /// Account linking: the client id Alexa uses.
    #[arg(long)]
    client_id: Option<String>,
    /// Account linking: the client secret Alexa uses.
    #[arg(long)]
    client_secret: Option<String>,
    /// Account linking: a scope; repeat for more.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Account linking: send client credentials in the body instead of HTTP Basic.
    #[arg(long)]
    credentials_in_body: bool,
    /// The skill's LWA client id (generated if absent).
    #[arg(long)]
    lwa_client_id: Option<String>,
    /// The skill's LWA client secret (generated if absent).
    #[arg(long)]
    lwa_client_secret: Option<String>,
    #[command(flatten)]
    target: Target,
}

/// Runs `rask sim`.
pub async fn run(args: Args) -> anyhow::Result<bool> {
    match args.action {
        None => serve(args.serve).await.map(|()| true),
        Some(action) => drive(action).await,
    }
}

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let config = SimConfig {
        access_token_lifetime: Duration::from_secs(a.token_lifetime),
        message_retry_initial: Duration::from_secs(a.message_retry),
        public_url: a.public_url.clone(),
        ..SimConfig::default()
    };
    let sim = Sim::new(config);
    let (listener, _) = sim
        .bind(a.bind, a.tls)
        .await
        .with_context(|| format!("cannot listen on {}", a.bind))?;
    let url = sim.base_url().to_owned();
    // The CA file is written before the first line, so whoever reads that line finds it.
    let identity = if a.tls {
        Some(tls_identity(&a, &listener)?)
    } else {
        None
    };
    say(&format!("rask sim: Alexa's cloud, simulated, listening on {url}"));
    if a.tls && a.cert.is_none() {
        say(&format!(
            "  TLS:                    trust the local CA in {} (REQUESTS_CA_BUNDLE, curl --cacert)",
            a.ca_out.display()
        ));
    }
    say(&format!("  console:                {url}/sim/"));
    say(&format!("  Login with Amazon:      {url}/auth/o2/token"));
    say(&format!(
        "  Event Gateway:          {url}/na/v3/events  {url}/eu/v3/events  {url}/fe/v3/events"
    ));
    say(&format!(
        "  Skill Messaging:        {url}/<region>/v1/skillmessages/users/<userId>"
    ));
    say(&format!(
        "  Proactive Events:       {url}/<region>/v1/proactiveEvents[/stages/development]"
    ));
    say(&format!("  Endpoint Enumeration:   {url}/<region>/v1/endpoints"));
    say(&format!("  what it received:       {url}/sim/events"));
    say(&format!(
        "next: register a skill with `rask sim skill --sim {url} --smart-home <URL> ...` (docs/sim.md)"
    ));
    match identity {
        Some(id) => sim
            .serve_tls(listener, &id, shutdown_signal())
            .await
            .context("the simulator stopped"),
        None => sim
            .serve(listener, shutdown_signal())
            .await
            .context("the simulator stopped"),
    }
}

fn tls_identity(
    a: &ServeArgs,
    listener: &tokio::net::TcpListener,
) -> anyhow::Result<rask_sim::tls::TlsIdentity> {
    if let (Some(cert), Some(key)) = (&a.cert, &a.key) {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        };
        return Ok(rask_sim::tls::TlsIdentity::from_pem(read(cert)?, read(key)?));
    }
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let ip = listener.local_addr()?.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        hosts.push(ip.to_string());
    }
    let id = rask_sim::tls::TlsIdentity::generate(&hosts)?;
    if let Some(ca) = &id.ca_pem {
        std::fs::write(&a.ca_out, ca).with_context(|| format!("cannot write {}", a.ca_out.display()))?;
    }
    Ok(id)
}

/// Prints a line for the user; a closed standard output (`rask sim | head -1`) must not take
/// the server down, so write errors are ignored.
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn drive(action: Action) -> anyhow::Result<bool> {
    let (target, method, path, body) = match action {
        Action::Evaluate(a) => return evaluate(a).await,
        Action::Skill(s) => {
            let mut reg = Map::new();
            let mut put = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    reg.insert(k.into(), json!(v));
                }
            };
            put("name", s.name);
            put("smartHomeEndpoint", s.smart_home);
            put("customEndpoint", s.custom);
            put("lwaClientId", s.lwa_client_id);
            put("lwaClientSecret", s.lwa_client_secret);
            if let Some(uri) = s.authorization_uri {
                reg.insert(
                    "accountLinking".into(),
                    json!({
                        "authorizationUri": uri, "tokenUri": s.token_uri, "clientId": s.client_id,
                        "clientSecret": s.client_secret, "scopes": s.scopes,
                        "credentials": if s.credentials_in_body { "REQUEST_BODY_CREDENTIALS" } else { "HTTP_BASIC" },
                    }),
                );
            }
            (
                s.target,
                "POST",
                "/sim/skills".to_owned(),
                Some(Value::Object(reg)),
            )
        }
        Action::User { name, region, target } => (
            target,
            "POST",
            "/sim/users".into(),
            Some(json!({"name": name, "region": region})),
        ),
        Action::Link {
            skill,
            user,
            username,
            password,
            target,
        } => (
            target,
            "POST",
            format!("/sim/skills/{skill}/users/{user}/link"),
            Some(json!({"username": username, "password": password})),
        ),
        Action::Grant { skill, user, target } => (
            target,
            "POST",
            format!("/sim/skills/{skill}/users/{user}/grant"),
            None,
        ),
        Action::Directive {
            skill,
            user,
            directive,
            endpoint,
            payload,
            instance,
            target,
        } => {
            let Some((namespace, name)) = directive.rsplit_once('.') else {
                bail!(
                    "the directive is NAMESPACE.NAME, such as Alexa.PowerController.TurnOn; got {directive:?}"
                );
            };
            let payload: Option<Value> = payload
                .map(|p| serde_json::from_str(&p).with_context(|| format!("--payload is not JSON: {p}")))
                .transpose()?;
            let body = json!({"namespace": namespace, "name": name, "endpointId": endpoint, "payload": payload, "instance": instance});
            (
                target,
                "POST",
                format!("/sim/skills/{skill}/users/{user}/directives"),
                Some(body),
            )
        }
        Action::Request {
            skill,
            user,
            kind,
            intent,
            slots,
            forge,
            target,
        } => {
            let mut slot_map = Map::new();
            for s in slots {
                let (k, v) = s
                    .split_once('=')
                    .with_context(|| format!("--slot is NAME=VALUE; got {s:?}"))?;
                slot_map.insert(k.to_owned(), json!(v));
            }
            let mut body = json!({"type": kind, "intent": intent, "slots": slot_map});
            if let Some(f) = forge {
                body["forge"] = json!(f);
            }
            (
                target,
                "POST",
                format!("/sim/skills/{skill}/users/{user}/requests"),
                Some(body),
            )
        }
        Action::GadgetEvent {
            user,
            endpoint,
            namespace,
            name,
            payload,
            target,
        } => {
            let payload: Value = serde_json::from_str(&payload).context("--payload is not JSON")?;
            (
                target,
                "POST",
                format!("/sim/users/{user}/gadgets/{endpoint}/events"),
                Some(json!({"namespace": namespace, "name": name, "payload": payload})),
            )
        }
        Action::Gadget {
            user,
            endpoint,
            target,
        } => (
            target,
            "GET",
            format!("/sim/users/{user}/gadgets/{endpoint}/directives"),
            None,
        ),
        Action::Events { since, api, target } => {
            let q = api.map(|a| format!("&api={a}")).unwrap_or_default();
            (target, "GET", format!("/sim/events?since={since}{q}"), None)
        }
        Action::Fault {
            api,
            status,
            code,
            hang_ms,
            body,
            content_type,
            count,
            target,
        } => {
            let body = json!({"target": api, "status": status, "code": code, "hangMs": hang_ms,
                              "body": body, "contentType": content_type, "count": count});
            (target, "POST", "/sim/faults".into(), Some(body))
        }
        Action::ExpireTokens { user, target } => (
            target,
            "POST",
            "/sim/faults".into(),
            Some(json!({"action": "expireTokens", "user": user})),
        ),
        Action::Disable { skill, user, target } => (
            target,
            "POST",
            "/sim/faults".into(),
            Some(json!({"action": "disableSkill", "user": user, "skillId": skill})),
        ),
    };
    let client = reqwest::Client::new();
    let url = format!("{}{path}", target.sim.trim_end_matches('/'));
    let request = match method {
        "GET" => client.get(&url),
        _ => client.post(&url).json(&body.unwrap_or_else(|| json!({}))),
    };
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the simulator at {}", target.sim))?;
    let status = response.status();
    let answer: Value = response
        .json()
        .await
        .context("the simulator's answer is not JSON")?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    let valid = answer.get("valid").and_then(Value::as_bool).unwrap_or(true)
        && answer.get("linked").and_then(Value::as_bool).unwrap_or(true);
    Ok(status.is_success() && valid)
}

/// `rask sim evaluate`: starts the evaluation, prints what it asks of the person as it runs,
/// then its rows.
async fn evaluate(a: EvaluateArgs) -> anyhow::Result<bool> {
    let mut body = json!({
        "user": a.user, "username": a.username, "password": a.password,
        "waitForChangeSeconds": a.wait_for_change, "waitForDiscoverySeconds": a.wait_for_discovery,
    });
    if let Some(file) = &a.changes {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let changes: Value = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not JSON: --changes takes a JSON array of change hooks",
                file.display()
            )
        })?;
        anyhow::ensure!(
            changes.is_array(),
            "{} must hold a JSON array of change hooks: [{{\"endpointId\", \"url\", \"bearer\", \"bodies\"}}]",
            file.display()
        );
        body["changes"] = changes;
    }
    let client = reqwest::Client::new();
    let base = a.target.sim.trim_end_matches('/');
    let response = client
        .post(format!("{base}/sim/skills/{}/evaluations", a.skill))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach the simulator at {base}"))?;
    let status = response.status();
    let started: Value = response
        .json()
        .await
        .context("the simulator's answer is not JSON")?;
    if !status.is_success() {
        bail!(
            "the simulator refused the evaluation: {}",
            started["error"].as_str().unwrap_or("no reason given")
        );
    }
    let url = started["url"]
        .as_str()
        .context("the simulator gave no evaluation URL")?
        .to_owned();
    if !a.json {
        say(&format!("evaluating skill {} as {} ({url})", a.skill, a.user));
    }
    let mut asked = None;
    let evaluation = loop {
        let e: Value = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach the simulator at {base}"))?
            .json()
            .await
            .context("the simulator's answer is not JSON")?;
        let waiting = e["waitingFor"].as_str().map(str::to_owned);
        if waiting.is_some() && waiting != asked && !a.json {
            say(&format!(">>> {}", waiting.as_deref().unwrap_or_default()));
        }
        asked = waiting;
        if e["progress"] != "running" {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&evaluation)?);
    } else {
        print_rows(&evaluation);
    }
    Ok(evaluation["progress"] == "done" && evaluation["summary"]["fail"] == 0)
}

/// The rows as a table: verdict, requirement (and endpoint), what was found, the doc link for
/// each failure.
pub(crate) fn print_rows(e: &Value) {
    // What the skill said reaches the terminal: no escape sequence of its own gets through.
    let text = |v: &Value| -> String {
        v.as_str()
            .unwrap_or("")
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    for r in e["rows"].as_array().into_iter().flatten() {
        let verdict = rask_sim::evaluate::label(r["verdict"].as_str().unwrap_or(""));
        let at = r["endpoint"]
            .as_str()
            .map(|_| format!(" [{}]", text(&r["endpoint"])))
            .unwrap_or_default();
        say(&format!(
            "{verdict:<5} {}{at}: {}",
            text(&r["requirement"]),
            text(&r["detail"])
        ));
        if verdict == "FAIL" {
            say(&format!("      see {}", r["doc"].as_str().unwrap_or("")));
        }
    }
    let s = &e["summary"];
    let l = &e["latency"];
    say(&format!(
        "{} passed, {} failed, {} not applicable, {} not checked; answers p50 {} ms, p99 {} ms, slowest {} ms",
        s["pass"], s["fail"], s["notApplicable"], s["notChecked"], l["p50Ms"], l["p99Ms"], l["maxMs"]
    ));
    if e["error"].is_string() {
        say(&format!("the evaluation stopped early: {}", text(&e["error"])));
    }
}
