//! `rask check`: is this rask ready for real Alexa? It validates the configuration (one line
//! per bad key, the same messages `rask serve` refuses to start with), reads every secret it
//! names, asks Login with Amazon for a client-credentials token with the skill's Alexa Client
//! Id and Secret, fetches the public URL over HTTPS as any client would, and looks for the
//! forwarder's secret, then sends a probe directive signed with that secret to the public URL's
//! `/alexa/smarthome`, as the forwarder Lambda would. Each check prints one line, `ok` or `FAIL`
//! with what to do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rask_cloud::lwa::{LwaClient, LwaError};
use rask_model::forwarder::Signature;
use rask_model::region::Region;

use crate::config::Config;

/// Arguments of `rask check`.
#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (docs/config.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Also trust this CA's PEM certificate when fetching the public URL. Amazon itself trusts
    /// only public certificate authorities, so use this for a test or internal deployment.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Also evaluate the smart home against the Works with Alexa requirements, with the
    /// embedded simulator as Alexa, offline (docs/evaluate.md); the result is kept for the
    /// owner's console.
    #[arg(long)]
    evaluate: bool,
    /// Only the evaluation: none of the checks that reach outside this machine (LWA, the
    /// public URL), so nothing leaves it.
    #[arg(long, conflicts_with = "ca_file")]
    evaluate_only: bool,
}

/// Where the skill's LWA credentials are found, for messages.
const CREDENTIALS_PAGE: &str = "the Alexa developer console: your skill > Build > Permissions, section \
\"Alexa Skill Messaging\" (\"Alexa Client Id\" and \"Alexa Client Secret\"; turn on \"Send Alexa Events\" first)";

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `ok`, `FAIL`, or `-` (not applicable).
    pub verdict: &'static str,
    /// What was checked.
    pub what: String,
    /// What was found.
    pub detail: String,
}

/// The verdicts: printed as they come (`rask check`), or kept (the console).
struct Report {
    failed: bool,
    kept: Option<Vec<Line>>,
}

impl Report {
    fn say(&mut self, verdict: &'static str, what: &str, detail: impl std::fmt::Display) {
        match &mut self.kept {
            Some(lines) => lines.push(Line {
                verdict,
                what: what.to_owned(),
                detail: detail.to_string(),
            }),
            None => println!("{verdict:<5} {what}: {detail}"),
        }
    }

    fn ok(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.say("ok", what, detail);
    }

    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failed = true;
        self.say("FAIL", what, detail);
    }

    fn skip(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.say("-", what, detail);
    }
}

/// Runs `rask check`; false when any check failed.
pub async fn run(args: Args) -> anyhow::Result<bool> {
    let mut report = Report {
        failed: false,
        kept: None,
    };
    if !args.evaluate_only {
        checks(args.config.as_deref(), args.ca_file.as_deref(), &mut report).await;
    }
    if args.evaluate || args.evaluate_only {
        match crate::evaluate::run(args.config.as_deref()).await {
            Ok(e) => {
                let value = serde_json::to_value(&e)?;
                crate::sim::print_rows(&value);
                crate::evaluate::keep(args.config.as_deref(), &e).await;
                if !e.passed() {
                    report.failed = true;
                }
            }
            Err(e) => report.fail("evaluate", format!("the evaluation could not run: {e:#}")),
        }
    }
    Ok(!report.failed)
}

/// The checks `rask check --config FILE` makes, kept rather than printed (the console's
/// "Run rask check").
pub async fn lines(config: Option<&Path>) -> Vec<Line> {
    let mut report = Report {
        failed: false,
        kept: Some(Vec::new()),
    };
    checks(config, None, &mut report).await;
    report.kept.unwrap_or_default()
}

