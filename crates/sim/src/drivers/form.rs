//! A generic HTML form follower: finds the forms on a page, fills a login form's user name and
//! password, and picks the "allow" button of a consent form. It knows nothing of any particular
//! login page: hidden fields (CSRF tokens) are sent back as they came.

/// One `<form>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// `action`, as written (resolve against the page URL).
    pub action: Option<String>,
    /// `GET` or `POST`.
    pub method: String,
    /// Every input that is submitted as it is: hidden, text, checked boxes, textareas.
    pub fields: Vec<Field>,
    /// Submit buttons: (name, value, label).
    pub submits: Vec<(Option<String>, String, String)>,
}

/// One input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `name`.
    pub name: String,
    /// `type`, lower case (`text` when absent).
    pub kind: String,
    /// `value`.
    pub value: String,
}

impl Form {
    /// Whether this is a login form: it has a password field.
    pub fn is_login(&self) -> bool {
        self.fields.iter().any(|f| f.kind == "password")
    }

    /// The fields to submit for a login with `username` and `password`.
    pub fn fill_login(&self, username: &str, password: &str) -> Vec<(String, String)> {
        let user_field = self
            .fields
            .iter()
            .filter(|f| matches!(f.kind.as_str(), "text" | "email" | "tel"))
            .max_by_key(|f| {
                let n = f.name.to_ascii_lowercase();
                ["user", "email", "login", "name", "account"]
                    .iter()
                    .any(|k| n.contains(k)) as u8
            })
            .map(|f| f.name.clone());
        let mut out: Vec<(String, String)> = self
            .fields
            .iter()
            .map(|f| {
                let value = if f.kind == "password" {
                    password.to_owned()
                } else if Some(&f.name) == user_field.as_ref() {
                    username.to_owned()
                } else {
                    f.value.clone()
                };
                (f.name.clone(), value)
            })
            .collect();
        out.extend(self.default_submit());
        out
    }

    /// The fields to submit to consent: the form as it is, with its allow button.
    pub fn fill_consent(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect();
        let allow = self.submits.iter().find(|(name, value, label)| {
            let text = format!("{} {value} {label}", name.as_deref().unwrap_or("")).to_ascii_lowercase();
            [
                "allow", "approve", "accept", "authoriz", "authoris", "grant", "consent", "yes", "continue",
            ]
            .iter()
            .any(|w| text.contains(w))
        });
        match allow {
            Some((Some(name), value, _)) => out.push((name.clone(), value.clone())),
            Some((None, ..)) => {}
            None => out.extend(self.default_submit()),
        }
        out
    }

    fn default_submit(&self) -> Option<(String, String)> {
        self.submits
            .first()
            .and_then(|(n, v, _)| n.clone().map(|n| (n, v.clone())))
    }
}

/// Every form on the page.
pub fn forms(html: &str) -> Vec<Form> {
    let Ok(dom) = tl::parse(html, tl::ParserOptions::default()) else {
        return Vec::new();
    };
    let parser = dom.parser();
    let Some(found) = dom.query_selector("form") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for handle in found {
        let Some(tag) = handle.get(parser).and_then(|n| n.as_tag()) else {
            continue;
        };
        let mut form = Form {
            action: attr(tag, "action"),
            method: attr(tag, "method")
                .unwrap_or_else(|| "GET".into())
                .to_ascii_uppercase(),
            fields: Vec::new(),
            submits: Vec::new(),
        };
        for child in tag
            .query_selector(parser, "input, button, textarea, select")
            .into_iter()
            .flatten()
        {
            let Some(el) = child.get(parser).and_then(|n| n.as_tag()) else {
                continue;
            };
            let element = el.name().as_utf8_str().to_ascii_lowercase();
            let name = attr(el, "name");
            let kind = attr(el, "type")
                .unwrap_or_else(|| {
                    if element == "button" {
                        "submit".into()
                    } else {
                        "text".into()
                    }
                })
                .to_ascii_lowercase();
            let value = attr(el, "value").unwrap_or_default();
            if el.attributes().contains("disabled") {
                continue;
            }
            match (element.as_str(), kind.as_str()) {
                ("button" | "input", "submit") => {
                    let label = decode(&el.inner_text(parser));
                    form.submits.push((name, value, label.trim().to_owned()));
                }
                (_, "button" | "reset" | "image" | "file") => {}
                (_, "checkbox" | "radio") if !el.attributes().contains("checked") => {}
                ("textarea", _) => {
                    if let Some(name) = name {
                        form.fields.push(Field {
                            name,
                            kind: "textarea".into(),
                            value: decode(&el.inner_text(parser)),
                        });
                    }
                }
                ("select", _) => {
                    if let Some(name) = name {
                        let selected = el
                            .query_selector(parser, "option")
                            .into_iter()
                            .flatten()
                            .filter_map(|o| o.get(parser).and_then(|n| n.as_tag()))
                            .find(|o| o.attributes().contains("selected"))
                            .and_then(|o| attr(o, "value"))
                            .unwrap_or_default();
                        form.fields.push(Field {
                            name,
                            kind: "select".into(),
                            value: selected,
                        });
                    }
                }
                _ => {
                    if let Some(name) = name {
                        form.fields.push(Field { name, kind, value });
                    }
                }
            }
        }
        out.push(form);
    }
    out
}

