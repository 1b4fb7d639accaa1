//! Decoding the event Lambda sends for MSK and self-managed Kafka.
//!
//! `aws_lambda_events::kafka` is not used for the records: its timestamp
//! type goes through a float (a millisecond was lost in a test) and a record
//! without `headers` fails to deserialize, which would fail the whole batch.
//! These borrowing wire types keep the raw integers, decode one record at a
//! time, and turn a record that cannot be decoded into a [`MalformedRecord`]
//! that keeps its JSON exactly as received.
//!
//! Three decoders, tried in turn, give the same batch: a reader of the body
//! in the exact form Lambda writes (`scan`, no general JSON parser), a
//! one-pass serde decoder for any well-formed event (`fast`), and the exact
//! decoder that can say which record is bad and why (`wire`).

mod assembly;
mod fast;
mod headers;
mod scan;
mod shape;
mod wire;

pub(crate) use scan::Readers;
pub use wire::DecodedEvent;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::record::{KafkaRecord, RecordId};

/// `eventSource` of an Amazon MSK event.
pub const SOURCE_MSK: &str = "aws:kafka";
/// `eventSource` of a self-managed Kafka event.
pub const SOURCE_SELF_MANAGED: &str = "SelfManagedKafka";
/// The other spelling of [`SOURCE_SELF_MANAGED`] seen in events; decoded as
/// [`SOURCE_SELF_MANAGED`].
pub const SOURCE_SELF_MANAGED_AWS: &str = "aws:SelfManagedKafka";

/// An event that is not a Kafka event at all: the invocation fails with this.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The payload is not JSON of the expected shape.
    #[error("event is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// `eventSource` names something other than Kafka.
    #[error("event is not a Kafka event: eventSource is {found}, expected \"aws:kafka\", \"SelfManagedKafka\" or \"aws:SelfManagedKafka\"")]
    WrongSource {
        /// What the event said, quoted, or `missing`.
        found: String,
    },
    /// The `records` object is missing.
    #[error("Kafka event has no \"records\" object")]
    MissingRecords,
    /// A field of the event has the wrong shape.
    #[error("Kafka event field {field} is invalid: expected an array of records: {source}")]
    InvalidField {
        /// The field, e.g. `records.orders-0`.
        field: String,
        /// What the parser found.
        #[source]
        source: serde_json::Error,
    },
}

/// Where a batch came from: copied into every dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSource {
    /// `aws:kafka` or `SelfManagedKafka`.
    pub event_source: String,
    /// The MSK cluster's ARN (MSK only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source_arn: Option<String>,
    /// The brokers Lambda read from, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
}

impl BatchSource {
    /// The `dlq.source` value: the event source ARN, or `SelfManagedKafka`.
    pub fn label(&self) -> &str {
        self.event_source_arn
            .as_deref()
            .unwrap_or(&self.event_source)
    }
}

/// A record that could not be decoded. `raw` is its JSON as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRecord {
    /// The record's JSON, exactly as received.
    pub raw: String,
    /// What is wrong with it.
    pub reason: String,
    /// The topic, if it could be read.
    pub topic: Option<String>,
    /// The partition, if it could be read.
    pub partition: Option<i32>,
    /// The offset, if it could be read.
    pub offset: Option<i64>,
    /// The timestamp, if it could be read.
    pub timestamp: Option<i64>,
}

/// A record of a batch: decoded, or kept raw because it could not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A decoded record.
    Record(KafkaRecord),
    /// A record that could not be decoded.
    Malformed(Arc<MalformedRecord>),
}

impl Entry {
    /// The topic, when known.
    pub fn topic(&self) -> Option<&str> {
        match self {
            Entry::Record(r) => Some(r.topic()),
            Entry::Malformed(m) => m.topic.as_deref(),
        }
    }

    /// The topic, when known, shared (a record's without a copy).
    pub fn shared_topic(&self) -> Option<Arc<str>> {
        match self {
            Entry::Record(r) => Some(r.shared_topic().clone()),
            Entry::Malformed(m) => m.topic.as_deref().map(Arc::from),
        }
    }
}

/// One entry and its identity in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    /// How Lambda names it.
    pub id: RecordId,
    /// The record.
    pub entry: Entry,
}

/// The records of one `<topic>-<partition>` key, in the order Lambda sent
/// them (offset order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBatch {
    /// The key of the event's `records` map.
    pub key: Arc<str>,
    /// Its records, in order.
    pub entries: Vec<BatchEntry>,
}

/// A decoded event: its source and its records by partition key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Where it came from.
    pub source: Arc<BatchSource>,
    /// The partitions, in event order (shared: the consumer hands each to
    /// a task of its own without copying its records).
    pub partitions: Vec<Arc<PartitionBatch>>,
}

impl Batch {
    /// Number of records, malformed ones included.
    pub fn len(&self) -> usize {
        self.partitions.iter().map(|p| p.entries.len()).sum()
    }

    /// Whether the batch has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, partition by partition, in order.
    pub fn entries(&self) -> impl Iterator<Item = &BatchEntry> {
        self.partitions.iter().flat_map(|p| p.entries.iter())
    }
}

/// Decodes a Lambda Kafka event. Fails only when the event as a whole is not
/// a Kafka event; a bad record becomes [`Entry::Malformed`].
pub fn decode_event(json: &str) -> Result<Batch, EventError> {
    wire::decode(json)
}

/// [`decode_event`] of an invocation body as the runtime received it: the
/// batch's keys and values stay base64 in `body` (checked, not decoded)
/// until a handler reads one, which decodes them all in one pass. A body
/// that is not UTF-8 fails with the byte where it stops being UTF-8.
pub fn decode_event_body(body: &bytes::Bytes) -> Result<Batch, EventError> {
    decode_body(body, None)
}

/// [`decode_event_body`], a large body read in pieces at once by `readers`
/// (the batch is the same; see `scan/split.rs`).
pub(crate) fn decode_event_body_on(
    body: &bytes::Bytes,
    readers: Readers<'_>,
) -> Result<Batch, EventError> {
    decode_body(body, Some(readers))
}

fn decode_body(body: &bytes::Bytes, readers: Option<Readers<'_>>) -> Result<Batch, EventError> {
    // Lambda's form is read before (and instead of) a UTF-8 check of the
    // whole body: the reader checks what it takes.
    match scan::decode(body, readers) {
        Some(batch) => Ok(batch),
        None => wire::decode_body(body),
    }
}