async fn checks(config: Option<&Path>, ca_file: Option<&Path>, report: &mut Report) {
    let Some(name) = config.map(|p| p.display().to_string()) else {
        embedded(report);
        return;
    };
    let config = match Config::load(Some(Path::new(&name))) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                report.fail("config", e);
            }
            return;
        }
    };
    let problems = config.resolve_problems();
    if problems.is_empty() {
        report.ok(
            "config",
            format!("{name} is valid and every secret it names is readable"),
        );
    }
    for p in &problems {
        report.fail("config", p);
    }
    credentials(&config, report).await;
    let reached = public_url(&config, ca_file, report).await;
    if let Some(secret) = forwarder(&config, report) {
        probe(&config, reached, &secret, report).await;
    }
}

/// `rask check` without `--config`: what `rask serve` runs without one, the embedded default,
/// which needs no file and reaches nothing outside this machine. What can stop it: a data
/// folder it cannot write.
fn embedded(report: &mut Report) {
    report.ok(
        "config",
        format!(
            "no --config: checked the embedded default, which rask serve runs without one (the demo \
             devices, SQLite at {}, the built-in simulator as Alexa); to check a configuration, pass \
             --config FILE",
            crate::demo::DATABASE_URL.trim_start_matches("sqlite://")
        ),
    );
    if std::env::var_os("RASK_DATABASE_URL").is_some() {
        report.fail(
            "config",
            "RASK_DATABASE_URL is set, but the embedded default keeps its own database: rask serve \
             refuses to start so; pass the --config this database belongs to, or unset it",
        );
    }
    const WHAT: &str = "data folder";
    let dir = std::path::Path::new(crate::demo::DATA_DIR);
    // The nearest folder that exists is where rask serve would write (or make the rest).
    let mut at = dir;
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = std::path::Path::new(".");
                break;
            }
        }
    }
    let probe = at.join(format!(".rask-check-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            report.ok(WHAT, format!("{} can be written", at.display()));
        }
        Err(e) => report.fail(
            WHAT,
            format!(
                "{} cannot be written ({e}): run rask serve where it can",
                at.display()
            ),
        ),
    }
    report.skip(
        "alexa credentials",
        "the embedded default's Alexa is its own simulator",
    );
}

/// The scope the skill's credentials are tried with: every skill with "Send Alexa Events" or
/// Skill Messaging may ask for it.
pub const PROBE_SCOPE: &str = "alexa:skill_messaging";

/// A Login with Amazon client for the skill's own credentials, at Amazon or at the `api` the
/// configuration names (rask sim), and the endpoints it uses.
pub fn skill_lwa(alexa: &crate::config::Alexa, secret: String) -> (LwaClient, rask_cloud::region::Endpoints) {
    let endpoints = if alexa.api == "amazon" {
        rask_cloud::region::Endpoints::amazon()
    } else {
        rask_cloud::region::Endpoints::simulator(&alexa.api)
    };
    let lwa = LwaClient::new(
        rask_cloud::http_client(Duration::from_secs(10)),
        endpoints.token_url(),
        alexa.lwa_client_id.clone(),
        secret,
    );
    (lwa, endpoints)
}

/// The skill's Alexa Client Id and Secret, tried at LWA with `client_credentials`.
async fn credentials(config: &Config, report: &mut Report) {
    const WHAT: &str = "alexa credentials";
    let Some(alexa) = &config.alexa else {
        report.skip(WHAT, "no [alexa] section: smart-home events are off");
        return;
    };
    let Ok(Some(secret)) = config.lwa_secret() else {
        report.fail(
            WHAT,
            "the Alexa Client Secret cannot be read (see the config line above)",
        );
        return;
    };
    let (lwa, endpoints) = skill_lwa(alexa, secret);
    match lwa.token_for_scope(PROBE_SCOPE).await {
        Ok(_) => report.ok(
            WHAT,
            format!(
                "Login with Amazon ({}) accepted client id {:?}",
                endpoints.token_url(),
                alexa.lwa_client_id
            ),
        ),
        Err(e @ LwaError::Refused(_)) => report.fail(
            WHAT,
            format!(
                "{e}. alexa.lwa_client_id and the secret in alexa.lwa_client_secret_env/_file must be the \
                 skill's own, from {CREDENTIALS_PAGE}"
            ),
        ),
        Err(e) => report.fail(WHAT, format!("{e} (at {})", endpoints.token_url())),
    }
}

