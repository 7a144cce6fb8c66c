//! Account linking as the Alexa app does it.
//!
//! Opens the skill's authorization URI with `client_id`, `response_type=code`, `state`,
//! `scope`, an Amazon-shaped `redirect_uri` (and PKCE when the skill enabled it), follows the
//! pages it is shown (login, then any consent), stops at the redirect back to Amazon, checks
//! `state`, and exchanges the code at the skill's token URI as the console's settings say.
//! Every step is recorded, so that a link that fails says where and why.

use std::time::Instant;

use base64::Engine;
use rask_model::lwa::{TokenError, TokenResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use url::Url;

use super::DriverError;
use super::form;
use crate::Sim;
use crate::log::Entry;
use crate::world::{AccountLinking, CredentialScheme, LinkedTokens, random_text};

/// Alexa's shortest accepted access-token lifetime.
pub const MIN_EXPIRES_IN: u64 = 360;
/// How many pages the driver follows before giving up.
const MAX_STEPS: usize = 12;

/// The user's credentials at the skill's login page.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRequest {
    /// What to type into the user-name field.
    pub username: String,
    /// What to type into the password field.
    pub password: String,
}

/// How the link went, step by step.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkOutcome {
    /// Whether Alexa now holds tokens for the user.
    pub linked: bool,
    /// What happened, in order.
    pub steps: Vec<String>,
    /// The first thing that went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The access token Alexa got (so a test can use it as the grantee).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

fn session_client(sim: &Sim) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(sim.config().skill_timeout)
        .user_agent("Mozilla/5.0 (Linux; Android 14) AlexaApp rask-sim")
        .build()
        .expect("a client with these settings always builds")
}

/// Links `user`'s account with the skill.
pub async fn link(
    sim: &Sim,
    skill_id: &str,
    user: &str,
    req: &LinkRequest,
) -> Result<LinkOutcome, DriverError> {
    let (linking, redirect_uri) = {
        let mut w = sim.world();
        let skill = w.skill(skill_id)?.clone();
        let region = w.user(user)?.region;
        w.enable(skill_id, user)?;
        let linking = skill
            .account_linking
            .clone()
            .ok_or_else(|| DriverError::NotLinked {
                skill_id: skill_id.to_owned(),
                user: user.to_owned(),
                reason: "the skill has no account linking configured".into(),
            })?;
        (linking, skill.redirect_uri(region))
    };
    let mut steps = Vec::new();
    let result = run(sim, &linking, &redirect_uri, req, &mut steps).await;
    let (outcome, status, error) = match result {
        Ok(tokens) => {
            steps.push(format!("linked: access token expires in {} s", tokens.expires_in));
            let access = tokens.access_token.clone();
            if let Ok(e) = sim.world().enablement_mut(skill_id, user) {
                e.link = Some(tokens);
            }
            (
                LinkOutcome {
                    linked: true,
                    steps,
                    error: None,
                    access_token: Some(access),
                },
                200,
                None,
            )
        }
        Err(why) => {
            steps.push(format!("failed: {why}"));
            (
                LinkOutcome {
                    linked: false,
                    steps,
                    error: Some(why.clone()),
                    access_token: None,
                },
                400,
                Some(why),
            )
        }
    };
    let mut entry = Entry::new("linking", status, json!({ "steps": outcome.steps }));
    entry.name = Some("AccountLinking".into());
    entry.skill_id = Some(skill_id.to_owned());
    entry.user = Some(user.to_owned());
    if let Some(e) = error {
        entry = entry.error(e);
    }
    sim.world().log.push(entry);
    Ok(outcome)
}