/// The visible text of elements that look like error messages, for a failed login.
pub fn error_text(html: &str) -> Option<String> {
    let dom = tl::parse(html, tl::ParserOptions::default()).ok()?;
    let parser = dom.parser();
    let texts: Vec<String> = dom
        .query_selector("[role=alert], .error, .errors, .alert, .flash")?
        .filter_map(|h| h.get(parser))
        .map(|n| {
            decode(&n.inner_text(parser))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|t| !t.is_empty())
        .collect();
    (!texts.is_empty()).then(|| texts.join(" | "))
}

/// The words a person would read on a page, for a failure that quotes it: its alert when it
/// has one, else its text without markup, styles or scripts.
pub fn what_it_says(html: &str) -> String {
    if let Some(alert) = error_text(html) {
        return alert;
    }
    let lower = html.to_ascii_lowercase();
    let mut text = String::with_capacity(html.len());
    let mut at = 0;
    while at < html.len() {
        let Some(open) = lower[at..].find('<').map(|i| at + i) else {
            text.push_str(&html[at..]);
            break;
        };
        text.push_str(&html[at..open]);
        text.push(' ');
        // A style or script block goes whole; any other tag only itself.
        let skip_to = ["style", "script"].iter().find_map(|t| {
            lower[open + 1..]
                .starts_with(t)
                .then(|| {
                    lower[open..]
                        .find(&format!("</{t}"))
                        .map(|i| open + i + 2 + t.len())
                })
                .flatten()
        });
        let from = skip_to.unwrap_or(open);
        at = match lower[from..].find('>') {
            Some(i) => from + i + 1,
            None => html.len(),
        };
    }
    decode(&text).split_whitespace().collect::<Vec<_>>().join(" ")
}

fn attr(tag: &tl::HTMLTag<'_>, name: &str) -> Option<String> {
    tag.attributes()
        .get(name)
        .flatten()
        .map(|v| decode(&v.as_utf8_str()))
}

/// Decodes the HTML character references that appear in attribute values and text.
pub fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let entity = &rest[1..e];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                    u32::from_str_radix(&entity[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_page_is_quoted_by_what_it_says() {
        let page = "<!doctype html><html><head><title>rask</title><style>p { color: red }</style>\
                    <script>var x = '<p>';</script></head><body><h1>Sign-in failed</h1>\
                    <p>This link&#39;s client is unknown.</p></body></html>";
        assert_eq!(
            what_it_says(page),
            "rask Sign-in failed This link's client is unknown."
        );
        assert_eq!(
            what_it_says("<form><p class=\"error\">Wrong password</p><input name=u></form>"),
            "Wrong password"
        );
    }
    use super::*;

    const LOGIN: &str = r#"<html><body>
      <p class="error">Wrong password</p>
      <form method="post" action="/oauth/authorize?step=login&amp;x=1">
        <input type="hidden" name="csrf" value="t&#x2B;k">
        <label>E-mail <input type="email" name="email"></label>
        <input type="password" name="pw">
        <input type="checkbox" name="remember">
        <button type="submit" name="go" value="1">Sign in</button>
      </form></body></html>"#;

    #[test]
    fn login_forms_are_filled() {
        let f = &forms(LOGIN)[0];
        assert!(f.is_login());
        assert_eq!(f.method, "POST");
        assert_eq!(f.action.as_deref(), Some("/oauth/authorize?step=login&x=1"));
        assert_eq!(
            f.fill_login("alice", "s3cret"),
            vec![
                ("csrf".to_string(), "t+k".to_string()),
                ("email".into(), "alice".into()),
                ("pw".into(), "s3cret".into()),
                ("go".into(), "1".into()),
            ]
        );
        assert_eq!(error_text(LOGIN).as_deref(), Some("Wrong password"));
    }

    #[test]
    fn consent_picks_the_allow_button() {
        let html = r#"<form method="post"><input type="hidden" name="csrf" value="c">
            <button name="decision" value="deny">Deny</button>
            <button name="decision" value="allow">Allow</button></form>"#;
        let f = &forms(html)[0];
        assert!(!f.is_login());
        assert_eq!(
            f.fill_consent(),
            vec![("csrf".into(), "c".into()), ("decision".into(), "allow".into())]
        );
    }

    #[test]
    fn entities() {
        assert_eq!(decode("a&amp;b&#39;c&unknown;d&"), "a&b'c&unknown;d&");
    }
}
