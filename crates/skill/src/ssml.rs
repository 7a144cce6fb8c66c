//! SSML: escaping text for it, and checking that what a handler wrote is well formed before
//! Alexa sees it (Alexa answers a malformed SSML response with a spoken error and ends the
//! session, and says nothing about why).

use thiserror::Error;

/// Text made safe inside SSML: `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Why SSML is not well formed, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("SSML is not well formed at byte {at}: {what}")]
pub struct SsmlError {
    /// Byte offset in the SSML.
    pub at: usize,
    /// What is wrong there.
    pub what: String,
}

fn fail(at: usize, what: impl Into<String>) -> SsmlError {
    SsmlError {
        at,
        what: what.into(),
    }
}

/// Checks that `ssml` is one `<speak>` element with balanced tags, quoted attributes and only
/// XML's entities (or character references) after `&`.
pub fn check(ssml: &str) -> Result<(), SsmlError> {
    let b = ssml.as_bytes();
    let mut open: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                let start = i;
                let end = ssml[i..]
                    .find('>')
                    .map(|n| i + n)
                    .ok_or_else(|| fail(i, "a tag that never closes"))?;
                let tag = &ssml[i + 1..end];
                i = end + 1;
                if let Some(name) = tag.strip_prefix('/') {
                    let name = name.trim_end();
                    match open.pop() {
                        Some(top) if top == name => {}
                        Some(top) => {
                            return Err(fail(start, format!("</{name}> closes <{top}>")));
                        }
                        None => return Err(fail(start, format!("</{name}> closes nothing"))),
                    }
                    continue;
                }
                if tag.starts_with('!') || tag.starts_with('?') {
                    return Err(fail(
                        start,
                        "comments, declarations and processing instructions are not SSML",
                    ));
                }
                let (body, closed) = match tag.strip_suffix('/') {
                    Some(b) => (b, true),
                    None => (tag, false),
                };
                let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
                let name = &body[..name_end];
                if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || ":-_.".contains(c)) {
                    return Err(fail(start, format!("{name:?} is not a tag name")));
                }
                check_attributes(&body[name_end..], start)?;
                if open.is_empty() {
                    roots += 1;
                    if roots > 1 || name != "speak" {
                        return Err(fail(start, "everything must be inside one <speak> element"));
                    }
                }
                if !closed {
                    open.push(name);
                } else if open.is_empty() {
                    // `<speak/>`: an empty but whole document.
                }
            }
            b'&' => {
                let end = ssml[i..]
                    .find(';')
                    .map(|n| i + n)
                    .filter(|&e| e - i <= 10)
                    .ok_or_else(|| fail(i, "& must start an entity such as &amp;"))?;
                let entity = &ssml[i + 1..end];
                let ok = matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos")
                    || entity
                        .strip_prefix("#x")
                        .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
                    || entity
                        .strip_prefix('#')
                        .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
                if !ok {
                    return Err(fail(i, format!("&{entity}; is not an XML entity")));
                }
                i = end + 1;
            }
            c => {
                if open.is_empty() && !c.is_ascii_whitespace() {
                    return Err(fail(i, "text outside <speak>"));
                }
                i += 1;
            }
        }
    }
    if let Some(top) = open.last() {
        return Err(fail(ssml.len(), format!("<{top}> is never closed")));
    }
    if roots == 0 {
        return Err(fail(0, "no <speak> element"));
    }
    Ok(())
}

/// ` name="value" name='value'`, nothing else.
fn check_attributes(mut s: &str, at: usize) -> Result<(), SsmlError> {
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(());
        }
        let eq = s
            .find('=')
            .ok_or_else(|| fail(at, format!("attribute {s:?} has no value")))?;
        let name = s[..eq].trim_end();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(fail(at, format!("{name:?} is not an attribute name")));
        }
        let rest = s[eq + 1..].trim_start();
        let quote = rest
            .chars()
            .next()
            .filter(|&q| q == '"' || q == '\'')
            .ok_or_else(|| fail(at, format!("the value of {name} must be in quotes")))?;
        let close = rest[1..]
            .find(quote)
            .ok_or_else(|| fail(at, format!("the value of {name} is never closed")))?;
        if rest[1..1 + close].contains('<') {
            return Err(fail(at, format!("the value of {name} contains <")));
        }
        s = &rest[close + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_is_well_formed_whatever_it_holds() {
        let nasty = "Tom & Jerry's <b>\"show\"</b> &amp;";
        let ssml = format!("<speak>{}</speak>", escape(nasty));
        assert_eq!(check(&ssml), Ok(()));
        assert_eq!(escape("a&b"), "a&amp;b");
    }

    #[test]
    fn well_formed_ssml_passes() {
        for ok in [
            "<speak>Hello</speak>",
            "<speak/>",
            "  <speak>Hi <break time=\"1s\"/> there</speak>\n",
            "<speak><prosody rate='slow'>slow</prosody> &#233; &#xE9;</speak>",
            "<speak><amazon:effect name=\"whispered\">psst</amazon:effect></speak>",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn malformed_ssml_names_the_place() {
        for (bad, what) in [
            ("Hello", "text outside <speak>"),
            ("<speak>Hi", "<speak> is never closed"),
            ("<speak><p>Hi</speak>", "</speak> closes <p>"),
            (
                "<speak>Tom & Jerry</speak>",
                "& must start an entity such as &amp;",
            ),
            ("<speak>&nbsp;</speak>", "&nbsp; is not an XML entity"),
            (
                "<speak><break time=1s/></speak>",
                "the value of time must be in quotes",
            ),
            (
                "<speak>a</speak><speak>b</speak>",
                "everything must be inside one <speak> element",
            ),
            (
                "<speak><!-- c --></speak>",
                "comments, declarations and processing instructions are not SSML",
            ),
            ("<speak>a < b</speak>", "\"\" is not a tag name"),
            ("", "no <speak> element"),
        ] {
            let e = check(bad).unwrap_err();
            assert_eq!(e.what, what, "{bad}");
        }
        assert_eq!(check("<speak>Hi").unwrap_err().at, 9);
    }
}
