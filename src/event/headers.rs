//! Record headers as Lambda writes them, read in the same pass as the
//! record straight into the compact form records keep them in.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::shape::Text;
use crate::record::compact;

/// `headers` of one record, read on its own into a buffer of its own (the
/// exact decoder's records).
pub(super) struct WireHeaders(pub(super) Vec<u8>);

impl<'de> Deserialize<'de> for WireHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::new();
        HeadersSeed { out: &mut out }.deserialize(d)?;
        Ok(WireHeaders(out))
    }
}

/// `headers` as Lambda writes them: a list of objects, each name with its
/// bytes as signed Java bytes (128..=255 is accepted too, for producers of
/// test events that wrote unsigned bytes). Appended to `out` in document
/// order, in the form of [`compact`]; the value is where they went.
pub(super) struct HeadersSeed<'o> {
    pub(super) out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for HeadersSeed<'_> {
    type Value = Range<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Range<usize>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for HeadersSeed<'_> {
    type Value = Range<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of {name: [bytes]} objects")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Range<usize>, S::Error> {
        let start = self.out.len();
        let mut index = 0;
        while s
            .next_element_seed(HeaderObject {
                index,
                out: &mut *self.out,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(start..self.out.len())
    }
}

/// One `{name: [bytes], ...}` object of the `headers` list.
struct HeaderObject<'o> {
    index: usize,
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for HeaderObject<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderObject<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a {name: [bytes]} object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<(), M::Error> {
        let too_long = || serde::de::Error::custom(format!("header {} is too long", self.index));
        while let Some(Text(name)) = m.next_key::<Text<'de>>()? {
            let at = compact::push_name(self.out, &name).ok_or_else(too_long)?;
            m.next_value_seed(HeaderBytes {
                index: self.index,
                name: &name,
                out: &mut *self.out,
            })?;
            compact::finish_value(self.out, at).ok_or_else(too_long)?;
        }
        Ok(())
    }
}

/// A header's value: signed (or unsigned) bytes, appended to `out`.
struct HeaderBytes<'n> {
    index: usize,
    name: &'n str,
    out: &'n mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for HeaderBytes<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for HeaderBytes<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of bytes")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<(), S::Error> {
        while let Some(b) = s.next_element::<i64>()? {
            self.out.push(header_byte(b).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "header {} ({:?}) has byte {b}, outside -128..=255",
                    self.index, self.name
                ))
            })?);
        }
        Ok(())
    }
}

/// A header byte as Lambda writes it (a signed Java byte), or unsigned.
pub(super) fn header_byte(b: i64) -> Option<u8> {
    match b {
        -128..=-1 => Some((b as i8) as u8),
        0..=255 => Some(b as u8),
        _ => None,
    }
}
