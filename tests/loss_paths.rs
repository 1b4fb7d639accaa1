//! One regression test per loss or wrong-outcome path found in review. Each
//! failed before its fix.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::stack::{self, create_queue, unique};
use common::{msk_event, Scripted, Step, TestSink};
use msk_dlq::consumer::{FailReason, RetryPolicy};
use msk_dlq::letter::{DeadLetter, DeadRecord};
use msk_dlq::sink::{send_by_deadline, BatchedSink, LargeValueStore, S3ClaimCheck, SqsTransport};
use msk_dlq::{
    decode_event, Consumer, ConsumerSettings, DlqKind, HandlerError, KafkaRecord, Outcome,
    PartitionOrder, RecordContext, RecordHandler,
};
use serde_json::json;
use tokio::time::Instant;

const NOW_MS: i64 = 1_700_000_100_000;

fn settings() -> ConsumerSettings {
    let mut s = ConsumerSettings::default();
    s.retry = RetryPolicy::new(1, Duration::from_millis(10), Duration::from_millis(10));
    s.deadline_margin = Duration::from_millis(300);
    s.breaker.threshold = 0;
    s
}

async fn letters_of(event: &str, handler: Scripted, s: ConsumerSettings) -> Vec<DeadLetter> {
    let sink = TestSink::confirming();
    let c = Consumer::new(handler, s, sink.clone());
    let batch = decode_event(event).unwrap();
    c.process(&batch, Instant::now() + Duration::from_secs(30), NOW_MS)
        .await;
    sink.received()
}

fn record(topic: &str, partition: i32, offset: i64, ts: i64, value: &str) -> serde_json::Value {
    use base64::Engine as _;
    json!({"topic": topic, "partition": partition, "offset": offset, "timestamp": ts,
           "timestampType": "CREATE_TIME", "value": base64::engine::general_purpose::STANDARD.encode(value), "headers": []})
}

fn self_managed(bootstrap: &str, records: Vec<serde_json::Value>) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&msk_event(records, "x", bootstrap)).unwrap();
    v["eventSource"] = json!("SelfManagedKafka");
    v.as_object_mut().unwrap().remove("eventSourceArn");
    v.to_string()
}

// 1. Dead-letter identities must not collide.

#[tokio::test]
async fn lp01_self_managed_clusters_get_distinct_dedup_ids() {
    let h = || Scripted::default().with("orders-0", 5, &[Step::Permanent]);
    let a = letters_of(
        &self_managed("a-1:9092", vec![record("orders", 0, 5, 1, "x")]),
        h(),
        settings(),
    )
    .await;
    let b = letters_of(
        &self_managed("b-1:9092", vec![record("orders", 0, 5, 1, "x")]),
        h(),
        settings(),
    )
    .await;
    assert_ne!(
        a[0].dedup_id(),
        b[0].dedup_id(),
        "two clusters, one FIFO DLQ"
    );
}

#[tokio::test]
async fn lp01_a_recreated_topic_does_not_repeat_dedup_ids() {
    let h = || Scripted::default().with("orders-0", 5, &[Step::Permanent]);
    let arn = "arn:aws:kafka:us-east-1:1:cluster/c/1";
    let old = letters_of(
        &msk_event(vec![record("orders", 0, 5, 1_000, "old")], arn, "b:9092"),
        h(),
        settings(),
    )
    .await;
    let new = letters_of(
        &msk_event(vec![record("orders", 0, 5, 9_000, "new")], arn, "b:9092"),
        h(),
        settings(),
    )
    .await;
    assert_ne!(
        old[0].dedup_id(),
        new[0].dedup_id(),
        "offset 5 of a recreated topic is another record"
    );
    assert_eq!(
        old[0].dedup_id(),
        letters_of(
            &msk_event(vec![record("orders", 0, 5, 1_000, "old")], arn, "b:9092"),
            h(),
            settings()
        )
        .await[0]
            .dedup_id(),
        "retries of one record keep one id"
    );
}

