//! Schema registries end to end: a record validated against a registry is
//! dead-lettered with its schema facts and replayed to the very bytes on the
//! topic, whether Lambda removed the framing (`SOURCE`), converted the value
//! (`JSON`) or no registry was involved. The Glue schema version id comes
//! from the local AWS endpoint's Glue Schema Registry API, which also serves
//! the Avro decoder its writer schemas; no Confluent-compatible registry
//! installs here, so the Confluent record uses a schema id without asking
//! one (re-framing needs only the id; `tests/schema_values.rs` checks the
//! REST client against recorded answers).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_glue::types::{Compatibility, DataFormat, RegistryId};
use common::stack::{self, consume_within, create_topic, header, headers_of, produce, unique};
use common::{env, run_replay_job, workspace_bin};
use msk_dlq::record::SchemaMetadata;
use msk_dlq::schema::{
    AvroDecoder, Framing, GlueRegistry, RecordFormat, SchemaId, SchemaRegistry as _,
};
use msk_dlq::KafkaRecord;
use msk_dlq_esm::{Esm, EsmSettings, FunctionSpec, SchemaRegistry};
use rdkafka::Message as _;
use serde_json::json;

fn glue_client(sdk: &aws_config::SdkConfig) -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(sdk)
}

/// Registers `definition` as a new schema in a new registry of the local
/// Glue Schema Registry: its schema version id.
async fn register(glue: &aws_sdk_glue::Client, format: DataFormat, definition: &str) -> String {
    let registry = unique("registry");
    glue.create_registry()
        .registry_name(&registry)
        .send()
        .await
        .expect("CreateRegistry on the local AWS endpoint");
    let created = glue
        .create_schema()
        .registry_id(RegistryId::builder().registry_name(&registry).build())
        .schema_name(unique("orders"))
        .data_format(format)
        .compatibility(Compatibility::None)
        .schema_definition(definition)
        .send()
        .await
        .expect("CreateSchema on the local AWS endpoint");
    created
        .schema_version_id()
        .expect("CreateSchema answers a schema version id")
        .to_owned()
}

const ORDER_JSON_SCHEMA: &str =
    r#"{"type":"object","properties":{"order_id":{"type":"string"},"amount":{"type":"number"}}}"#;

