//! Typed values for handlers: a record's key or value deserialized with
//! serde, registry framing skipped, failures a `permanent` error of their
//! own kind.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::io::Read;

use serde::de::DeserializeOwned;

use super::framing::{
    take_glue_message_index, take_message_indexes, Framing, FramingError, SchemaId,
    GLUE_COMPRESSION_ZLIB,
};
use super::registry::RegistryError;
use crate::record::{KafkaRecord, SchemaMetadata};

/// The largest payload a Glue zlib frame may inflate to; a bound, so a
/// crafted frame cannot exhaust memory.
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;

/// A key or value that does not deserialize.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Null: a null key or a tombstone.
    #[error("the record's {0} is null")]
    Null(&'static str),
    /// Registry framing or a schema id that cannot be read.
    #[error("the record's {part} has damaged registry framing: {source}")]
    Framing {
        /// `key` or `value`.
        part: &'static str,
        /// What is wrong with it.
        #[source]
        source: FramingError,
    },
    /// Glue framing says zlib, and the payload does not inflate.
    #[error("the record's {part} does not inflate (Glue zlib framing): {source}")]
    Inflate {
        /// `key` or `value`.
        part: &'static str,
        /// zlib's error.
        #[source]
        source: std::io::Error,
    },
    /// Neither Lambda's schema metadata nor registry framing names the
    /// writer schema, and no default one is set.
    #[error("the record's {part} names no writer schema: no schema metadata, no registry framing and no default schema")]
    NoSchema {
        /// `key` or `value`.
        part: &'static str,
    },
    /// The event source mapping converted the payload to JSON
    /// (`EventRecordFormat: JSON`): read it as JSON instead.
    #[error("the record's {part} was converted to JSON by the event source mapping; read it with {part}_json")]
    ConvertedToJson {
        /// `key` or `value`.
        part: &'static str,
    },
    /// The writer schema cannot be had.
    #[error("the record's {part}: {source}")]
    Registry {
        /// `key` or `value`.
        part: &'static str,
        /// The registry's failure.
        #[source]
        source: RegistryError,
    },
    /// The bytes are not valid in their format.
    #[error("the record's {part} is not valid {format}: {source}")]
    Deserialization {
        /// `key` or `value`.
        part: &'static str,
        /// `JSON`, `AVRO` or `PROTOBUF`.
        format: &'static str,
        /// The decoder's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// Valid in their format, but not of the expected type.
    #[error("the record's {part} ({format}) does not match the expected type: {source}")]
    SchemaMismatch {
        /// `key` or `value`.
        part: &'static str,
        /// `JSON`, `AVRO` or `PROTOBUF`.
        format: &'static str,
        /// The decoder's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl ValueError {
    /// The error type a dead letter carries: `SchemaMismatch` for a value
    /// of another shape, `SchemaNotFound` / `SchemaRegistryUnavailable` for
    /// the registry's failures, `DeserializationError` for everything else.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::SchemaMismatch { .. } => "SchemaMismatch",
            Self::Registry { source, .. } if source.is_transient() => "SchemaRegistryUnavailable",
            Self::Registry {
                source: RegistryError::NotFound { .. },
                ..
            } => "SchemaNotFound",
            _ => "DeserializationError",
        }
    }

    /// True when the registry may answer on a retry; every other failure
    /// stays a failure however often it is retried.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Registry { source, .. } if source.is_transient())
    }
}

/// A key's or value's payload, framing removed, and the schema id that
/// wrote it when one is known.
pub(crate) struct Payload<'a> {
    // Only the Avro reader asks the registry.
    #[cfg_attr(not(feature = "avro"), allow(dead_code))]
    pub(crate) schema_id: Option<SchemaId>,
    pub(crate) bytes: Cow<'a, [u8]>,
}

/// The bytes of `part` (`key` or `value`) of `record`, or `Null`.
pub(crate) fn part_bytes<'a>(
    record: &'a KafkaRecord,
    part: &'static str,
) -> Result<(&'a [u8], Option<&'a SchemaMetadata>), ValueError> {
    let (bytes, meta) = if part == "key" {
        (record.key(), record.key_schema())
    } else {
        (record.value(), record.value_schema())
    };
    Ok((bytes.ok_or(ValueError::Null(part))?, meta))
}

