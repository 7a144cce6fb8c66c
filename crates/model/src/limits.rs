//! Alexa's documented limits, as constants and checks.
//!
//! The numbers come from the official Smart Home schema and Amazon's custom-skill reference
//! (see `ALEXA-FACTS.md`): a response larger than 24 KB or an endpoint id with a space in it is
//! refused by Alexa, usually with no explanation reaching the skill's owner. Checking here turns
//! that silence into an error that names the field.

use thiserror::Error;

/// Largest custom-skill response Alexa accepts, speech and directives included (24 KB).
pub const MAX_RESPONSE_BYTES: usize = 24 * 1024;
/// Longest `outputSpeech` text Alexa speaks (strictly fewer characters than this).
pub const MAX_SPEECH_CHARS: usize = 8000;
/// Longest endpoint id.
pub const MAX_ENDPOINT_ID_LEN: usize = 256;
/// Longest message id.
pub const MAX_MESSAGE_ID_LEN: usize = 127;
/// Longest friendly name, description or manufacturer name in discovery.
pub const MAX_NAME_LEN: usize = 128;
/// Most endpoints in one `Discover.Response` or `AddOrUpdateReport`.
pub const MAX_DISCOVERED_ENDPOINTS: usize = 300;
/// Longest value in an endpoint's `additionalAttributes`.
pub const MAX_ADDITIONAL_ATTRIBUTE_LEN: usize = 256;

/// The most characters of a value from the network that rask writes to a log or the database
/// (a client id, a remote address, an error description): longer ones are cut, marked as cut,
/// so that strangers cannot fill a disk through them.
pub const MAX_LOGGED_CHARS: usize = 200;

/// `s` cut to [`MAX_LOGGED_CHARS`] characters, ending `... (cut, N characters in all)` when it
/// was longer; control characters become spaces, so that a value cannot forge log lines.
pub fn logged(s: &str) -> std::borrow::Cow<'_, str> {
    cut_to(s, MAX_LOGGED_CHARS)
}

/// `s` cut to `max` characters, as [`logged`] does.
pub fn cut_to(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let clean = |t: &str| -> String { t.chars().map(|c| if c.is_control() { ' ' } else { c }).collect() };
    match s.char_indices().nth(max) {
        None if !s.chars().any(char::is_control) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(clean(s)),
        Some((end, _)) => std::borrow::Cow::Owned(format!(
            "{}... (cut, {} characters in all)",
            clean(&s[..end]),
            s.chars().count()
        )),
    }
}

/// A value that breaks one of Alexa's limits. The message names the rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LimitError {
    /// The serialized response is larger than Alexa accepts.
    #[error("the response is {size} bytes; Alexa accepts at most {max} bytes")]
    ResponseTooLarge {
        /// Size of the serialized response in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A string is empty or longer than its limit.
    #[error("{field} must be 1 to {max} characters long, it is {len}")]
    Length {
        /// The field, in Alexa's spelling.
        field: &'static str,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string contains a character its field does not allow.
    #[error("{field} may contain only {allowed}; found {found:?}")]
    Character {
        /// The field, in Alexa's spelling.
        field: &'static str,
        /// The first character that is not allowed.
        found: char,
        /// A description of the allowed set.
        allowed: &'static str,
    },
    /// A list has more entries than Alexa accepts.
    #[error("{field} has {len} entries; Alexa accepts at most {max}")]
    TooMany {
        /// The field, in Alexa's spelling.
        field: &'static str,
        /// How many entries it has.
        len: usize,
        /// The limit.
        max: usize,
    },
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), LimitError> {
    let len = s.chars().count();
    if len == 0 || len > max {
        return Err(LimitError::Length { field, len, max });
    }
    Ok(())
}

/// Characters the schema allows in an endpoint id besides ASCII letters and digits.
const ENDPOINT_ID_PUNCTUATION: &str = "_-=#;:?@&";

/// Checks an `endpointId`: 1–256 characters from `[a-zA-Z0-9_\-=#;:?@&]`.
pub fn check_endpoint_id(id: &str) -> Result<(), LimitError> {
    check_len("endpointId", id, MAX_ENDPOINT_ID_LEN)?;
    if let Some(found) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ENDPOINT_ID_PUNCTUATION.contains(*c)))
    {
        return Err(LimitError::Character {
            field: "endpointId",
            found,
            allowed: "letters, digits and _ - = # ; : ? @ &",
        });
    }
    Ok(())
}

