//! Record headers as Lambda writes them, read in the same pass as the
//! record.

use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::record::Header;

/// `headers` as Lambda writes them: a list of objects, each name with its
/// bytes as signed Java bytes (128..=255 is accepted too, for producers of
/// test events that wrote unsigned bytes), read straight into [`Header`]s
/// in document order.
pub(super) struct WireHeaders(pub(super) Vec<Header>);

impl<'de> Deserialize<'de> for WireHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = Vec<Header>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of {name: [bytes]} objects")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Vec<Header>, S::Error> {
                let mut out = Vec::new();
                let mut index = 0;
                while s
                    .next_element_seed(HeaderObject {
                        index,
                        out: &mut out,
                    })?
                    .is_some()
                {
                    index += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(List).map(WireHeaders)
    }
}

/// One `{name: [bytes], ...}` object of the `headers` list.
struct HeaderObject<'o> {
    index: usize,
    out: &'o mut Vec<Header>,
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
        while let Some(name) = m.next_key::<String>()? {
            let value = m.next_value_seed(HeaderBytes {
                index: self.index,
                name: &name,
            })?;
            self.out.push(Header { name, value });
        }
        Ok(())
    }
}

/// A header's value: signed (or unsigned) bytes.
struct HeaderBytes<'n> {
    index: usize,
    name: &'n str,
}

impl<'de> DeserializeSeed<'de> for HeaderBytes<'_> {
    type Value = Vec<u8>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for HeaderBytes<'_> {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of bytes")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Vec<u8>, S::Error> {
        let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0));
        while let Some(b) = s.next_element::<i64>()? {
            out.push(match b {
                -128..=-1 => (b as i8) as u8,
                0..=255 => b as u8,
                _ => {
                    return Err(serde::de::Error::custom(format!(
                        "header {} ({:?}) has byte {b}, outside -128..=255",
                        self.index, self.name
                    )))
                }
            });
        }
        Ok(out)
    }
}
