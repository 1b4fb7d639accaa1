//! The local event source mapping with the real consumer and reprocessor
//! binaries, against the local broker and SQS endpoint: what the mapping
//! does with each kind of answer, and its refusals of bad settings.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::stack::{
    self, consume_within, create_queue, create_topic, header, headers_of, produce, produce_at,
    receive, unique,
};
use common::{env, run_replay_job, workspace_bin};
use msk_dlq_esm::{Destination, Esm, EsmError, EsmSettings, FunctionSpec, OnFailure, Redelivery};
use serde_json::{json, Value};

const IDLE: Duration = Duration::from_secs(3);
const MAX: Duration = Duration::from_secs(120);

struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let d = std::env::temp_dir().join(unique("esm-test"));
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
    fn ledger(&self) -> PathBuf {
        self.0.join("ledger")
    }
    fn fix_flag(&self) -> PathBuf {
        self.0.join("fixed")
    }
    /// `order_id`s processed, in order.
    fn processed(&self) -> Vec<String> {
        std::fs::read_to_string(self.ledger())
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn consumer(dir: &Dir, vars: &[(&str, &str)]) -> FunctionSpec {
    let ledger = dir.ledger().display().to_string();
    let flag = dir.fix_flag().display().to_string();
    let mut all = vec![
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("MSK_DLQ_BACKOFF_BASE_MS", "10"),
        ("MSK_DLQ_BACKOFF_MAX_MS", "20"),
        ("MSK_DLQ_METRICS", "false"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("ORDERS_LEDGER", ledger.as_str()),
        ("ORDERS_FIX_FLAG", flag.as_str()),
    ];
    all.extend_from_slice(vars);
    FunctionSpec {
        binary: workspace_bin("consumer"),
        name: "orders-consumer".into(),
        env: env(&all),
        echo: false,
    }
}

fn order(id: &str, simulate: Option<&str>) -> Vec<u8> {
    let mut v = json!({"order_id": id, "amount": 10.5});
    if let Some(s) = simulate {
        v["simulate"] = json!(s);
    }
    serde_json::to_vec(&v).unwrap()
}

async fn produce_orders(topic: &str, partition: i32, orders: &[(&str, Option<&str>)]) {
    let values: Vec<Vec<u8>> = orders.iter().map(|(id, s)| order(id, *s)).collect();
    let records: Vec<_> = values
        .iter()
        .map(|v| (partition, Some(&b"k"[..]), Some(v.as_slice()), vec![]))
        .collect();
    produce(topic, &records).await;
}

fn settings(topic: &str) -> EsmSettings {
    let mut s = EsmSettings::new(stack::kafka(), vec![topic.to_owned()]);
    s.consumer_group = unique("esm-group");
    s.function_timeout = Duration::from_secs(20);
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn ordered_failures_come_back_in_order() {
    let topic = unique("orders");
    create_topic(&topic, 1).await;
    produce_orders(
        &topic,
        0,
        &[
            ("o1", None),
            ("o2", None),
            ("o3", Some("outage")),
            ("o4", None),
            ("o5", None),
        ],
    )
    .await;
    let dir = Dir::new();
    // One attempt per invocation and no DLQ: the outage is Lambda's to retry.
    let f = consumer(&dir, &[("MSK_DLQ_MAX_ATTEMPTS", "1")]);
    let mut esm = Esm::start(settings(&topic), f, None).await.unwrap();
    esm.quiet();
    let stats = esm.run_until_idle(IDLE, MAX).await.clone();
    let committed = esm.committed();
    esm.stop().await;
    assert_eq!(
        dir.processed(),
        ["o1", "o2", "o3", "o4", "o5"],
        "in offset order, each once"
    );
    assert_eq!(stats.partial_batches, 2, "{stats}");
    assert_eq!(committed[&format!("{topic}-0")], 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn both_readings_of_a_partial_failure() {
    for redelivery in [Redelivery::FromLowestFailed, Redelivery::ListedOnly] {
        let topic = unique("orders");
        create_topic(&topic, 1).await;
        produce_orders(
            &topic,
            0,
            &[("o1", Some("outage")), ("o2", None), ("o3", None)],
        )
        .await;
        let dir = Dir::new();
        // Independent records: only the failed one is listed.
        let f = consumer(
            &dir,
            &[
                ("MSK_DLQ_MAX_ATTEMPTS", "1"),
                ("MSK_DLQ_ORDERING", "independent"),
            ],
        );
        let mut s = settings(&topic);
        s.redelivery = redelivery;
        let mut esm = Esm::start(s, f, None).await.unwrap();
        esm.quiet();
        esm.run_until_idle(IDLE, MAX).await;
        esm.stop().await;
        let mut processed = dir.processed();
        processed.sort();
        match redelivery {
            // From the lowest failed offset: o2 and o3 come back too.
            Redelivery::FromLowestFailed => {
                assert_eq!(processed, ["o1", "o2", "o2", "o2", "o3", "o3", "o3"])
            }
            Redelivery::ListedOnly => assert_eq!(processed, ["o1", "o2", "o3"]),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_record_is_dead_lettered_once() {
    let topic = unique("orders");
    let dlq = unique("orders-dlq");
    create_topic(&topic, 2).await;
    create_topic(&dlq, 2).await;
    produce_orders(&topic, 0, &[("a1", None), ("a2", None)]).await;
    produce(
        &topic,
        &[(
            1,
            None,
            Some(&b"{\"order_id\":\"bad\",\"amount\":-1}"[..]),
            vec![],
        )],
    )
    .await;
    produce_orders(&topic, 1, &[("b2", None)]).await;
    let dir = Dir::new();
    let kafka = stack::kafka();
    let f = consumer(
        &dir,
        &[
            ("MSK_DLQ_SINK", "kafka"),
            ("MSK_DLQ_KAFKA_TOPIC", &dlq),
            ("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", &kafka),
        ],
    );
    let mut esm = Esm::start(settings(&topic), f, None).await.unwrap();
    esm.quiet();
    let stats = esm.run_until_idle(IDLE, MAX).await.clone();
    esm.stop().await;
    let mut processed = dir.processed();
    processed.sort();
    assert_eq!(processed, ["a1", "a2", "b2"]);
    let letters = consume_within(&dlq, 2, 2, Duration::from_secs(5));
    assert_eq!(letters.len(), 1, "dead-lettered exactly once");
    assert_eq!(
        header(&headers_of(&letters[0]), "dlq.kind"),
        Some("permanent")
    );
    assert_eq!(stats.failed_batches + stats.partial_batches, 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashing_function_is_bisected_and_its_record_is_fetched_back_and_replayed() {
    let topic = unique("orders");
    create_topic(&topic, 1).await;
    let ids: Vec<String> = (1..=8).map(|i| format!("c{i}")).collect();
    let orders: Vec<(&str, Option<&str>)> = ids
        .iter()
        .map(|id| (id.as_str(), (id == "c6").then_some("crash")))
        .collect();
    produce_orders(&topic, 0, &orders).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = create_queue(&sqs, &unique("on-failure"), &[]).await;
    let dir = Dir::new();
    let mut s = settings(&topic);
    s.bisect_on_error = true;
    s.max_retry_attempts = Some(3);
    s.on_failure = Some(OnFailure::Sqs(queue.clone()));
    let dest = Destination::new(s.on_failure.clone().unwrap(), &sdk, &s.bootstrap_servers).unwrap();
    let mut esm = Esm::start(s, consumer(&dir, &[]), Some(dest))
        .await
        .unwrap();
    esm.quiet();
    let stats = esm.run_until_idle(IDLE, MAX).await.clone();
    assert!(stats.bisections >= 3, "{stats}");
    assert_eq!(stats.to_on_failure, 1, "only the crashing record: {stats}");
    // A crash loses the answer, so Lambda re-delivers records the handler
    // had already processed in that batch: at-least-once, as documented.
    let mut processed = dir.processed();
    processed.sort();
    let duplicates = processed.len();
    processed.dedup();
    assert_eq!(processed, ["c1", "c2", "c3", "c4", "c5", "c7", "c8"]);
    assert!(
        duplicates > processed.len(),
        "records before the crash were processed again"
    );

    // Lambda's metadata-only document names the one offset.
    let docs = receive(&sqs, &queue, 1).await;
    let doc: Value = serde_json::from_str(docs[0].body().unwrap()).unwrap();
    assert_eq!(doc["requestContext"]["condition"], "RetryAttemptsExhausted");
    let range = &doc["KafkaBatchInfo"]["recordsInfo"][format!("{topic}-0")];
    assert_eq!(
        (
            range["firstRecordOffset"].as_str(),
            range["lastRecordOffset"].as_str()
        ),
        (Some("5"), Some("5"))
    );
    assert!(
        doc.get("payload").is_none(),
        "SQS documents carry no records"
    );
    // Back to the queue for the reprocessor.
    sqs.change_message_visibility()
        .queue_url(&queue)
        .receipt_handle(docs[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();

    // The fix ships; the reprocessor fetches the record back and replays it;
    // the mapping consumes it again.
    std::fs::write(dir.fix_flag(), b"").unwrap();
    let job = json!({"replayJob": {"sqsQueueUrl": queue}});
    let summary = run_replay_job(&job, Duration::from_secs(60)).await;
    assert_eq!(
        (
            summary["fetchedBack"].as_u64(),
            summary["replayed"].as_u64()
        ),
        (Some(1), Some(1)),
        "{summary}"
    );
    esm.run_until_idle(IDLE, MAX).await;
    esm.stop().await;
    let processed = dir.processed();
    assert_eq!(
        processed.last().map(String::as_str),
        Some("c6"),
        "replayed and processed after the fix"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn records_older_than_the_max_age_are_not_sent() {
    let topic = unique("orders");
    create_topic(&topic, 1).await;
    let old = msk_dlq::epoch_ms_now() - 2 * 3600 * 1000;
    let value = order("old1", None);
    produce_at(
        &topic,
        &[(0, None, Some(value.as_slice()), vec![])],
        Some(old),
    )
    .await;
    produce_orders(&topic, 0, &[("new1", None)]).await;
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = create_queue(&sqs, &unique("on-failure"), &[]).await;
    let dir = Dir::new();
    let mut s = settings(&topic);
    s.max_record_age = Some(Duration::from_secs(3600));
    s.on_failure = Some(OnFailure::Sqs(queue.clone()));
    let dest = Destination::new(s.on_failure.clone().unwrap(), &sdk, &s.bootstrap_servers).unwrap();
    let mut esm = Esm::start(s, consumer(&dir, &[]), Some(dest))
        .await
        .unwrap();
    esm.quiet();
    let stats = esm.run_until_idle(IDLE, MAX).await.clone();
    esm.stop().await;
    assert_eq!(dir.processed(), ["new1"]);
    assert_eq!(stats.to_on_failure, 1, "{stats}");
    let docs = receive(&sqs, &queue, 1).await;
    let doc: Value = serde_json::from_str(docs[0].body().unwrap()).unwrap();
    assert_eq!(doc["requestContext"]["condition"], "RecordAgeExceeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_settings_are_refused_naming_the_setting() {
    let topic = unique("orders");
    create_topic(&topic, 1).await;
    let dir = Dir::new();
    let start = |s: EsmSettings, f: FunctionSpec| async move {
        match Esm::start(s, f, None).await {
            Ok(esm) => {
                esm.stop().await;
                panic!("started")
            }
            Err(e) => e,
        }
    };
    let mut s = settings(&topic);
    s.batch_size = 0;
    assert!(start(s, consumer(&dir, &[]))
        .await
        .to_string()
        .starts_with("BatchSize=0 is invalid"));
    let mut s = settings(&topic);
    s.batching_window = Duration::from_secs(301);
    assert!(start(s, consumer(&dir, &[]))
        .await
        .to_string()
        .starts_with("MaximumBatchingWindowInSeconds=301"));
    let e = start(settings("no-such-topic-here"), consumer(&dir, &[])).await;
    assert!(matches!(e, EsmError::NoSuchTopic(_)), "{e}");
    assert!(e.to_string().starts_with("Topics:"), "{e}");
    let mut missing = consumer(&dir, &[]);
    missing.binary = PathBuf::from("/nonexistent/bootstrap");
    let e = start(settings(&topic), missing).await;
    assert!(e.to_string().contains("did not start"), "{e}");
    // A function whose init fails (bad configuration) did not start either.
    let e = start(
        settings(&topic),
        consumer(&dir, &[("MSK_DLQ_MAX_ATTEMPTS", "zero")]),
    )
    .await;
    assert!(
        e.to_string().contains("did not start") && e.to_string().contains("MSK_DLQ_MAX_ATTEMPTS"),
        "{e}"
    );
}