/// A public URL that answered, and the client that reached it.
struct Reached {
    client: reqwest::Client,
    base: String,
}

/// `server.public_url` over HTTPS, with the certificate checks any client makes.
async fn public_url(
    config: &Config,
    ca_file: Option<&std::path::Path>,
    report: &mut Report,
) -> Option<Reached> {
    const WHAT: &str = "public url";
    let real = config.alexa.as_ref().is_some_and(|a| a.api == "amazon");
    let Some(url) = &config.server.public_url else {
        match real {
            true => report.fail(
                WHAT,
                "server.public_url is not set: Alexa and the forwarder need rask's public https:// URL",
            ),
            false => report.skip(WHAT, "server.public_url is not set (not needed with rask sim)"),
        }
        return None;
    };
    let Ok(parsed) = url::Url::parse(url) else {
        report.fail(WHAT, format!("server.public_url {url:?} is not a URL"));
        return None;
    };
    if parsed.scheme() != "https" {
        report.fail(
            WHAT,
            format!("{url} is not https://: Amazon calls account-linking and skill URLs over HTTPS only"),
        );
        return None;
    }
    let mut client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        match std::fs::read(path).map(|pem| reqwest::Certificate::from_pem(&pem)) {
            Ok(Ok(cert)) => client = client.add_root_certificate(cert),
            _ => {
                report.fail(
                    WHAT,
                    format!("--ca-file {} is not a readable PEM certificate", path.display()),
                );
                return None;
            }
        }
    }
    let Ok(client) = client.build() else {
        report.fail(WHAT, "no HTTPS client could be built");
        return None;
    };
    let health = format!("{}/healthz", url.trim_end_matches('/'));
    match client.get(&health).send().await {
        Ok(r) if r.status().is_success() => {
            let port_note = match parsed.port() {
                Some(p) if p != 443 && real => format!(
                    "; but Amazon requires port 443 for the account-linking URLs, and this one is on {p}"
                ),
                _ => String::new(),
            };
            if port_note.is_empty() && ca_file.is_some() {
                report.ok(
                    WHAT,
                    format!(
                        "{health} answers over HTTPS with a chain trusted through --ca-file (Amazon trusts only public CAs)"
                    ),
                );
            } else if port_note.is_empty() {
                report.ok(
                    WHAT,
                    format!("{health} answers over HTTPS with a trusted certificate chain"),
                );
            } else {
                report.fail(WHAT, format!("{health} answers over HTTPS{port_note}"));
            }
            Some(Reached {
                client,
                base: url.trim_end_matches('/').to_owned(),
            })
        }
        Ok(r) => {
            report.fail(
                WHAT,
                format!(
                    "{health} answered HTTP {}: is this URL rask?",
                    r.status().as_u16()
                ),
            );
            None
        }
        Err(e) => {
            report.fail(WHAT, format!("{health}: {}", rask_cloud::describe(&e)));
            None
        }
    }
}

/// The forwarder's shared secret, returned when it is set and usable.
fn forwarder(config: &Config, report: &mut Report) -> Option<Vec<u8>> {
    const WHAT: &str = "forwarder secret";
    let Some(alexa) = &config.alexa else {
        report.skip(WHAT, "no [alexa] section");
        return None;
    };
    match config.forwarder_secret() {
        Ok(Some(s)) => {
            report.ok(
                WHAT,
                format!(
                    "set ({} bytes); give the forwarder Lambda the same value as RASK_FORWARDER_SECRET",
                    s.len()
                ),
            );
            return Some(s);
        }
        Ok(None) if alexa.api == "amazon" => report.fail(WHAT, "alexa.forwarder_secret_env is not set"),
        Ok(None) => report.skip(WHAT, "not set (rask sim sends directives unsigned)"),
        Err(e) => report.fail(WHAT, e),
    }
    None
}

