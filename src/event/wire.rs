//! The event's JSON shape, borrowed from the input where possible.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    Batch, BatchEntry, BatchSource, Entry, EventError, MalformedRecord, PartitionBatch, SOURCE_MSK,
    SOURCE_SELF_MANAGED, SOURCE_SELF_MANAGED_AWS,
};
use crate::codec::decode_b64_field;
use crate::record::{Header, KafkaRecord, RecordId, SchemaMetadata};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent<'a> {
    #[serde(borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_source_arn: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    bootstrap_servers: Option<Cow<'a, str>>,
    /// Read after `eventSource` was checked, so that something that is not
    /// a Kafka event is named as such rather than by its first odd field.
    #[serde(borrow, default)]
    records: Option<&'a RawValue>,
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

pub(super) fn decode(json: &str) -> Result<Batch, EventError> {
    let json = crate::codec::strip_bom(json);
    let wire: WireEvent<'_> = serde_json::from_str(json).map_err(EventError::NotJson)?;
    let event_source = match wire.event_source.as_deref() {
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
    let records: RecordsMap<'_> = serde_json::from_str(
        wire.records.ok_or(EventError::MissingRecords)?.get(),
    )
    .map_err(|source| EventError::InvalidField {
        field: "records".to_owned(),
        source,
    })?;
    let source = Arc::new(BatchSource {
        event_source,
        event_source_arn: wire.event_source_arn.map(Cow::into_owned),
        bootstrap_servers: wire.bootstrap_servers.map(Cow::into_owned),
    });

    let mut partitions: Vec<PartitionBatch> = Vec::with_capacity(records.0.len());
    for (key, raw_list) in records.0 {
        let raw_records: Vec<&RawValue> =
            serde_json::from_str(raw_list.get()).map_err(|source| EventError::InvalidField {
                field: format!("records.{key}"),
                source,
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

fn into_record(w: WireRecord<'_>) -> Result<KafkaRecord, String> {
    if w.partition < 0 || w.offset < 0 {
        return Err(format!(
            "partition {} / offset {} is negative; Kafka numbers both from 0",
            w.partition, w.offset
        ));
    }
    let key = decode_b64_field("key", w.key.as_deref()).map_err(|e| e.to_string())?;
    let value = decode_b64_field("value", w.value.as_deref()).map_err(|e| e.to_string())?;
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
    Ok(
        KafkaRecord::builder(w.topic.into_owned(), w.partition, w.offset)
            .timestamp_opt(w.timestamp)
            .timestamp_type(w.timestamp_type.map(Cow::into_owned))
            .key(key)
            .value(value)
            .headers(headers)
            .key_schema(w.key_schema_metadata)
            .value_schema(w.value_schema_metadata)
            .build(),
    )
}
