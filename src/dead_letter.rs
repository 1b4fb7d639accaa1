//! Reading dead letters back, whatever wrote them: our own Kafka DLQ records
//! and SQS/SNS envelopes, SNS notifications wrapping them, Lambda's own
//! on-failure documents, and Spring Kafka / Kafka Connect DLQ records.
//! Pure parsing; fetching and writing live in `replayer` and `source`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::envelope::{self, Envelope, ValueLocation, H_PREFIX};
use crate::event::{decode_event, Entry, Header};
use crate::outcome::DlqKind;

/// Which system wrote the dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// msk-dlq's Kafka DLQ record (`dlq.*` headers).
    KafkaRecord,
    /// msk-dlq's JSON envelope (SQS/SNS).
    Envelope,
    /// Lambda's Kafka-topic on-failure destination record (with `payload`).
    LambdaKafkaDestination,
    /// Lambda's S3 on-failure document (with `payload`).
    LambdaPayload,
    SpringKafka,
    KafkaConnect,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::KafkaRecord => "msk-dlq-kafka",
            Format::Envelope => "msk-dlq-envelope",
            Format::LambdaKafkaDestination => "lambda-kafka-destination",
            Format::LambdaPayload => "lambda-payload",
            Format::SpringKafka => "spring-kafka",
            Format::KafkaConnect => "kafka-connect",
        }
    }
}

/// Where the dead record's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredValue {
    Inline(Option<Vec<u8>>),
    /// Claim-checked to S3.
    S3(ValueLocation),
}

/// One dead record, normalized: enough to filter, show and replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeadLetter {
    pub format: Format,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: StoredValue,
    /// The original headers, without any DLQ metadata headers.
    pub headers: Vec<Header>,
    pub kind: Option<DlqKind>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub failed_at_ms: Option<i64>,
    pub replay_count: u32,
    pub consumer: Option<String>,
    /// Event source ARN or `SelfManagedKafka`, where known.
    pub source: Option<String>,
    pub bootstrap_servers: Option<String>,
}

/// An offset range that Lambda's metadata-only on-failure document names;
/// the records must be fetched back from the source cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchBack {
    pub topic: String,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub bootstrap_servers: Option<String>,
    pub source: Option<String>,
    pub condition: Option<String>,
}

/// What one DLQ message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Letters(Vec<StoredDeadLetter>),
    FetchBack(Vec<FetchBack>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a dead letter this tool understands: {0}")]
    Unknown(String),
    #[error("dead letter is damaged: {0}")]
    Damaged(String),
}

