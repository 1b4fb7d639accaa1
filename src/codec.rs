//! Small pure encodings every layer uses: base64 as Lambda writes it, RFC
//! 3339 times, hex digests, and UTF-8-safe truncation.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// Why a base64 field could not be decoded; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} is not valid base64: {source}")]
pub struct Base64Error {
    /// The field that held the text, e.g. `value` or `headers.value`.
    pub field: String,
    /// What the decoder found.
    #[source]
    pub source: base64::DecodeError,
}

/// Standard base64, decoded leniently: non-zero trailing bits (AWS's own
/// sample events have them) and missing padding are accepted. The bytes are
/// what matter and are kept; Lambda itself always writes canonical base64.
const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Decodes an optional standard-base64 field (`None` stays `None`).
pub fn decode_b64_field(field: &str, text: Option<&str>) -> Result<Option<Vec<u8>>, Base64Error> {
    let Some(t) = text else {
        return Ok(None);
    };
    // Lambda writes canonical base64: the SIMD decoder takes that (several
    // times faster on megabyte batches); what it refuses gets the lenient
    // decoder, which decodes canonical text to the same bytes.
    if let Ok(bytes) = base64_simd::STANDARD.decode_to_vec(t) {
        return Ok(Some(bytes));
    }
    LENIENT.decode(t).map(Some).map_err(|source| Base64Error {
        field: field.to_owned(),
        source,
    })
}

/// Decodes standard base64 `text` of `field` (leniently, as
/// [`decode_b64_field`]) onto the end of `out`; returns where the bytes
/// went. On error `out` is as it was.
pub(crate) fn decode_b64_append(
    field: &str,
    text: &str,
    out: &mut Vec<u8>,
) -> Result<std::ops::Range<usize>, Base64Error> {
    let start = out.len();
    if base64_simd::STANDARD.decode_append(text, out).is_err() {
        out.truncate(start);
        if let Err(source) = LENIENT.decode_vec(text, out) {
            out.truncate(start);
            return Err(Base64Error {
                field: field.to_owned(),
                source,
            });
        }
    }
    Ok(start..out.len())
}

/// Encodes bytes the way Lambda does in events (standard base64).
pub fn encode_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// [`encode_b64`] of an optional value.
pub fn encode_b64_opt(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(encode_b64)
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-22T04:00:00.123Z`; epoch
/// milliseconds as text if out of range.
pub fn rfc3339_ms(epoch_ms: i64) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| epoch_ms.to_string())
}

/// Parses an RFC 3339 time to epoch milliseconds.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A time given by an operator: RFC 3339 or epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 time (2026-11-22T04:00:00Z) or epoch milliseconds")]
pub struct TimeError(pub String);

/// Parses [`TimeError`]'s two accepted forms to epoch milliseconds.
pub fn parse_time(s: &str) -> Result<i64, TimeError> {
    s.parse::<i64>()
        .ok()
        .or_else(|| parse_rfc3339_ms(s))
        .ok_or_else(|| TimeError(s.to_owned()))
}

/// `text` without a leading UTF-8 byte order mark, which some producers of
/// events and message bodies write and JSON parsers refuse.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Lower-case hex of the SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_utf8("aé", 2), "a");
        assert_eq!(truncate_utf8("abc", 5), "abc");
    }

    #[test]
    fn times_round_trip_and_name_bad_input() {
        assert_eq!(rfc3339_ms(1_795_320_000_123), "2026-11-22T04:00:00.123Z");
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T04:00:00.123Z"),
            Some(1_795_320_000_123)
        );
        assert_eq!(parse_time("1000"), Ok(1000));
        assert!(parse_time("soon")
            .unwrap_err()
            .to_string()
            .contains("\"soon\""));
    }

    #[test]
    fn base64_errors_name_the_field() {
        let e = decode_b64_field("value", Some("%%")).unwrap_err();
        assert!(
            e.to_string().starts_with("value is not valid base64"),
            "{e}"
        );
        assert_eq!(decode_b64_field("key", None), Ok(None));
    }
}

#[cfg(test)]
mod b64_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The SIMD fast path changes nothing: every text decodes to what
        /// the lenient decoder alone gives, or fails as it does.
        #[test]
        fn fast_path_agrees_with_the_lenient_decoder(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            cut in 0usize..4,
            junk in "[A-Za-z0-9+/=_ -]{0,3}",
        ) {
            let canonical = encode_b64(&bytes);
            let trimmed = &canonical[..canonical.len().saturating_sub(cut)];
            for text in [canonical.clone(), trimmed.to_owned(), format!("{trimmed}{junk}")] {
                let ours = decode_b64_field("value", Some(&text)).ok().flatten();
                let lenient = LENIENT.decode(&text).ok();
                prop_assert_eq!(ours, lenient, "{:?}", text);
            }
        }
    }
}
