//! Event decoding edge cases, on the sample events and hand-made ones.

mod common;

use common::read_event;
use msk_dlq::decode_event;
use msk_dlq::event::{Entry, EventError};

fn records(json: &str) -> Vec<Entry> {
    decode_event(json)
        .unwrap()
        .entries()
        .map(|e| e.entry.clone())
        .collect()
}

#[test]
fn basic_msk_event_decodes_with_exact_timestamps() {
    let batch = decode_event(&read_event("msk-basic.json")).unwrap();
    assert_eq!(batch.source.event_source, "aws:kafka");
    assert!(batch
        .source
        .event_source_arn
        .as_deref()
        .unwrap()
        .starts_with("arn:aws:kafka:"));
    assert_eq!(batch.len(), 3);
    let Entry::Record(r) = &batch.partitions[0].entries[0].entry else {
        panic!()
    };
    assert_eq!(
        r.timestamp(),
        Some(1545084650987 + 100),
        "no float rounding"
    );
    assert_eq!(r.key(), Some(&b"customer-1"[..]));
    assert_eq!(r.header("trace-id"), Some(&b"t-100"[..]));
}

#[test]
fn self_managed_event_has_no_arn() {
    let batch = decode_event(&read_event("self-managed.json")).unwrap();
    assert_eq!(batch.source.event_source, "SelfManagedKafka");
    assert_eq!(batch.source.event_source_arn, None);
    assert_eq!(batch.source.label(), "SelfManagedKafka");
    assert_eq!(batch.partitions.len(), 2);
}

#[test]
fn signed_header_bytes_tombstones_and_missing_keys() {
    let recs = records(&read_event("msk-headers-tombstones.json"));
    let Entry::Record(first) = &recs[0] else {
        panic!()
    };
    assert_eq!(first.header("city"), Some("Zürich".as_bytes()));
    assert_eq!(first.header("emoji"), Some("✓".as_bytes()));
    let Entry::Record(tomb) = &recs[1] else {
        panic!()
    };
    assert_eq!(tomb.value(), None);
    let Entry::Record(no_key) = &recs[2] else {
        panic!()
    };
    assert_eq!(no_key.key(), None);
    let Entry::Record(no_headers) = &recs[3] else {
        panic!()
    };
    assert!(no_headers.headers().is_empty());
    assert_eq!(no_headers.timestamp_type(), Some("LOG_APPEND_TIME"));
    let Entry::Record(empty) = &recs[4] else {
        panic!()
    };
    assert_eq!(empty.header("empty"), Some(&b""[..]));
}

#[test]
fn topic_names_with_dashes_and_dots_keep_their_partition_key() {
    let batch = decode_event(&read_event("msk-mixed.json")).unwrap();
    let keys: Vec<&str> = batch.partitions.iter().map(|p| &*p.key).collect();
    assert_eq!(
        keys,
        vec!["shop.orders-v1-0", "shop.orders-v1-1", "shop.orders-v1-2"]
    );
    let non_ascii = batch
        .entries()
        .find_map(|e| match &e.entry {
            Entry::Record(r) if r.header("città").is_some() => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(non_ascii.header("città"), Some("Zürich ✓".as_bytes()));
}

#[test]
fn malformed_records_keep_their_raw_form_and_identity() {
    let batch = decode_event(&read_event("msk-malformed.json")).unwrap();
    let entries: Vec<_> = batch.entries().collect();
    assert!(matches!(entries[0].entry, Entry::Record(_)));
    let Entry::Malformed(bad_b64) = &entries[1].entry else {
        panic!()
    };
    assert_eq!(entries[1].id.offset, Some(41));
    assert!(
        bad_b64.reason.contains("value is not valid base64"),
        "{}",
        bad_b64.reason
    );
    assert!(bad_b64.raw.contains("%%% not base64 %%%"));
    assert_eq!(bad_b64.topic.as_deref(), Some("orders"));
    let Entry::Malformed(no_offset) = &entries[2].entry else {
        panic!()
    };
    assert_eq!(entries[2].id.offset, None);
    assert!(
        no_offset.reason.contains("missing field `offset`"),
        "{}",
        no_offset.reason
    );
}

#[test]
fn header_bytes_out_of_range_make_the_record_malformed() {
    let ev = r#"{"eventSource":"aws:kafka","records":{"t-0":[{"topic":"t","partition":0,"offset":1,"timestamp":1,"value":null,"headers":[{"h":[300]}]}]}}"#;
    let Entry::Malformed(m) = &records(ev)[0] else {
        panic!()
    };
    assert!(m.reason.contains("outside -128..=255"), "{}", m.reason);
}

#[test]
fn unsigned_header_bytes_are_accepted() {
    let ev = r#"{"eventSource":"aws:kafka","records":{"t-0":[{"topic":"t","partition":0,"offset":1,"timestamp":1,"headers":[{"h":[195,188]},{"s":[-61,-68]}]}]}}"#;
    let Entry::Record(r) = &records(ev)[0] else {
        panic!()
    };
    assert_eq!(r.header("h"), Some("ü".as_bytes()));
    assert_eq!(r.header("s"), Some("ü".as_bytes()));
}

#[test]
fn schema_metadata_is_tolerated_and_kept() {
    let ev = r#"{"eventSource":"aws:kafka","records":{"t-0":[{"topic":"t","partition":0,"offset":1,"timestamp":1,"value":"e30=","headers":[],
        "valueSchemaMetadata":{"dataFormat":"AVRO","schemaId":"123"},"keySchemaMetadata":{"dataFormat":"JSON","schemaId":"9"}}]}}"#;
    let Entry::Record(r) = &records(ev)[0] else {
        panic!()
    };
    assert_eq!(
        r.value_schema().unwrap().data_format.as_deref(),
        Some("AVRO")
    );
    assert_eq!(r.key_schema().unwrap().schema_id.as_deref(), Some("9"));
}