#[tokio::test]
async fn lp01_malformed_records_without_identity_keep_their_partition_key() {
    let ev = json!({"eventSource": "aws:kafka", "records": {
        "orders-0": [{"value": "%%%"}],
        "orders-1": [{"value": "%%%"}],
    }})
    .to_string();
    let letters = letters_of(&ev, Scripted::default(), settings()).await;
    assert_eq!(letters.len(), 2);
    assert_ne!(letters[0].group_id(), letters[1].group_id());
    assert_ne!(letters[0].dedup_id(), letters[1].dedup_id());
}

#[test]
fn lp01_claim_check_keys_are_never_reused_for_other_bytes() {
    let make = |value: &str| {
        let r = KafkaRecord::builder("orders", 0, 5)
            .timestamp(1)
            .value(Some(value.as_bytes().to_vec()))
            .build();
        DeadLetter::new(
            Arc::new(msk_dlq::event::BatchSource {
                event_source: "SelfManagedKafka".into(),
                event_source_arn: None,
                bootstrap_servers: None,
            }),
            DeadRecord::Decoded(r),
            DlqKind::Permanent,
            "E",
            "m",
        )
    };
    assert_ne!(
        make("first").claim_check_key("p/"),
        make("second").claim_check_key("p/")
    );
}

// 5. A handler that panics before returning its future.

struct PanicsSynchronously;

impl RecordHandler for PanicsSynchronously {
    #[allow(clippy::manual_async_fn)]
    fn handle(
        &self,
        record: &KafkaRecord,
        _: &RecordContext,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        if record.offset() == 1 {
            panic!("validation before the async part");
        }
        async { Ok(()) }
    }
}

#[tokio::test]
async fn lp05_a_synchronous_panic_is_caught_and_frees_the_breaker_probe() {
    let mut s = settings();
    s.breaker.threshold = 1;
    s.breaker.cooldown = Duration::ZERO;
    let sink = TestSink::confirming();
    let c = Consumer::new(PanicsSynchronously, s, sink.clone());
    let ev = common::event_json(&[("t", 0, 1), ("t", 0, 2)]);
    let batch = decode_event(&ev).unwrap();
    let r = c
        .process(&batch, Instant::now() + Duration::from_secs(30), NOW_MS)
        .await;
    assert_eq!(
        r.records[0].outcome,
        Outcome::DeadLettered(DlqKind::Permanent)
    );
    assert_eq!(r.records[1].outcome, Outcome::Processed);
}

// 6. A deadline cut is not a failed attempt.

#[tokio::test(start_paused = true)]
async fn lp06_a_deadline_cut_is_reported_failed_not_dead_lettered() {
    for threshold in [0, 1] {
        let h =
            Arc::new(Scripted::default().with("t-0", 1, &[Step::Slow(Duration::from_secs(60))]));
        let sink = TestSink::confirming();
        let mut s = settings();
        s.breaker.threshold = threshold;
        let c = Consumer::new(h, s, sink.clone());
        let ev = common::event_json(&[("t", 0, 1)]);
        let batch = decode_event(&ev).unwrap();
        let r = c
            .process(&batch, Instant::now() + Duration::from_secs(3), NOW_MS)
            .await;
        assert_eq!(
            r.records[0].outcome,
            Outcome::Failed(FailReason::DeadlineNear),
            "breaker threshold {threshold}"
        );
        assert!(
            sink.received().is_empty(),
            "a healthy record cut by the deadline is not dead-lettered"
        );
        assert!(
            !r.breaker_opened,
            "a deadline cut says nothing about the dependency"
        );
    }
}

// 10. A blocking or CPU-bound handler cannot freeze the invocation.

struct Blocks {
    calls: AtomicU32,
}

