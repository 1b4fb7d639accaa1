//! Typed values from every framing: the sample events under `events/`
//! are built here from the schemas in `events/schemas/` and checked
//! against the files, then every record is decoded with the typed readers.
//! The Confluent REST client talks over the network to recorded registry
//! answers, since no Confluent-compatible registry installs here; the Glue
//! client's round trip against the local Glue Schema Registry API is in
//! `tests/schema.rs`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use msk_dlq::event::Entry;
use msk_dlq::schema::{
    AvroDecoder, ConfluentRegistry, Framing, RegisteredSchema, SchemaId, SchemaRegistry,
    StaticRegistry,
};
use msk_dlq::{decode_event, KafkaRecord};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Order {
    order_id: String,
    amount: f64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct OrderProto {
    #[prost(string, tag = "1")]
    order_id: String,
    #[prost(double, tag = "2")]
    amount: f64,
}

fn want() -> Order {
    Order {
        order_id: "o-1".into(),
        amount: 10.5,
    }
}

/// One sample event: a schema format, its file, its schema ids.
struct Sample {
    file: &'static str,
    data_format: &'static str,
    confluent: u32,
    glue: &'static str,
}

const SAMPLES: [Sample; 3] = [
    Sample {
        file: "msk-schema-avro.json",
        data_format: "AVRO",
        confluent: 7,
        glue: "3f2c6d1e-8a4b-4c7d-9e10-2b3c4d5e6f70",
    },
    Sample {
        file: "msk-schema-protobuf.json",
        data_format: "PROTOBUF",
        confluent: 12,
        glue: "5a1c9e2f-3b4d-4e6f-8a7b-0c1d2e3f4a5b",
    },
    Sample {
        file: "msk-schema-json-schema.json",
        data_format: "JSON",
        confluent: 21,
        glue: "7d9e0a1b-2c3d-4e5f-8a6b-9c0d1e2f3a4b",
    },
];

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn avro_schema() -> String {
    std::fs::read_to_string(events_dir().join("schemas/order.avsc")).unwrap()
}

/// The order serialized as the format's producers write it.
fn payload(data_format: &str) -> Vec<u8> {
    match data_format {
        "AVRO" => {
            let schema = apache_avro::Schema::parse_str(&avro_schema()).unwrap();
            apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
                .build()
                .unwrap()
                .write_ser_to_vec(&json!({"order_id": "o-1", "amount": 10.5}))
                .unwrap()
        }
        "PROTOBUF" => prost::Message::encode_to_vec(&OrderProto {
            order_id: "o-1".into(),
            amount: 10.5,
        }),
        _ => br#"{"order_id":"o-1","amount":10.5}"#.to_vec(),
    }
}

/// What Lambda delivers under `EventRecordFormat: SOURCE`: the topic's
/// bytes without the magic byte and id (Confluent) or the header (Glue).
/// Protobuf payloads keep their message indexes: `[0]` as one `0` for
/// Confluent, Glue's one-byte message index (`1` in the captures
/// Powertools publishes).
fn delivered(s: &Sample, id: SchemaId) -> Vec<u8> {
    let raw = payload(s.data_format);
    match (s.data_format, id) {
        ("PROTOBUF", SchemaId::Confluent(_)) => [&[0u8][..], &raw].concat(),
        ("PROTOBUF", SchemaId::Glue(_)) => [&[1u8][..], &raw].concat(),
        _ => raw,
    }
}

fn expected_event(s: &Sample) -> Value {
    let confluent = SchemaId::Confluent(s.confluent);
    let glue = SchemaId::parse(s.glue).unwrap();
    let meta = |id: SchemaId| json!({"dataFormat": s.data_format, "schemaId": id.to_string()});
    let on_topic = |id: SchemaId| Framing::for_schema(id, false).frame(&delivered(s, id));
    let ways = [
        (on_topic(confluent), None),
        (on_topic(glue), None),
        (delivered(s, confluent), Some(meta(confluent))),
        (delivered(s, glue), Some(meta(glue))),
        (payload("JSON"), Some(meta(glue))),
    ];
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let records: Vec<Value> = ways
        .into_iter()
        .enumerate()
        .map(|(offset, (value, meta))| {
            let mut r = json!({
                "topic": "orders",
                "partition": 0,
                "offset": offset,
                "timestamp": 1_795_320_000_000_i64 + offset as i64,
                "timestampType": "CREATE_TIME",
                "key": b64(b"customer-1"),
                "value": b64(&value),
                "headers": [],
            });
            if let Some(m) = meta {
                r["valueSchemaMetadata"] = m;
            }
            r
        })
        .collect();
    json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/orders-cluster/6f1b2c3d-1111-2222-3333-444455556666-1",
        "bootstrapServers": "b-1.orders-cluster.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
        "records": {"orders-0": records},
    })
}

