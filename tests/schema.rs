//! Schema registries end to end: a record validated against a registry is
//! dead-lettered with its schema facts and replayed to the very bytes on the
//! topic, whether Lambda removed the framing (`SOURCE`), converted the value
//! (`JSON`) or no registry was involved. The Glue schema version id comes
//! from the local AWS endpoint's Glue Schema Registry API; no
//! Confluent-compatible registry installs here, so the Confluent record
//! uses a schema id without asking one (re-framing needs only the id).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::stack::{self, consume_within, create_topic, header, headers_of, produce, unique};
use common::{env, run_replay_job, workspace_bin};
use msk_dlq::schema::{Framing, RecordFormat, SchemaId};
use msk_dlq_esm::{Esm, EsmSettings, FunctionSpec, SchemaRegistry};
use rdkafka::Message as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One call of the Glue API (JSON 1.1) on the local AWS endpoint.
async fn glue(operation: &str, body: Value) -> Value {
    let endpoint = stack::aws_endpoint();
    let addr = endpoint.trim_start_matches("http://").to_owned();
    let body = body.to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: AWSGlue.{operation}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/glue/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("the local AWS endpoint is not reachable at {addr}: {e}"));
    s.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, payload) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "Glue {operation}: {text}");
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    serde_json::from_str(&payload).unwrap_or_else(|e| panic!("Glue {operation}: {e}: {payload}"))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A schema registered in the local Glue Schema Registry: its version id.
async fn glue_schema_version() -> String {
    let registry = unique("registry");
    glue("CreateRegistry", json!({"RegistryName": registry})).await;
    let created = glue(
        "CreateSchema",
        json!({
            "RegistryId": {"RegistryName": registry},
            "SchemaName": unique("orders"),
            "DataFormat": "JSON",
            "Compatibility": "NONE",
            "SchemaDefinition": r#"{"type":"object","properties":{"order_id":{"type":"string"},"amount":{"type":"number"}}}"#,
        }),
    )
    .await;
    let id = created["SchemaVersionId"]
        .as_str()
        .unwrap_or_else(|| panic!("CreateSchema answered {created}"))
        .to_owned();
    let got = glue("GetSchemaVersion", json!({"SchemaVersionId": id})).await;
    assert_eq!(got["DataFormat"], "JSON", "{got}");
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

/// Three poison orders: Glue-framed, Confluent-framed, unframed. Each is
/// dead-lettered under `format`, replayed, and must come back byte for byte.
async fn dead_letter_and_replay(format: RecordFormat, glue_id: &str) {
    let topic = unique("orders");
    let dlq = unique("orders-dlq");
    create_topic(&topic, 1).await;
    create_topic(&dlq, 1).await;
    let poison = br#"{"order_id":"bad","amount":-1}"#;
    let originals = [
        Framing::for_schema(SchemaId::parse(glue_id).unwrap(), false).frame(poison),
        Framing::for_schema(SchemaId::Confluent(7), false).frame(poison),
        poison.to_vec(),
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
        data_format: "JSON".into(),
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
        Some("JSON")
    );
    assert_eq!(
        header(&first, "dlq.original.record-format"),
        Some(format.as_str())
    );
    assert_eq!(
        letters[0].payload(),
        Some(&poison[..]),
        "the letter holds what Lambda delivered: no framing"
    );

    let job = json!({"replayJob": {"kafkaTopic": dlq, "group": unique("replay")}});
    let summary = run_replay_job(&job, Duration::from_secs(60)).await;
    let (reframed, fetched) = match format {
        RecordFormat::Source => (2, 0),
        RecordFormat::Json => (0, 2),
    };
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
            "replayed bytes differ from the original ({format:?})"
        );
        assert_eq!(replayed.key(), original.key());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_replay_to_the_bytes_on_the_topic_in_every_record_format() {
    let glue_id = glue_schema_version().await;
    dead_letter_and_replay(RecordFormat::Source, &glue_id).await;
    dead_letter_and_replay(RecordFormat::Json, &glue_id).await;
}