impl RecordHandler for Blocks {
    async fn handle(&self, record: &KafkaRecord, _: &RecordContext) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if record.partition() == 0 {
            // Blocks its thread: no timer of this task can fire meanwhile.
            std::thread::sleep(Duration::from_secs(4));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lp10_a_blocking_handler_is_reported_failed_at_the_deadline() {
    let h = Arc::new(Blocks {
        calls: AtomicU32::new(0),
    });
    let mut s = settings();
    s.order = PartitionOrder::Independent;
    // Handlers run on this runtime's two workers, one of which the blocking
    // handler takes; the invocation runs on a thread of its own, as
    // `msk_dlq::serve` does.
    let c = Consumer::new(h.clone(), s, TestSink::confirming());
    let ev = common::event_json(&[("t", 0, 1), ("t", 1, 1), ("t", 2, 1)]);
    let batch = decode_event(&ev).unwrap();
    let r = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(c.process(&batch, Instant::now() + Duration::from_secs(2), NOW_MS))
    })
    .join()
    .unwrap();
    let outcome = |p: i32| {
        r.records
            .iter()
            .find(|x| *x.id.partition_key == *format!("t-{p}"))
            .unwrap()
            .outcome
    };
    assert_eq!(
        outcome(0),
        Outcome::Failed(FailReason::DeadlineNear),
        "still running at the deadline"
    );
    assert_eq!(outcome(1), Outcome::Processed);
    assert_eq!(outcome(2), Outcome::Processed);
}

// 13. A record without a timestamp has no age.

#[tokio::test(start_paused = true)]
async fn lp13_a_record_without_timestamp_is_not_too_old() {
    let mut s = settings();
    s.max_record_age = Some(Duration::from_secs(60));
    let h = Arc::new(Scripted::default());
    let c = Consumer::new(h.clone(), s, TestSink::confirming());
    let ev = msk_event(
        vec![record("t", 0, 1, -1, "{}")],
        "arn:aws:kafka:us-east-1:1:cluster/c/1",
        "b:9092",
    );
    let batch = decode_event(&ev).unwrap();
    let r = c
        .process(&batch, Instant::now() + Duration::from_secs(30), NOW_MS)
        .await;
    assert_eq!(r.records[0].outcome, Outcome::Processed);
    assert_eq!(h.calls().len(), 1);
}

// 8. One slow claim-check upload must not fail the other letters.

#[tokio::test]
async fn lp08_a_stalled_claim_check_fails_only_its_own_letter() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("dlq"), &[]).await;
    let stalled = stack::sdk_at(format!("http://{addr}")).await;
    let claim: Arc<dyn LargeValueStore> = Arc::new(S3ClaimCheck::new(stack::s3(&stalled), "b", ""));
    let sink = BatchedSink {
        transport: SqsTransport {
            client: sqs.clone(),
            queue_url: url.clone(),
        },
        max_message_bytes: 4_096,
        claim_check: Some(claim),
        retries: 0,
    };
    let mut letters: Vec<DeadLetter> = (0..3)
        .map(|o| {
            let r = KafkaRecord::builder("orders", 0, o)
                .timestamp(1)
                .value(Some(b"small".to_vec()))
                .build();
            DeadLetter::new(
                Arc::new(msk_dlq::event::BatchSource {
                    event_source: "aws:kafka".into(),
                    event_source_arn: Some("arn:x".into()),
                    bootstrap_servers: None,
                }),
                DeadRecord::Decoded(r),
                DlqKind::Permanent,
                "E",
                "m",
            )
        })
        .collect();
    if let DeadRecord::Decoded(r) = &letters[0].record {
        letters[0].record =
            DeadRecord::Decoded(r.to_builder().value(Some(vec![b'x'; 10_000])).build());
    }
    let res = send_by_deadline(&sink, &letters, Instant::now() + Duration::from_secs(3)).await;
    assert!(res[0].is_err(), "{res:?}");
    assert!(
        res[1].is_ok() && res[2].is_ok(),
        "small letters go out: {res:?}"
    );
}
