//! The configuration page: what rask runs with (the file as read, with any password in a URL
//! and any value of a secret-looking key masked), and `rask check` run from the page.
//!
//! Secrets never belong in rask.toml (they are named by `*_env` or `*_file`), so the masking
//! is a second line of defence: a URL's password and the value of a key named like a secret.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::auth::{CsrfForm, Signed};
use super::{Console, Frame, render};

#[derive(askama::Template)]
#[template(path = "console/configuration.html")]
struct Configuration {
    f: Frame,
    source: String,
    text: String,
    checks: Option<Vec<crate::check::Line>>,
}

/// The text of `line` with a URL's password and a secret-looking key's value masked.
pub fn masked(line: &str) -> String {
    let secretish = |key: &str| {
        let key = key.trim().trim_matches('"').to_ascii_lowercase();
        !(key.ends_with("_env") || key.ends_with("_file") || key.ends_with("sha256"))
            && ["secret", "password", "token", "key"]
                .iter()
                .any(|w| key.ends_with(w))
    };
    // Commented out or not, a secret-looking key's value is not shown.
    if let Some((key, _)) = line.split_once('=')
        && secretish(key.trim_start().trim_start_matches('#'))
    {
        return format!("{key}= \"********\"");
    }
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after.find(['"', '\'', ' ', '/', '?']).unwrap_or(after.len());
        let (authority, tail) = after.split_at(end);
        match authority
            .rsplit_once('@')
            .and_then(|(userinfo, host)| Some((userinfo.split_once(':')?.0, host)))
        {
            Some((user, host)) => out.push_str(&format!("{user}:********@{host}")),
            None => out.push_str(authority),
        }
        rest = tail;
    }
    out.push_str(rest);
    masked_query(&out)
}

/// `password=...` in a URL's query (PostgreSQL reads it) masked, up to the next `&` or quote.
fn masked_query(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.to_ascii_lowercase().find("password=") {
        let (before, after) = rest.split_at(at + "password=".len());
        out.push_str(before);
        let end = after.find(['&', '"', '\'', ' ', '#']).unwrap_or(after.len());
        out.push_str("********");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn page(c: &Console, session: &Signed, checks: Option<Vec<crate::check::Line>>) -> Response {
    let (source, text) = match &c.0.source {
        None => (
            "the embedded default (rask serve without --config): the demo devices, the built-in simulator as Alexa".to_owned(),
            String::new(),
        ),
        Some(path) => (
            path.display().to_string(),
            match std::fs::read_to_string(path) {
                Ok(t) => t.lines().map(masked).collect::<Vec<_>>().join("\n"),
                Err(e) => format!("(the file cannot be read now: {e})"),
            },
        ),
    };
    render(Configuration {
        f: Frame::page("Configuration", "/configuration", session),
        source,
        text,
        checks,
    })
}

/// `GET /configuration`.
pub(super) async fn show(State(c): State<Console>, session: Signed) -> Response {
    page(&c, &session, None)
}

/// `POST /configuration/check`: `rask check` against the file rask was started with (as it is
/// on disk now), its lines shown. Asked by a form: it reaches out to LWA and the public URL.
pub(super) async fn check(State(c): State<Console>, session: Signed, Form(form): Form<CsrfForm>) -> Response {
    if let Err(forged) = session.check(&form.csrf) {
        return forged.into_response();
    }
    let lines = crate::check::lines(c.0.source.as_deref()).await;
    super::actions::log(&c, &session.owner, "check", &format!("{} checks", lines.len())).await;
    page(&c, &session, Some(lines))
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn passwords_in_urls_and_secret_values_are_masked_and_names_are_not() {
        assert_eq!(
            masked("url = \"postgres://rask:hunter2@db.example/rask\""),
            "url = \"postgres://rask:********@db.example/rask\""
        );
        assert_eq!(
            masked("url = \"mqtt://broker.local:1883\""),
            "url = \"mqtt://broker.local:1883\""
        );
        assert_eq!(masked("client_secret = \"abc\""), "client_secret = \"********\"");
        assert_eq!(
            masked("secret_env = \"RASK_SECRET\""),
            "secret_env = \"RASK_SECRET\""
        );
        assert_eq!(masked("sha256 = \"00ff\""), "sha256 = \"00ff\"");
        assert_eq!(
            masked("# lwa_client_secret = \"abc\""),
            "# lwa_client_secret = \"********\""
        );
        assert_eq!(
            masked("url = \"postgres://rask@db/rask?password=hunter2&sslmode=require\""),
            "url = \"postgres://rask@db/rask?password=********&sslmode=require\""
        );
        assert_eq!(masked("# just a comment"), "# just a comment");
    }
}
