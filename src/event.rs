//! Decoding of the Kafka event Lambda sends for MSK and self-managed Kafka.
//!
//! `aws_lambda_events::kafka` is not used for the records: its timestamp type
//! goes through a float (a millisecond was lost in a test) and a record
//! without `headers` fails to deserialize, which would fail the whole batch.
//! These borrowing wire types keep the raw integers, decode one record at a
//! time, and turn a record that cannot be decoded into a [`MalformedRecord`]
//! that keeps its JSON exactly as received.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub const SOURCE_MSK: &str = "aws:kafka";
pub const SOURCE_SELF_MANAGED: &str = "SelfManagedKafka";

/// An event that is not a Kafka event at all: the invocation fails with this.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("event is not valid JSON: {0}")]
    NotJson(String),
    #[error("event is not a Kafka event: eventSource is {found}, expected \"aws:kafka\" or \"SelfManagedKafka\"")]
    WrongSource { found: String },
    #[error("Kafka event has no \"records\" object")]
    MissingRecords,
    #[error("Kafka event field {field} is invalid: {reason}")]
    InvalidField { field: String, reason: String },
}

/// Where a batch came from: copied into every dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSource {
    pub event_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source_arn: Option<String>,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaMetadata {
    #[serde(default)]
    pub data_format: Option<String>,
    #[serde(default)]
    pub schema_id: Option<String>,
}

/// One Kafka record, decoded. Key and value are `None` for null keys and
/// tombstones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Epoch milliseconds, exactly as sent.
    pub timestamp: Option<i64>,
    pub timestamp_type: Option<String>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    pub key_schema: Option<SchemaMetadata>,
    pub value_schema: Option<SchemaMetadata>,
}

impl KafkaRecord {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_slice())
    }

    /// How often this record was replayed from a dead-letter queue.
    pub fn replay_count(&self) -> u32 {
        self.header(crate::envelope::H_REPLAY_COUNT)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// A record that could not be decoded. `raw` is its JSON as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRecord {
    pub raw: String,
    pub reason: String,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub timestamp: Option<i64>,
}

/// How Lambda identifies a record in `batchItemFailures`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    /// The `<topic>-<partition>` key of the event's `records` map.
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Record(Arc<KafkaRecord>),
    Malformed(Arc<MalformedRecord>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    pub id: RecordId,
    pub entry: Entry,
}

/// The records of one `<topic>-<partition>` key, in the order Lambda sent
/// them (offset order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionBatch {
    pub key: Arc<str>,
    pub entries: Vec<BatchEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub source: Arc<BatchSource>,
    pub partitions: Vec<PartitionBatch>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.partitions.iter().map(|p| p.entries.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn entries(&self) -> impl Iterator<Item = &BatchEntry> {
        self.partitions.iter().flat_map(|p| p.entries.iter())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent<'a> {
    #[serde(borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_source_arn: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    bootstrap_servers: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    records: Option<RecordsMap<'a>>,
}

/// The `records` object with its keys in event order and duplicates kept:
/// a map type would silently drop all but one array of a repeated key, and
/// those records would be neither processed nor reported.
struct RecordsMap<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RecordsMap<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = RecordsMap<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of <topic>-<partition> keys")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(RecordsMap(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRecord<'a> {
    #[serde(borrow)]
    topic: Cow<'a, str>,
    partition: i32,
    offset: i64,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(borrow, default)]
    timestamp_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Option<Cow<'a, str>>,
    // Signed Java bytes; 128..=255 is accepted too, for producers of test
    // events that wrote unsigned bytes.
    #[serde(borrow, default)]
    headers: Option<Vec<BTreeMap<Cow<'a, str>, Vec<i16>>>>,
    #[serde(default)]
    key_schema_metadata: Option<SchemaMetadata>,
    #[serde(default)]
    value_schema_metadata: Option<SchemaMetadata>,
}

/// Whatever identity a malformed record still reveals.
#[derive(Deserialize, Default)]
struct Probe {
    #[serde(default)]
    topic: Option<serde_json::Value>,
    #[serde(default)]
    partition: Option<serde_json::Value>,
    #[serde(default)]
    offset: Option<serde_json::Value>,
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
}

