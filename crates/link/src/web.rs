//! The HTTP routes of account linking: `GET`/`POST /oauth/authorize`, `POST /oauth/token`,
//! `POST /oauth/revoke`.
//!
//! The login and consent pages share one browser session (a random id in an HttpOnly,
//! SameSite=Lax cookie, stored hashed) whose CSRF token every form must carry back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use rask_model::lwa::{Grant, OAuthErrorCode, TokenError, TokenRequest};
use rask_store::oauth::{NewCode, NewFamily, NewTokens};
use rask_store::{Store, digest, now_ms};
use serde::Deserialize;
use serde_json::json;

use crate::authorize::{self, AuthorizeParams, AuthorizeRequest, Refusal};
use crate::config::{ClientAuth, ClientConfig, LinkConfig};
use crate::journal::{self, Step};
use crate::ratelimit::RateLimiter;
use crate::{pages, password, pkce, random_token};

/// The session cookie's name.
pub const COOKIE: &str = "rask_link";

/// The longest user name read from the login form.
pub const MAX_USERNAME: usize = 256;

/// Account linking's state: configuration, store, login limiter.
#[derive(Clone)]
pub struct Linking {
    config: Arc<LinkConfig>,
    store: Store,
    limiter: Arc<RateLimiter>,
    token_limiter: Arc<RateLimiter>,
    validator: crate::Validator,
    verify_slots: Arc<tokio::sync::Semaphore>,
}

impl Linking {
    /// Account linking over `store`.
    pub fn new(config: LinkConfig, store: Store) -> Self {
        let limiter = Arc::new(RateLimiter::new(config.limits));
        let token_limiter = Arc::new(RateLimiter::new(config.token_limits));
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let verify_slots = Arc::new(tokio::sync::Semaphore::new(cores.max(2)));
        Linking {
            config: Arc::new(config),
            validator: crate::Validator::new(store.clone()),
            store,
            limiter,
            token_limiter,
            verify_slots,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// The validator whose cache this linking server keeps honest: a family it revokes is
    /// refused by the validator's next answer.
    pub fn validator(&self) -> &crate::Validator {
        &self.validator
    }

    /// Revokes a token family; every access token of it is refused from now on, here at once.
    pub async fn revoke_family(
        &self,
        id: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), rask_store::StoreError> {
        let done = self.store.revoke_family(id, reason, now).await;
        self.validator.forget_family(id);
        done
    }
}

/// The `/oauth/*` routes.
pub fn router(linking: Linking) -> Router {
    Router::new()
        .route("/oauth/authorize", get(get_authorize).post(post_authorize))
        .route("/oauth/token", post(post_token))
        .route("/oauth/revoke", post(post_revoke))
        .with_state(linking)
}

/// The caller's address, when the server was started with connection info.
pub struct Remote(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Remote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Remote(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_else(|| "unknown".into()),
        ))
    }
}

fn page(status: StatusCode, html: String) -> Response {
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    r
}

/// `302 Found` to `location`, as RFC 6749's examples and Alexa expect.
fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE)
}

/// The value of the cookie `name` among the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn cookie(l: &Linking, id: &str) -> HeaderValue {
    let secure = if l.config.secure_cookies { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={id}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        l.config.session_lifetime.as_secs()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn server_error(l: &Linking, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "account linking failed on the server side");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::error(
            &l.config.service_name,
            "Something went wrong on the server. Try again in a moment.",
        ),
    )
}

async fn refuse(
    l: &Linking,
    refusal: Refusal,
    p: &AuthorizeParams,
    remote: &str,
    step: &'static str,
) -> Response {
    match refusal {
        Refusal::ShowUser(message) => {
            journal::record(
                &l.store,
                Step {
                    step,
                    ok: false,
                    client_id: p.client_id.clone(),
                    remote: Some(remote.into()),
                    detail: format!("{message} [{}]", p.redacted()),
                    ..Default::default()
                },
            )
            .await;
            page(
                StatusCode::BAD_REQUEST,
                pages::error(&l.config.service_name, &message),
            )
        }
        Refusal::Redirect(e) => {
            journal::record(
                &l.store,
                Step {
                    step,
                    ok: false,
                    client_id: p.client_id.clone(),
                    remote: Some(remote.into()),
                    detail: format!(
                        "redirected back with error={}: {} [{}]",
                        e.error,
                        e.description,
                        p.redacted()
                    ),
                    ..Default::default()
                },
            )
            .await;
            found(&e.location())
        }
    }
}

