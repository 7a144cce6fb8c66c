//! The pages a person sees while linking: login, consent, and errors. Server-rendered,
//! readable without JavaScript or CSS, labelled for screen readers, and fine on a phone (the
//! Alexa app opens them in its web view).

use crate::authorize::AuthorizeParams;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}}\
         label{{display:block;margin:1rem 0 .25rem}}input[type=text],input[type=password]{{width:100%;padding:.6rem;font-size:1rem;box-sizing:border-box}}\
         button{{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}}.alert{{color:#a00;border:1px solid #a00;padding:.6rem}}\
         ul{{padding-left:1.2rem}}</style></head><body><main>{body}</main></body></html>",
        t = esc(title)
    )
}

fn hidden(p: &AuthorizeParams, csrf: &str) -> String {
    let mut out = format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(csrf));
    let fields = [
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("state", &p.state),
        ("response_type", &p.response_type),
        ("scope", &p.scope),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            out.push_str(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                esc(v)
            ));
        }
    }
    out
}

/// The login page; `alert` explains a failed attempt.
pub fn login(
    service: &str,
    client_name: &str,
    p: &AuthorizeParams,
    csrf: &str,
    alert: Option<&str>,
    username: &str,
) -> String {
    let alert = alert
        .map(|a| format!("<p class=\"alert\" role=\"alert\">{}</p>", esc(a)))
        .unwrap_or_default();
    layout(
        &format!("Sign in to {service}"),
        &format!(
            "<h1>Sign in to {s}</h1><p>{c} wants to link your {s} account.</p>{alert}\
             <form method=\"post\" action=\"/oauth/authorize\">{h}<input type=\"hidden\" name=\"action\" value=\"login\">\
             <label for=\"username\">User name</label><input type=\"text\" id=\"username\" name=\"username\" value=\"{u}\" autocomplete=\"username\" autocapitalize=\"none\" required>\
             <label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>",
            s = esc(service),
            c = esc(client_name),
            h = hidden(p, csrf),
            u = esc(username),
        ),
    )
}

/// The consent page, naming the scopes.
pub fn consent(
    service: &str,
    client_name: &str,
    user: &str,
    scopes: &[String],
    p: &AuthorizeParams,
    csrf: &str,
) -> String {
    let items: String = scopes.iter().map(|s| format!("<li>{}</li>", esc(s))).collect();
    layout(
        &format!("Allow {client_name}?"),
        &format!(
            "<h1>Allow {c} to use your {s} account?</h1><p>Signed in as <strong>{u}</strong>.</p>\
             <p>{c} will be able to:</p><ul>{items}</ul>\
             <form method=\"post\" action=\"/oauth/authorize\">{h}<input type=\"hidden\" name=\"action\" value=\"consent\">\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> \
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
            s = esc(service),
            c = esc(client_name),
            u = esc(user),
            h = hidden(p, csrf),
        ),
    )
}

/// An error page: what went wrong and what to do.
pub fn error(service: &str, message: &str) -> String {
    layout(
        &format!("{service}: account linking failed"),
        &format!(
            "<h1>Account linking failed</h1><p class=\"alert\" role=\"alert\">{}</p>",
            esc(message)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_escaped() {
        let p = AuthorizeParams {
            state: Some("\"><script>".into()),
            ..Default::default()
        };
        let html = login("rask", "<Alexa>", &p, "c&sr\"f", Some("<b>"), "a\"b");
        assert!(!html.contains("<script>") && !html.contains("<Alexa>") && !html.contains("<b>"));
        assert!(html.contains("&quot;&gt;&lt;script&gt;"));
        assert!(html.contains("role=\"alert\""));
    }
}
