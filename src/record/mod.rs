//! One Kafka record as a handler sees it, and how Lambda names it.
//!
//! [`KafkaRecord`] is a cheap-to-clone handle with accessors rather than
//! public fields, so how its bytes are held can change without breaking
//! handlers.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::headers;

mod builder;
pub(crate) mod compact;
mod store;

pub use builder::KafkaRecordBuilder;
use store::Records;
pub(crate) use store::{Payload, Store, StoreBuilder};

/// A record header: a name and its raw bytes, which need not be UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Header {
    /// The header's name.
    pub name: String,
    /// The header's value, byte for byte.
    pub value: Vec<u8>,
}

impl Header {
    /// A header from anything byte-like.
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Schema-registry metadata Lambda attaches to a key or value when the
/// event source mapping validates records against a registry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SchemaMetadata {
    /// `AVRO`, `PROTOBUF` or `JSON`.
    #[serde(default)]
    pub data_format: Option<String>,
    /// The registry's schema id (a number for Confluent, a UUID for Glue).
    #[serde(default)]
    pub schema_id: Option<String>,
}

impl SchemaMetadata {
    /// Metadata with both fields.
    pub fn new(data_format: impl Into<String>, schema_id: impl Into<String>) -> Self {
        Self {
            data_format: Some(data_format.into()),
            schema_id: Some(schema_id.into()),
        }
    }
}

struct RecordData {
    // Shared by the records of a partition: one allocation, not one each.
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    // Almost always one of Kafka's two names: those are not allocated.
    timestamp_type: Option<Cow<'static, str>>,
    // Key, value and headers (in the compact form of `compact`) are ranges
    // of the store's buffers.
    key: Option<Payload>,
    value: Option<Payload>,
    headers: Range<usize>,
    // `headers()` as `Header`s, built on first use: most handlers never
    // read headers, and `header()` reads the compact form.
    header_list: OnceLock<Vec<Header>>,
    // Rare (registry-validated mappings only): boxed to keep records small.
    key_schema: Option<Box<SchemaMetadata>>,
    value_schema: Option<Box<SchemaMetadata>>,
}

/// One Kafka record, decoded. Key and value are `None` for a null key and
/// for a tombstone; the timestamp is the exact integer Lambda sent.
///
/// A decoded record shares its batch's store and the invocation body, so
/// keeping a clone past the invocation keeps the whole batch's bytes;
/// `to_builder().build()` makes a record of its own.
#[derive(Clone)]
pub struct KafkaRecord {
    store: Arc<Store>,
    // Always an index of `store.records`.
    index: usize,
}

impl PartialEq for KafkaRecord {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.data(), other.data());
        a.topic == b.topic
            && a.partition == b.partition
            && a.offset == b.offset
            && a.timestamp == b.timestamp
            && a.timestamp_type == b.timestamp_type
            && self.key() == other.key()
            && self.value() == other.value()
            && self.headers() == other.headers()
            && a.key_schema == b.key_schema
            && a.value_schema == b.value_schema
    }
}

impl Eq for KafkaRecord {}

impl fmt::Debug for KafkaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Payloads stay out of logs: sizes only.
        f.debug_struct("KafkaRecord")
            .field("topic", &self.data().topic)
            .field("partition", &self.data().partition)
            .field("offset", &self.data().offset)
            .field("timestamp", &self.data().timestamp)
            .field("key_bytes", &self.len_of(self.data().key.as_ref()))
            .field("value_bytes", &self.len_of(self.data().value.as_ref()))
            .field("headers", &self.header_pairs().count())
            .finish()
    }
}

impl From<RecordParts> for RecordData {
    fn from(parts: RecordParts) -> Self {
        Self {
            topic: parts.topic,
            partition: parts.partition,
            offset: parts.offset,
            timestamp: parts.timestamp,
            timestamp_type: parts.timestamp_type,
            key: parts.key,
            value: parts.value,
            headers: parts.headers,
            header_list: OnceLock::new(),
            key_schema: parts.key_schema,
            value_schema: parts.value_schema,
        }
    }
}

/// A decoded record's fields, its bytes as ranges of a store's buffers.
pub(crate) struct RecordParts {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: Option<i64>,
    pub(crate) timestamp_type: Option<Cow<'static, str>>,
    pub(crate) key: Option<Payload>,
    pub(crate) value: Option<Payload>,
    /// Headers in the form [`compact::push_name`] writes.
    pub(crate) headers: Range<usize>,
    pub(crate) key_schema: Option<Box<SchemaMetadata>>,
    pub(crate) value_schema: Option<Box<SchemaMetadata>>,
}

impl KafkaRecord {
    /// A record of its own whose key, value and headers are the ranges
    /// `parts` names in `buf`.
    pub(crate) fn from_parts(parts: RecordParts, buf: Bytes) -> Self {
        Self::alone(RecordData::from(parts), buf)
    }

    fn alone(data: RecordData, buf: Bytes) -> Self {
        let store = StoreBuilder {
            records: Records::one(data),
            lazy_len: 0,
        };
        Self {
            store: store.finish(buf, Bytes::new()),
            index: 0,
        }
    }