/// A Kafka DLQ topic record.
pub fn from_kafka(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> Result<Parsed, ParseError> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_slice())
    };
    let text = |name: &str| {
        get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
    };
    let num = |name: &str| text(name).and_then(|s| s.trim().parse::<i64>().ok());

    if get(envelope::H_TOPIC).is_some() || get(envelope::H_KIND).is_some() {
        let kind = text(envelope::H_KIND).and_then(|k| DlqKind::parse(&k));
        // A malformed record's value is its raw JSON as received: replay the
        // record it describes, if it can now be decoded.
        return Ok(Parsed::Letters(vec![StoredDeadLetter {
            format: Format::KafkaRecord,
            topic: text(envelope::H_TOPIC),
            partition: num(envelope::H_PARTITION).and_then(|p| i32::try_from(p).ok()),
            offset: num(envelope::H_OFFSET),
            timestamp: num(envelope::H_TIMESTAMP),
            key: key.map(<[u8]>::to_vec),
            value: StoredValue::Inline(value.map(<[u8]>::to_vec)),
            headers: strip(headers, |n| n.starts_with(H_PREFIX)),
            kind,
            error_type: text(envelope::H_ERROR_TYPE),
            error_message: text(envelope::H_ERROR_MESSAGE),
            failed_at_ms: text(envelope::H_FAILED_AT).and_then(|t| parse_rfc3339_ms(&t)),
            replay_count: num(envelope::H_REPLAY_COUNT)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            consumer: text(envelope::H_CONSUMER),
            source: text(envelope::H_SOURCE),
            bootstrap_servers: None,
        }]));
    }
    if get("kafka_dlt-original-topic").is_some() {
        return Ok(Parsed::Letters(vec![StoredDeadLetter {
            format: Format::SpringKafka,
            topic: text("kafka_dlt-original-topic"),
            partition: get("kafka_dlt-original-partition")
                .and_then(be_or_text)
                .and_then(|p| i32::try_from(p).ok()),
            offset: get("kafka_dlt-original-offset").and_then(be_or_text),
            timestamp: get("kafka_dlt-original-timestamp").and_then(be_or_text),
            key: key.map(<[u8]>::to_vec),
            value: StoredValue::Inline(value.map(<[u8]>::to_vec)),
            headers: strip(headers, |n| {
                n.starts_with("kafka_dlt-") || n.starts_with(H_PREFIX)
            }),
            kind: None,
            error_type: text("kafka_dlt-exception-fqcn"),
            error_message: text("kafka_dlt-exception-message"),
            failed_at_ms: None,
            replay_count: num(envelope::H_REPLAY_COUNT)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            consumer: text("kafka_dlt-original-consumer-group"),
            source: None,
            bootstrap_servers: None,
        }]));
    }
    if get("__connect.errors.topic").is_some() {
        return Ok(Parsed::Letters(vec![StoredDeadLetter {
            format: Format::KafkaConnect,
            topic: text("__connect.errors.topic"),
            partition: num("__connect.errors.partition").and_then(|p| i32::try_from(p).ok()),
            offset: num("__connect.errors.offset"),
            timestamp: None,
            key: key.map(<[u8]>::to_vec),
            value: StoredValue::Inline(value.map(<[u8]>::to_vec)),
            headers: strip(headers, |n| {
                n.starts_with("__connect.errors.") || n.starts_with(H_PREFIX)
            }),
            kind: None,
            error_type: text("__connect.errors.exception.class.name"),
            error_message: text("__connect.errors.exception.message"),
            failed_at_ms: None,
            replay_count: num(envelope::H_REPLAY_COUNT)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            consumer: text("__connect.errors.connector.name"),
            source: None,
            bootstrap_servers: None,
        }]));
    }
    match value.map(serde_json::from_slice::<Value>) {
        Some(Ok(v)) if v.get("payload").is_some() => from_lambda_document(&v, Format::LambdaKafkaDestination),
        _ => Err(ParseError::Unknown(
            "Kafka record has no dlq.*, kafka_dlt-* or __connect.errors.* headers and is not a Lambda on-failure record".into(),
        )),
    }
}

/// An SQS message body (our envelope, an SNS notification around one, or a
/// Lambda on-failure document).
pub fn from_message_body(body: &str) -> Result<Parsed, ParseError> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| ParseError::Unknown(format!("body is not JSON: {e}")))?;
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner = v
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| ParseError::Damaged("SNS notification without a Message".into()))?;
        return from_message_body(inner);
    }
    if v.get("version").and_then(Value::as_u64).is_some()
        && v.get("error").is_some()
        && v.get("source").is_some()
    {
        let env = Envelope::from_json(body).map_err(|e| ParseError::Damaged(e.to_string()))?;
        return Ok(Parsed::Letters(vec![from_envelope(env)?]));
    }
    if v.get("requestContext").is_some() || batch_info(&v).is_some() {
        return from_lambda_document(&v, Format::LambdaPayload);
    }
    Err(ParseError::Unknown(
        "JSON is neither an msk-dlq envelope, an SNS notification nor a Lambda on-failure document"
            .into(),
    ))
}