fn client_name<'a>(l: &'a Linking, r: &AuthorizeRequest) -> &'a str {
    l.config
        .client(&r.client_id)
        .map(|c| c.name.as_str())
        .unwrap_or("Alexa")
}

/// `GET /oauth/authorize`: judge the request, then show the login page (or the consent page
/// to a browser that already signed in).
async fn get_authorize(
    State(l): State<Linking>,
    Remote(remote): Remote,
    headers: HeaderMap,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    let req = match authorize::judge(&p, &l.config) {
        Ok(r) => r,
        Err(refusal) => return refuse(&l, refusal, &p, &remote, "authorize").await,
    };
    let now = now_ms();
    let existing = match session_id(&headers) {
        Some(id) => match l.store.session(&digest(&id), now).await {
            Ok(s) => s.map(|s| (id, s)),
            Err(e) => return server_error(&l, e),
        },
        None => None,
    };
    journal::record(
        &l.store,
        Step {
            step: "authorize",
            ok: true,
            client_id: Some(req.client_id.clone()),
            remote: Some(remote),
            detail: p.redacted(),
            ..Default::default()
        },
    )
    .await;
    let (id, csrf, user_id, fresh) = match existing {
        Some((id, s)) => (id, s.csrf, s.user_id, false),
        None => {
            let (id, csrf) = (random_token(), random_token());
            if let Err(e) = l
                .store
                .create_session(
                    &digest(&id),
                    &csrf,
                    now + l.config.session_lifetime.as_millis() as i64,
                )
                .await
            {
                return server_error(&l, e);
            }
            (id, csrf, None, true)
        }
    };
    let user = match user_id {
        Some(uid) => l.store.user_by_id(&uid).await.ok().flatten(),
        None => None,
    };
    let html = match &user {
        Some(u) => pages::consent(
            &l.config.service_name,
            client_name(&l, &req),
            &u.name,
            &req.scopes,
            &req.params(),
            &csrf,
        ),
        None => pages::login(
            &l.config.service_name,
            client_name(&l, &req),
            &req.params(),
            &csrf,
            None,
            "",
        ),
    };
    let mut r = page(StatusCode::OK, html);
    if fresh {
        r.headers_mut().insert(header::SET_COOKIE, cookie(&l, &id));
    }
    r
}

/// The fields of the login and consent forms.
#[derive(Debug, Default, Deserialize)]
struct AuthorizeForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    decision: String,
}

/// `POST /oauth/authorize`: the login form, then the consent form.
async fn post_authorize(
    State(l): State<Linking>,
    Remote(remote): Remote,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let service = l.config.service_name.clone();
    let Ok(form) = serde_urlencoded::from_bytes::<AuthorizeForm>(&body) else {
        return page(
            StatusCode::BAD_REQUEST,
            pages::error(
                &service,
                "The form could not be read. Start again from the Alexa app.",
            ),
        );
    };
    let p = form.params.clone();
    let req = match authorize::judge(&p, &l.config) {
        Ok(r) => r,
        Err(refusal) => return refuse(&l, refusal, &p, &remote, "authorize").await,
    };
    let now = now_ms();
    let sid = session_id(&headers);
    let session = match &sid {
        Some(id) => match l.store.session(&digest(id), now).await {
            Ok(s) => s,
            Err(e) => return server_error(&l, e),
        },
        None => None,
    };
    let (Some(sid), Some(session)) = (sid, session) else {
        return csrf_failure(
            &l,
            &req,
            &remote,
            "no live session cookie (cookies blocked, or the page sat open too long)",
        )
        .await;
    };
    if !crate::secret::Secret::new(session.csrf.clone()).matches(&form.csrf) {
        return csrf_failure(
            &l,
            &req,
            &remote,
            "the form's CSRF token does not match the session",
        )
        .await;
    }
    match form.action.as_str() {
        "login" => login(&l, &req, &remote, &sid, &form).await,
        "consent" => {
            consent(
                &l,
                &req,
                &remote,
                &sid,
                session.user_id,
                &session.csrf,
                &form.decision,
            )
            .await
        }
        _ => page(
            StatusCode::BAD_REQUEST,
            pages::error(
                &service,
                "The form could not be read. Start again from the Alexa app.",
            ),
        ),
    }
}

