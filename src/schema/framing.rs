//! The bytes a schema registry's serializer puts in front of a payload.
//!
//! Confluent: magic byte `0`, the schema id as 4 bytes big-endian and, for
//! Protobuf, the message indexes (a zig-zag varint count, then each index;
//! the common `[0]` is written as a single `0`). AWS Glue: header version
//! `3`, a compression byte (`0` none, `5` zlib) and the 16-byte schema
//! version id; a Glue Protobuf payload then starts with a message index
//! (one varint). `SOURCE` removes the header and leaves message indexes.

use std::fmt;

use uuid::Uuid;

/// Confluent's magic byte.
pub const CONFLUENT_MAGIC: u8 = 0;
/// Glue's header version byte.
pub const GLUE_HEADER_VERSION: u8 = 3;
/// Glue's compression byte: not compressed.
pub const GLUE_COMPRESSION_NONE: u8 = 0;
/// Glue's compression byte: zlib.
pub const GLUE_COMPRESSION_ZLIB: u8 = 5;

const CONFLUENT_HEADER: usize = 5;
const GLUE_HEADER: usize = 18;

/// A schema's id in its registry: Confluent numbers schemas, Glue names
/// schema versions by UUID. Lambda's `schemaId` is one or the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaId {
    /// A Confluent-compatible registry's schema id.
    Confluent(u32),
    /// An AWS Glue schema version id.
    Glue(Uuid),
}

impl SchemaId {
    /// Reads Lambda's `schemaId`: a number is Confluent's, a UUID Glue's.
    pub fn parse(text: &str) -> Result<Self, FramingError> {
        let t = text.trim();
        if let Ok(n) = t.parse::<u32>() {
            return Ok(Self::Confluent(n));
        }
        Uuid::parse_str(t)
            .map(Self::Glue)
            .map_err(|_| FramingError::SchemaId(text.to_owned()))
    }

    /// The registry's name, for messages.
    pub fn registry(&self) -> &'static str {
        match self {
            Self::Confluent(_) => "Confluent",
            Self::Glue(_) => "Glue",
        }
    }
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Confluent(n) => write!(f, "{n}"),
            Self::Glue(u) => write!(f, "{}", u.hyphenated()),
        }
    }
}

/// Framing that cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// Neither a number nor a UUID.
    #[error("schema id {0:?} is neither a Confluent schema id (a number) nor a Glue schema version id (a UUID)")]
    SchemaId(String),
    /// Fewer bytes than the framing needs.
    #[error("{registry} framing needs at least {need} bytes, the value has {have}")]
    Short {
        /// Which registry's framing.
        registry: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes there.
        have: usize,
    },
    /// The first byte is not Confluent's magic byte.
    #[error("not Confluent framing: the first byte is {0:#04x}, not 0x00")]
    ConfluentMagic(u8),
    /// The first byte is not Glue's header version.
    #[error("not Glue framing: the header version byte is {0}, not 3")]
    GlueVersion(u8),
    /// A compression byte Glue does not write.
    #[error("Glue compression byte {0} is unknown (0: none, 5: zlib)")]
    GlueCompression(u8),
    /// Confluent Protobuf message indexes that do not decode.
    #[error("Protobuf message indexes are damaged: {0}")]
    MessageIndexes(&'static str),
}

/// The registry framing in front of a serialized key or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// Confluent wire format.
    Confluent {
        /// The schema id.
        schema_id: u32,
        /// Protobuf only: the path of the message type in the schema.
        message_indexes: Option<Vec<i32>>,
    },
    /// AWS Glue Schema Registry wire format.
    Glue {
        /// The schema version id.
        schema_version_id: Uuid,
        /// [`GLUE_COMPRESSION_NONE`] or [`GLUE_COMPRESSION_ZLIB`].
        compression: u8,
    },
}

impl Framing {
    /// The framing a registry's serializer writes for schema `id` on an
    /// uncompressed payload; for Confluent Protobuf (`protobuf`), the
    /// message indexes of the schema's first message type, `[0]`.
    pub fn for_schema(id: SchemaId, protobuf: bool) -> Self {
        match id {
            SchemaId::Confluent(schema_id) => Self::Confluent {
                schema_id,
                message_indexes: protobuf.then(|| vec![0]),
            },
            SchemaId::Glue(schema_version_id) => Self::Glue {
                schema_version_id,
                compression: GLUE_COMPRESSION_NONE,
            },
        }
    }

    /// The schema id the framing names.
    pub fn schema_id(&self) -> SchemaId {
        match self {
            Self::Confluent { schema_id, .. } => SchemaId::Confluent(*schema_id),
            Self::Glue {
                schema_version_id, ..
            } => SchemaId::Glue(*schema_version_id),
        }
    }