pub fn from_envelope(env: Envelope) -> Result<StoredDeadLetter, ParseError> {
    let damaged = |e: envelope::EnvelopeDecodeError| ParseError::Damaged(e.to_string());
    let value = match (&env.value_location, &env.raw) {
        (Some(loc), _) => StoredValue::S3(loc.clone()),
        (None, Some(raw)) => StoredValue::Inline(Some(raw.clone().into_bytes())),
        (None, None) => StoredValue::Inline(env.value_bytes().map_err(damaged)?),
    };
    Ok(StoredDeadLetter {
        format: Format::Envelope,
        topic: env.source.topic.clone(),
        partition: env.source.partition,
        offset: env.source.offset,
        timestamp: env.source.timestamp,
        key: env.key_bytes().map_err(damaged)?,
        value,
        headers: env.header_list().map_err(damaged)?,
        kind: Some(env.error.kind),
        error_type: Some(env.error.error_type.clone()),
        error_message: Some(env.error.message.clone()),
        failed_at_ms: parse_rfc3339_ms(&env.failed_at),
        replay_count: env.replay_count,
        consumer: Some(env.consumer.clone()),
        source: Some(
            env.source
                .event_source_arn
                .clone()
                .unwrap_or(env.source.event_source.clone()),
        ),
        bootstrap_servers: env.source.bootstrap_servers.clone(),
    })
}

fn batch_info(v: &Value) -> Option<&Value> {
    v.get("KafkaBatchInfo").or_else(|| v.get("kafkaBatchInfo"))
}

