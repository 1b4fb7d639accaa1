//! Processing logic: ordering modes, retries on a paused clock, deadlines,
//! the circuit breaker, panics, sink failures and the response.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{event_json, read_event, Scripted, Step, TestSink};
use msk_dlq::consumer::{BatchReport, ExhaustionPolicy, FailReason, RetryPolicy};
use msk_dlq::sink::{DeadLetterSink, NoSink};
use msk_dlq::{
    decode_event, BatchResponse, Consumer, ConsumerSettings, DlqKind, Outcome,
    PartitionOrder as Ordering,
};
use tokio::time::Instant;

const NOW_MS: i64 = 1_700_000_100_000;

fn settings(ordering: Ordering) -> ConsumerSettings {
    let mut s = ConsumerSettings::default();
    s.order = ordering;
    s.retry = RetryPolicy::new(3, Duration::from_millis(100), Duration::from_secs(2));
    s.deadline_margin = Duration::from_millis(300);
    s.breaker.threshold = 0;
    s
}

async fn run(
    handler: Arc<Scripted>,
    sink: Arc<dyn DeadLetterSink>,
    s: ConsumerSettings,
    event: &str,
    budget: Duration,
) -> BatchReport {
    let batch = decode_event(event).unwrap();
    let p = Consumer::new(handler, s, sink);
    p.process(&batch, Instant::now() + budget, NOW_MS).await
}

