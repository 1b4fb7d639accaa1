//! Reading dead letters back, whatever wrote them: our own Kafka DLQ records
//! and SQS/SNS envelopes, SNS notifications wrapping them, Lambda's own
//! on-failure documents, and Spring Kafka / Kafka Connect DLQ records.
//! Pure parsing; fetching and writing live elsewhere in [`crate::replay`].

mod headers;
mod lambda;

use serde_json::Value;

use super::stored::{Format, ParseError, Parsed, StoredDeadLetter, StoredValue};
use crate::codec::parse_rfc3339_ms;
use crate::letter::Envelope;
use crate::record::Header;

pub use lambda::split_topic_partition;

/// A Kafka DLQ topic record (ours, Spring's, Connect's, or Lambda's
/// Kafka-topic on-failure record).
pub fn from_kafka(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> Result<Parsed, ParseError> {
    if let Some(letter) = headers::SCHEMES
        .iter()
        .find_map(|scheme| scheme.read(key, value, headers))
    {
        return letter.map(|l| Parsed::Letters(vec![l]));
    }
    match value.map(serde_json::from_slice::<Value>) {
        Some(Ok(v)) if v.get("payload").is_some() => {
            lambda::from_document(&v, Format::LambdaKafkaDestination)
        }
        _ => Err(ParseError::Unknown(
            "Kafka record has no dlq.*, kafka_dlt-* or __connect.errors.* headers and is not a Lambda on-failure record".into(),
        )),
    }
}

/// An SQS message body (our envelope, an SNS notification around one, or a
/// Lambda on-failure document).
pub fn from_message_body(body: &str) -> Result<Parsed, ParseError> {
    let body = crate::codec::strip_bom(body);
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
    if lambda::is_document(&v) {
        return lambda::from_document(&v, Format::LambdaPayload);
    }
    Err(ParseError::Unknown(
        "JSON is neither an msk-dlq envelope, an SNS notification nor a Lambda on-failure document"
            .into(),
    ))
}

/// Our envelope, normalized.
pub fn from_envelope(env: Envelope) -> Result<StoredDeadLetter, ParseError> {
    let damaged = |e: crate::letter::EnvelopeDecodeError| ParseError::Damaged(e.to_string());
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
        timestamp_type: env.source.timestamp_type.clone(),
        attempts: Some(env.attempts),
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
        schema: env.source.schema.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::letter::DlqKind;

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
    fn schema_facts_survive_both_dead_letter_formats() {
        use crate::event::BatchSource;
        use crate::letter::{DeadLetter, DeadRecord};
        use crate::record::{KafkaRecord, SchemaMetadata};
        use crate::schema::RecordFormat;
        use std::sync::Arc;
        let record = KafkaRecord::builder("orders", 0, 5)
            .value(Some(b"\x02a".to_vec()))
            .key_schema(Some(SchemaMetadata::new("AVRO", "3")))
            .value_schema(Some(SchemaMetadata::new(
                "PROTOBUF",
                "b7b4a7f0-9c96-4e4a-a687-fb5de9ef0c63",
            )))
            .build();
        let letter = DeadLetter::new(
            Arc::new(BatchSource {
                event_source: "aws:kafka".into(),
                event_source_arn: None,
                bootstrap_servers: Some("b:9092".into()),
            }),
            DeadRecord::Decoded(record),
            DlqKind::Permanent,
            "SchemaMismatch",
            "no",
        )
        .with_record_format(Some(RecordFormat::Source));
        let want = letter.schema();
        assert!(want.has_registry());
        let Parsed::Letters(from_headers) =
            from_kafka(None, letter.value(), &letter.kafka_headers()).unwrap()
        else {
            panic!()
        };
        let env = letter.envelope().to_json().unwrap();
        let Parsed::Letters(from_env) = from_message_body(&env).unwrap() else {
            panic!()
        };
        assert_eq!(from_headers[0].schema, want);
        assert_eq!(from_env[0].schema, want);
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