async fn csrf_failure(l: &Linking, req: &AuthorizeRequest, remote: &str, why: &str) -> Response {
    journal::record(
        &l.store,
        Step {
            step: "csrf",
            ok: false,
            client_id: Some(req.client_id.clone()),
            remote: Some(remote.into()),
            detail: why.into(),
            ..Default::default()
        },
    )
    .await;
    page(
        StatusCode::BAD_REQUEST,
        pages::error(
            &l.config.service_name,
            "This form has expired or did not come from this site. Start linking again from the Alexa app.",
        ),
    )
}

async fn login(
    l: &Linking,
    req: &AuthorizeRequest,
    remote: &str,
    sid: &str,
    form: &AuthorizeForm,
) -> Response {
    let service = &l.config.service_name;
    let name: String = form.username.trim().chars().take(MAX_USERNAME).collect();
    let at = Instant::now();
    let step = |ok: bool, detail: String| Step {
        step: "login",
        ok,
        client_id: Some(req.client_id.clone()),
        user: Some(name.clone()),
        remote: Some(remote.into()),
        detail,
    };
    let csrf_now = form.csrf.clone();
    let login_page = |status: StatusCode, alert: &str| {
        page(
            status,
            pages::login(
                service,
                client_name(l, req),
                &req.params(),
                &csrf_now,
                Some(alert),
                &name,
            ),
        )
    };
    // Counted as a failure from here until the password is proven right.
    if let Err(locked) = l.limiter.begin(&name.to_lowercase(), remote, at) {
        journal::record(&l.store, step(false, format!("refused: {}", locked.message()))).await;
        return login_page(StatusCode::TOO_MANY_REQUESTS, &locked.message());
    }
    // argon2 takes ~19 MiB and real CPU per check: a few at a time, never a flood.
    let Ok(_slot) = l.verify_slots.clone().try_acquire_owned() else {
        // Turned away unjudged: it must not count against the account (or a crowd of
        // strangers could lock a person out by keeping the server busy).
        l.limiter.withdraw(&name.to_lowercase(), remote, at);
        journal::record(&l.store, step(false, "refused: too many sign-ins at once".into())).await;
        return login_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is busy. Try again in a moment.",
        );
    };
    let user = match l.store.user_by_name(&name).await {
        Ok(u) => u,
        Err(e) => return server_error(l, e),
    };
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_owned());
    let password = form.password.clone();
    let exists = user.is_some();
    let ok = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
        .await
        .unwrap_or(false)
        && exists;
    let Some(user) = user.filter(|_| ok) else {
        let why = if exists { "wrong password" } else { "no such user" };
        journal::record(&l.store, step(false, why.into())).await;
        return login_page(StatusCode::OK, "Wrong user name or password.");
    };
    l.limiter.succeeded(&name.to_lowercase(), remote, at);
    // A new session id at sign-in, so that an id known before it is worth nothing after.
    let (new_sid, csrf) = (random_token(), random_token());
    let expires = now_ms() + l.config.session_lifetime.as_millis() as i64;
    let rotated = async {
        l.store.delete_session(&digest(sid)).await?;
        l.store.create_session(&digest(&new_sid), &csrf, expires).await?;
        l.store.log_in_session(&digest(&new_sid), &user.id, &csrf).await
    };
    if let Err(e) = rotated.await {
        return server_error(l, e);
    }
    journal::record(&l.store, step(true, "signed in".into())).await;
    let mut r = page(
        StatusCode::OK,
        pages::consent(
            service,
            client_name(l, req),
            &user.name,
            &req.scopes,
            &req.params(),
            &csrf,
        ),
    );
    r.headers_mut().insert(header::SET_COOKIE, cookie(l, &new_sid));
    r
}