/// Lambda's on-failure document: with `payload` (S3 and Kafka-topic
/// destinations) the records are in it; without (SQS/SNS) only offsets.
fn from_lambda_document(v: &Value, format: Format) -> Result<Parsed, ParseError> {
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
                topic: Some(r.topic.clone()),
                partition: Some(r.partition),
                offset: Some(r.offset),
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: StoredValue::Inline(r.value.clone()),
                headers: strip(&r.headers, |n| n.starts_with(H_PREFIX)),
                kind: Some(DlqKind::RetriesExhausted),
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
        let first = r.get("firstRecordOffset").and_then(num_or_text);
        let last = r.get("lastRecordOffset").and_then(num_or_text);
        let (Some(first), Some(last)) = (first, last) else {
            return Err(ParseError::Damaged(format!(
                "recordsInfo.{tp} lacks first/lastRecordOffset"
            )));
        };
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

/// Spring writes partition/offset/timestamp as big-endian binary; some
/// tools write decimal text.
fn be_or_text(b: &[u8]) -> Option<i64> {
    if let Some(n) = std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return Some(n);
    }
    match b.len() {
        4 => Some(i64::from(i32::from_be_bytes(b.try_into().ok()?))),
        8 => Some(i64::from_be_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

fn strip(headers: &[Header], drop: impl Fn(&str) -> bool) -> Vec<Header> {
    headers.iter().filter(|h| !drop(&h.name)).cloned().collect()
}

pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, value: &[u8]) -> Header {
        Header {
            name: name.into(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn spring_headers_with_binary_numbers() {
        let headers = vec![
            h("trace", b"t1"),
            h("kafka_dlt-original-topic", b"orders"),
            h("kafka_dlt-original-partition", &2i32.to_be_bytes()),
            h("kafka_dlt-original-offset", &77i64.to_be_bytes()),
            h(
                "kafka_dlt-exception-fqcn",
                b"java.lang.IllegalStateException",
            ),
        ];
        let Parsed::Letters(l) = from_kafka(Some(b"k"), Some(b"v"), &headers).unwrap() else {
            panic!()
        };
        assert_eq!(l[0].format, Format::SpringKafka);
        assert_eq!(
            (l[0].topic.as_deref(), l[0].partition, l[0].offset),
            (Some("orders"), Some(2), Some(77))
        );
        assert_eq!(l[0].headers, vec![h("trace", b"t1")]);
    }

    #[test]
    fn connect_headers_as_text() {
        let headers = vec![
            h("__connect.errors.topic", b"orders"),
            h("__connect.errors.partition", b"1"),
            h("__connect.errors.offset", b"5"),
            h(
                "__connect.errors.exception.class.name",
                b"org.apache.kafka.connect.errors.DataException",
            ),
        ];
        let Parsed::Letters(l) = from_kafka(None, Some(b"v"), &headers).unwrap() else {
            panic!()
        };
        assert_eq!((l[0].partition, l[0].offset), (Some(1), Some(5)));
        assert!(l[0].headers.is_empty());
    }

    #[test]
    fn lambda_metadata_only_document_asks_for_fetch_back() {
        let doc = r#"{"requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:us-east-1:1:function:f","condition":"RetryAttemptsExhausted","approximateInvokeCount":3},
          "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"2026-11-22T04:00:00.000Z",
          "KafkaBatchInfo":{"batchSize":3,"eventSourceArn":"arn:aws:kafka:x","bootstrapServers":"b:9092","payloadSize":100,
            "recordsInfo":{"shop.orders-v1-2":{"firstRecordOffset":"40","lastRecordOffset":"42","firstRecordTimestamp":"1","lastRecordTimestamp":"2"}}}}"#;
        let Parsed::FetchBack(r) = from_message_body(doc).unwrap() else {
            panic!()
        };
        assert_eq!(r[0].topic, "shop.orders-v1");
        assert_eq!(
            (r[0].partition, r[0].first_offset, r[0].last_offset),
            (2, 40, 42)
        );
        assert_eq!(r[0].condition.as_deref(), Some("RetryAttemptsExhausted"));
    }

    #[test]
    fn lambda_kafka_destination_record_carries_its_one_record() {
        let event = r#"{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:x","bootstrapServers":"b:9092","records":{"orders-1":[
            {"topic":"orders","partition":1,"offset":7,"timestamp":1545084650987,"timestampType":"CREATE_TIME","key":"aw==","value":"dg==","headers":[{"h":[104]}]}]}}"#;
        let doc = serde_json::json!({
            "requestContext": {"condition": "RetriesExhausted", "functionArn": "arn:aws:lambda:us-east-1:1:function:f"},
            "version": "1.0", "timestamp": "2026-11-22T04:00:00.000Z",
            "recordInfo": {"offset": "7", "timestamp": "1545084650987"},
            "payload": event,
        });
        let value = doc.to_string();
        let Parsed::Letters(l) = from_kafka(Some(b"k"), Some(value.as_bytes()), &[]).unwrap()
        else {
            panic!()
        };
        assert_eq!(l[0].format, Format::LambdaKafkaDestination);
        assert_eq!(
            (l[0].topic.as_deref(), l[0].partition, l[0].offset),
            (Some("orders"), Some(1), Some(7))
        );
        assert_eq!(l[0].value, StoredValue::Inline(Some(b"v".to_vec())));
        assert_eq!(l[0].headers[0].value, b"h");
        assert_eq!(l[0].error_type.as_deref(), Some("RetriesExhausted"));
    }

    #[test]
    fn sns_notification_around_an_envelope_is_unwrapped() {
        let env = r#"{"version":1,"source":{"eventSource":"aws:kafka","topic":"orders","partition":0,"offset":3,"timestamp":1},
            "key":null,"value":"dg==","headers":[],"error":{"kind":"manual","type":"Review","message":"m"},
            "attempts":1,"failedAt":"2026-11-22T04:00:00.000Z","consumer":"c","replayCount":2}"#;
        let note = serde_json::json!({"Type": "Notification", "Message": env}).to_string();
        let Parsed::Letters(l) = from_message_body(&note).unwrap() else {
            panic!()
        };
        assert_eq!((l[0].offset, l[0].replay_count), (Some(3), 2));
        assert_eq!(l[0].kind, Some(DlqKind::Manual));
    }

    #[test]
    fn unknown_bodies_are_named() {
        assert!(matches!(
            from_message_body("{\"a\":1}"),
            Err(ParseError::Unknown(_))
        ));
        assert!(matches!(
            from_message_body("nope"),
            Err(ParseError::Unknown(_))
        ));
        assert_eq!(split_topic_partition("a-b-10"), Some(("a-b".into(), 10)));
        assert_eq!(split_topic_partition("-1"), None);
    }
}