/// What the public URL's `/alexa/smarthome` answered to one signed probe.
enum ProbeAnswer {
    /// 200 with rask's `ErrorResponse` INVALID_DIRECTIVE: the probe reached rask and passed.
    Passed,
    /// 401: rask refused the signature; its message says why.
    Refused(String),
    /// Anything else, described.
    Other(String),
}

/// Sends the forwarder's probe: a directive no skill uses, signed as the forwarder Lambda signs,
/// to the public URL. With the right secret rask answers INVALID_DIRECTIVE (so the request
/// reached rask through any proxy, and the secrets match); with another secret it must refuse,
/// or the rask at that URL checks no signatures at all.
async fn probe(config: &Config, reached: Option<Reached>, secret: &[u8], report: &mut Report) {
    const WHAT: &str = "forwarder probe";
    let Some(reached) = reached else {
        report.skip(WHAT, "the public URL did not answer (see above)");
        return;
    };
    let endpoint = format!("{}/alexa/smarthome", reached.base);
    let region = config
        .alexa
        .as_ref()
        .and_then(|a| Region::parse(&a.region))
        .unwrap_or(Region::Na)
        .aws_region();
    match send_probe(&reached.client, &endpoint, secret, region).await {
        ProbeAnswer::Passed => {}
        ProbeAnswer::Refused(why) => {
            report.fail(
                WHAT,
                format!("{endpoint} refused a directive signed with this config's secret: {why}"),
            );
            return;
        }
        ProbeAnswer::Other(what) => {
            report.fail(WHAT, format!("{endpoint} {what}"));
            return;
        }
    }
    let mut another = secret.to_vec();
    another.extend_from_slice(b" but not this one");
    match send_probe(&reached.client, &endpoint, &another, region).await {
        ProbeAnswer::Refused(_) => report.ok(
            WHAT,
            format!(
                "{endpoint} accepts a directive signed with this secret and refuses one signed with another"
            ),
        ),
        ProbeAnswer::Passed => report.fail(
            WHAT,
            format!(
                "{endpoint} accepted a directive signed with another secret: the rask serving it checks no \
                 signatures. Restart it with this config (alexa.forwarder_secret_env)"
            ),
        ),
        ProbeAnswer::Other(what) => report.fail(WHAT, format!("{endpoint} {what}")),
    }
}

async fn send_probe(client: &reqwest::Client, endpoint: &str, secret: &[u8], region: &str) -> ProbeAnswer {
    let nonce = format!("rask-check-{}", uuid::Uuid::new_v4());
    let body = serde_json::json!({"directive": {
        "header": {"namespace": "Rask.Check", "name": "Probe", "messageId": nonce, "payloadVersion": "3"},
        "payload": {}}})
    .to_string();
    let signature = Signature::sign(
        secret,
        region,
        rask_store::now_ms() / 1000,
        &nonce,
        body.as_bytes(),
    );
    let mut request = client
        .post(endpoint)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in signature.headers() {
        request = request.header(name, value);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return ProbeAnswer::Other(format!("did not answer: {}", rask_cloud::describe(&e))),
    };
    let status = response.status().as_u16();
    let event: Option<serde_json::Value> = response.json().await.ok();
    let field = |path: &str| {
        event
            .as_ref()
            .and_then(|e| e.pointer(path))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    match status {
        200 if field("/event/payload/type") == "INVALID_DIRECTIVE" => ProbeAnswer::Passed,
        401 if field("/event/payload/type") == "INVALID_AUTHORIZATION_CREDENTIAL" => {
            ProbeAnswer::Refused(field("/event/payload/message"))
        }
        404 | 405 => ProbeAnswer::Other(format!(
            "answered HTTP {status}: a reverse proxy in front of rask must pass /alexa/smarthome on to it"
        )),
        _ => ProbeAnswer::Other(format!(
            "answered HTTP {status}, not as rask answers a directive: is this URL rask?"
        )),
    }
}
