//! Typed values for handlers: a record's key or value deserialized with
//! serde, registry framing skipped, failures a `permanent` error of their
//! own kind.

use serde::de::DeserializeOwned;

use super::framing::{Framing, GLUE_COMPRESSION_NONE};
use crate::record::KafkaRecord;

/// A key or value that does not deserialize.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Null: a null key or a tombstone.
    #[error("the record's {0} is null")]
    Null(&'static str),
    /// Glue framing says the payload is compressed.
    #[error("the record's {0} is zlib-compressed behind Glue framing; decompress it before deserializing")]
    Compressed(&'static str),
    /// Not JSON.
    #[error("the record's {part} is not valid JSON: {source}")]
    Deserialization {
        /// `key` or `value`.
        part: &'static str,
        /// serde's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// JSON, but not of the expected shape.
    #[error("the record's {part} does not match the expected type: {source}")]
    SchemaMismatch {
        /// `key` or `value`.
        part: &'static str,
        /// serde's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
}

impl ValueError {
    /// The error type a dead letter carries: `SchemaMismatch` for JSON of
    /// another shape, `DeserializationError` for everything else.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::SchemaMismatch { .. } => "SchemaMismatch",
            _ => "DeserializationError",
        }
    }
}

fn json<T: DeserializeOwned>(part: &'static str, bytes: Option<&[u8]>) -> Result<T, ValueError> {
    let bytes = bytes.ok_or(ValueError::Null(part))?;
    // JSON text never starts with 0x00 or 0x03, so framing left in front
    // (a value read straight from the topic) is recognised without a guess.
    let payload = match Framing::sniff(bytes, false) {
        Some((Framing::Glue { compression, .. }, _)) if compression != GLUE_COMPRESSION_NONE => {
            return Err(ValueError::Compressed(part))
        }
        Some((_, payload)) => payload,
        None => bytes,
    };
    serde_json::from_slice(payload).map_err(|source| {
        if source.classify() == serde_json::error::Category::Data {
            ValueError::SchemaMismatch { part, source }
        } else {
            ValueError::Deserialization { part, source }
        }
    })
}

impl KafkaRecord {
    /// The value, JSON, deserialized into `T`; registry framing in front of
    /// it (Confluent or Glue) is skipped. `?` in a handler turns an error
    /// into a `permanent` [`HandlerError`](crate::HandlerError) (`SchemaMismatch` or
    /// `DeserializationError`).
    pub fn value_json<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        json("value", self.value())
    }

    /// The key, as [`KafkaRecord::value_json`] reads the value.
    pub fn key_json<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        json("key", self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::{ErrorClass, HandlerError};
    use crate::schema::SchemaId;

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
        let e: HandlerError = rec(Some(br#"{"id":"x"}"#.to_vec()))
            .value_json::<Order>()
            .unwrap_err()
            .into();
        assert_eq!(
            (e.class, e.error_type.as_str()),
            (ErrorClass::Permanent, "SchemaMismatch")
        );
        let e: HandlerError = rec(Some(b"{".to_vec()))
            .value_json::<Order>()
            .unwrap_err()
            .into();
        assert_eq!(e.error_type, "DeserializationError");
        assert!(matches!(
            rec(None).value_json::<Order>(),
            Err(ValueError::Null("value"))
        ));
        let mut glue_zlib = vec![3, 5];
        glue_zlib.extend([0; 16]);
        assert!(matches!(
            rec(Some(glue_zlib)).value_json::<Order>(),
            Err(ValueError::Compressed(_))
        ));
    }
}
