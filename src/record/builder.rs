//! Building a record by hand: tests, replays, and records read from a DLQ.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::{Header, KafkaRecord, Payload, RecordData, RecordParts, SchemaMetadata};

impl KafkaRecord {
    /// Starts a record of `topic`, `partition` and `offset`; everything else
    /// is absent until set.
    pub fn builder(topic: impl Into<String>, partition: i32, offset: i64) -> KafkaRecordBuilder {
        Self::builder_shared(Arc::from(topic.into()), partition, offset)
    }

    /// [`KafkaRecord::builder`] with a topic name shared with other records.
    pub fn builder_shared(topic: Arc<str>, partition: i32, offset: i64) -> KafkaRecordBuilder {
        KafkaRecordBuilder {
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
        }
    }

    /// A builder starting from a copy of this record.
    pub fn to_builder(&self) -> KafkaRecordBuilder {
        KafkaRecordBuilder {
            topic: self.data().topic.clone(),
            partition: self.data().partition,
            offset: self.data().offset,
            timestamp: self.data().timestamp,
            timestamp_type: self.data().timestamp_type.clone(),
            key: self.key().map(<[u8]>::to_vec),
            value: self.value().map(<[u8]>::to_vec),
            headers: self.headers().to_vec(),
            key_schema: self.key_schema().cloned(),
            value_schema: self.value_schema().cloned(),
        }
    }
}

/// Builds a [`KafkaRecord`]; see [`KafkaRecord::builder`].
#[derive(Debug)]
#[must_use]
pub struct KafkaRecordBuilder {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    timestamp_type: Option<Cow<'static, str>>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
    key_schema: Option<SchemaMetadata>,
    value_schema: Option<SchemaMetadata>,
}

impl KafkaRecordBuilder {
    /// Sets the timestamp (epoch milliseconds).
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// Sets the timestamp, or clears it with `None`.
    pub fn timestamp_opt(mut self, ms: Option<i64>) -> Self {
        self.timestamp = ms;
        self
    }

    /// Sets the timestamp type.
    pub fn timestamp_type(mut self, t: Option<impl Into<String> + AsRef<str>>) -> Self {
        self.timestamp_type = t.map(super::timestamp_type);
        self
    }

    /// Sets the key (`None`: null key).
    pub fn key(mut self, key: Option<impl Into<Vec<u8>>>) -> Self {
        self.key = key.map(Into::into);
        self
    }

    /// Sets the value (`None`: tombstone).
    pub fn value(mut self, value: Option<impl Into<Vec<u8>>>) -> Self {
        self.value = value.map(Into::into);
        self
    }

    /// Appends a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header::new(name, value));
        self
    }

    /// Replaces the headers.
    pub fn headers(mut self, headers: Vec<Header>) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the key's schema metadata.
    pub fn key_schema(mut self, m: Option<SchemaMetadata>) -> Self {
        self.key_schema = m;
        self
    }

    /// Sets the value's schema metadata.
    pub fn value_schema(mut self, m: Option<SchemaMetadata>) -> Self {
        self.value_schema = m;
        self
    }

    /// The record.
    pub fn build(self) -> KafkaRecord {
        let mut buf = Vec::with_capacity(
            self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len),
        );
        let mut place = |bytes: Option<Vec<u8>>| {
            bytes.map(|b| {
                let start = buf.len();
                buf.extend_from_slice(&b);
                Payload::Decoded(start..buf.len())
            })
        };
        let key = place(self.key);
        let value = place(self.value);
        let mut data = RecordData::from(RecordParts {
            topic: self.topic,
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            key,
            value,
            headers: 0..0,
            key_schema: self.key_schema.map(Box::new),
            value_schema: self.value_schema.map(Box::new),
        });
        // Given as `Header`s: kept as they are, `header()` reads them.
        data.header_list = OnceLock::from(self.headers);
        KafkaRecord::alone(data, Bytes::from(buf))
    }
}