    /// The record at `index` of `store`; `None` if there is none.
    pub(crate) fn in_store(store: &Arc<Store>, index: usize) -> Option<Self> {
        store.records.get(index)?;
        Some(Self {
            store: store.clone(),
            index,
        })
    }

    fn data(&self) -> &RecordData {
        // In range by construction (`in_store`, `from_parts`, `build`).
        self.store.records.at(self.index)
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.data().topic
    }

    /// The topic, shared.
    pub fn shared_topic(&self) -> &Arc<str> {
        &self.data().topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.data().partition
    }

    /// The offset within the partition.
    pub fn offset(&self) -> i64 {
        self.data().offset
    }

    /// Epoch milliseconds, exactly as sent; `None` when absent.
    pub fn timestamp(&self) -> Option<i64> {
        self.data().timestamp
    }

    /// `CREATE_TIME` or `LOG_APPEND_TIME`, when sent.
    pub fn timestamp_type(&self) -> Option<&str> {
        self.data().timestamp_type.as_deref()
    }

    /// The key bytes; `None` for a null key. In a batch decoded from an
    /// invocation body, the first key or value read decodes the batch's
    /// keys and values (one pass; see [`crate::decode_event_body`]).
    pub fn key(&self) -> Option<&[u8]> {
        self.bytes(self.data().key.as_ref())
    }

    /// The value bytes; `None` for a tombstone. Decoded on first use, as
    /// [`key`](Self::key).
    pub fn value(&self) -> Option<&[u8]> {
        self.bytes(self.data().value.as_ref())
    }

    fn bytes<'a>(&'a self, field: Option<&'a Payload>) -> Option<&'a [u8]> {
        // Ranges are set with the buffer they index; an empty slice stands
        // in should one not fit, rather than a panic.
        field.map(|f| match f {
            Payload::Decoded(r) => self.store.buf.get(r.clone()).unwrap_or_default(),
            Payload::Base64 { at, .. } => self.store.lazy().get(at.clone()).unwrap_or_default(),
        })
    }

    /// A field's length in bytes, without decoding it.
    fn len_of(&self, field: Option<&Payload>) -> Option<usize> {
        field.map(|f| match f {
            Payload::Decoded(r) => r.len(),
            Payload::Base64 { at, .. } => at.len(),
        })
    }

    /// The headers, in order, values as raw bytes.
    pub fn headers(&self) -> &[Header] {
        self.data().header_list.get_or_init(|| {
            self.header_pairs()
                .map(|(name, value)| Header::new(name, value))
                .collect()
        })
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        if let Some(list) = self.data().header_list.get() {
            return list
                .iter()
                .find(|h| h.name == name)
                .map(|h| h.value.as_slice());
        }
        self.header_pairs()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    /// The headers without building `Header`s.
    fn header_pairs(&self) -> compact::Pairs<'_> {
        compact::Pairs::new(
            self.store
                .buf
                .get(self.data().headers.clone())
                .unwrap_or_default(),
        )
    }

    /// Schema-registry metadata of the key, when Lambda sent it.
    pub fn key_schema(&self) -> Option<&SchemaMetadata> {
        self.data().key_schema.as_deref()
    }

    /// Schema-registry metadata of the value, when Lambda sent it.
    pub fn value_schema(&self) -> Option<&SchemaMetadata> {
        self.data().value_schema.as_deref()
    }

    /// How often this record was replayed from a dead-letter queue
    /// (its `dlq.replay-count` header; 0 without one).
    pub fn replay_count(&self) -> u32 {
        parse_replay_count(self.header(headers::REPLAY_COUNT))
    }
}

/// The replay generation a header list carries: its `dlq.replay-count`,
/// 0 when absent or unreadable.
pub fn replay_count_of(list: &[Header]) -> u32 {
    parse_replay_count(
        list.iter()
            .find(|h| h.name == headers::REPLAY_COUNT)
            .map(|h| h.value.as_slice()),
    )
}

fn parse_replay_count(value: Option<&[u8]>) -> u32 {
    value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// A timestamp type as records keep it: Kafka's two names as static
/// strings (not allocated), anything else owned.
pub(crate) fn timestamp_type(t: impl Into<String> + AsRef<str>) -> Cow<'static, str> {
    match t.as_ref() {
        "CREATE_TIME" => Cow::Borrowed("CREATE_TIME"),
        "LOG_APPEND_TIME" => Cow::Borrowed("LOG_APPEND_TIME"),
        _ => Cow::Owned(t.into()),
    }
}

/// `name` as an `Arc<str>`, shared with the previous record's when it is the
/// same (the records of a partition share one topic name).
pub(crate) fn shared_topic(last: &mut Option<Arc<str>>, name: &str) -> Arc<str> {
    match last {
        Some(t) if **t == *name => t.clone(),
        _ => {
            let t: Arc<str> = Arc::from(name);
            *last = Some(t.clone());
            t
        }
    }
}

/// How Lambda identifies a record in `batchItemFailures`: the key of the
/// event's `records` map and the offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    /// The `<topic>-<partition>` key of the event's `records` map, exactly
    /// as sent (it need not match the record's own fields).
    pub partition_key: Arc<str>,
    /// `None` only for a malformed record whose offset could not be read.
    pub offset: Option<i64>,
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{}@{}", self.partition_key, o),
            None => write!(f, "{}@?", self.partition_key),
        }
    }
}