async fn run(
    sim: &Sim,
    l: &AccountLinking,
    redirect_uri: &str,
    req: &LinkRequest,
    steps: &mut Vec<String>,
) -> Result<LinkedTokens, String> {
    let client = session_client(sim);
    let state = random_text(24);
    let mut url =
        Url::parse(&l.authorization_uri).map_err(|e| format!("the authorization URI is not a URL: {e}"))?;
    let verifier = l.pkce.then(|| random_text(48));
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &l.client_id)
            .append_pair("response_type", "code")
            .append_pair("state", &state)
            .append_pair("redirect_uri", redirect_uri);
        if !l.scopes.is_empty() {
            q.append_pair("scope", &l.scopes.join(" "));
        }
        if let Some(v) = &verifier {
            let challenge =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()));
            q.append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
        }
    }
    steps.push(format!("GET {}", redact(&url)));
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("the authorization URI could not be opened: {e}"))?;
    let mut page_url = url;
    let mut logins = 0;
    let callback = 'pages: {
        for _ in 0..MAX_STEPS {
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("{status} without a Location header"))?
                    .to_owned();
                let next = page_url
                    .join(&location)
                    .map_err(|e| format!("redirect to an invalid URL {location:?}: {e}"))?;
                if is_redirect_to(&next, redirect_uri) {
                    steps.push(format!("{status}: redirected back to Alexa ({})", redact(&next)));
                    break 'pages next;
                }
                steps.push(format!("{status}: follow to {}", redact(&next)));
                response = client
                    .get(next.clone())
                    .send()
                    .await
                    .map_err(|e| format!("{next} could not be opened: {e}"))?;
                page_url = next;
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            if !status.is_success() {
                return Err(format!(
                    "the authorization server answered {status} at {}; the page says: {}",
                    redact(&page_url),
                    snippet(&form::what_it_says(&body))
                ));
            }
            let forms = form::forms(&body);
            let Some(form) = forms.iter().find(|f| f.is_login()).or(forms.first()) else {
                return Err(format!(
                    "the page at {} has no form to fill; it says: {}",
                    redact(&page_url),
                    snippet(&form::what_it_says(&body))
                ));
            };
            let fields = if form.is_login() {
                logins += 1;
                if logins > 1 {
                    let said = form::error_text(&body)
                        .map(|t| format!("; the page says: {t}"))
                        .unwrap_or_default();
                    return Err(format!(
                        "the login form came back after signing in: wrong user name or password?{said}"
                    ));
                }
                steps.push(format!(
                    "login form at {}: filled user name and password",
                    redact(&page_url)
                ));
                form.fill_login(&req.username, &req.password)
            } else {
                steps.push(format!(
                    "form at {} (consent): submitted with its allow button",
                    redact(&page_url)
                ));
                form.fill_consent()
            };
            let action = page_url
                .join(form.action.as_deref().unwrap_or(""))
                .map_err(|e| format!("the form's action is not a URL: {e}"))?;
            response = if form.method == "POST" {
                client.post(action.clone()).form(&fields).send().await
            } else {
                let mut u = action.clone();
                u.query_pairs_mut().clear().extend_pairs(&fields);
                client.get(u).send().await
            }
            .map_err(|e| format!("submitting the form to {action} failed: {e}"))?;
            page_url = action;
        }
        return Err(format!("no redirect back to Alexa after {MAX_STEPS} pages"));
    };

    let params: std::collections::HashMap<String, String> = callback.query_pairs().into_owned().collect();
    if let Some(error) = params.get("error") {
        let desc = params
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(format!(
            "the authorization server sent the user back with error={error}{desc}"
        ));
    }
    if params.get("state") != Some(&state) {
        return Err("the redirect's state is not the state Alexa sent".into());
    }
    let code = params.get("code").ok_or("the redirect carries no code")?;
    steps.push("state matches; exchanging the code at the token URI".into());
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.clone()),
        ("redirect_uri", redirect_uri.to_owned()),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let tokens = token_request(sim, l, form).await?;
    steps.push(format!(
        "token URI answered: token_type {}, expires_in {}",
        tokens.token_type, tokens.expires_in
    ));
    Ok(tokens_to_link(tokens))
}