async fn consent(
    l: &Linking,
    req: &AuthorizeRequest,
    remote: &str,
    sid: &str,
    user_id: Option<String>,
    csrf: &str,
    decision: &str,
) -> Response {
    let service = &l.config.service_name;
    let user = match user_id {
        Some(uid) => match l.store.user_by_id(&uid).await {
            Ok(u) => u,
            Err(e) => return server_error(l, e),
        },
        None => None,
    };
    let Some(user) = user else {
        return page(
            StatusCode::OK,
            pages::login(
                service,
                client_name(l, req),
                &req.params(),
                csrf,
                Some("Sign in first."),
                "",
            ),
        );
    };
    let step = |ok: bool, detail: String| Step {
        step: "consent",
        ok,
        client_id: Some(req.client_id.clone()),
        user: Some(user.name.clone()),
        remote: Some(remote.into()),
        detail,
    };
    // The decision ends the session: the next link in this browser signs in again.
    if let Err(e) = l.store.delete_session(&digest(sid)).await {
        return server_error(l, e);
    }
    if decision != "allow" {
        journal::record(
            &l.store,
            step(
                false,
                "the user denied access; redirected back with error=access_denied".into(),
            ),
        )
        .await;
        let e = authorize::RedirectError {
            redirect_uri: req.redirect_uri.clone(),
            error: OAuthErrorCode::AccessDenied,
            description: "The user denied access".into(),
            state: Some(req.state.clone()),
        };
        return found(&e.location());
    }
    let code = random_token();
    let new = NewCode {
        code_hash: digest(&code),
        client_id: req.client_id.clone(),
        user_id: user.id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scopes.join(" "),
        code_challenge: req.code_challenge.clone(),
        expires_at: now_ms() + l.config.code_lifetime.as_millis() as i64,
    };
    if let Err(e) = l.store.insert_code(&new).await {
        return server_error(l, e);
    }
    journal::record(
        &l.store,
        step(
            true,
            format!(
                "allowed scopes {:?}; code issued, redirected to {}",
                req.scopes, req.redirect_uri
            ),
        ),
    )
    .await;
    found(&authorize::success_location(&req.redirect_uri, &code, &req.state))
}

/// An OAuth error answer from the token or revocation endpoint.
fn token_error(error: OAuthErrorCode, description: impl Into<String>, basic_used: bool) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (
        status,
        axum::Json(json!(TokenError::new(error.clone(), description))),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if error == OAuthErrorCode::InvalidClient && basic_used {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"rask\""),
        );
    }
    r
}

