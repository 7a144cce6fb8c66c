//! `rask check`: is this rask ready for real Alexa? It validates the configuration (one line
//! per bad key, the same messages `rask serve` refuses to start with), reads every secret it
//! names, asks Login with Amazon for a client-credentials token with the skill's Alexa Client
//! Id and Secret, fetches the public URL over HTTPS as any client would, and looks for the
//! forwarder's secret. Each check prints one line, `ok` or `FAIL` with what to do.

use std::path::PathBuf;
use std::time::Duration;

use rask_cloud::lwa::{LwaClient, LwaError};

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
}

/// Where the skill's LWA credentials are found, for messages.
const CREDENTIALS_PAGE: &str = "the Alexa developer console: your skill > Build > Permissions, section \
\"Alexa Skill Messaging\" (\"Alexa Client Id\" and \"Alexa Client Secret\"; turn on \"Send Alexa Events\" first)";

/// The verdicts, printed as they come.
struct Report {
    failed: bool,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl std::fmt::Display) {
        println!("ok    {what}: {detail}");
    }

    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failed = true;
        println!("FAIL  {what}: {detail}");
    }

    fn skip(&mut self, what: &str, detail: impl std::fmt::Display) {
        println!("-     {what}: {detail}");
    }
}

/// Runs `rask check`; false when any check failed.
pub async fn run(args: Args) -> anyhow::Result<bool> {
    let mut report = Report { failed: false };
    let name = args
        .config
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the built-in defaults".into());
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                report.fail("config", e);
            }
            return Ok(false);
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
    credentials(&config, &mut report).await;
    public_url(&config, args.ca_file.as_deref(), &mut report).await;
    forwarder(&config, &mut report);
    Ok(!report.failed)
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
    match lwa.token_for_scope("alexa:skill_messaging").await {
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

/// `server.public_url` over HTTPS, with the certificate checks any client makes.
async fn public_url(config: &Config, ca_file: Option<&std::path::Path>, report: &mut Report) {
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
        return;
    };
    let Ok(parsed) = url::Url::parse(url) else {
        report.fail(WHAT, format!("server.public_url {url:?} is not a URL"));
        return;
    };
    if parsed.scheme() != "https" {
        report.fail(
            WHAT,
            format!("{url} is not https://: Amazon calls account-linking and skill URLs over HTTPS only"),
        );
        return;
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
                return;
            }
        }
    }
    let Ok(client) = client.build() else {
        report.fail(WHAT, "no HTTPS client could be built");
        return;
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
        }
        Ok(r) => report.fail(
            WHAT,
            format!(
                "{health} answered HTTP {}: is this URL rask?",
                r.status().as_u16()
            ),
        ),
        Err(e) => report.fail(WHAT, format!("{health}: {}", rask_cloud::describe(&e))),
    }
}

/// The forwarder's shared secret.
fn forwarder(config: &Config, report: &mut Report) {
    const WHAT: &str = "forwarder secret";
    let Some(alexa) = &config.alexa else {
        report.skip(WHAT, "no [alexa] section");
        return;
    };
    match config.forwarder_secret() {
        Ok(Some(s)) => report.ok(
            WHAT,
            format!(
                "set ({} bytes); give the forwarder Lambda the same value as RASK_FORWARDER_SECRET",
                s.len()
            ),
        ),
        Ok(None) if alexa.api == "amazon" => report.fail(WHAT, "alexa.forwarder_secret_env is not set"),
        Ok(None) => report.skip(WHAT, "not set (rask sim sends directives unsigned)"),
        Err(e) => report.fail(WHAT, e),
    }
}
