//! Signing in to the console and the session guard.
//!
//! The sign-in form carries a token that must match a cookie set with it (a double-submit, so
//! that another site cannot sign a browser in under its own account); failures are limited per
//! name and per address, as the linking login's are. A session is a random id in the
//! `rask_console` cookie (HttpOnly, SameSite=Strict, Secure under HTTPS, 12 hours), stored as
//! its digest, with the CSRF token every form of the session carries back.

use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use rask_link::web::cookie_value;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{Console, Frame, render};

/// The environment variable whose password lets an owner named `owner` sign in.
pub const OWNER_PASSWORD_ENV: &str = "RASK_OWNER_PASSWORD";

/// The owner `RASK_OWNER_PASSWORD` signs in.
pub(super) const ENV_OWNER: &str = "owner";

const COOKIE: &str = "rask_console";
const SIGNIN_COOKIE: &str = "rask_console_signin";
const SESSION_LIFE: Duration = Duration::from_secs(12 * 3600);

/// The hash of `RASK_OWNER_PASSWORD`, when it is set; an error names it when it is too short.
pub(super) fn env_owner() -> anyhow::Result<Option<String>> {
    let Ok(password) = std::env::var(OWNER_PASSWORD_ENV) else {
        return Ok(None);
    };
    let min = crate::user::MIN_OWNER_PASSWORD_CHARS;
    if password.chars().count() < min {
        anyhow::bail!("{OWNER_PASSWORD_ENV} has fewer than {min} characters: it opens the console");
    }
    Ok(Some(rask_link::password::hash(&password)?))
}

fn set_cookie(c: &Console, name: &str, value: &str, life: Duration) -> HeaderValue {
    let secure = if c.0.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        life.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A signed-in owner: the guard of every console page. Without a live session, a page
/// redirects to the sign-in.
pub struct Signed {
    pub owner: String,
    pub csrf: String,
    id_hash: String,
}

impl Signed {
    /// `Err` unless `given` is this session's CSRF token.
    pub fn check(&self, given: &str) -> Result<(), Forged> {
        if same(&self.csrf, given) {
            Ok(())
        } else {
            Err(Forged)
        }
    }
}

/// A form that did not carry its session's CSRF token: answered 403, nothing done.
pub struct Forged;

impl IntoResponse for Forged {
    fn into_response(self) -> Response {
        (
            StatusCode::FORBIDDEN,
            "this form is not from this console session (reload the page and try again)\n",
        )
            .into_response()
    }
}

impl FromRequestParts<Console> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, Self::Rejection> {
        let to_signin = || Redirect::to("/signin").into_response();
        let Some(id) = cookie_value(&parts.headers, COOKIE) else {
            return Err(to_signin());
        };
        let id_hash = rask_store::digest(&id);
        match c.0.store.owner_session(&id_hash, rask_store::now_ms()).await {
            Ok(Some(s)) => Ok(Signed {
                owner: s.owner,
                csrf: s.csrf,
                id_hash,
            }),
            Ok(None) => Err(to_signin()),
            Err(e) => {
                tracing::error!(error = %e, "a console session could not be read");
                Err((StatusCode::SERVICE_UNAVAILABLE, "the database cannot be read\n").into_response())
            }
        }
    }
}

#[derive(askama::Template)]
#[template(path = "console/signin.html")]
struct SigninPage {
    f: Frame,
    alert: Option<String>,
    name: String,
    can_sign_in: bool,
    add_owner: String,
}

async fn can_sign_in(c: &Console) -> bool {
    c.0.env_owner.is_some() || c.0.store.owner_names().await.is_ok_and(|o| !o.is_empty())
}

async fn signin_form(c: &Console, status: StatusCode, alert: Option<String>, name: &str) -> Response {
    let token = rask_link::random_token();
    let page = SigninPage {
        f: Frame {
            title: "Sign in".into(),
            owner: None,
            nav: &[],
            current: "",
            csrf: token.clone(),
        },
        alert,
        name: name.to_owned(),
        can_sign_in: can_sign_in(c).await,
        add_owner: "rask user add --owner NAME".into(),
    };
    let mut r = render(page);
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(c, SIGNIN_COOKIE, &token, Duration::from_secs(3600)),
    );
    r
}