/// Authenticates the client of a token or revocation request.
fn authenticate<'a>(
    l: &'a Linking,
    headers: &HeaderMap,
    form: &TokenRequest,
) -> Result<&'a ClientConfig, (OAuthErrorCode, String)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_owned())
        });
    // (id, the secret as sent, the secret form-decoded, whether Basic was used)
    let (id, raw_secret, decoded_secret, by_basic) = match (basic, &form.client_id, &form.client_secret) {
        (Some(_), _, Some(_)) => {
            return Err((
                OAuthErrorCode::InvalidRequest,
                "client credentials were sent both by HTTP Basic and in the body; use one".into(),
            ));
        }
        (Some(b), body_id, None) => {
            let (raw_id, raw_secret) = base64::engine::general_purpose::STANDARD
                .decode(b)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
                .ok_or((
                    OAuthErrorCode::InvalidClient,
                    "the Authorization header is not valid HTTP Basic".to_string(),
                ))?;
            let id = form_decode(&raw_id);
            // RFC 6749 §4.1.3 lets a client repeat its id in the body; only a different one is wrong.
            if body_id.as_ref().is_some_and(|b| *b != id && *b != raw_id) {
                return Err((
                    OAuthErrorCode::InvalidRequest,
                    "client_id in the body differs from the HTTP Basic one".into(),
                ));
            }
            let decoded = form_decode(&raw_secret);
            (id, raw_secret, decoded, true)
        }
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone(), secret.clone(), false),
        (None, Some(_), None) => {
            return Err((OAuthErrorCode::InvalidClient, "client_secret is missing".into()));
        }
        (None, None, _) => {
            return Err((
                OAuthErrorCode::InvalidClient,
                "no client authentication: use HTTP Basic or client_id and client_secret".into(),
            ));
        }
    };
    let client = l
        .config
        .client(&id)
        .ok_or((OAuthErrorCode::InvalidClient, format!("unknown client {id:?}")))?;
    // RFC 6749 §2.3.1 form-encodes Basic credentials, but many clients send them as they are;
    // a secret with '+' or '%' in it must work either way. Both comparisons run.
    let (as_sent, as_decoded) = (
        client.secret.matches(&raw_secret),
        client.secret.matches(&decoded_secret),
    );
    if !(as_sent | as_decoded) {
        return Err((
            OAuthErrorCode::InvalidClient,
            format!("wrong client secret for {id:?}"),
        ));
    }
    match (client.auth, by_basic) {
        (ClientAuth::Basic, false) => Err((OAuthErrorCode::InvalidClient, "this client must authenticate by HTTP Basic (Alexa console: Authentication Scheme)".into())),
        (ClientAuth::Body, true) => Err((OAuthErrorCode::InvalidClient, "this client must send its credentials in the request body (Alexa console: Authentication Scheme)".into())),
        _ => Ok(client),
    }
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// `POST /oauth/token`.
async fn post_token(
    State(l): State<Linking>,
    Remote(remote): Remote,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let basic_used = headers.get(header::AUTHORIZATION).is_some();
    // Counted as a failure until it succeeds; a flood of bad requests from one address is
    // turned away before any work (or log row) is spent on it.
    let began = Instant::now();
    if let Err(wait) = l.token_limiter.begin_address(&remote, began) {
        tracing::debug!(remote = %rask_model::limits::logged(&remote), "token request refused: too many failures");
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let mut r = token_error(
            OAuthErrorCode::InvalidRequest,
            format!("too many failed token requests from this address; try again in {minutes} minutes"),
            basic_used,
        );
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let form: TokenRequest = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            return token_error(
                OAuthErrorCode::InvalidRequest,
                format!("the body is not a form: {e}"),
                basic_used,
            );
        }
    };
    let step_name = if form.grant_type.as_deref() == Some("refresh_token") {
        "refresh"
    } else {
        "token"
    };
    let log = |ok: bool, client: Option<String>, user: Option<String>, detail: String| Step {
        step: step_name,
        ok,
        client_id: client,
        user,
        remote: Some(remote.clone()),
        detail,
    };
    let client = match authenticate(&l, &headers, &form) {
        Ok(c) => c.clone(),
        Err((code, why)) => {
            journal::record(
                &l.store,
                log(false, form.client_id.clone(), None, format!("{code}: {why}")),
            )
            .await;
            return token_error(code, why, basic_used);
        }
    };
    let grant = match form.grant() {
        Ok(g) => g,
        Err(e) => {
            journal::record(
                &l.store,
                log(false, Some(client.id.clone()), None, format!("{}: {e}", e.code())),
            )
            .await;
            return token_error(e.code(), e.to_string(), basic_used);
        }
    };
    let outcome = match grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => exchange_code(&l, &client, &code, redirect_uri, code_verifier).await,
        Grant::RefreshToken { refresh_token, scope } => refresh(&l, &client, &refresh_token, scope).await,
        Grant::ClientCredentials { .. } => Err(Failure::new(
            OAuthErrorCode::UnsupportedGrantType,
            "client_credentials is not offered here",
        )),
    };
    match outcome {
        Ok(issued) => {
            l.token_limiter.succeeded_address(&remote, began);
            journal::record(
                &l.store,
                log(
                    true,
                    Some(client.id.clone()),
                    issued.user.clone(),
                    issued.detail.clone(),
                ),
            )
            .await;
            let mut r = axum::Json(json!({
                "access_token": issued.access_token, "token_type": "Bearer",
                "expires_in": l.config.access_token_lifetime.as_secs(),
                "refresh_token": issued.refresh_token, "scope": issued.scope,
            }))
            .into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            r
        }
        Err(f) => {
            journal::record(
                &l.store,
                log(
                    false,
                    Some(client.id.clone()),
                    f.user.clone(),
                    format!("{}: {}", f.code, f.description),
                ),
            )
            .await;
            token_error(f.code, f.description, basic_used)
        }
    }
}