fn outcome(r: &BatchReport, key: &str, offset: i64) -> Outcome {
    r.records
        .iter()
        .find(|x| &*x.id.partition_key == key && x.id.offset == Some(offset))
        .unwrap()
        .outcome
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn ordered_mode_stops_a_partition_at_its_first_failure() {
    let ev = event_json(&[
        ("t", 0, 1),
        ("t", 0, 2),
        ("t", 0, 3),
        ("t", 1, 1),
        ("t", 1, 2),
    ]);
    let h = Arc::new(Scripted::default().with("t-0", 2, &[Step::Permanent]));
    let r = run(
        h.clone(),
        Arc::new(NoSink),
        settings(Ordering::Ordered),
        &ev,
        MINUTE,
    )
    .await;
    assert_eq!(outcome(&r, "t-0", 1), Outcome::Processed);
    assert_eq!(
        outcome(&r, "t-0", 2),
        Outcome::Failed(FailReason::DlqWriteFailed)
    );
    assert_eq!(
        outcome(&r, "t-0", 3),
        Outcome::Failed(FailReason::EarlierRecordFailed)
    );
    assert_eq!(
        h.calls_for("t-0", 3),
        0,
        "later record of a failed partition must not be handled"
    );
    assert_eq!(outcome(&r, "t-1", 2), Outcome::Processed);
    let resp = BatchResponse::from_report(&r);
    let ids: Vec<(String, i64)> = resp
        .batch_item_failures
        .iter()
        .map(|f| {
            (
                f.item_identifier.partition.clone(),
                f.item_identifier.offset,
            )
        })
        .collect();
    assert_eq!(ids, vec![("t-0".into(), 2), ("t-0".into(), 3)]);
}

#[tokio::test(start_paused = true)]
async fn ordered_mode_continues_after_a_confirmed_dead_letter() {
    let ev = event_json(&[("t", 0, 1), ("t", 0, 2), ("t", 0, 3)]);
    let h = Arc::new(Scripted::default().with("t-0", 2, &[Step::Permanent]));
    let sink = TestSink::confirming();
    let r = run(h, sink.clone(), settings(Ordering::Ordered), &ev, MINUTE).await;
    assert_eq!(
        outcome(&r, "t-0", 2),
        Outcome::DeadLettered(DlqKind::Permanent)
    );
    assert_eq!(outcome(&r, "t-0", 3), Outcome::Processed);
    assert_eq!(sink.offsets(), vec![2]);
    assert!(BatchResponse::from_report(&r)
        .batch_item_failures
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn independent_mode_handles_every_record_and_batches_dead_letters() {
    let ev = event_json(&[("t", 0, 1), ("t", 0, 2), ("t", 0, 3), ("t", 0, 4)]);
    let h = Arc::new(Scripted::default().with("t-0", 1, &[Step::Permanent]).with(
        "t-0",
        3,
        &[Step::Manual],
    ));
    let sink = TestSink::failing_when(|l| l.offset() == Some(3));
    let r = run(
        h.clone(),
        sink.clone(),
        settings(Ordering::Independent),
        &ev,
        MINUTE,
    )
    .await;
    assert_eq!(
        outcome(&r, "t-0", 1),
        Outcome::DeadLettered(DlqKind::Permanent)
    );
    assert_eq!(outcome(&r, "t-0", 2), Outcome::Processed);
    assert_eq!(
        outcome(&r, "t-0", 3),
        Outcome::Failed(FailReason::DlqWriteFailed)
    );
    assert_eq!(outcome(&r, "t-0", 4), Outcome::Processed);
    assert_eq!(sink.calls(), 1, "one batched sink call");
    assert_eq!(h.calls().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn transient_failures_retry_with_backoff_then_dead_letter() {
    let ev = event_json(&[("t", 0, 1)]);
    let h = Arc::new(Scripted::default().with("t-0", 1, &[Step::Transient]));
    let sink = TestSink::confirming();
    let start = Instant::now();
    let r = run(
        h.clone(),
        sink.clone(),
        settings(Ordering::Ordered),
        &ev,
        MINUTE,
    )
    .await;
    assert_eq!(
        outcome(&r, "t-0", 1),
        Outcome::DeadLettered(DlqKind::RetriesExhausted)
    );
    assert_eq!(h.calls_for("t-0", 1), 3);
    assert_eq!(r.records[0].attempts, 3);
    // Paused clock: elapsed time is exactly the sum of the two backoffs,
    // each within [ceiling/2, ceiling] of 100ms and 200ms.
    let slept = start.elapsed();
    assert!(
        slept >= Duration::from_millis(150) && slept <= Duration::from_millis(300),
        "{slept:?}"
    );
    let letter = &sink.received()[0];
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.error_type, "Timeout");
}

#[tokio::test(start_paused = true)]
async fn flaky_record_succeeds_on_retry() {
    let ev = event_json(&[("t", 0, 1)]);
    let h = Arc::new(Scripted::default().with("t-0", 1, &[Step::Transient, Step::Ok]));
    let r = run(
        h,
        Arc::new(NoSink),
        settings(Ordering::Ordered),
        &ev,
        MINUTE,
    )
    .await;
    assert_eq!(outcome(&r, "t-0", 1), Outcome::Processed);
    assert_eq!(r.records[0].attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_past_the_deadline_margin() {
    let ev = event_json(&[("t", 0, 1), ("t", 0, 2), ("t", 1, 1)]);
    // First record is slow enough to eat the budget; the partition's next
    // record must not start. Partition 1 runs concurrently and finishes.
    let h = Arc::new(
        Scripted::default()
            .with("t-0", 1, &[Step::Slow(Duration::from_secs(5))])
            .with("t-1", 1, &[Step::Ok]),
    );
    let start = Instant::now();
    let r = run(
        h.clone(),
        TestSink::confirming(),
        settings(Ordering::Independent),
        &ev,
        Duration::from_secs(2),
    )
    .await;
    assert!(
        start.elapsed() <= Duration::from_secs(2),
        "returned before the deadline"
    );
    // The slow attempt was cut at the cutoff: a transient time-out with no
    // time left to retry, so it is reported failed, not dead-lettered.
    assert_eq!(
        outcome(&r, "t-0", 1),
        Outcome::Failed(FailReason::DeadlineNear)
    );
    assert_eq!(
        outcome(&r, "t-0", 2),
        Outcome::Failed(FailReason::DeadlineNear)
    );
    assert_eq!(h.calls_for("t-0", 2), 0);
    assert_eq!(outcome(&r, "t-1", 1), Outcome::Processed);
}

#[tokio::test(start_paused = true)]
async fn retries_stop_when_the_next_backoff_would_cross_the_deadline() {
    let ev = event_json(&[("t", 0, 1)]);
    let h = Arc::new(Scripted::default().with("t-0", 1, &[Step::Transient]));
    let mut s = settings(Ordering::Ordered);
    s.retry.max_attempts = 100;
    s.retry.backoff_base = Duration::from_secs(1);
    s.retry.backoff_max = Duration::from_secs(1);
    let start = Instant::now();
    let r = run(
        h.clone(),
        TestSink::confirming(),
        s,
        &ev,
        Duration::from_millis(2500),
    )
    .await;
    assert_eq!(
        outcome(&r, "t-0", 1),
        Outcome::Failed(FailReason::DeadlineNear)
    );
    // Backoffs of 0.5..1s before a 2.2s cutoff: between 3 and 5 attempts,
    // and none starts after the cutoff.
    let calls = h.calls_for("t-0", 1);
    assert!((3..=5).contains(&calls), "{calls}");
    assert!(
        start.elapsed() <= Duration::from_millis(2200),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_sink_cannot_hold_the_invocation_past_its_deadline() {
    let ev = event_json(&[("t", 0, 1), ("t", 0, 2)]);
    let h = Arc::new(Scripted::default().with("t-0", 1, &[Step::Permanent]));
    let start = Instant::now();
    let r = run(
        h.clone(),
        TestSink::slow(Duration::from_secs(600)),
        settings(Ordering::Ordered),
        &ev,
        Duration::from_secs(3),
    )
    .await;
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(
        outcome(&r, "t-0", 1),
        Outcome::Failed(FailReason::DlqWriteFailed)
    );
    assert_eq!(
        outcome(&r, "t-0", 2),
        Outcome::Failed(FailReason::EarlierRecordFailed)
    );
}

#[tokio::test(start_paused = true)]
async fn panics_are_caught_and_dead_lettered_as_permanent() {
    let ev = event_json(&[("t", 0, 1), ("t", 0, 2)]);
    let h = Arc::new(Scripted::default().with("t-0", 1, &[Step::Panic]));
    let sink = TestSink::confirming();
    let r = run(h, sink.clone(), settings(Ordering::Ordered), &ev, MINUTE).await;
    assert_eq!(
        outcome(&r, "t-0", 1),
        Outcome::DeadLettered(DlqKind::Permanent)
    );
    assert_eq!(outcome(&r, "t-0", 2), Outcome::Processed);
    let l = &sink.received()[0];
    assert_eq!(l.error_type, "HandlerPanic");
    assert!(l.error_message.contains("scripted panic"));
}

#[tokio::test(start_paused = true)]
async fn redeliver_policy_reports_failed_until_too_old() {
    let ev = event_json(&[("t", 0, 1)]);
    let h = Arc::new(Scripted::default().with("t-0", 1, &[Step::Transient]));
    let mut s = settings(Ordering::Ordered);
    s.on_exhausted = ExhaustionPolicy::Redeliver;
    s.max_record_age = Some(Duration::from_secs(3600));
    let r = run(h.clone(), TestSink::confirming(), s.clone(), &ev, MINUTE).await;
    assert_eq!(
        outcome(&r, "t-0", 1),
        Outcome::Failed(FailReason::Redeliver)
    );

    // The same record, an hour and a bit later (a re-delivery).
    let batch = decode_event(&ev).unwrap();
    let sink = TestSink::confirming();
    let p = Consumer::new(h.clone(), s.clone(), sink.clone());
    s.max_record_age = Some(Duration::from_secs(7200));
    let later = 1_700_000_000_001 + 3_700_000;
    let r = p.process(&batch, Instant::now() + MINUTE, later).await;
    assert_eq!(
        outcome(&r, "t-0", 1),
        Outcome::DeadLettered(DlqKind::TooOld)
    );
    assert_eq!(sink.received()[0].kind, DlqKind::TooOld);
}

#[tokio::test(start_paused = true)]
async fn records_too_old_on_arrival_are_not_handled() {
    let ev = event_json(&[("t", 0, 1)]);
    let h = Arc::new(Scripted::default());
    let mut s = settings(Ordering::Ordered);
    s.max_record_age = Some(Duration::from_secs(60));
    let r = run(h.clone(), TestSink::confirming(), s, &ev, MINUTE).await;
    assert_eq!(
        outcome(&r, "t-0", 1),
        Outcome::DeadLettered(DlqKind::TooOld)
    );
    assert!(h.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn open_breaker_reports_the_rest_failed_without_calling_the_handler() {
    let records: Vec<(&str, i32, i64)> = (1..=10).map(|o| ("t", 0, o)).collect();
    let ev = event_json(&records);
    let mut h = Scripted::default();
    for o in 1..=10 {
        h = h.with("t-0", o, &[Step::Transient]);
    }
    let h = Arc::new(h);
    let mut s = settings(Ordering::Independent);
    s.retry.max_attempts = 1;
    let batch = decode_event(&ev).unwrap();
    let sink = TestSink::confirming();
    s.breaker.threshold = 3;
    s.breaker.cooldown = Duration::from_secs(30);
    let p = Consumer::new(h.clone(), s, sink.clone());
    let r = p.process(&batch, Instant::now() + MINUTE, NOW_MS).await;
    assert!(r.breaker_opened);
    assert_eq!(
        h.calls().len(),
        3,
        "handler not called once the breaker is open"
    );
    // The two failures before the breaker opened are dead-lettered, the
    // one that opened it and the rest are re-delivered, not flooded to the DLQ.
    assert_eq!(
        r.count(|o| o == Outcome::DeadLettered(DlqKind::RetriesExhausted)),
        2
    );
    assert_eq!(
        r.count(|o| o == Outcome::Failed(FailReason::BreakerOpen)),
        8
    );

    // Still open for the next (warm) invocation...
    let r = p.process(&batch, Instant::now() + MINUTE, NOW_MS).await;
    assert_eq!(
        r.count(|o| o == Outcome::Failed(FailReason::BreakerOpen)),
        10
    );
    // ...until the cool-down lets one probe through.
    tokio::time::advance(Duration::from_secs(31)).await;
    let r = p.process(&batch, Instant::now() + MINUTE, NOW_MS).await;
    assert_eq!(h.calls().len(), 4, "exactly one probe after the cool-down");
    assert_eq!(
        r.count(|o| o == Outcome::Failed(FailReason::BreakerOpen)),
        10
    );
}

#[tokio::test(start_paused = true)]
async fn malformed_records_are_dead_lettered_raw_or_fail_the_batch() {
    let ev = read_event("msk-malformed.json");
    let h = Arc::new(Scripted::default());
    let sink = TestSink::confirming();
    let r = run(
        h.clone(),
        sink.clone(),
        settings(Ordering::Ordered),
        &ev,
        MINUTE,
    )
    .await;
    assert_eq!(
        outcome(&r, "orders-3", 41),
        Outcome::DeadLettered(DlqKind::Malformed)
    );
    assert_eq!(r.unidentifiable_failures(), 0);
    let letters = sink.received();
    assert_eq!(letters.len(), 2);
    assert!(letters.iter().all(|l| l.kind == DlqKind::Malformed));
    assert!(
        letters[0].value().unwrap().starts_with(b"{"),
        "raw JSON kept"
    );

    // Without a DLQ the record with no offset cannot be reported: the
    // caller must fail the whole batch.
    let r = run(
        h,
        Arc::new(NoSink),
        settings(Ordering::Ordered),
        &ev,
        MINUTE,
    )
    .await;
    assert_eq!(r.unidentifiable_failures(), 1);
}

fn golden(name: &str, resp: &BatchResponse) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let actual = serde_json::to_string_pretty(resp).unwrap() + "\n";
    // Golden files change only by hand: a test that rewrites its own
    // expectation cannot fail.
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing golden file {path}"));
    assert_eq!(actual, expected, "response differs from {path}");
}

#[tokio::test(start_paused = true)]
async fn mixed_event_responses_match_golden_files() {
    let ev = read_event("msk-mixed.json");
    let script = || {
        Scripted::default()
            .with("shop.orders-v1-0", 11, &[Step::Transient, Step::Ok])
            .with("shop.orders-v1-0", 12, &[Step::Permanent])
            .with("shop.orders-v1-1", 20, &[Step::Transient])
            .with("shop.orders-v1-1", 21, &[Step::Manual])
            .with("shop.orders-v1-2", 30, &[Step::Panic])
            .with("shop.orders-v1-2", 32, &[Step::Permanent])
    };
    let r = run(
        Arc::new(script()),
        Arc::new(NoSink),
        settings(Ordering::Ordered),
        &ev,
        MINUTE,
    )
    .await;
    golden(
        "mixed-ordered-no-sink.json",
        &BatchResponse::from_report(&r),
    );
    let r = run(
        Arc::new(script()),
        Arc::new(NoSink),
        settings(Ordering::Independent),
        &ev,
        MINUTE,
    )
    .await;
    golden(
        "mixed-independent-no-sink.json",
        &BatchResponse::from_report(&r),
    );
    let r = run(
        Arc::new(script()),
        TestSink::confirming(),
        settings(Ordering::Ordered),
        &ev,
        MINUTE,
    )
    .await;
    golden("mixed-with-dlq.json", &BatchResponse::from_report(&r));
    let json = serde_json::to_string(&BatchResponse::from_report(&r)).unwrap();
    assert_eq!(json, r#"{"batchItemFailures":[]}"#);
}

fn flood_settings(max_percent: u32, min_records: u32, max_run: u32) -> ConsumerSettings {
    let mut s = settings(Ordering::Independent);
    s.flood_guard.max_percent = max_percent;
    s.flood_guard.min_records = min_records;
    s.flood_guard.max_run = max_run;
    s
}

#[tokio::test(start_paused = true)]
async fn the_flood_guard_holds_poison_back_past_its_limit() {
    // One partition, 30 records, every one failing for good: a bad deploy.
    let records: Vec<(&str, i32, i64)> = (1..=30).map(|o| ("t", 0, o)).collect();
    let ev = event_json(&records);
    let mut h = Scripted::default();
    for o in 1..=30 {
        h = h.with("t-0", o, &[Step::Permanent]);
    }
    let sink = TestSink::confirming();
    let r = run(
        Arc::new(h),
        sink.clone(),
        flood_settings(50, 10, 0),
        &ev,
        MINUTE,
    )
    .await;
    // Judged from the 10th record on: the first 9 were dead-lettered, the
    // rest are retried by Lambda instead.
    assert_eq!(sink.offsets(), (1..=9).collect::<Vec<i64>>());
    assert_eq!(
        r.count(|o| o == Outcome::Failed(FailReason::FloodGuard)),
        21
    );
    assert_eq!(BatchResponse::from_report(&r).batch_item_failures.len(), 21);
}

#[tokio::test(start_paused = true)]
async fn the_flood_guard_lets_ordinary_poison_through() {
    // 4 poison records in 30: under the limit, all four dead-lettered.
    let records: Vec<(&str, i32, i64)> = (1..=30).map(|o| ("t", 0, o)).collect();
    let ev = event_json(&records);
    let mut h = Scripted::default();
    for o in [3, 11, 17, 29] {
        h = h.with("t-0", o, &[Step::Permanent]);
    }
    let sink = TestSink::confirming();
    let r = run(
        Arc::new(h),
        sink.clone(),
        flood_settings(50, 10, 5),
        &ev,
        MINUTE,
    )
    .await;
    assert_eq!(sink.offsets(), [3, 11, 17, 29]);
    assert_eq!(r.count(Outcome::is_failed), 0);
}
