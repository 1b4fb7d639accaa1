//! Operating the DLQ with the real CLI against the local stack: the replay
//! audit trail, the replay allow-list, pausing and resuming a replay, and a
//! lossless export and import.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::stack::{self, consume, create_queue, create_topic, headers_of, unique};
use common::workspace_bin;
use msk_dlq::kafka::{KafkaConnection, ProducerPool};
use msk_dlq::letter::DeadRecord;
use msk_dlq::sink::{send_by_deadline, DeadLetterSink, KafkaSink, Partitioning};
use msk_dlq::{decode_event, DeadLetter, DlqKind};
use serde_json::Value;
use tokio::time::Instant;

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(unique(name))
}

/// Runs the CLI with local credentials; (success, stdout, stderr).
async fn cli(args: &[&str], audit: &std::path::Path) -> (bool, String, String) {
    let out = tokio::process::Command::new(workspace_bin("msk-dlq"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", stack::aws_endpoint())
        .env("MSK_DLQ_AUDIT", audit)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `n` dead letters of records on `topic` (on the local cluster), with
/// binary keys, values and headers, as the consumer would write them.
fn letters(topic: &str, n: i64) -> Vec<DeadLetter> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let records: Vec<Value> = (0..n)
        .map(|o| {
            serde_json::json!({
                "topic": topic, "partition": 0, "offset": o, "timestamp": 1_795_320_000_000i64 + o,
                "timestampType": "CREATE_TIME",
                "key": b64(&[0x80, 0xff, 0x00, 0x7f, o as u8]),
                "value": if o % 2 == 0 { b64(format!("{{\"order_id\":\"o-{o}\"}}").as_bytes()) } else { b64(&[0xde, 0xad, 0xbe, 0xef, o as u8]) },
                "headers": [{"trace": [116, 45, 49]}, {"bin": [-128, -1, 0, 127]}],
            })
        })
        .collect();
    let event = serde_json::json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": stack::kafka(),
        "records": { format!("{topic}-0"): records },
    });
    let batch = decode_event(&event.to_string()).unwrap();
    batch
        .entries()
        .map(|e| {
            let msk_dlq::event::Entry::Record(r) = &e.entry else {
                panic!("{e:?}")
            };
            DeadLetter::new(
                batch.source.clone(),
                DeadRecord::Decoded(r.clone()),
                DlqKind::Permanent,
                "InvalidOrder",
                "amount must be >= 0",
            )
            .with_attempts(1)
        })
        .collect()
}

async fn into_kafka_dlq(dlq: &str, letters: &[DeadLetter]) {
    let sink = KafkaSink::new(
        dlq,
        Some(stack::kafka()),
        Arc::new(ProducerPool::new(KafkaConnection::default())),
        Partitioning::SameModulo,
    )
    .unwrap();
    let r = send_by_deadline(&sink, letters, Instant::now() + Duration::from_secs(20)).await;
    assert!(r.iter().all(Result::is_ok), "{r:?}");
}

async fn into_sqs_dlq(url: &str, letters: &[DeadLetter]) {
    let mut cfg = msk_dlq::sink::SinkConfig::default();
    cfg.primary = msk_dlq::sink::SinkKind::Sqs;
    cfg.sqs_queue_url = Some(url.to_owned());
    let mut ctx = msk_dlq::sink::SinkContext::default();
    ctx.sdk = Some(stack::sdk().await);
    let sink: Arc<dyn DeadLetterSink> = msk_dlq::sink::build_sink(&cfg, &ctx).await.unwrap();
    let r = send_by_deadline(
        sink.as_ref(),
        letters,
        Instant::now() + Duration::from_secs(20),
    )
    .await;
    assert!(r.iter().all(Result::is_ok), "{r:?}");
}