/// A JSON Schema registered in the local Glue Schema Registry: its
/// version id.
async fn glue_schema_version() -> String {
    let glue = glue_client(&stack::sdk().await);
    let id = register(&glue, DataFormat::Json, ORDER_JSON_SCHEMA).await;
    let got = GlueRegistry::new(glue)
        .schema(SchemaId::parse(&id).unwrap())
        .await
        .unwrap();
    assert_eq!(got.data_format, "JSON");
    id
}

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn consumer(dir: &Dir, dlq: &str, format: RecordFormat) -> FunctionSpec {
    let ledger = dir.0.join("ledger").display().to_string();
    let kafka = stack::kafka();
    FunctionSpec {
        binary: workspace_bin("consumer"),
        name: "orders-consumer".into(),
        env: env(&[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("MSK_DLQ_METRICS", "false"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("ORDERS_LEDGER", ledger.as_str()),
            ("MSK_DLQ_SINK", "kafka"),
            ("MSK_DLQ_KAFKA_TOPIC", dlq),
            ("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", &kafka),
            ("MSK_DLQ_SCHEMA_RECORD_FORMAT", format.as_str()),
        ]),
        echo: false,
    }
}

/// A poison order as a producer of `data_format` writes it: the consumer
/// rejects anything but a valid JSON order, so each is dead-lettered.
fn poison(data_format: &str) -> Vec<u8> {
    match data_format {
        // Avro binary of {"order_id":"bad","amount":-1.0}.
        "AVRO" => [&[6u8][..], b"bad", &(-1.0f64).to_le_bytes()].concat(),
        // Protobuf: field 1 "bad", field 2 (double) -1.0.
        "PROTOBUF" => [&[0x0a, 3][..], b"bad", &[0x11], &(-1.0f64).to_le_bytes()].concat(),
        _ => br#"{"order_id":"bad","amount":-1}"#.to_vec(),
    }
}

/// Three poison orders of `data_format`: Glue-framed, Confluent-framed,
/// unframed. Each is dead-lettered under `format`, replayed, and must come
/// back byte for byte, `reframed` of them re-framed and `fetched` read
/// back from the topic.
async fn dead_letter_and_replay(
    format: RecordFormat,
    data_format: &str,
    glue_id: &str,
    (reframed, fetched): (u64, u64),
) {
    let topic = unique("orders");
    let dlq = unique("orders-dlq");
    create_topic(&topic, 1).await;
    create_topic(&dlq, 1).await;
    let poison = poison(data_format);
    // Protobuf serializers put message indexes between header and message:
    // Confluent `[0]` as one 0, Glue a one-byte index.
    let (glue_index, confluent_index): (&[u8], &[u8]) = match data_format {
        "PROTOBUF" => (&[1], &[0]),
        _ => (&[], &[]),
    };
    let delivered_glue = [glue_index, &poison].concat();
    let delivered_confluent = [confluent_index, &poison].concat();
    let originals = [
        Framing::for_schema(SchemaId::parse(glue_id).unwrap(), false).frame(&delivered_glue),
        Framing::for_schema(SchemaId::Confluent(7), false).frame(&delivered_confluent),
        poison.clone(),
    ];
    let records: Vec<_> = originals
        .iter()
        .map(|v| (0, Some(&b"k"[..]), Some(v.as_slice()), vec![]))
        .collect();
    produce(&topic, &records).await;

    let dir = Dir(std::env::temp_dir().join(unique("schema-test")));
    std::fs::create_dir_all(&dir.0).unwrap();
    let mut s = EsmSettings::new(stack::kafka(), vec![topic.clone()]);
    s.consumer_group = unique("esm-group");
    s.function_timeout = Duration::from_secs(20);
    s.schema_registry = Some(SchemaRegistry {
        record_format: format,
        data_format: data_format.into(),
        key: false,
        value: true,
    });
    let mut esm = Esm::start(s, consumer(&dir, &dlq, format), None)
        .await
        .unwrap();
    esm.quiet();
    esm.run_until_idle(Duration::from_secs(3), Duration::from_secs(120))
        .await;
    esm.stop().await;

    let letters = consume_within(&dlq, 1, 3, Duration::from_secs(20));
    assert_eq!(letters.len(), 3, "every poison record dead-lettered once");
    let ids: Vec<Option<String>> = letters
        .iter()
        .map(|l| header(&headers_of(l), "dlq.original.value.schema-id").map(str::to_owned))
        .collect();
    assert_eq!(ids, [Some(glue_id.to_owned()), Some("7".into()), None]);
    let first = headers_of(&letters[0]);
    assert_eq!(
        header(&first, "dlq.original.value.data-format"),
        Some(data_format)
    );
    assert_eq!(
        header(&first, "dlq.original.record-format"),
        Some(format.as_str())
    );
    assert_eq!(
        letters[0].payload(),
        Some(&delivered_glue[..]),
        "the letter holds what Lambda delivered: no header"
    );

    let job = json!({"replayJob": {"kafkaTopic": dlq, "group": unique("replay")}});
    let summary = run_replay_job(&job, Duration::from_secs(60)).await;
    assert_eq!(
        (
            summary["replayed"].as_u64(),
            summary["reframed"].as_u64(),
            summary["fetchedBack"].as_u64()
        ),
        (Some(3), Some(reframed), Some(fetched)),
        "{summary}"
    );

    let all = consume_within(&topic, 1, 6, Duration::from_secs(20));
    assert_eq!(all.len(), 6, "three originals, three replays");
    for (original, replayed) in all[..3].iter().zip(&all[3..]) {
        assert_eq!(
            replayed.payload(),
            original.payload(),
            "replayed bytes differ from the original ({format:?}, {data_format})"
        );
        assert_eq!(replayed.key(), original.key());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_replay_to_the_bytes_on_the_topic_in_every_record_format() {
    let glue_id = glue_schema_version().await;
    // SOURCE: the id re-frames exactly; JSON: only the topic has the bytes.
    dead_letter_and_replay(RecordFormat::Source, "JSON", &glue_id, (2, 0)).await;
    dead_letter_and_replay(RecordFormat::Json, "JSON", &glue_id, (0, 2)).await;
}

/// Avro and Protobuf under `SOURCE`: Lambda leaves Protobuf's message
/// indexes in the bytes, so both re-frame exactly on both registries.
#[tokio::test(flavor = "multi_thread")]
async fn avro_and_protobuf_dead_letters_replay_to_the_bytes_on_the_topic() {
    let glue_id = glue_schema_version().await;
    dead_letter_and_replay(RecordFormat::Source, "AVRO", &glue_id, (2, 0)).await;
    dead_letter_and_replay(RecordFormat::Source, "PROTOBUF", &glue_id, (2, 0)).await;
}

/// Writer schemas from the local Glue Schema Registry through the AWS SDK:
/// Avro decoded from Glue framing and from `SOURCE` metadata with one
/// fetch, Protobuf and JSON Schema served with their formats, an unknown
/// version id a permanent `SchemaNotFound`.
#[tokio::test(flavor = "multi_thread")]
async fn the_glue_registry_serves_writer_schemas() {
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Order {
        order_id: String,
        amount: f64,
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events/schemas");
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
    let glue = glue_client(&stack::sdk().await);
    let avro_id = register(&glue, DataFormat::Avro, &read("order.avsc")).await;
    let proto_id = register(&glue, DataFormat::Protobuf, &read("order.proto")).await;
    let registry = GlueRegistry::new(glue);

    let schema = apache_avro::Schema::parse_str(&read("order.avsc")).unwrap();
    let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .unwrap()
        .write_ser_to_vec(&json!({"order_id": "o-9", "amount": 2.5}))
        .unwrap();
    let id = SchemaId::parse(&avro_id).unwrap();
    let framed = KafkaRecord::builder("orders", 0, 1)
        .value(Some(Framing::for_schema(id, false).frame(&datum)))
        .build();
    let source = KafkaRecord::builder("orders", 0, 2)
        .value(Some(datum))
        .value_schema(Some(SchemaMetadata::new("AVRO", avro_id.as_str())))
        .build();
    let decoder = AvroDecoder::new(registry.clone());
    let want = Order {
        order_id: "o-9".into(),
        amount: 2.5,
    };
    assert_eq!(decoder.value::<Order>(&framed).await.unwrap(), want);
    assert_eq!(decoder.value::<Order>(&source).await.unwrap(), want);
    assert_eq!(decoder.cached_schemas(), 1);

    let proto = registry
        .schema(SchemaId::parse(&proto_id).unwrap())
        .await
        .unwrap();
    assert_eq!(proto.data_format, "PROTOBUF");
    assert_eq!(proto.definition, read("order.proto"));

    let unknown = KafkaRecord::builder("orders", 0, 3)
        .value(Some(vec![1]))
        .value_schema(Some(SchemaMetadata::new(
            "AVRO",
            "00000000-0000-4000-8000-000000000000",
        )))
        .build();
    let e: msk_dlq::HandlerError = decoder.value::<Order>(&unknown).await.unwrap_err().into();
    assert_eq!(e.error_type, "SchemaNotFound", "{e:?}");
}