/// Finds the payload: Lambda's schema metadata names the writer schema of
/// a payload whose framing it removed; otherwise registry framing in front
/// names it. `protobuf`: message indexes (Confluent) or the message index
/// (Glue) come before the message, framed or not, and are removed too.
pub(crate) fn payload<'a>(
    part: &'static str,
    bytes: &'a [u8],
    meta: Option<&SchemaMetadata>,
    protobuf: bool,
) -> Result<Payload<'a>, ValueError> {
    let framing = |source| ValueError::Framing { part, source };
    let from_meta = match meta.and_then(|m| m.schema_id.as_deref()) {
        Some(text) => Some(SchemaId::parse(text).map_err(framing)?),
        None => None,
    };
    // Under SOURCE Lambda removed the header; framing still in front of a
    // payload it describes (seen in the wild) is removed only when it names
    // the same schema: otherwise the leading byte is the payload's own.
    let (schema_id, rest, zlib) = match (from_meta, Framing::sniff(bytes, false)) {
        (Some(id), Some((f, rest))) if f.schema_id() == id => (Some(id), rest, is_zlib(&f)),
        (Some(id), _) => (Some(id), bytes, false),
        (None, Some((f, rest))) => (Some(f.schema_id()), rest, is_zlib(&f)),
        (None, None) => (None, bytes, false),
    };
    let mut bytes = if zlib {
        Cow::Owned(inflate(rest).map_err(|source| ValueError::Inflate { part, source })?)
    } else {
        Cow::Borrowed(rest)
    };
    // After the header, framed or delivered, a Protobuf payload starts with
    // its message indexes (Confluent) or message index (Glue).
    if let (true, Some(id)) = (protobuf, schema_id) {
        let mut rest: &[u8] = &bytes;
        match id {
            SchemaId::Confluent(_) => take_message_indexes(&mut rest).map(drop),
            SchemaId::Glue(_) => take_glue_message_index(&mut rest).map(drop),
        }
        .map_err(framing)?;
        let used = bytes.len() - rest.len();
        bytes = match bytes {
            Cow::Borrowed(b) => Cow::Borrowed(&b[used..]),
            Cow::Owned(mut v) => {
                v.drain(..used);
                Cow::Owned(v)
            }
        };
    }
    Ok(Payload { schema_id, bytes })
}

/// `e`, unless the bytes are JSON text the event source mapping converted
/// the payload to (schema metadata present, the bytes parse as JSON): then
/// `ConvertedToJson`, which says what to do. Only failures pay for the
/// check.
#[cfg(any(feature = "avro", feature = "protobuf"))]
pub(crate) fn converted_or(
    part: &'static str,
    bytes: &[u8],
    meta: Option<&SchemaMetadata>,
    e: ValueError,
) -> ValueError {
    if meta.is_some() && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        ValueError::ConvertedToJson { part }
    } else {
        e
    }
}

fn is_zlib(f: &Framing) -> bool {
    matches!(f, Framing::Glue { compression, .. } if *compression == GLUE_COMPRESSION_ZLIB)
}

fn inflate(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::ZlibDecoder::new(bytes)
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("inflates to more than {MAX_INFLATED_BYTES} bytes"),
        ));
    }
    Ok(out)
}

fn json<T: DeserializeOwned>(record: &KafkaRecord, part: &'static str) -> Result<T, ValueError> {
    let (bytes, meta) = part_bytes(record, part)?;
    // JSON text never starts with 0x00 or 0x03, so framing left in front
    // (a value read straight from the topic) is recognised without a guess.
    let payload = payload(part, bytes, meta, false)?;
    serde_json::from_slice(&payload.bytes).map_err(|source| {
        if source.classify() == serde_json::error::Category::Data {
            ValueError::SchemaMismatch {
                part,
                format: "JSON",
                source: source.into(),
            }
        } else {
            ValueError::Deserialization {
                part,
                format: "JSON",
                source: source.into(),
            }
        }
    })
}

impl KafkaRecord {
    /// The value, JSON, deserialized into `T`; registry framing in front of
    /// it (Confluent or Glue) is skipped. `?` in a handler turns an error
    /// into a `permanent` [`HandlerError`](crate::HandlerError) (`SchemaMismatch` or
    /// `DeserializationError`).
    pub fn value_json<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        json(self, "value")
    }

    /// The key, as [`KafkaRecord::value_json`] reads the value.
    pub fn key_json<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        json(self, "key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Order {
        id: u32,
    }

    fn rec(value: Option<Vec<u8>>) -> KafkaRecord {
        KafkaRecord::builder("orders", 0, 1).value(value).build()
    }

    #[test]
    fn json_values_deserialize_with_or_without_framing() {
        let raw = br#"{"id":7}"#.to_vec();
        assert_eq!(
            rec(Some(raw.clone())).value_json::<Order>().unwrap(),
            Order { id: 7 }
        );
        for id in ["12", "b7b4a7f0-9c96-4e4a-a687-fb5de9ef0c63"] {
            let framed = Framing::for_schema(SchemaId::parse(id).unwrap(), false).frame(&raw);
            assert_eq!(
                rec(Some(framed)).value_json::<Order>().unwrap(),
                Order { id: 7 }
            );
        }
    }

    #[test]
    fn failures_are_permanent_errors_of_their_own_kind() {
        let e = rec(Some(br#"{"id":"x"}"#.to_vec()))
            .value_json::<Order>()
            .unwrap_err();
        assert_eq!(
            (e.is_transient(), e.error_type()),
            (false, "SchemaMismatch")
        );
        let e = rec(Some(b"{".to_vec())).value_json::<Order>().unwrap_err();
        assert_eq!(e.error_type(), "DeserializationError");
        assert!(matches!(
            rec(None).value_json::<Order>(),
            Err(ValueError::Null("value"))
        ));
        let mut glue_zlib = vec![3, 5];
        glue_zlib.extend([0; 16]);
        let not_zlib = glue_zlib.iter().copied().chain(*b"plain").collect();
        assert!(matches!(
            rec(Some(not_zlib)).value_json::<Order>(),
            Err(ValueError::Inflate { part: "value", .. })
        ));
        let mut z = flate2::write::ZlibEncoder::new(glue_zlib, flate2::Compression::fast());
        std::io::Write::write_all(&mut z, br#"{"id":9}"#).unwrap();
        assert_eq!(
            rec(Some(z.finish().unwrap()))
                .value_json::<Order>()
                .unwrap(),
            Order { id: 9 }
        );
    }
}
