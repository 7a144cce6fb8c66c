//! Reading `rask.toml` so that every bad key is reported at once, each under its own name.
//!
//! serde stops at the first value it cannot take, and toml's own message for it names the
//! line but not the key ("invalid socket address syntax"). So the document is parsed once
//! into toml's spanned tree, deserialized with the path to the failing key recorded, and, on
//! an error, that key is taken out of the tree and the rest deserialized again, until it goes
//! through. Whatever deserializes then is still checked by `Config::check`, so one run names
//! the wrong values and the missing ones together.

use serde_path_to_error::Segment;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Config, ConfigError, err};

/// More errors than this in one file are not worth listing one by one.
const MOST_ERRORS: usize = 50;

/// What reading a document gave: the configuration without its bad keys (when the rest could
/// be read), every error with its key and line, and the keys taken out (so that a check of
/// what is left does not report them again as missing).
pub(super) struct Read {
    pub config: Option<Config>,
    pub errors: Vec<ConfigError>,
    pub removed: Vec<String>,
}

/// Reads `text`, the content of `file`.
pub(super) fn read(text: &str, file: &str) -> Read {
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map(|s| {
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line} of {file})")
        })
        .unwrap_or_default()
    };
    let mut doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            // Not TOML at all: nothing after the bad syntax can be trusted.
            return Read {
                config: None,
                errors: vec![err(file, format!("{}{}", e.message().trim(), line_of(e.span())))],
                removed: Vec::new(),
            };
        }
    };
    let mut read = Read {
        config: None,
        errors: Vec::new(),
        removed: Vec::new(),
    };
    while read.errors.len() < MOST_ERRORS {
        let de = toml::Deserializer::from(doc.clone());
        let e = match serde_path_to_error::deserialize::<_, Config>(de) {
            Ok(config) => {
                read.config = Some(config);
                break;
            }
            Err(e) => e,
        };
        let mut path: Vec<Segment> = e.path().iter().cloned().collect();
        let inner = e.into_inner();
        let message = inner.message().trim().to_owned();
        // The path of an unknown key ends at that key; should it end at its table, add it.
        if let Some(name) = quoted_after(&message, "unknown field") {
            if !matches!(path.last(), Some(Segment::Map { key }) if *key == name) {
                path.push(Segment::Map { key: name });
            }
        }
        let missing = quoted_after(&message, "missing field");
        let key = match &missing {
            Some(name) => join(&path, Some(name)),
            None => join(&path, None),
        };
        // A key taken out for its bad value comes back as missing: it was reported already.
        if missing.is_none() || !read.removed.contains(&key) {
            let problem = match &missing {
                Some(_) => "missing".to_owned(),
                None => strip_unknown_prefix(&message),
            };
            read.errors
                .push(err(key.clone(), format!("{problem}{}", line_of(inner.span()))));
        }
        // Take out the bad key; when that cannot be (a required key is missing, a whole array
        // element is bad), its whole top-level section, so that the other sections are still
        // read; when not even that, stop.
        if missing.is_none() && remove(&mut doc, &path) {
            read.removed.push(key);
            continue;
        }
        match path.first() {
            Some(Segment::Map { key: top }) if remove(&mut doc, &path[..1]) => read.removed.push(top.clone()),
            _ => break,
        }
    }
    read
}

/// `devices[2].kind` for a path, with `last` appended when given.
fn join(path: &[Segment], last: Option<&str>) -> String {
    let mut out = String::new();
    let push_key = |out: &mut String, key: &str| {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    };
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { variant } => push_key(&mut out, variant),
            Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    if let Some(last) = last {
        push_key(&mut out, last);
    }
    if out.is_empty() { "file".to_owned() } else { out }
}

/// The name in `` unknown field `x`, expected ...``.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.trim_start();
    let rest = rest.strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_owned())
}

/// "unknown field `x`, expected one of `a`, `b`" says the key twice once the key names it.
fn strip_unknown_prefix(message: &str) -> String {
    match message.strip_prefix("unknown field") {
        Some(rest) => match rest.find(", expected") {
            Some(at) => format!("not a key rask knows; {}", rest[at + 2..].trim()),
            None => "not a key rask knows".to_owned(),
        },
        None => message.to_owned(),
    }
}

/// Takes the value at `path` out of the document; false when there is none to take.
fn remove(doc: &mut Spanned<DeTable<'_>>, path: &[Segment]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut value: Option<&mut DeValue<'_>> = None;
    let mut table: Option<&mut DeTable<'_>> = Some(doc.get_mut());
    for segment in parents {
        let next = match (segment, table.take(), value.take()) {
            (Segment::Map { key }, Some(t), _) => t.get_mut(key.as_str()).map(Spanned::get_mut),
            (Segment::Seq { index }, _, Some(DeValue::Array(items))) => {
                items.get_mut(*index).map(Spanned::get_mut)
            }
            _ => None,
        };
        let Some(next) = next else { return false };
        if matches!(next, DeValue::Array(_)) {
            value = Some(next);
        } else if let DeValue::Table(t) = next {
            table = Some(t);
        } else {
            return false;
        }
    }
    // A whole array element is not taken out: the later ones would change their numbers.
    match (last, table) {
        (Segment::Map { key }, Some(t)) => t.remove(key.as_str()).is_some(),
        _ => false,
    }
}
