//! The event's JSON shape, borrowed from the input where possible.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::shape::Object;
use super::{
    Batch, BatchEntry, BatchSource, Entry, EventError, MalformedRecord, PartitionBatch, SOURCE_MSK,
    SOURCE_SELF_MANAGED, SOURCE_SELF_MANAGED_AWS,
};
use crate::codec::{decode_b64_append, Base64Error};
use crate::record::{
    shared_topic, timestamp_type, KafkaRecord, Payload, RecordId, RecordParts, SchemaMetadata,
};

/// An event decoded from the invocation body: the batch, or why the event
/// is not a Kafka event. A record that cannot be decoded is a malformed
/// entry of the batch, never an error of the event; text that is not JSON
/// fails the deserializer itself.
///
/// It is what the Lambda runtime deserializes the invocation body into: the
/// body is borrowed from the runtime's buffer, not copied, and decoded as
/// [`decode_event`](super::decode_event) does.
#[derive(Debug)]
pub struct DecodedEvent(pub Result<Batch, EventError>);

impl<'de> Deserialize<'de> for DecodedEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        Ok(DecodedEvent(decode(raw.get())))
    }
}

/// The exact decoder: every record read on its own from its borrowed JSON,
/// so a bad one keeps its text as received and cannot fail the others.
struct ExactEvent(Result<Batch, EventError>);

impl<'de> Deserialize<'de> for ExactEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = ExactEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kafka event object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<ExactEvent, M::Error> {
        let mut event_source: Option<String> = None;
        let mut event_source_arn: Option<String> = None;
        let mut bootstrap_servers: Option<String> = None;
        let mut partitions: Vec<PartitionBatch> = Vec::new();
        let mut records: Option<Result<(), EventError>> = None;
        while let Some(key) = m.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "eventSource" => event_source = m.next_value()?,
                "eventSourceArn" => event_source_arn = m.next_value()?,
                "bootstrapServers" => bootstrap_servers = m.next_value()?,
                "records" => {
                    // A second `records` object continues the partitions of
                    // the first, as a repeated partition key does: its
                    // records are never dropped unseen.
                    let read = m.next_value_seed(RecordsSeed {
                        partitions: &mut partitions,
                    })?;
                    records = Some(records.unwrap_or(Ok(())).and(read));
                }
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ExactEvent(assemble(
            event_source,
            event_source_arn,
            bootstrap_servers,
            records.map(|r| r.map(|()| partitions)),
        )))
    }
}

fn assemble(
    event_source: Option<String>,
    event_source_arn: Option<String>,
    bootstrap_servers: Option<String>,
    records: Option<Result<Vec<PartitionBatch>, EventError>>,
) -> Result<Batch, EventError> {
    let source = batch_source(event_source, event_source_arn, bootstrap_servers)?;
    let partitions = records.ok_or(EventError::MissingRecords)??;
    Ok(Batch {
        source: Arc::new(source),
        partitions: partitions.into_iter().map(Arc::new).collect(),
    })
}

/// The batch's source, or why the event is not a Kafka event.
pub(super) fn batch_source(
    event_source: Option<String>,
    event_source_arn: Option<String>,
    bootstrap_servers: Option<String>,
) -> Result<BatchSource, EventError> {
    let event_source = match event_source.as_deref() {
        Some(SOURCE_MSK) => SOURCE_MSK.to_owned(),
        // Both spellings are sent for self-managed Kafka; one name keeps
        // `dlq.source` and the dead letters' identities stable.
        Some(SOURCE_SELF_MANAGED | SOURCE_SELF_MANAGED_AWS) => SOURCE_SELF_MANAGED.to_owned(),
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
    Ok(BatchSource {
        event_source,
        event_source_arn,
        bootstrap_servers,
    })
}

/// The `records` object, each record decoded as it is read into
/// `partitions`; a key met again continues its partition.
struct RecordsSeed<'p> {
    partitions: &'p mut Vec<PartitionBatch>,
}

/// The error for a `records` value or partition list of the wrong JSON type.
fn invalid_field(field: String, unexpected: Unexpected<'_>, expected: &str) -> EventError {
    EventError::InvalidField {
        field,
        source: serde::de::Error::invalid_type(unexpected, &expected),
    }
}

/// Visitor methods for the JSON types a field must not have: each gives
/// `$wrong(Unexpected)`, and the value is consumed so the pass goes on.
macro_rules! wrong_types {
    ($wrong:expr) => {
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok($wrong(self, Unexpected::Bool(v)))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok($wrong(self, Unexpected::Signed(v)))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok($wrong(self, Unexpected::Unsigned(v)))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok($wrong(self, Unexpected::Float(v)))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok($wrong(self, Unexpected::Str(v)))
        }
    };
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Result<(), EventError>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl RecordsSeed<'_> {
    fn wrong(self, u: Unexpected<'_>) -> Result<(), EventError> {
        Err(invalid_field(
            "records".to_owned(),
            u,
            "an object of <topic>-<partition> keys",
        ))
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Result<(), EventError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of <topic>-<partition> keys")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
        let partitions = self.partitions;
        let mut first_error = None;
        while let Some(key) = m.next_key::<Cow<'de, str>>()? {
            let index = match partitions.iter().position(|p| *p.key == *key) {
                Some(i) => i,
                None => {
                    partitions.push(PartitionBatch {
                        key: Arc::from(key.as_ref()),
                        entries: Vec::new(),
                    });
                    partitions.len() - 1
                }
            };
            let seed = PartitionSeed {
                key: partitions[index].key.clone(),
                entries: &mut partitions[index].entries,
                topic_cache: None,
            };
            if let Err(e) = m.next_value_seed(seed)? {
                first_error.get_or_insert(e);
            }
        }
        Ok(first_error.map_or(Ok(()), Err))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Self::Value, S::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.wrong(Unexpected::Seq))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Err(EventError::MissingRecords))
    }

    wrong_types!(Self::wrong);
}