fn tokens_to_link(t: TokenResponse) -> LinkedTokens {
    LinkedTokens {
        expires_at: Some(Instant::now() + std::time::Duration::from_secs(t.expires_in)),
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_in: t.expires_in,
    }
}

/// POSTs to the skill's token URI with the console's client authentication and checks the
/// answer the way Alexa does.
/// Why the token URI gave no tokens.
struct TokenFailure {
    why: String,
    /// Unreachable, too slow or a 5xx: the server may answer next time, and Alexa keeps the
    /// link. Anything else (an OAuth error, a broken answer) is the server's verdict.
    transient: bool,
}

impl From<String> for TokenFailure {
    fn from(why: String) -> Self {
        TokenFailure {
            why,
            transient: false,
        }
    }
}

async fn token_request(
    sim: &Sim,
    l: &AccountLinking,
    form: Vec<(&str, String)>,
) -> Result<TokenResponse, String> {
    token_request_judged(sim, l, form).await.map_err(|f| f.why)
}

async fn token_request_judged(
    sim: &Sim,
    l: &AccountLinking,
    mut form: Vec<(&str, String)>,
) -> Result<TokenResponse, TokenFailure> {
    let client = reqwest::Client::builder()
        .timeout(sim.config().token_endpoint_timeout)
        .build()
        .expect("a client with a timeout always builds");
    let mut request = client.post(&l.token_uri);
    match l.credentials {
        CredentialScheme::HttpBasic => {
            request = request.basic_auth(form_encode(&l.client_id), Some(form_encode(&l.client_secret)))
        }
        CredentialScheme::RequestBodyCredentials => {
            form.push(("client_id", l.client_id.clone()));
            form.push(("client_secret", l.client_secret.clone()));
        }
    }
    let response = request.form(&form).send().await.map_err(|e| TokenFailure {
        why: if e.is_timeout() {
            format!(
                "the token URI did not answer within {:?} (Alexa's limit)",
                sim.config().token_endpoint_timeout
            )
        } else {
            format!("the token URI could not be reached: {e}")
        },
        transient: true,
    })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let detail = serde_json::from_str::<TokenError>(&body)
            .map(|e| e.to_string())
            .unwrap_or_else(|_| snippet(&body));
        return Err(TokenFailure {
            why: format!("the token URI answered {status}: {detail}"),
            transient: status.is_server_error(),
        });
    }
    let v: Value = serde_json::from_str(&body)
        .map_err(|_| format!("the token URI's answer is not JSON: {}", snippet(&body)))?;
    Ok(token_response(v)?)
}

/// A token URI's 200 answer as Alexa reads it.
fn token_response(v: Value) -> Result<TokenResponse, String> {
    let expires_in = v.get("expires_in").is_some();
    let mut t: TokenResponse = match serde_json::from_value(v.clone()) {
        Ok(t) => t,
        Err(_) if !expires_in => {
            // Without expires_in Alexa uses the console's default token expiration.
            let mut v = v;
            v["expires_in"] = json!(3600);
            serde_json::from_value(v)
                .map_err(|e| format!("the token URI's answer is not a token response: {e}"))?
        }
        Err(e) => {
            return Err(format!("the token URI's answer is not a token response: {e}"));
        }
    };
    if !t.token_type.eq_ignore_ascii_case("bearer") {
        return Err(format!("token_type is {:?}; Alexa needs bearer", t.token_type));
    }
    if t.expires_in < MIN_EXPIRES_IN {
        return Err(format!(
            "expires_in is {} s; Alexa needs access tokens to live at least {MIN_EXPIRES_IN} s",
            t.expires_in
        ));
    }
    t.token_type = t.token_type.to_ascii_lowercase();
    Ok(t)
}