    /// The framing followed by `payload`.
    pub fn frame(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(GLUE_HEADER + 8 + payload.len());
        match self {
            Self::Confluent {
                schema_id,
                message_indexes,
            } => {
                out.push(CONFLUENT_MAGIC);
                out.extend_from_slice(&schema_id.to_be_bytes());
                match message_indexes.as_deref() {
                    None => {}
                    Some([0]) => out.push(0),
                    Some(list) => {
                        // A list longer than i32::MAX cannot exist in memory
                        // as Vec<i32> of real schema paths; saturate anyway.
                        put_varint(&mut out, i32::try_from(list.len()).unwrap_or(i32::MAX));
                        for &i in list {
                            put_varint(&mut out, i);
                        }
                    }
                }
            }
            Self::Glue {
                schema_version_id,
                compression,
            } => {
                out.push(GLUE_HEADER_VERSION);
                out.push(*compression);
                out.extend_from_slice(schema_version_id.as_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// Splits Confluent-framed bytes into framing and payload; `protobuf`:
    /// message indexes follow the id.
    pub fn split_confluent(bytes: &[u8], protobuf: bool) -> Result<(Self, &[u8]), FramingError> {
        if bytes.len() < CONFLUENT_HEADER {
            return Err(FramingError::Short {
                registry: "Confluent",
                need: CONFLUENT_HEADER,
                have: bytes.len(),
            });
        }
        if bytes[0] != CONFLUENT_MAGIC {
            return Err(FramingError::ConfluentMagic(bytes[0]));
        }
        let schema_id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let mut rest = &bytes[CONFLUENT_HEADER..];
        let message_indexes = if protobuf {
            Some(take_message_indexes(&mut rest)?)
        } else {
            None
        };
        Ok((
            Self::Confluent {
                schema_id,
                message_indexes,
            },
            rest,
        ))
    }

    /// Splits Glue-framed bytes into framing and payload (still compressed
    /// when the compression byte says so).
    pub fn split_glue(bytes: &[u8]) -> Result<(Self, &[u8]), FramingError> {
        if bytes.len() < GLUE_HEADER {
            return Err(FramingError::Short {
                registry: "Glue",
                need: GLUE_HEADER,
                have: bytes.len(),
            });
        }
        if bytes[0] != GLUE_HEADER_VERSION {
            return Err(FramingError::GlueVersion(bytes[0]));
        }
        let compression = bytes[1];
        if compression != GLUE_COMPRESSION_NONE && compression != GLUE_COMPRESSION_ZLIB {
            return Err(FramingError::GlueCompression(compression));
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[2..GLUE_HEADER]);
        Ok((
            Self::Glue {
                schema_version_id: Uuid::from_bytes(id),
                compression,
            },
            &bytes[GLUE_HEADER..],
        ))
    }

    /// The framing the bytes appear to carry, if any: Glue's header
    /// (`3`, then `0` or `5`, 18+ bytes) or Confluent's magic `0` (5+
    /// bytes). A guess, for values whose producer is not known: raw Avro can
    /// start with `0` too, so prefer the registry's own word when there is
    /// one.
    pub fn sniff(bytes: &[u8], protobuf: bool) -> Option<(Self, &[u8])> {
        match *bytes.first()? {
            GLUE_HEADER_VERSION => Self::split_glue(bytes).ok(),
            CONFLUENT_MAGIC => Self::split_confluent(bytes, protobuf).ok(),
            _ => None,
        }
    }
}

/// Confluent Protobuf's message indexes at the front of `bytes` (a zig-zag
/// varint count, then each index; a count of 0 means `[0]`), consumed.
/// With `EventRecordFormat: SOURCE` Lambda removes only the magic byte and
/// the schema id, so a delivered Confluent Protobuf payload starts with
/// them.
pub(crate) fn take_message_indexes(bytes: &mut &[u8]) -> Result<Vec<i32>, FramingError> {
    let count = take_varint(bytes)?;
    if count == 0 {
        return Ok(vec![0]);
    }
    let n = usize::try_from(count)
        .ok()
        .filter(|&n| n <= bytes.len())
        .ok_or(FramingError::MessageIndexes("count exceeds the bytes left"))?;
    let mut list = Vec::with_capacity(n);
    for _ in 0..n {
        list.push(take_varint(bytes)?);
    }
    Ok(list)
}

/// Glue Protobuf's message index: one unsigned varint between Glue's
/// header and the message, consumed. Lambda's `SOURCE` removes the header
/// and leaves it.
pub(crate) fn take_glue_message_index(bytes: &mut &[u8]) -> Result<u32, FramingError> {
    let mut v: u32 = 0;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        v |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Ok(v);
        }
    }
    Err(FramingError::MessageIndexes(
        "Glue's message index is missing or longer than 5 bytes",
    ))
}

/// Kafka's zig-zag varint (what Confluent's serializers use for indexes).
fn put_varint(out: &mut Vec<u8>, n: i32) {
    // Zig-zag maps small negatives to small unsigned values.
    let mut v = ((n << 1) ^ (n >> 31)) as u32;
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Result<i32, FramingError> {
    let mut v: u32 = 0;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        v |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Ok(((v >> 1) as i32) ^ -((v & 1) as i32));
        }
    }
    Err(FramingError::MessageIndexes(
        "a varint is cut short or longer than 5 bytes",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn confluent_framing_is_magic_id_and_payload() {
        let f = Framing::for_schema(SchemaId::parse("258").unwrap(), false);
        assert_eq!(f.frame(b"av"), [0, 0, 0, 1, 2, b'a', b'v']);
        let pb = Framing::for_schema(SchemaId::Confluent(1), true);
        // Confluent writes the first message type's indexes as one zero.
        assert_eq!(pb.frame(b"p"), [0, 0, 0, 0, 1, 0, b'p']);
        let nested = Framing::Confluent {
            schema_id: 1,
            message_indexes: Some(vec![1, 2]),
        };
        assert_eq!(nested.frame(b""), [0, 0, 0, 0, 1, 4, 2, 4]);
    }

    #[test]
    fn glue_framing_is_version_compression_and_uuid() {
        let id = SchemaId::parse("b7b4a7f0-9c96-4e4a-a687-fb5de9ef0c63").unwrap();
        let framed = Framing::for_schema(id, true).frame(b"x");
        assert_eq!(&framed[..2], &[3, 0]);
        assert_eq!(framed.len(), 19);
        let (f, payload) = Framing::split_glue(&framed).unwrap();
        assert_eq!(f.schema_id(), id);
        assert_eq!(payload, b"x");
        assert_eq!(id.to_string(), "b7b4a7f0-9c96-4e4a-a687-fb5de9ef0c63");
    }

    #[test]
    fn bad_framing_is_named() {
        assert!(matches!(
            SchemaId::parse("orders-v1"),
            Err(FramingError::SchemaId(_))
        ));
        assert_eq!(
            Framing::split_confluent(&[1, 0, 0, 0, 1], false),
            Err(FramingError::ConfluentMagic(1))
        );
        assert!(matches!(
            Framing::split_glue(&[3, 9, 0]),
            Err(FramingError::Short { need: 18, .. })
        ));
        let mut g = vec![3, 9];
        g.extend([0; 16]);
        assert_eq!(
            Framing::split_glue(&g),
            Err(FramingError::GlueCompression(9))
        );
        assert!(Framing::split_confluent(&[0, 0, 0, 0, 1, 0x80], true).is_err());
        assert!(Framing::split_confluent(&[0, 0, 0, 0, 1, 0x7e], true).is_err());
        assert_eq!(Framing::sniff(b"{\"a\":1}", false), None);
    }

    proptest! {
        #[test]
        fn confluent_round_trips(id: u32, idx in proptest::option::of(proptest::collection::vec(any::<i32>(), 1..6)), payload: Vec<u8>) {
            let f = Framing::Confluent { schema_id: id, message_indexes: idx.clone() };
            let framed = f.frame(&payload);
            let (back, rest) = Framing::split_confluent(&framed, idx.is_some()).unwrap();
            prop_assert_eq!(back, f);
            prop_assert_eq!(rest, &payload[..]);
        }

        #[test]
        fn glue_round_trips(id: u128, zlib: bool, payload: Vec<u8>) {
            let f = Framing::Glue {
                schema_version_id: Uuid::from_u128(id),
                compression: if zlib { GLUE_COMPRESSION_ZLIB } else { GLUE_COMPRESSION_NONE },
            };
            let framed = f.frame(&payload);
            prop_assert_eq!(Framing::sniff(&framed, false), Some((f.clone(), &payload[..])));
            let (back, rest) = Framing::split_glue(&framed).unwrap();
            prop_assert_eq!(back, f);
            prop_assert_eq!(rest, &payload[..]);
        }

        #[test]
        fn any_bytes_split_without_panic(bytes: Vec<u8>, protobuf: bool) {
            let _ = Framing::split_confluent(&bytes, protobuf);
            let _ = Framing::split_glue(&bytes);
            let _ = Framing::sniff(&bytes, protobuf);
        }
    }
}