struct Issued {
    access_token: String,
    refresh_token: String,
    scope: String,
    user: Option<String>,
    detail: String,
}

struct Failure {
    code: OAuthErrorCode,
    description: String,
    user: Option<String>,
}

impl Failure {
    fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Failure {
            code,
            description: description.into(),
            user: None,
        }
    }

    fn server(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "token endpoint failed on the server side");
        Failure::new(
            OAuthErrorCode::ServerError,
            "the server could not complete the request",
        )
    }
}

fn new_tokens(l: &Linking, now: i64) -> (String, String, NewTokens) {
    let (access, refresh) = (random_token(), random_token());
    let t = NewTokens {
        access_hash: digest(&access),
        access_expires_at: now + l.config.access_token_lifetime.as_millis() as i64,
        refresh_hash: digest(&refresh),
    };
    (access, refresh, t)
}

async fn user_name(l: &Linking, user_id: &str) -> Option<String> {
    l.store.user_by_id(user_id).await.ok().flatten().map(|u| u.name)
}

async fn exchange_code(
    l: &Linking,
    client: &ClientConfig,
    code: &str,
    redirect_uri: Option<String>,
    verifier: Option<String>,
) -> Result<Issued, Failure> {
    let now = now_ms();
    let code_hash = digest(code);
    // Judged before it is spent: a refused request spends nothing.
    let Some(stored) = l.store.code(&code_hash).await.map_err(Failure::server)? else {
        return Err(Failure::new(
            OAuthErrorCode::InvalidGrant,
            "the authorization code is not one this server issued",
        ));
    };
    let user = user_name(l, &stored.code.user_id).await;
    let fail = |code: OAuthErrorCode, d: &str| Failure {
        code,
        description: d.to_owned(),
        user: user.clone(),
    };
    // Another client's code is refused untouched: one client cannot spend, or revoke, what
    // was issued to another.
    if stored.code.client_id != client.id {
        return Err(fail(
            OAuthErrorCode::InvalidGrant,
            "the authorization code was issued to another client",
        ));
    }
    if stored.used_at.is_some() {
        return Err(replayed_code(l, &code_hash, now, fail).await);
    }
    let stored = stored.code;
    if now >= stored.expires_at {
        return Err(fail(
            OAuthErrorCode::InvalidGrant,
            "the authorization code has expired (codes live 10 minutes)",
        ));
    }
    if redirect_uri.as_deref() != Some(stored.redirect_uri.as_str()) {
        return Err(fail(
            OAuthErrorCode::InvalidGrant,
            "redirect_uri does not match the one the code was issued for",
        ));
    }
    if let Some(challenge) = &stored.code_challenge {
        match verifier {
            None => {
                return Err(fail(
                    OAuthErrorCode::InvalidGrant,
                    "code_verifier is required: the code was issued with a PKCE challenge",
                ));
            }
            Some(v) if !pkce::verify(&v, challenge) => {
                return Err(fail(
                    OAuthErrorCode::InvalidGrant,
                    "code_verifier does not match the PKCE challenge",
                ));
            }
            Some(_) => {}
        }
    } else if verifier.is_some() {
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade.
        return Err(fail(
            OAuthErrorCode::InvalidGrant,
            "code_verifier was sent, but the code was issued without a PKCE challenge",
        ));
    }
    let (access, refresh, tokens) = new_tokens(l, now);
    let family = NewFamily {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: client.id.clone(),
        user_id: stored.user_id.clone(),
        scope: stored.scope.clone(),
    };
    // Spent and issued in one transaction; a concurrent exchange that won first makes this
    // one a replay.
    let issued = l
        .store
        .issue_family(&family, Some(&code_hash), &tokens, now)
        .await
        .map_err(Failure::server)?;
    if !issued {
        return Err(replayed_code(l, &code_hash, now, fail).await);
    }
    Ok(Issued {
        access_token: access,
        refresh_token: refresh,
        scope: stored.scope,
        user,
        detail: "code exchanged for tokens".into(),
    })
}