fn records(file: &str) -> Vec<KafkaRecord> {
    let text = std::fs::read_to_string(events_dir().join(file)).unwrap();
    decode_event(&text)
        .unwrap()
        .entries()
        .map(|e| match &e.entry {
            Entry::Record(r) => r.clone(),
            Entry::Malformed(m) => panic!("{file}: {m:?}"),
        })
        .collect()
}

#[test]
fn sample_events_are_the_schemas_in_every_framing() {
    for s in &SAMPLES {
        let want = expected_event(s);
        let path = events_dir().join(s.file);
        if std::env::var_os("MSK_DLQ_WRITE_EVENTS").is_some() {
            let text = serde_json::to_string_pretty(&want).unwrap() + "\n";
            std::fs::write(&path, text).unwrap();
        }
        let have: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", s.file));
        assert_eq!(
            have, want,
            "{} (MSK_DLQ_WRITE_EVENTS=1 rewrites it)",
            s.file
        );
    }
}

#[tokio::test]
async fn every_sample_record_decodes_to_the_order() {
    let avro = || RegisteredSchema::new("AVRO", avro_schema());
    let a = &SAMPLES[0];
    let decoder = AvroDecoder::new(
        StaticRegistry::new()
            .with(SchemaId::Confluent(a.confluent), avro())
            .with(SchemaId::parse(a.glue).unwrap(), avro()),
    );
    let avro_records = records(a.file);
    for r in &avro_records[..4] {
        assert_eq!(decoder.value::<Order>(r).await.unwrap(), want());
    }
    assert_eq!(decoder.cached_schemas(), 2);
    let converted = decoder.value::<Order>(&avro_records[4]).await.unwrap_err();
    assert!(
        converted.to_string().contains("converted to JSON"),
        "{converted}"
    );

    let proto = records(SAMPLES[1].file);
    for r in &proto[..4] {
        let o: OrderProto = r.value_protobuf().unwrap();
        assert_eq!((o.order_id.as_str(), o.amount), ("o-1", 10.5));
    }
    for r in records(SAMPLES[2].file) {
        assert_eq!(r.value_json::<Order>().unwrap(), want());
    }
    for s in &SAMPLES {
        let converted = &records(s.file)[4];
        assert_eq!(
            converted.value_json::<Order>().unwrap(),
            want(),
            "{}",
            s.file
        );
    }
}

/// Serves recorded answers of a Confluent-compatible registry on a
/// loopback port: schema 7 (Avro, `schemaType` absent as Confluent
/// answers for Avro), 12 (Protobuf), 503 for 99, 404 otherwise. Returns
/// the URL and the request lines seen.
async fn recorded_registry() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let avro = json!({"schema": avro_schema()}).to_string();
    let proto = json!({"schemaType": "PROTOBUF", "schema":
        std::fs::read_to_string(events_dir().join("schemas/order.proto")).unwrap()})
    .to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = head.lines().next().unwrap_or_default().to_owned();
            let _ = tx.send(head.clone());
            let (status, body) = match line.split_whitespace().nth(1) {
                Some("/schemas/ids/7") => ("200 OK", avro.clone()),
                Some("/schemas/ids/12") => ("200 OK", proto.clone()),
                Some("/schemas/ids/99") => ("503 Service Unavailable", "{}".into()),
                _ => (
                    "404 Not Found",
                    r#"{"error_code":40403,"message":"Schema not found"}"#.into(),
                ),
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    (url, rx)
}

#[tokio::test]
async fn the_confluent_client_reads_a_registry_over_http() {
    let (url, mut seen) = recorded_registry().await;
    let registry = ConfluentRegistry::new(&url)
        .unwrap()
        .basic_auth("key", "secret");
    let proto = registry.schema(SchemaId::Confluent(12)).await.unwrap();
    assert_eq!(proto.data_format, "PROTOBUF");
    let first = seen.recv().await.unwrap();
    assert!(first.starts_with("GET /schemas/ids/12 HTTP/1.1"), "{first}");
    assert!(first.contains("Basic a2V5OnNlY3JldA=="), "{first}");

    let decoder = AvroDecoder::new(registry.clone());
    let avro = &records(SAMPLES[0].file);
    assert_eq!(decoder.value::<Order>(&avro[0]).await.unwrap(), want());
    assert_eq!(decoder.value::<Order>(&avro[2]).await.unwrap(), want());
    assert_eq!(decoder.cached_schemas(), 1, "one fetch for both records");
    let e = decoder.value::<Order>(&avro[1]).await.unwrap_err();
    assert!(
        e.to_string().contains("no Glue registry is configured"),
        "{e}"
    );

    let missing = registry.schema(SchemaId::Confluent(8)).await.unwrap_err();
    assert!(!missing.is_transient(), "{missing}");
    let outage = registry.schema(SchemaId::Confluent(99)).await.unwrap_err();
    assert!(outage.is_transient(), "{outage}");
    assert!(outage.to_string().contains("503"), "{outage}");
}