/// Checks a `messageId`: 1–127 characters from `[a-zA-Z0-9-]`.
pub fn check_message_id(id: &str) -> Result<(), LimitError> {
    check_len("messageId", id, MAX_MESSAGE_ID_LEN)?;
    if let Some(found) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(LimitError::Character {
            field: "messageId",
            found,
            allowed: "letters, digits and -",
        });
    }
    Ok(())
}

/// Checks a discovery `friendlyName`: 1–128 characters.
pub fn check_friendly_name(name: &str) -> Result<(), LimitError> {
    check_len("friendlyName", name, MAX_NAME_LEN)
}

/// Checks a discovery `description`: 1–128 characters.
pub fn check_description(description: &str) -> Result<(), LimitError> {
    check_len("description", description, MAX_NAME_LEN)
}

/// Checks a discovery `manufacturerName`: 1–128 characters.
pub fn check_manufacturer_name(name: &str) -> Result<(), LimitError> {
    check_len("manufacturerName", name, MAX_NAME_LEN)
}

/// Checks the size of a serialized custom-skill response against the 24 KB limit.
pub fn check_response_size(size: usize) -> Result<(), LimitError> {
    if size > MAX_RESPONSE_BYTES {
        return Err(LimitError::ResponseTooLarge {
            size,
            max: MAX_RESPONSE_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_for_logs_are_bounded_and_cannot_forge_lines() {
        assert_eq!(logged("alexa"), "alexa");
        let long = "x".repeat(1_000_000);
        let cut = logged(&long);
        assert!(cut.len() < 260, "{}", cut.len());
        assert!(cut.ends_with("... (cut, 1000000 characters in all)"), "{cut}");
        assert_eq!(logged("a\nINFO forged"), "a INFO forged");
        assert_eq!(cut_to("héllo", 2), "hé... (cut, 5 characters in all)");
    }

    #[test]
    fn endpoint_ids_follow_the_schema_pattern() {
        assert!(check_endpoint_id("doorbell-01").is_ok());
        assert!(check_endpoint_id("a_b=c#d;e:f?g@h&i").is_ok());
        assert_eq!(
            check_endpoint_id("front door"),
            Err(LimitError::Character {
                field: "endpointId",
                found: ' ',
                allowed: "letters, digits and _ - = # ; : ? @ &"
            })
        );
        assert!(matches!(
            check_endpoint_id(""),
            Err(LimitError::Length { len: 0, .. })
        ));
        assert!(check_endpoint_id(&"a".repeat(256)).is_ok());
        assert!(check_endpoint_id(&"a".repeat(257)).is_err());
    }

    #[test]
    fn message_ids_are_short_and_plain() {
        assert!(check_message_id("5f8a426e-01e4-4cc9-8b79-65f8bd0fd8a4").is_ok());
        assert!(check_message_id("abc_def").is_err());
        assert!(check_message_id(&"a".repeat(128)).is_err());
    }

    #[test]
    fn names_count_characters_not_bytes() {
        assert!(check_friendly_name(&"é".repeat(128)).is_ok());
        assert!(check_friendly_name(&"é".repeat(129)).is_err());
        assert!(check_description("").is_err());
    }

    #[test]
    fn response_size_limit_is_24_kib() {
        assert!(check_response_size(24 * 1024).is_ok());
        assert_eq!(
            check_response_size(24 * 1024 + 1),
            Err(LimitError::ResponseTooLarge {
                size: 24 * 1024 + 1,
                max: 24 * 1024
            })
        );
    }
}
