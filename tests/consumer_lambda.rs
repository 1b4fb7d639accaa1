//! The real `consumer` binary behind a Lambda Runtime API, invoked with the
//! files in `events/`.

mod common;

use std::time::Duration;

use common::{golden_text, read_event};
use lambda_emulator::{Function, Reply};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn consumer(vars: &[(&str, &str)]) -> Function {
    let mut all = vec![("MSK_DLQ_SINK", "none")];
    all.extend_from_slice(vars);
    common::start_consumer(&all).await
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn mixed_event_without_dlq_reports_failures_in_order() {
    let mut f = consumer(&[]).await;
    let reply = f
        .invoke(&read_event("msk-mixed.json"), TIMEOUT)
        .await
        .unwrap();
    let Reply::Response(body) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(
        json(&body),
        json(&golden_text("mixed-ordered-no-sink.json"))
    );

    // The summary log line counts every outcome; no payload is logged.
    let logs = f.stderr_lines().join("\n");
    let summary: Value = f
        .stderr_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "batch done")
        .unwrap_or_else(|| panic!("no summary line in {logs}"));
    assert_eq!(summary["fields"]["records"], 11);
    assert_eq!(summary["fields"]["processed"], 2);
    assert_eq!(summary["fields"]["failed"], 9);
    assert_eq!(summary["fields"]["failed_earlier_record"], 6);
    assert!(!logs.contains("o-12"), "payloads must not be logged");

    // EMF metrics on stdout.
    let emf: Vec<Value> = f
        .stdout_lines()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let topic_doc = emf
        .iter()
        .find(|d| d["Topic"] == "shop.orders-v1")
        .expect("per-topic EMF line");
    assert_eq!(topic_doc["RecordsProcessed"], 2.0);
    assert_eq!(topic_doc["RecordsFailed"], 9.0);
    f.stop().await;
}

#[tokio::test]
async fn independent_mode_handles_every_record() {
    let mut f = consumer(&[("MSK_DLQ_ORDERING", "independent")]).await;
    let Reply::Response(body) = f
        .invoke(&read_event("msk-mixed.json"), TIMEOUT)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        json(&body),
        json(&golden_text("mixed-independent-no-sink.json"))
    );
    f.stop().await;
}

#[tokio::test]
async fn basic_self_managed_and_header_events_succeed() {
    let mut f = consumer(&[]).await;
    for name in [
        "msk-basic.json",
        "self-managed.json",
        "msk-headers-tombstones.json",
    ] {
        let reply = f.invoke(&read_event(name), TIMEOUT).await.unwrap();
        assert_eq!(
            reply,
            Reply::Response(r#"{"batchItemFailures":[]}"#.into()),
            "{name}"
        );
    }
    f.stop().await;
}

#[tokio::test]
async fn a_non_kafka_event_fails_the_invocation_with_a_clear_error() {
    let mut f = consumer(&[]).await;
    let reply = f
        .invoke(&read_event("not-kafka.json"), TIMEOUT)
        .await
        .unwrap();
    let Reply::Error { message, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(message.contains("event is not a Kafka event"), "{message}");
    // The process survives and serves the next invocation.
    let reply = f
        .invoke(&read_event("msk-basic.json"), TIMEOUT)
        .await
        .unwrap();
    assert!(matches!(reply, Reply::Response(_)));
    f.stop().await;
}

#[tokio::test]
async fn an_unidentifiable_malformed_record_without_dlq_fails_the_whole_batch() {
    let mut f = consumer(&[]).await;
    let reply = f
        .invoke(&read_event("msk-malformed.json"), TIMEOUT)
        .await
        .unwrap();
    let Reply::Error { message, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(message.contains("have no readable offset"), "{message}");
    f.stop().await;
}

#[tokio::test]
async fn bad_configuration_stops_the_cold_start_naming_each_problem() {
    let mut f = consumer(&[
        ("MSK_DLQ_MAX_ATTEMPTS", "0"),
        ("MSK_DLQ_ORDERING", "random"),
    ])
    .await;
    let reply = f
        .invoke(&read_event("msk-basic.json"), TIMEOUT)
        .await
        .unwrap();
    assert!(matches!(reply, Reply::Exited(_)), "{reply:?}");
    let stderr = f.stderr_lines().join("\n");
    assert!(
        stderr.contains(r#"Error: invalid configuration (2 problem(s)):"#),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            r#"- MSK_DLQ_MAX_ATTEMPTS="0" is invalid: expected an integer from 1 to 100"#
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            r#"- MSK_DLQ_ORDERING="random" is invalid: expected one of ordered, independent"#
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_six_megabyte_event_of_ten_thousand_records_is_processed() {
    let event = msk_dlq::testing::synthetic_event("orders", 10_000, 8, 300);
    assert!(event.len() > 5_500_000);
    let mut f = consumer(&[]).await;
    let reply = f.invoke(&event, Duration::from_secs(120)).await.unwrap();
    assert_eq!(reply, Reply::Response(r#"{"batchItemFailures":[]}"#.into()));
    let summary = f
        .stderr_lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "batch done")
        .unwrap();
    assert_eq!(summary["fields"]["processed"], 10_000);
    f.stop().await;
}

#[tokio::test]
async fn an_event_with_a_byte_order_mark_is_read() {
    let mut f = consumer(&[]).await;
    let event = format!("\u{feff}{}", read_event("msk-mixed.json"));
    let reply = f.invoke(&event, TIMEOUT).await.unwrap();
    f.stop().await;
    let Reply::Response(body) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(
        json(&body),
        json(&golden_text("mixed-ordered-no-sink.json"))
    );
}