#[test]
fn non_kafka_events_are_rejected_with_a_clear_message() {
    let err = decode_event(&read_event("not-kafka.json")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "event is not a Kafka event: eventSource is missing, expected \"aws:kafka\", \"SelfManagedKafka\" or \"aws:SelfManagedKafka\""
    );
    let err = decode_event(r#"{"eventSource":"aws:sqs","records":{}}"#).unwrap_err();
    assert!(matches!(err, EventError::WrongSource { .. }));
    assert!(err.to_string().contains("\"aws:sqs\""));
    let err = decode_event(r#"{"eventSource":"aws:kafka"}"#).unwrap_err();
    assert_eq!(err.to_string(), "Kafka event has no \"records\" object");
    let err = decode_event(r#"{"eventSource":"aws:kafka","records":{"t-0":{}}}"#).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Kafka event field records.t-0 is invalid: expected an array"),
        "{err}"
    );
    let err = decode_event("[1,2").unwrap_err();
    assert!(
        err.to_string().starts_with("event is not valid JSON"),
        "{err}"
    );
}

#[test]
fn empty_records_map_is_an_empty_batch() {
    let b = decode_event(r#"{"eventSource":"SelfManagedKafka","records":{}}"#).unwrap();
    assert!(b.is_empty());
}

#[test]
fn a_repeated_partition_key_keeps_every_record() {
    let ev = r#"{"eventSource":"aws:kafka","records":{
        "t-0":[{"topic":"t","partition":0,"offset":1,"timestamp":1,"value":null,"headers":[]}],
        "t-1":[{"topic":"t","partition":1,"offset":5,"timestamp":1,"value":null,"headers":[]}],
        "t-0":[{"topic":"t","partition":0,"offset":2,"timestamp":1,"value":null,"headers":[]}]}}"#;
    let b = decode_event(ev).unwrap();
    assert_eq!(b.len(), 3);
    let keys: Vec<&str> = b.partitions.iter().map(|p| &*p.key).collect();
    assert_eq!(keys, vec!["t-0", "t-1"]);
    let offsets: Vec<Option<i64>> = b.partitions[0]
        .entries
        .iter()
        .map(|e| e.id.offset)
        .collect();
    assert_eq!(offsets, vec![Some(1), Some(2)]);
}

/// The three ways a registry shows in an event: framing removed with
/// metadata (`SOURCE`), values converted to JSON with metadata (`JSON`),
/// and framing still on the value (a producer's registry serializer, no
/// registry on the mapping).
#[test]
fn schema_registry_events_in_every_framing() {
    use msk_dlq::schema::{Framing, SchemaId};
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Order {
        order_id: String,
        amount: f64,
    }
    let want = Order {
        order_id: "o-1".into(),
        amount: 10.5,
    };
    let of = |name: &str| -> Vec<msk_dlq::KafkaRecord> {
        records(&read_event(name))
            .into_iter()
            .map(|e| match e {
                Entry::Record(r) => r,
                Entry::Malformed(m) => panic!("{name}: {m:?}"),
            })
            .collect()
    };
    let source = of("msk-schema-source.json");
    let formats: Vec<_> = source
        .iter()
        .map(|r| r.value_schema().and_then(|m| m.data_format.clone()))
        .collect();
    assert_eq!(
        formats,
        [
            Some("AVRO".into()),
            Some("PROTOBUF".into()),
            Some("JSON".into())
        ]
    );
    assert_eq!(source[2].value_json::<Order>().unwrap(), want);
    assert!(
        source[0].value_json::<Order>().is_err(),
        "Avro binary is not JSON"
    );

    for r in of("msk-schema-json.json") {
        assert!(r.value_schema().is_some());
        assert_eq!(r.value_json::<Order>().unwrap(), want);
    }

    let framed = of("msk-schema-framed.json");
    assert!(framed.iter().all(|r| r.value_schema().is_none()));
    let (f, _) = Framing::split_confluent(framed[0].value().unwrap(), false).unwrap();
    assert_eq!(f.schema_id(), SchemaId::Confluent(7));
    let (f, _) = Framing::split_confluent(framed[1].value().unwrap(), true).unwrap();
    assert_eq!(
        f,
        Framing::Confluent {
            schema_id: 12,
            message_indexes: Some(vec![0])
        }
    );
    assert_eq!(
        &framed[1].value().unwrap()[5..],
        source[1].value().unwrap(),
        "SOURCE removes the magic byte and id; the message indexes stay"
    );
    assert_eq!(
        framed[2].value_json::<Order>().unwrap(),
        want,
        "Glue framing skipped"
    );
}

/// JSON allows a key twice; a second `records` object must not make the
/// first one's records vanish (they would be neither processed nor
/// reported failed).
#[test]
fn a_repeated_records_object_keeps_every_record() {
    let rec = |o: i64| format!(r#"{{"topic":"t","partition":0,"offset":{o},"value":"e30="}}"#);
    let ev = format!(
        r#"{{"eventSource":"aws:kafka","records":{{"t-0":[{}]}},"records":{{"t-0":[{}],"t-1":[]}}}}"#,
        rec(1),
        rec(2)
    );
    let batch = decode_event(&ev).unwrap();
    let offsets: Vec<Option<i64>> = batch.entries().map(|e| e.id.offset).collect();
    assert_eq!(offsets, [Some(1), Some(2)]);
    assert_eq!(batch.partitions.len(), 2);
}

/// What a runtime of your own deserializes the body into decodes as
/// `decode_event` does, malformed records included.
#[test]
fn the_runtime_payload_type_decodes_as_decode_event() {
    for name in [
        "msk-basic.json",
        "msk-mixed.json",
        "msk-malformed.json",
        "self-managed.json",
    ] {
        let text = read_event(name);
        let payload: msk_dlq::event::DecodedEvent =
            serde_json::from_slice(text.as_bytes()).unwrap();
        assert_eq!(payload.0.unwrap(), decode_event(&text).unwrap(), "{name}");
    }
    let not_kafka: msk_dlq::event::DecodedEvent =
        serde_json::from_str(r#"{"eventSource":"aws:sqs","Records":[]}"#).unwrap();
    assert!(matches!(not_kafka.0, Err(EventError::WrongSource { .. })));
}

/// Every sample event decodes the same from an invocation body, where keys
/// and values stay base64 until read, as from text; reading a value decodes
/// it, and a record's debug form gives sizes without reading any.
#[test]
fn sample_events_decode_the_same_from_a_body() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut decoded = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let body = bytes::Bytes::from(text.clone());
        match (decode_event(&text), msk_dlq::decode_event_body(&body)) {
            (Ok(eager), Ok(lazy)) => {
                for (a, b) in eager.entries().zip(lazy.entries()) {
                    if let (Entry::Record(a), Entry::Record(b)) = (&a.entry, &b.entry) {
                        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{path:?}");
                        assert_eq!(a.value(), b.value(), "{path:?}");
                        assert_eq!(a.key(), b.key(), "{path:?}");
                    }
                }
                assert_eq!(eager, lazy, "{path:?}");
                decoded += 1;
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{path:?}"),
            (a, b) => panic!("{path:?}: {a:?} / {b:?}"),
        }
    }
    assert!(decoded >= 10, "only {decoded} sample events decoded");
}

#[test]
fn a_body_that_is_not_utf8_is_refused_naming_where() {
    let body = bytes::Bytes::from_static(b"{\"eventSource\":\"aws:kafka\xff\"}");
    let e = msk_dlq::decode_event_body(&body).unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
    assert!(e.to_string().contains("index 25"), "{e}");
}
