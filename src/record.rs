//! One Kafka record as a handler sees it, and how Lambda names it.
//!
//! [`KafkaRecord`] is a cheap-to-clone handle with accessors rather than
//! public fields, so how its bytes are held can change without breaking
//! handlers.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::headers;

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

#[derive(Debug, PartialEq, Eq)]
struct RecordData {
    // Shared by the records of a partition: one allocation, not one each.
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    // Almost always one of Kafka's two names: those are not allocated.
    timestamp_type: Option<std::borrow::Cow<'static, str>>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
    key_schema: Option<SchemaMetadata>,
    value_schema: Option<SchemaMetadata>,
}

/// One Kafka record, decoded. Key and value are `None` for a null key and
/// for a tombstone; the timestamp is the exact integer Lambda sent.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    data: Arc<RecordData>,
}

impl fmt::Debug for KafkaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Payloads stay out of logs: sizes only.
        f.debug_struct("KafkaRecord")
            .field("topic", &self.data.topic)
            .field("partition", &self.data.partition)
            .field("offset", &self.data.offset)
            .field("timestamp", &self.data.timestamp)
            .field("key_bytes", &self.data.key.as_ref().map(Vec::len))
            .field("value_bytes", &self.data.value.as_ref().map(Vec::len))
            .field("headers", &self.data.headers.len())
            .finish()
    }
}

impl KafkaRecord {
    /// Starts a record of `topic`, `partition` and `offset`; everything else
    /// is absent until set.
    pub fn builder(topic: impl Into<String>, partition: i32, offset: i64) -> KafkaRecordBuilder {
        Self::builder_shared(Arc::from(topic.into()), partition, offset)
    }

    /// [`KafkaRecord::builder`] with a topic name shared with other records.
    pub fn builder_shared(topic: Arc<str>, partition: i32, offset: i64) -> KafkaRecordBuilder {
        KafkaRecordBuilder {
            data: RecordData {
                topic,
                partition,
                offset,
                timestamp: None,
                timestamp_type: None,
                key: None,
                value: None,
                headers: Vec::new(),
                key_schema: None,
                value_schema: None,
            },
        }
    }

    /// A builder starting from a copy of this record.
    pub fn to_builder(&self) -> KafkaRecordBuilder {
        KafkaRecordBuilder {
            data: RecordData {
                topic: self.data.topic.clone(),
                partition: self.data.partition,
                offset: self.data.offset,
                timestamp: self.data.timestamp,
                timestamp_type: self.data.timestamp_type.clone(),
                key: self.data.key.clone(),
                value: self.data.value.clone(),
                headers: self.data.headers.clone(),
                key_schema: self.data.key_schema.clone(),
                value_schema: self.data.value_schema.clone(),
            },
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.data.topic
    }

    /// The topic, shared.
    pub fn shared_topic(&self) -> &Arc<str> {
        &self.data.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.data.partition
    }

    /// The offset within the partition.
    pub fn offset(&self) -> i64 {
        self.data.offset
    }

    /// Epoch milliseconds, exactly as sent; `None` when absent.
    pub fn timestamp(&self) -> Option<i64> {
        self.data.timestamp
    }

    /// `CREATE_TIME` or `LOG_APPEND_TIME`, when sent.
    pub fn timestamp_type(&self) -> Option<&str> {
        self.data.timestamp_type.as_deref()
    }

    /// The key bytes; `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        self.data.key.as_deref()
    }

    /// The value bytes; `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        self.data.value.as_deref()
    }

    /// The headers, in order, values as raw bytes.
    pub fn headers(&self) -> &[Header] {
        &self.data.headers
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.data
            .headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_slice())
    }

    /// Schema-registry metadata of the key, when Lambda sent it.
    pub fn key_schema(&self) -> Option<&SchemaMetadata> {
        self.data.key_schema.as_ref()
    }

    /// Schema-registry metadata of the value, when Lambda sent it.
    pub fn value_schema(&self) -> Option<&SchemaMetadata> {
        self.data.value_schema.as_ref()
    }

    /// How often this record was replayed from a dead-letter queue
    /// (its `dlq.replay-count` header; 0 without one).
    pub fn replay_count(&self) -> u32 {
        replay_count_of(&self.data.headers)
    }
}

/// The replay generation a header list carries: its `dlq.replay-count`,
/// 0 when absent or unreadable.
pub fn replay_count_of(list: &[Header]) -> u32 {
    list.iter()
        .find(|h| h.name == headers::REPLAY_COUNT)
        .and_then(|h| std::str::from_utf8(&h.value).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Builds a [`KafkaRecord`]; see [`KafkaRecord::builder`].
#[derive(Debug)]
#[must_use]
pub struct KafkaRecordBuilder {
    data: RecordData,
}

impl KafkaRecordBuilder {
    /// Sets the timestamp (epoch milliseconds).
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.data.timestamp = Some(ms);
        self
    }

    /// Sets the timestamp, or clears it with `None`.
    pub fn timestamp_opt(mut self, ms: Option<i64>) -> Self {
        self.data.timestamp = ms;
        self
    }

    /// Sets the timestamp type.
    pub fn timestamp_type(mut self, t: Option<impl Into<String> + AsRef<str>>) -> Self {
        self.data.timestamp_type = t.map(|t| match t.as_ref() {
            "CREATE_TIME" => std::borrow::Cow::Borrowed("CREATE_TIME"),
            "LOG_APPEND_TIME" => std::borrow::Cow::Borrowed("LOG_APPEND_TIME"),
            _ => std::borrow::Cow::Owned(t.into()),
        });
        self
    }

    /// Sets the key (`None`: null key).
    pub fn key(mut self, key: Option<impl Into<Vec<u8>>>) -> Self {
        self.data.key = key.map(Into::into);
        self
    }

    /// Sets the value (`None`: tombstone).
    pub fn value(mut self, value: Option<impl Into<Vec<u8>>>) -> Self {
        self.data.value = value.map(Into::into);
        self
    }

    /// Appends a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.data.headers.push(Header::new(name, value));
        self
    }

    /// Replaces the headers.
    pub fn headers(mut self, headers: Vec<Header>) -> Self {
        self.data.headers = headers;
        self
    }

    /// Sets the key's schema metadata.
    pub fn key_schema(mut self, m: Option<SchemaMetadata>) -> Self {
        self.data.key_schema = m;
        self
    }

    /// Sets the value's schema metadata.
    pub fn value_schema(mut self, m: Option<SchemaMetadata>) -> Self {
        self.data.value_schema = m;
        self
    }

    /// The record.
    pub fn build(self) -> KafkaRecord {
        KafkaRecord {
            data: Arc::new(self.data),
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