#[tokio::test]
async fn every_replay_leaves_an_audit_record_in_the_configured_log() {
    let src = unique("orders");
    create_topic(&src, 1).await;
    let kafka = stack::kafka();
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let bucket = unique("audit").to_lowercase();
    stack::s3(&sdk)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let audit_topic = unique("audit");
    create_topic(&audit_topic, 1).await;
    let file = scratch("audit.jsonl");
    let targets = [
        file.display().to_string(),
        format!("kafka:{audit_topic}"),
        format!("s3://{bucket}/replay-audit/"),
    ];
    for target in &targets {
        let url = create_queue(&sqs, &unique("dlq"), &[]).await;
        into_sqs_dlq(&url, &letters(&src, 3)).await;
        let base = ["--sqs-queue-url", &url, "--bootstrap", &kafka];
        let (ok, out, err) = cli(
            &[&base[..], &["replay", "--json", "--audit", target]].concat(),
            &file,
        )
        .await;
        assert!(ok, "{err}");
        assert_eq!(json(&out)["replayed"], 3);
        assert!(err.contains("audit record written to"), "{err}");

        let (ok, out, err) = cli(
            &["--bootstrap", &kafka, "audit", "--json", "--audit", target],
            &file,
        )
        .await;
        assert!(ok, "{err}");
        let records: Vec<Value> = out.lines().map(json).collect();
        assert_eq!(records.len(), 1, "{out}");
        let r = records.last().unwrap();
        assert_eq!(r["trigger"], "cli");
        assert_eq!(r["source"], format!("sqs:{url}"));
        assert_eq!(r["target"], "@original");
        assert_eq!(r["dryRun"], false);
        assert_eq!(r["summary"]["replayed"], 3);
        assert_eq!(r["letters"].as_array().unwrap().len(), 3);
        assert!(r["letters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["acknowledged"] == true));
        assert!(r["who"].as_str().unwrap().contains('@'), "{r}");
    }
    let (ok, out, _) = cli(&["audit", "--audit", &file.display().to_string()], &file).await;
    assert!(ok);
    assert!(out.contains("cli") && out.contains("@original"), "{out}");
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn a_target_off_the_allow_list_is_refused_and_the_letters_stay() {
    let src = unique("orders");
    create_topic(&src, 1).await;
    let kafka = stack::kafka();
    let sqs = aws_sdk_sqs::Client::new(&stack::sdk().await);
    let url = create_queue(&sqs, &unique("dlq"), &[]).await;
    into_sqs_dlq(&url, &letters(&src, 4)).await;
    let audit = scratch("audit.jsonl");
    let base = ["--sqs-queue-url", &url, "--bootstrap", &kafka];

    // A target topic that is not allowed: refused before anything is read.
    let (ok, _, err) = cli(
        &[&base[..], &["replay", "--target-topic", "payments"]].concat(),
        &audit,
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("--target-topic payments is not on the replay allow-list (@original)"),
        "{err}"
    );

    // An allow-list without the letters' own topic: each letter is refused.
    let (ok, out, err) = cli(
        &[
            &base[..],
            &["replay", "--json", "--allow-target", "sandbox-*"],
        ]
        .concat(),
        &audit,
    )
    .await;
    assert!(!ok, "refused letters fail the run");
    assert_eq!(json(&out)["refused"], 4, "{err}");
    assert!(err.contains("not on the allow-list"), "{err}");

    let (ok, out, _) = cli(&[&base[..], &["stats", "--json"]].concat(), &audit).await;
    assert!(ok);
    assert_eq!(json(&out)["letters"], 4, "every letter is still in the DLQ");
    assert!(consume(&src, 1, 0).is_empty(), "nothing was written");
    let _ = std::fs::remove_file(&audit);
}

#[tokio::test]
async fn ctrl_c_pauses_a_replay_and_the_next_run_resumes() {
    let src = unique("orders");
    create_topic(&src, 1).await;
    let kafka = stack::kafka();
    let sqs = aws_sdk_sqs::Client::new(&stack::sdk().await);
    let url = create_queue(&sqs, &unique("dlq"), &[]).await;
    into_sqs_dlq(&url, &letters(&src, 6)).await;
    let audit = scratch("audit.jsonl");
    let base = ["--sqs-queue-url", &url, "--bootstrap", &kafka];
    let child = tokio::process::Command::new(workspace_bin("msk-dlq"))
        .args([&base[..], &["replay", "--json", "--rate", "2"]].concat())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", stack::aws_endpoint())
        .env("MSK_DLQ_AUDIT", &audit)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let first = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(first["paused"], true, "{first}");
    let done = first["replayed"].as_u64().unwrap();
    assert!((1..6).contains(&done), "{first}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );

    let (ok, out, _) = cli(&[&base[..], &["stats", "--json"]].concat(), &audit).await;
    assert!(ok);
    assert_eq!(
        json(&out)["letters"].as_u64(),
        Some(6 - done),
        "the rest is untouched"
    );
    let (ok, out, err) = cli(&[&base[..], &["replay", "--json"]].concat(), &audit).await;
    assert!(ok, "{err}");
    assert_eq!(json(&out)["replayed"].as_u64(), Some(6 - done));
    assert_eq!(consume(&src, 1, 6).len(), 6, "each letter replayed once");
    let _ = std::fs::remove_file(&audit);
}

#[tokio::test]
async fn export_then_import_restores_every_byte() {
    let src = unique("orders");
    let dlq_a = unique("orders-dlq");
    let dlq_b = unique("orders-dlq");
    create_topic(&dlq_a, 1).await;
    create_topic(&dlq_b, 1).await;
    let kafka = stack::kafka();
    into_kafka_dlq(&dlq_a, &letters(&src, 4)).await;
    let audit = scratch("audit.jsonl");
    let export = scratch("export.jsonl");
    let export_path = export.display().to_string();

    let (ok, _, err) = cli(
        &[
            "--kafka-topic",
            &dlq_a,
            "--bootstrap",
            &kafka,
            "export",
            "-o",
            &export_path,
        ],
        &audit,
    )
    .await;
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&export).unwrap();
    let lines: Vec<Value> = text.lines().map(json).collect();
    assert_eq!(lines.len(), 4);
    // Text stays text; bytes that are not UTF-8 are marked base64.
    assert_eq!(lines[0]["value"], r#"{"order_id":"o-0"}"#);
    assert_eq!(lines[1]["value"]["base64"], "3q2+7wE=");
    assert_eq!(lines[0]["key"]["base64"], "gP8AfwA=");
    assert_eq!(lines[0]["headers"][0], serde_json::json!(["trace", "t-1"]));
    assert_eq!(
        lines[0]["headers"][1],
        serde_json::json!(["bin", {"base64": "gP8Afw=="}])
    );

    // Into another Kafka DLQ topic, and into an SQS queue.
    let (ok, out, err) = cli(
        &[
            "--kafka-topic",
            &dlq_b,
            "--bootstrap",
            &kafka,
            "import",
            &export_path,
        ],
        &audit,
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("imported 4 of 4"), "{out}");
    let sqs = aws_sdk_sqs::Client::new(&stack::sdk().await);
    let url = create_queue(&sqs, &unique("dlq"), &[]).await;
    let (ok, _, err) = cli(&["--sqs-queue-url", &url, "import", &export_path], &audit).await;
    assert!(ok, "{err}");

    // The records are byte-identical, dlq headers included.
    let a = consume(&dlq_a, 1, 4);
    let b = consume(&dlq_b, 1, 4);
    assert_eq!(a.len(), 4);
    assert_eq!(b.len(), 4);
    for (x, y) in a.iter().zip(&b) {
        use rdkafka::Message as _;
        assert_eq!(x.key(), y.key());
        assert_eq!(x.payload(), y.payload());
        assert_eq!(headers_of(x), headers_of(y));
    }
    // And every exported view is the same, wherever the letters went.
    for dlq_args in [
        vec![
            "--kafka-topic".to_owned(),
            dlq_b.clone(),
            "--bootstrap".to_owned(),
            kafka.clone(),
        ],
        vec!["--sqs-queue-url".to_owned(), url.clone()],
    ] {
        let args: Vec<&str> = dlq_args
            .iter()
            .map(String::as_str)
            .chain(["export"])
            .collect();
        let (ok, out, err) = cli(&args, &audit).await;
        assert!(ok, "{err}");
        let again: Vec<Value> = out.lines().map(json).collect();
        let comparable = |v: &Value| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("id");
            v.as_object_mut().unwrap().remove("format");
            v
        };
        let mut want: Vec<Value> = lines.iter().map(comparable).collect();
        let mut got: Vec<Value> = again.iter().map(comparable).collect();
        want.sort_by_key(|v| v["offset"].as_i64());
        got.sort_by_key(|v| v["offset"].as_i64());
        assert_eq!(got, want, "{dlq_args:?}");
    }
    let _ = std::fs::remove_file(&export);
    let _ = std::fs::remove_file(&audit);
}
