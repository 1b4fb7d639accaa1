//! Lambda's own on-failure documents: with `payload` (S3 and Kafka-topic
//! destinations) the records are in them; without (SQS/SNS) only offsets.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::codec::parse_rfc3339_ms;
use crate::event::{decode_event, Entry};
use crate::headers::is_ours;
use crate::replay::stored::{
    kind_of_condition, FetchBack, Format, ParseError, Parsed, StoredDeadLetter, StoredValue,
};
use crate::schema::SchemaFacts;

/// Whether `v` looks like one of Lambda's on-failure documents.
pub(super) fn is_document(v: &Value) -> bool {
    v.get("requestContext").is_some() || batch_info(v).is_some()
}

fn batch_info(v: &Value) -> Option<&Value> {
    v.get("KafkaBatchInfo").or_else(|| v.get("kafkaBatchInfo"))
}

/// Lambda's on-failure document: with `payload` (S3 and Kafka-topic
/// destinations) the records are in it; without (SQS/SNS) only offsets.
pub(super) fn from_document(v: &Value, format: Format) -> Result<Parsed, ParseError> {
    let condition = v
        .pointer("/requestContext/condition")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(payload) = v.get("payload") {
        let text = match payload {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let batch =
            decode_event(&text).map_err(|e| ParseError::Damaged(format!("payload: {e}")))?;
        let mut out = Vec::new();
        for e in batch.entries() {
            let Entry::Record(r) = &e.entry else {
                return Err(ParseError::Damaged(format!(
                    "payload record {} cannot be decoded",
                    e.id
                )));
            };
            out.push(StoredDeadLetter {
                format,
                topic: Some(r.topic().to_owned()),
                partition: Some(r.partition()),
                offset: Some(r.offset()),
                timestamp: r.timestamp(),
                timestamp_type: r.timestamp_type().map(str::to_owned),
                attempts: None,
                key: r.key().map(<[u8]>::to_vec),
                value: StoredValue::Inline(r.value().map(<[u8]>::to_vec)),
                headers: r
                    .headers()
                    .iter()
                    .filter(|h| !is_ours(&h.name))
                    .cloned()
                    .collect(),
                kind: Some(kind_of_condition(condition.as_deref())),
                error_type: condition.clone(),
                error_message: v
                    .pointer("/responseContext/functionError")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                failed_at_ms: v
                    .get("timestamp")
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339_ms),
                replay_count: r.replay_count(),
                consumer: v
                    .pointer("/requestContext/functionArn")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                source: Some(batch.source.label().to_owned()),
                bootstrap_servers: batch.source.bootstrap_servers.clone(),
                // Lambda's own document does not say how it delivered the
                // record: a replay fetches the original back.
                schema: SchemaFacts::new(r.key_schema().cloned(), r.value_schema().cloned(), None),
            });
        }
        return Ok(Parsed::Letters(out));
    }
    let info = batch_info(v)
        .ok_or_else(|| ParseError::Damaged("on-failure document without KafkaBatchInfo".into()))?;
    let records: BTreeMap<String, Value> = info
        .get("recordsInfo")
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .ok_or_else(|| ParseError::Damaged("KafkaBatchInfo without recordsInfo".into()))?;
    let bootstrap = info
        .get("bootstrapServers")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let source = info
        .get("eventSourceArn")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut ranges = Vec::new();
    for (tp, r) in records {
        let (topic, partition) = split_topic_partition(&tp).ok_or_else(|| {
            ParseError::Damaged(format!("recordsInfo key {tp:?} is not <topic>-<partition>"))
        })?;
        let offset = |field: &str| {
            let v = r
                .get(field)
                .ok_or_else(|| ParseError::Damaged(format!("recordsInfo.{tp} lacks {field}")))?;
            num_or_text(v).filter(|&o| o >= 0).ok_or_else(|| {
                ParseError::Damaged(format!(
                    "recordsInfo.{tp}.{field} is {v}, not a Kafka offset (0 to 2^63-1)"
                ))
            })
        };
        let (first, last) = (offset("firstRecordOffset")?, offset("lastRecordOffset")?);
        if last < first {
            return Err(ParseError::Damaged(format!(
                "recordsInfo.{tp}: last offset {last} < first {first}"
            )));
        }
        ranges.push(FetchBack {
            topic,
            partition,
            first_offset: first,
            last_offset: last,
            bootstrap_servers: bootstrap.clone(),
            source: source.clone(),
            condition: condition.clone(),
            written_at_ms: v
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339_ms),
        });
    }
    Ok(Parsed::FetchBack(ranges))
}

/// `shop.orders-v1-3` → (`shop.orders-v1`, 3): the partition is after the last `-`.
pub fn split_topic_partition(tp: &str) -> Option<(String, i32)> {
    let (topic, p) = tp.rsplit_once('-')?;
    if topic.is_empty() {
        return None;
    }
    Some((topic.to_owned(), p.parse().ok()?))
}

fn num_or_text(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}