/// RFC 6749 §4.1.2: a code used twice by its own client revokes what it issued.
async fn replayed_code(
    l: &Linking,
    code_hash: &str,
    now: i64,
    fail: impl Fn(OAuthErrorCode, &str) -> Failure,
) -> Failure {
    let revoked = async {
        if let Some(f) = l.store.mark_code_replayed(code_hash, now).await? {
            l.revoke_family(&f, "authorization code used twice", now).await?;
        }
        Ok::<_, rask_store::StoreError>(())
    };
    if let Err(e) = revoked.await {
        return Failure::server(e);
    }
    fail(
        OAuthErrorCode::InvalidGrant,
        "the authorization code was already used; the tokens it issued are revoked",
    )
}

async fn refresh(
    l: &Linking,
    client: &ClientConfig,
    token: &str,
    scope: Option<String>,
) -> Result<Issued, Failure> {
    let now = now_ms();
    let hash = digest(token);
    // Judged before it is spent: a refused request spends nothing.
    let Some(stored) = l.store.refresh_token(&hash).await.map_err(Failure::server)? else {
        return Err(Failure::new(
            OAuthErrorCode::InvalidGrant,
            "the refresh token is not one this server issued",
        ));
    };
    let user = user_name(l, &stored.family.user_id).await;
    let fail = |code: OAuthErrorCode, d: String| Failure {
        code,
        description: d,
        user: user.clone(),
    };
    // Another client's token is refused untouched: it neither spends nor revokes the link.
    if stored.family.client_id != client.id {
        return Err(fail(
            OAuthErrorCode::InvalidGrant,
            "the refresh token was issued to another client".into(),
        ));
    }
    if let Some((_, reason)) = &stored.family.revoked {
        return Err(fail(
            OAuthErrorCode::InvalidGrant,
            format!("this link was revoked: {reason}"),
        ));
    }
    let idle = l.config.refresh_idle_lifetime.as_millis() as i64;
    if now - stored.last_used_at > idle {
        return Err(fail(
            OAuthErrorCode::InvalidGrant,
            "the refresh token went unused for too long".into(),
        ));
    }
    let granted: Vec<&str> = stored.family.scope.split_whitespace().collect();
    if let Some(s) = &scope {
        if let Some(bad) = s.split_whitespace().find(|s| !granted.contains(s)) {
            return Err(fail(
                OAuthErrorCode::InvalidScope,
                format!("scope {bad:?} was not granted"),
            ));
        }
    }
    let (access, refresh, tokens) = new_tokens(l, now);
    let issued = |detail: &str| Issued {
        access_token: access.clone(),
        refresh_token: refresh.clone(),
        // The new tokens carry the family's scope; a narrower request is checked, not applied.
        scope: stored.family.scope.clone(),
        user: user.clone(),
        detail: detail.to_owned(),
    };
    let family = &stored.family.id;
    if stored.rotated_at.is_none()
        && l.store
            .rotate_refresh(family, &hash, &tokens, now)
            .await
            .map_err(Failure::server)?
    {
        return Ok(issued("refresh token rotated"));
    }
    // Rotated already: by a request whose answer was lost (Alexa retries), or a replay. Read
    // again, so that a rotation that raced this request is seen.
    let stored = l
        .store
        .refresh_token(&hash)
        .await
        .map_err(Failure::server)?
        .ok_or_else(|| {
            fail(
                OAuthErrorCode::InvalidGrant,
                "the refresh token is not one this server issued".into(),
            )
        })?;
    let grace = l.config.refresh_grace.as_millis() as i64;
    let within_grace = stored.rotated_at.is_some_and(|at| now - at <= grace);
    if let (true, Some(child)) = (within_grace, &stored.replaced_by) {
        if l.store
            .reissue_unused(family, &hash, child, &tokens, now)
            .await
            .map_err(Failure::server)?
        {
            // The withdrawn access token may be cached.
            l.validator.forget_family(family);
            return Ok(issued(
                "refresh token presented again within the grace window: its unused successor withdrawn, a new pair issued",
            ));
        }
    }
    l.revoke_family(family, "an old refresh token was used again", now)
        .await
        .map_err(Failure::server)?;
    Err(fail(
        OAuthErrorCode::InvalidGrant,
        "the refresh token was already used; every token of this link is revoked".into(),
    ))
}