/// One `<topic>-<partition>` list: each record's JSON is borrowed and
/// decoded on its own, so one bad record cannot fail the others.
struct PartitionSeed<'p> {
    key: Arc<str>,
    entries: &'p mut Vec<BatchEntry>,
    topic_cache: Option<Arc<str>>,
}

impl<'de> DeserializeSeed<'de> for PartitionSeed<'_> {
    type Value = Result<(), EventError>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl PartitionSeed<'_> {
    fn wrong(self, u: Unexpected<'_>) -> Result<(), EventError> {
        Err(invalid_field(
            format!("records.{}", self.key),
            u,
            "an array of records",
        ))
    }
}

impl<'de> Visitor<'de> for PartitionSeed<'_> {
    type Value = Result<(), EventError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<S: SeqAccess<'de>>(mut self, mut s: S) -> Result<Self::Value, S::Error> {
        self.entries.reserve(s.size_hint().unwrap_or(0));
        while let Some(raw) = s.next_element::<&'de RawValue>()? {
            self.entries
                .push(decode_record(&self.key, raw, &mut self.topic_cache));
        }
        Ok(Ok(()))
    }

    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.wrong(Unexpected::Map))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.wrong(Unexpected::Unit))
    }

    wrong_types!(Self::wrong);
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
    #[serde(default)]
    headers: Option<super::headers::WireHeaders>,
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

/// Decodes an event: in one pass when every record has Lambda's shape,
/// else exactly.
pub(super) fn decode(json: &str) -> Result<Batch, EventError> {
    decode_in(crate::codec::strip_bom(json), None)
}

/// [`decode`] of the invocation body as received: keys and values stay
/// base64 in `body` until a handler reads them.
pub(super) fn decode_body(body: &Bytes) -> Result<Batch, EventError> {
    let json = match simdutf8::basic::from_utf8(body) {
        Ok(text) => crate::codec::strip_bom(text),
        // The SIMD check does not say where: the standard one does.
        Err(_) => {
            let why = match std::str::from_utf8(body) {
                Err(e) => format!("the event is not UTF-8: {e}"),
                Ok(_) => "the event is not UTF-8".to_owned(),
            };
            return Err(EventError::NotJson(serde::de::Error::custom(why)));
        }
    };
    decode_in(json, Some(body))
}

/// The fast decoder, and the exact one for what it does not take; `body`,
/// when given, holds `json`.
fn decode_in(json: &str, body: Option<&Bytes>) -> Result<Batch, EventError> {
    match super::fast::decode(json, body) {
        Some(batch) => Ok(batch),
        None => decode_exact(json),
    }
}

/// The exact decoder alone.
pub(super) fn decode_exact(json: &str) -> Result<Batch, EventError> {
    serde_json::from_str::<ExactEvent>(json)
        .map_err(EventError::NotJson)?
        .0
}

fn decode_record(key: &Arc<str>, raw: &RawValue, topic_cache: &mut Option<Arc<str>>) -> BatchEntry {
    match serde_json::from_str::<Object<WireRecord<'_>>>(raw.get())
        .map(|o| o.0)
        .map_err(|e| format!("record does not match the Kafka record shape: {e}"))
        .and_then(|w| into_record(w, topic_cache))
    {
        Ok(record) => BatchEntry {
            id: RecordId {
                partition_key: key.clone(),
                offset: Some(record.offset()),
            },
            entry: Entry::Record(record),
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

fn into_record(
    w: WireRecord<'_>,
    topic_cache: &mut Option<Arc<str>>,
) -> Result<KafkaRecord, String> {
    if w.partition < 0 || w.offset < 0 {
        return Err(format!(
            "partition {} / offset {} is negative; Kafka numbers both from 0",
            w.partition, w.offset
        ));
    }
    // Key, value and headers into one buffer of the record's own.
    let mut buf = w.headers.map(|h| h.0).unwrap_or_default();
    let headers = 0..buf.len();
    let key = decode_b64_onto("key", w.key.as_deref(), &mut buf).map_err(|e| e.to_string())?;
    let value =
        decode_b64_onto("value", w.value.as_deref(), &mut buf).map_err(|e| e.to_string())?;
    let parts = RecordParts {
        topic: shared_topic(topic_cache, &w.topic),
        partition: w.partition,
        offset: w.offset,
        timestamp: w.timestamp,
        timestamp_type: w.timestamp_type.map(timestamp_type),
        key,
        value,
        headers,
        key_schema: w.key_schema_metadata.map(Box::new),
        value_schema: w.value_schema_metadata.map(Box::new),
    };
    Ok(KafkaRecord::from_parts(parts, Bytes::from(buf)))
}

/// An optional base64 field decoded onto `buf`.
fn decode_b64_onto(
    field: &str,
    text: Option<&str>,
    buf: &mut Vec<u8>,
) -> Result<Option<Payload>, Base64Error> {
    text.map(|t| decode_b64_append(field, t, buf).map(Payload::Decoded))
        .transpose()
}
