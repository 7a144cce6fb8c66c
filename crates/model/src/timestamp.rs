//! Timestamps the way Alexa writes them.
//!
//! Alexa uses ISO-8601 in UTC with a `Z`, but not one format everywhere: the schema's
//! `DoorbellPress.timestamp` pattern allows no fractional seconds, while a property's
//! `timeOfSample` allows up to three digits. Writing the wrong one gets the event refused.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// `2026-11-23T10:15:30Z`: seconds precision, as event timestamps require.
pub fn seconds(t: OffsetDateTime) -> String {
    write(t, false)
}

/// `2026-11-23T10:15:30.123Z`: millisecond precision, as `timeOfSample` allows.
pub fn millis(t: OffsetDateTime) -> String {
    write(t, true)
}

/// Writes the fixed shape by hand: every directive's answer carries one or two of these, and
/// a general formatter costs several times more.
fn write(t: OffsetDateTime, with_millis: bool) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        // Outside four digits: the general formatter says it as ISO 8601 does.
        let fmt = format_description!(
            version = 2,
            "[year repr:full sign:automatic]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond digits:3]]]Z"
        );
        return t.format(&fmt).unwrap_or_default();
    }
    let mut b = [0u8; 24];
    let two = |b: &mut [u8], at: usize, v: u8| {
        b[at] = b'0' + v / 10;
        b[at + 1] = b'0' + v % 10;
    };
    let y = year as u16;
    b[0] = b'0' + (y / 1000) as u8;
    b[1] = b'0' + (y / 100 % 10) as u8;
    b[2] = b'0' + (y / 10 % 10) as u8;
    b[3] = b'0' + (y % 10) as u8;
    b[4] = b'-';
    two(&mut b, 5, u8::from(t.month()));
    b[7] = b'-';
    two(&mut b, 8, t.day());
    b[10] = b'T';
    two(&mut b, 11, t.hour());
    b[13] = b':';
    two(&mut b, 14, t.minute());
    b[16] = b':';
    two(&mut b, 17, t.second());
    let len = if with_millis {
        let ms = t.millisecond();
        b[19] = b'.';
        b[20] = b'0' + (ms / 100) as u8;
        b[21] = b'0' + (ms / 10 % 10) as u8;
        b[22] = b'0' + (ms % 10) as u8;
        b[23] = b'Z';
        24
    } else {
        b[19] = b'Z';
        20
    };
    String::from_utf8_lossy(&b[..len]).into_owned()
}

/// The current time with seconds precision.
pub fn now_seconds() -> String {
    seconds(OffsetDateTime::now_utc())
}

/// The current time with millisecond precision.
pub fn now_millis() -> String {
    millis(OffsetDateTime::now_utc())
}

/// Parses an ISO-8601 / RFC 3339 timestamp such as Alexa sends; `None` if it is not one.
///
/// A timestamp without an offset (`2026-11-23T10:15:30.123456`) is read as UTC: Amazon's own
/// Python SDK writes naive `datetime.utcnow()` values that way, and Amazon accepts them.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let naive = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
    time::PrimitiveDateTime::parse(s, &naive)
        .ok()
        .map(|t| t.assume_utc())
}

/// Whether `s` matches the schema's event-timestamp shape: UTC, `Z`, at most three
/// fractional digits, and a real calendar date.
pub fn is_alexa_utc(s: &str, max_fraction_digits: usize) -> bool {
    let Some(rest) = s.strip_suffix('Z') else {
        return false;
    };
    let (main, fraction) = match rest.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (rest, None),
    };
    if main.len() != 19 {
        return false;
    }
    if let Some(f) = fraction {
        if f.is_empty() || f.len() > max_fraction_digits || !f.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    parse(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn written_by_hand_as_the_general_formatter_would() {
        for t in [
            datetime!(2026-01-02 03:04:05.006 UTC),
            datetime!(1999-12-31 23:59:59.999999 UTC),
            datetime!(2026-11-23 10:15:30.1 +02:00),
        ] {
            let general = t
                .to_offset(UtcOffset::UTC)
                .format(&format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                ))
                .unwrap();
            assert_eq!(millis(t), general);
            assert_eq!(seconds(t), general[..19].to_owned() + "Z");
        }
    }

    #[test]
    fn formats_match_alexa() {
        let t = datetime!(2026-11-23 10:15:30.123456 UTC);
        assert_eq!(seconds(t), "2026-11-23T10:15:30Z");
        assert_eq!(millis(t), "2026-11-23T10:15:30.123Z");
        let t = datetime!(2026-11-23 11:15:30 +01:00);
        assert_eq!(seconds(t), "2026-11-23T10:15:30Z");
    }

    #[test]
    fn naive_timestamps_are_utc() {
        assert_eq!(
            parse("2026-11-23T10:15:30.123456"),
            Some(datetime!(2026-11-23 10:15:30.123456 UTC))
        );
        assert_eq!(
            parse("2026-11-23T11:15:30+01:00"),
            Some(datetime!(2026-11-23 10:15:30 UTC))
        );
        assert_eq!(parse("2026-11-23"), None);
    }

    #[test]
    fn alexa_utc_shape() {
        assert!(is_alexa_utc("2017-09-27T18:30:30Z", 0));
        assert!(!is_alexa_utc("2017-09-27T18:30:30.45Z", 0));
        assert!(is_alexa_utc("2017-09-27T18:30:30.45Z", 3));
        assert!(!is_alexa_utc("2017-09-27T18:30:30.4567Z", 3));
        assert!(!is_alexa_utc("2017-02-30T18:30:30Z", 3));
        assert!(!is_alexa_utc("2017-09-27T18:30:30+00:00", 3));
        assert!(!is_alexa_utc("2017-09-27T18:30:30", 3), "events need the Z");
        assert!(!is_alexa_utc("yesterday", 3));
    }
}
