//! Test doubles for the handler and the sink seam (pure logic only; the
//! real sinks are tested against real services).
#![allow(dead_code)]

pub mod ledger;
pub mod proxy;
pub mod stack;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[allow(unused_imports)]
pub use msk_dlq::testing::TestSink;
use msk_dlq::{HandlerError, KafkaRecord, RecordContext, RecordHandler};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Ok,
    Transient,
    Permanent,
    Manual,
    Panic,
    /// Sleeps this long, then succeeds.
    Slow(Duration),
}

/// A handler whose answer per `(topic-partition, offset)` and attempt is
/// scripted; the last step repeats. Records without a script succeed.
#[derive(Default)]
pub struct Scripted {
    pub script: HashMap<(String, i64), Vec<Step>>,
    pub calls: Mutex<Vec<(String, i64, u32)>>,
}

impl Scripted {
    pub fn with(mut self, tp: &str, offset: i64, steps: &[Step]) -> Self {
        self.script.insert((tp.to_owned(), offset), steps.to_vec());
        self
    }

    pub fn calls(&self) -> Vec<(String, i64, u32)> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_for(&self, tp: &str, offset: i64) -> u32 {
        self.calls()
            .iter()
            .filter(|(t, o, _)| t == tp && *o == offset)
            .count() as u32
    }
}

impl RecordHandler for Scripted {
    async fn handle(&self, record: &KafkaRecord, ctx: &RecordContext) -> Result<(), HandlerError> {
        let tp = format!("{}-{}", record.topic(), record.partition());
        self.calls
            .lock()
            .unwrap()
            .push((tp.clone(), record.offset(), ctx.attempt));
        let step = self
            .script
            .get(&(tp, record.offset()))
            .map(|s| s[(ctx.attempt as usize - 1).min(s.len() - 1)])
            .unwrap_or(Step::Ok);
        match step {
            Step::Ok => Ok(()),
            Step::Transient => Err(HandlerError::transient("Timeout", "dependency timed out")),
            Step::Permanent => Err(HandlerError::permanent("Invalid", "bad payload")),
            Step::Manual => Err(HandlerError::dead_letter("Review", "held")),
            Step::Panic => panic!("scripted panic"),
            Step::Slow(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
        }
    }
}

pub fn event_json(records: &[(&str, i32, i64)]) -> String {
    use base64::Engine as _;
    let records = records.iter().map(|&(topic, partition, offset)| {
        let value = base64::engine::general_purpose::STANDARD.encode(format!("{{\"n\":{offset}}}"));
        serde_json::json!({
            "topic": topic, "partition": partition, "offset": offset,
            "timestamp": 1_700_000_000_000i64 + offset, "timestampType": "CREATE_TIME",
            "key": "a2V5", "value": value, "headers": []
        })
    });
    msk_event(
        records,
        "arn:aws:kafka:us-east-1:123456789012:cluster/c/1",
        "b-1:9092",
    )
}

/// An MSK event around record objects, grouped under their
/// `<topic>-<partition>` keys in order, as Lambda sends them.
pub fn msk_event(
    records: impl IntoIterator<Item = serde_json::Value>,
    arn: &str,
    bootstrap: &str,
) -> String {
    let mut map = serde_json::Map::new();
    for rec in records {
        let key = format!("{}-{}", rec["topic"].as_str().unwrap(), rec["partition"]);
        map.entry(key)
            .or_insert_with(|| serde_json::Value::Array(vec![]))
            .as_array_mut()
            .unwrap()
            .push(rec);
    }
    serde_json::json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": arn,
        "bootstrapServers": bootstrap,
        "records": map
    })
    .to_string()
}

pub fn read_event(name: &str) -> String {
    std::fs::read_to_string(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A workspace binary built by `cargo build --workspace`, next to the test
/// binary's own directory (`target/<profile>/`).
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`, or `make test`)",
        path.display()
    );
    path
}

pub fn golden_text(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Starts the real `consumer` binary with short backoffs, local AWS
/// credentials and `vars`.
pub async fn start_consumer(vars: &[(&str, &str)]) -> lambda_emulator::Function {
    start_consumer_bin("consumer", vars).await
}

/// [`start_consumer`] with another build of it: `consumer-sqs-ring` is the
/// SQS-only consumer on ring, which `make test` builds.
pub async fn start_consumer_bin(bin: &str, vars: &[(&str, &str)]) -> lambda_emulator::Function {
    let mut all = vec![
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("MSK_DLQ_BACKOFF_BASE_MS", "10"),
        ("MSK_DLQ_BACKOFF_MAX_MS", "20"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    all.extend_from_slice(vars);
    lambda_emulator::Function::start(&workspace_bin(bin), "orders-consumer", &env(&all), false)
        .await
        .unwrap()
}

/// Runs `job` (a `{"replayJob": ...}`) on the real `reprocessor` binary
/// against the local stack, within `timeout`; its summary, and its log
/// lines when it did not answer.
pub async fn run_replay_job(
    job: &serde_json::Value,
    timeout: std::time::Duration,
) -> serde_json::Value {
    let mut reprocessor = lambda_emulator::Function::start(
        &workspace_bin("reprocessor"),
        "orders-reprocessor",
        &env(&[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &stack::aws_endpoint()),
            ("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", &stack::kafka()),
            ("MSK_DLQ_METRICS", "false"),
        ]),
        false,
    )
    .await
    .unwrap();
    let reply = reprocessor.invoke(&job.to_string(), timeout).await.unwrap();
    let lambda_emulator::Reply::Response(summary) = reply else {
        panic!("reprocessor: {reply:?} {:?}", reprocessor.stderr_lines())
    };
    let logs = reprocessor.stderr_lines();
    reprocessor.stop().await;
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    if summary["failed"].as_u64() != Some(0) {
        println!("reprocessor: {summary}\n{}", logs.join("\n"));
    }
    summary
}