/// Decodes a Lambda Kafka event. Fails only when the event as a whole is not
/// a Kafka event; a bad record becomes [`Entry::Malformed`].
pub fn decode_event(json: &str) -> Result<Batch, EventError> {
    let wire: WireEvent<'_> =
        serde_json::from_str(json).map_err(|e| EventError::NotJson(e.to_string()))?;
    let event_source = match wire.event_source.as_deref() {
        Some(s @ (SOURCE_MSK | SOURCE_SELF_MANAGED)) => s.to_owned(),
        Some(other) => {
            return Err(EventError::WrongSource {
                found: format!("{other:?}"),
            })
        }
        None => {
            return Err(EventError::WrongSource {
                found: "missing".to_owned(),
            })
        }
    };
    let records = wire.records.ok_or(EventError::MissingRecords)?;
    let source = Arc::new(BatchSource {
        event_source,
        event_source_arn: wire.event_source_arn.map(Cow::into_owned),
        bootstrap_servers: wire.bootstrap_servers.map(Cow::into_owned),
    });

    let mut partitions: Vec<PartitionBatch> = Vec::with_capacity(records.0.len());
    for (key, raw_list) in records.0 {
        let raw_records: Vec<&RawValue> =
            serde_json::from_str(raw_list.get()).map_err(|e| EventError::InvalidField {
                field: format!("records.{key}"),
                reason: format!("expected an array of records: {e}"),
            })?;
        // A repeated key continues its partition rather than replacing it.
        let index = match partitions.iter().position(|p| *p.key == *key) {
            Some(i) => i,
            None => {
                partitions.push(PartitionBatch {
                    key: Arc::from(key.as_ref()),
                    entries: Vec::with_capacity(raw_records.len()),
                });
                partitions.len() - 1
            }
        };
        let key = partitions[index].key.clone();
        let entries: Vec<BatchEntry> = raw_records
            .into_iter()
            .map(|raw| decode_record(&key, raw))
            .collect();
        partitions[index].entries.extend(entries);
    }
    Ok(Batch { source, partitions })
}

fn decode_record(key: &Arc<str>, raw: &RawValue) -> BatchEntry {
    match serde_json::from_str::<WireRecord<'_>>(raw.get())
        .map_err(|e| format!("record does not match the Kafka record shape: {e}"))
        .and_then(into_record)
    {
        Ok(record) => BatchEntry {
            id: RecordId {
                partition_key: key.clone(),
                offset: Some(record.offset),
            },
            entry: Entry::Record(Arc::new(record)),
        },
        Err(reason) => {
            let probe: Probe = serde_json::from_str(raw.get()).unwrap_or_default();
            let offset = probe.offset.as_ref().and_then(json_i64);
            let malformed = MalformedRecord {
                raw: raw.get().to_owned(),
                reason,
                topic: probe.topic.and_then(|t| t.as_str().map(str::to_owned)),
                partition: probe
                    .partition
                    .as_ref()
                    .and_then(json_i64)
                    .and_then(|p| i32::try_from(p).ok()),
                offset,
                timestamp: probe.timestamp.as_ref().and_then(json_i64),
            };
            BatchEntry {
                id: RecordId {
                    partition_key: key.clone(),
                    offset,
                },
                entry: Entry::Malformed(Arc::new(malformed)),
            }
        }
    }
}

/// Offsets sometimes arrive as strings in hand-written events.
fn json_i64(v: &serde_json::Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn into_record(w: WireRecord<'_>) -> Result<KafkaRecord, String> {
    let key = decode_b64_field("key", w.key.as_deref())?;
    let value = decode_b64_field("value", w.value.as_deref())?;
    let mut headers = Vec::new();
    for (i, map) in w.headers.unwrap_or_default().into_iter().enumerate() {
        for (name, bytes) in map {
            let value = bytes
                .iter()
                .map(|&b| match b {
                    -128..=-1 => Ok((b as i8) as u8),
                    0..=255 => Ok(b as u8),
                    _ => Err(format!(
                        "header {i} ({name:?}) has byte {b}, outside -128..=255"
                    )),
                })
                .collect::<Result<Vec<u8>, String>>()?;
            headers.push(Header {
                name: name.into_owned(),
                value,
            });
        }
    }
    Ok(KafkaRecord {
        topic: w.topic.into_owned(),
        partition: w.partition,
        offset: w.offset,
        timestamp: w.timestamp,
        timestamp_type: w.timestamp_type.map(Cow::into_owned),
        key,
        value,
        headers,
        key_schema: w.key_schema_metadata,
        value_schema: w.value_schema_metadata,
    })
}

/// Decodes an optional standard-base64 field, naming it in the error.
pub fn decode_b64_field(field: &str, text: Option<&str>) -> Result<Option<Vec<u8>>, String> {
    match text {
        None => Ok(None),
        Some(t) => base64::engine::general_purpose::STANDARD
            .decode(t)
            .map(Some)
            .map_err(|e| format!("{field} is not valid base64: {e}")),
    }
}

/// Encodes bytes the way Lambda does in events (standard base64).
pub fn encode_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