/// `POST /oauth/revoke` (RFC 7009): revokes the token's whole link. Answers 200 whether or
/// not the token was known, as the RFC requires.
async fn post_revoke(
    State(l): State<Linking>,
    Remote(remote): Remote,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let basic_used = headers.get(header::AUTHORIZATION).is_some();
    #[derive(Deserialize)]
    struct RevokeForm {
        token: Option<String>,
        #[serde(flatten)]
        auth: TokenRequest,
    }
    let form: RevokeForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            return token_error(
                OAuthErrorCode::InvalidRequest,
                format!("the body is not a form: {e}"),
                basic_used,
            );
        }
    };
    let client = match authenticate(&l, &headers, &form.auth) {
        Ok(c) => c.clone(),
        Err((code, why)) => return token_error(code, why, basic_used),
    };
    let Some(token) = form.token.filter(|t| !t.is_empty()) else {
        return token_error(OAuthErrorCode::InvalidRequest, "token is required", basic_used);
    };
    let now = now_ms();
    let family = match l.store.family_of_token(&digest(&token)).await {
        Ok(f) => f,
        Err(e) => {
            return token_error(
                OAuthErrorCode::ServerError,
                Failure::server(e).description,
                basic_used,
            );
        }
    };
    let mut detail = "unknown token (nothing to revoke)".to_owned();
    if let Some(fid) = family {
        let f = match l.store.family(&fid).await {
            Ok(f) => f,
            Err(e) => {
                return token_error(
                    OAuthErrorCode::ServerError,
                    Failure::server(e).description,
                    basic_used,
                );
            }
        };
        if let Some(f) = f {
            // RFC 7009 §2.1: a token issued to another client is refused, not revoked.
            if f.client_id != client.id {
                return token_error(
                    OAuthErrorCode::UnauthorizedClient,
                    "the token was not issued to this client",
                    basic_used,
                );
            }
            if let Err(e) = l.revoke_family(&fid, "revoked by the client", now).await {
                return token_error(
                    OAuthErrorCode::ServerError,
                    Failure::server(e).description,
                    basic_used,
                );
            }
            detail = "link revoked".into();
        }
    }
    journal::record(
        &l.store,
        Step {
            step: "revoke",
            ok: true,
            client_id: Some(client.id.clone()),
            remote: Some(remote),
            detail,
            ..Default::default()
        },
    )
    .await;
    StatusCode::OK.into_response()
}