/// The user's account-linking access token, refreshed first if it has expired, as Alexa does
/// before sending a directive or request. A refresh the token URI refuses (an OAuth error, a
/// broken answer) drops the link, as Alexa does; one it could not answer (unreachable, too
/// slow, a 5xx) leaves the link for the next request to try again.
pub async fn fresh_access_token(sim: &Sim, skill_id: &str, user: &str) -> Result<String, DriverError> {
    let not_linked = |reason: &str| DriverError::NotLinked {
        skill_id: skill_id.to_owned(),
        user: user.to_owned(),
        reason: reason.to_owned(),
    };
    let lock = sim.refresh_lock(skill_id, user);
    let _single_flight = lock.lock().await;
    // Read the link after taking the lock: another task may just have refreshed it.
    let (link, linking) = {
        let w = sim.world();
        let e = w.enablement(skill_id, user)?;
        if !e.enabled {
            return Err(not_linked("the skill is disabled"));
        }
        let link = e
            .link
            .clone()
            .ok_or_else(|| not_linked("the account is not linked"))?;
        (link, w.skill(skill_id)?.account_linking.clone())
    };
    if link.expires_at.is_none_or(|t| Instant::now() < t) {
        return Ok(link.access_token);
    }
    let (Some(refresh), Some(linking)) = (link.refresh_token, linking) else {
        return Err(not_linked(
            "the access token expired and there is no refresh token",
        ));
    };
    match token_request_judged(
        sim,
        &linking,
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh.clone()),
        ],
    )
    .await
    {
        Ok(t) => {
            let access = t.access_token.clone();
            let mut w = sim.world();
            if let Ok(e) = w.enablement_mut(skill_id, user) {
                let mut new = tokens_to_link(t);
                if new.refresh_token.is_none() {
                    new.refresh_token = e.link.as_ref().and_then(|l| l.refresh_token.clone());
                }
                e.link = Some(new);
            }
            let mut entry = Entry::new("linking", 200, json!({"refreshed": true}));
            entry.name = Some("RefreshToken".into());
            entry.skill_id = Some(skill_id.to_owned());
            entry.user = Some(user.to_owned());
            w.log.push(entry);
            Ok(access)
        }
        Err(TokenFailure { why, transient: true }) => {
            let reason = format!("refreshing the access token failed for now; the link stays: {why}");
            let mut entry = Entry::new("linking", 503, json!({"refreshed": false})).error(reason.clone());
            entry.name = Some("RefreshToken".into());
            entry.skill_id = Some(skill_id.to_owned());
            entry.user = Some(user.to_owned());
            sim.world().log.push(entry);
            Err(DriverError::RefreshFailed {
                skill_id: skill_id.to_owned(),
                user: user.to_owned(),
                reason,
            })
        }
        Err(TokenFailure { why, .. }) => {
            let reason = format!(
                "refreshing the access token failed, so Alexa drops the link and asks the user to link again: {why}"
            );
            let mut w = sim.world();
            if let Ok(e) = w.enablement_mut(skill_id, user) {
                // Only the link this refresh was for: one linked anew meanwhile stays.
                if e.link.as_ref().and_then(|l| l.refresh_token.as_deref()) == Some(refresh.as_str()) {
                    e.link = None;
                }
            }
            let mut entry = Entry::new("linking", 400, json!({"refreshed": false})).error(reason.clone());
            entry.name = Some("RefreshToken".into());
            entry.skill_id = Some(skill_id.to_owned());
            entry.user = Some(user.to_owned());
            w.log.push(entry);
            Err(not_linked(&reason))
        }
    }
}

/// Whether `url` is `redirect_uri` with a query: same scheme, host, port and path, exactly.
fn is_redirect_to(url: &Url, redirect_uri: &str) -> bool {
    Url::parse(redirect_uri).is_ok_and(|r| {
        url.scheme() == r.scheme()
            && url.host_str() == r.host_str()
            && url.port_or_known_default() == r.port_or_known_default()
            && url.path() == r.path()
    })
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic encoding.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A URL for the steps, with the code and state left out.
fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if matches!(k.as_ref(), "code" | "state" | "code_challenge") {
                "…".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if pairs.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

fn snippet(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 200 {
        format!("{}…", flat.chars().take(200).collect::<String>())
    } else {
        flat
    }
}