/// `GET /signin`.
pub(super) async fn signin_page(State(c): State<Console>) -> Response {
    signin_form(&c, StatusCode::OK, None, "").await
}

#[derive(Deserialize)]
pub(super) struct SigninForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// `POST /signin`.
pub(super) async fn signin(
    State(c): State<Console>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    let name = rask_model::limits::cut_to(form.name.trim(), 64).into_owned();
    let issued = cookie_value(&headers, SIGNIN_COOKIE).unwrap_or_default();
    if issued.is_empty() || !same(&issued, &form.csrf) {
        let why = "The sign-in form had expired or came from elsewhere. Try again.";
        return signin_form(&c, StatusCode::FORBIDDEN, Some(why.into()), &name).await;
    }
    let address = peer.ip().to_canonical().to_string();
    // Failures count per name from this address, so that a stranger guessing `owner` locks
    // out only themselves; and per address (an IPv6 /64 is one), so that guessing many names
    // is limited too.
    let account = format!("{name}@{address}");
    let began = Instant::now();
    if let Err(locked) = c.0.limiter.begin(&account, &address, began) {
        return signin_form(&c, StatusCode::TOO_MANY_REQUESTS, Some(locked.message()), &name).await;
    }
    // Each check takes ~19 MiB and a core for a moment: a flood waits for none of them.
    let Ok(_slot) = c.0.verify_slots.clone().try_acquire_owned() else {
        c.0.limiter.withdraw(&account, &address, began);
        let mut r = signin_form(
            &c,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("The server is busy checking other sign-ins. Try again in a moment.".into()),
            &name,
        )
        .await;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    let hash = match (&c.0.env_owner, name.as_str()) {
        (Some(h), ENV_OWNER) => Some(h.clone()),
        _ => match c.0.store.owner(&name).await {
            Ok(o) => o.map(|o| o.password_hash),
            Err(e) => {
                tracing::error!(error = %e, "an owner could not be read");
                c.0.limiter.withdraw(&account, &address, began);
                return (StatusCode::SERVICE_UNAVAILABLE, "the database cannot be read\n").into_response();
            }
        },
    };
    // A name nobody has costs as much as a wrong password: the time says nothing.
    let password = form.password;
    let verified = tokio::task::spawn_blocking(move || match hash {
        Some(h) => rask_link::password::verify(&password, &h),
        None => {
            let _ = rask_link::password::verify(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false);
    if !verified {
        tracing::warn!(owner = %name, remote = %address, "a console sign-in failed");
        return signin_form(
            &c,
            StatusCode::UNAUTHORIZED,
            Some("That name and password do not match an owner of this rask.".into()),
            &name,
        )
        .await;
    }
    c.0.limiter.succeeded(&account, &address, began);
    let id = rask_link::random_token();
    let csrf = rask_link::random_token();
    let expires = rask_store::now_ms() + SESSION_LIFE.as_millis() as i64;
    if let Err(e) =
        c.0.store
            .create_owner_session(&rask_store::digest(&id), &name, &csrf, expires)
            .await
    {
        tracing::error!(error = %e, "a console session could not be stored");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database cannot be written\n",
        )
            .into_response();
    }
    super::actions::log(&c, &name, "sign-in", &format!("from {address}")).await;
    let mut r = Redirect::to("/").into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie(&c, COOKIE, &id, SESSION_LIFE));
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&c, SIGNIN_COOKIE, "", Duration::ZERO),
    );
    r
}

/// An argon2 hash (made once, with rask's own parameters) verified against when the name is
/// unknown.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| rask_link::password::hash(&rask_link::random_token()).unwrap_or_default());

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /signout`.
pub(super) async fn signout(
    State(c): State<Console>,
    session: Signed,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(forged) = session.check(&form.csrf) {
        return forged.into_response();
    }
    if let Err(e) = c.0.store.end_owner_session(&session.id_hash).await {
        tracing::error!(error = %e, "a console session could not be ended");
    }
    let mut r = Redirect::to("/signin").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&c, COOKIE, "", Duration::ZERO));
    r
}
