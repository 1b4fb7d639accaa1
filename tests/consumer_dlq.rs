//! The real `consumer` binary dead-lettering to the real local stack, and
//! reporting failures when the DLQ cannot confirm.

mod common;

use std::time::Duration;

use common::stack::{
    self, consume, create_queue, create_topic, header, headers_of, receive, unique,
};
use common::{golden_text, read_event};
use lambda_emulator::{Function, Reply};
use msk_dlq::headers::{ERROR_TYPE as H_ERROR_TYPE, KIND as H_KIND, ORIGINAL_OFFSET as H_OFFSET};
use msk_dlq::letter::Envelope;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn consumer(vars: &[(&str, &str)]) -> Function {
    common::start_consumer(vars).await
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn mixed_event_dead_letters_to_a_kafka_topic() {
    let topic = unique("orders-dlq");
    create_topic(&topic, 3).await;
    let kafka = stack::kafka();
    let mut f = consumer(&[
        ("MSK_DLQ_SINK", "kafka"),
        ("MSK_DLQ_KAFKA_TOPIC", &topic),
        ("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", &kafka),
    ])
    .await;
    let reply = f
        .invoke(&read_event("msk-mixed.json"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        reply,
        Reply::Response(r#"{"batchItemFailures":[]}"#.into()),
        "{:?}",
        f.stderr_lines()
    );

    let got = consume(&topic, 3, 5);
    let mut seen: Vec<(String, String, String)> = got
        .iter()
        .map(|m| {
            let h = headers_of(m);
            (
                header(&h, H_OFFSET).unwrap().to_owned(),
                header(&h, H_KIND).unwrap().to_owned(),
                header(&h, H_ERROR_TYPE).unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let expected = [
        ("12", "permanent", "InvalidOrder"),
        ("20", "retries-exhausted", "InventoryUnavailable"),
        ("21", "manual", "ManualReview"),
        ("30", "permanent", "HandlerPanic"),
        ("32", "permanent", "InvalidOrder"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
        .collect();
    assert_eq!(seen, expected);
    f.stop().await;
}

#[tokio::test]
async fn mixed_event_dead_letters_to_sqs() {
    dead_letters_to_sqs("consumer").await;
}

/// The SQS-only build with `tls-ring`: the AWS clients get their HTTP
/// client from the library, not the SDK's default.
#[tokio::test]
async fn an_sqs_only_consumer_on_ring_dead_letters_to_sqs() {
    dead_letters_to_sqs("consumer-sqs-ring").await;
}

async fn dead_letters_to_sqs(bin: &str) {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("orders-dlq"), &[]).await;
    let endpoint = stack::aws_endpoint();
    let mut f = common::start_consumer_bin(
        bin,
        &[
            ("MSK_DLQ_SINK", "sqs"),
            ("MSK_DLQ_SQS_QUEUE_URL", &url),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("MSK_DLQ_ORDERING", "independent"),
        ],
    )
    .await;
    let reply = f
        .invoke(&read_event("msk-mixed.json"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        reply,
        Reply::Response(r#"{"batchItemFailures":[]}"#.into()),
        "{:?}",
        f.stderr_lines()
    );
    let msgs = receive(&sqs, &url, 5).await;
    let mut kinds: Vec<(i64, String)> = msgs
        .iter()
        .map(|m| {
            let e = Envelope::from_json(m.body().unwrap()).unwrap();
            assert_eq!(e.consumer, "orders-consumer");
            (e.source.offset.unwrap(), e.error.kind.to_string())
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds.len(), 5);
    assert_eq!(kinds[1], (20, "retries-exhausted".to_owned()));
    f.stop().await;
}

#[tokio::test]
async fn dlq_that_cannot_confirm_means_records_are_reported_failed() {
    // Kafka DLQ unreachable, and no fallback: nothing may be reported done.
    let mut f = consumer(&[
        ("MSK_DLQ_SINK", "kafka"),
        ("MSK_DLQ_KAFKA_TOPIC", "orders-dlq"),
        ("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("MSK_DLQ_DEADLINE_MARGIN_MS", "1500"),
    ])
    .await;
    let reply = f
        .invoke(&read_event("msk-mixed.json"), Duration::from_secs(8))
        .await
        .unwrap();
    let Reply::Response(body) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(
        json(&body),
        json(&golden_text("mixed-ordered-no-sink.json"))
    );
    f.stop().await;
}

#[tokio::test]
async fn fallback_sqs_confirms_when_the_kafka_dlq_is_down() {
    let sdk = stack::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = create_queue(&sqs, &unique("orders-dlq-fallback"), &[]).await;
    let endpoint = stack::aws_endpoint();
    let mut f = consumer(&[
        ("MSK_DLQ_SINK", "kafka"),
        ("MSK_DLQ_KAFKA_TOPIC", "orders-dlq"),
        ("MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1"),
        ("MSK_DLQ_FALLBACK_SINK", "sqs"),
        ("MSK_DLQ_SQS_QUEUE_URL", &url),
        ("AWS_ENDPOINT_URL", &endpoint),
        ("MSK_DLQ_ORDERING", "independent"),
    ])
    .await;
    let reply = f
        .invoke(&read_event("msk-mixed.json"), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        reply,
        Reply::Response(r#"{"batchItemFailures":[]}"#.into()),
        "{:?}",
        f.stderr_lines()
    );
    assert_eq!(receive(&sqs, &url, 5).await.len(), 5);
    f.stop().await;
}

#[tokio::test]
async fn sink_misconfiguration_stops_the_cold_start() {
    let mut f = consumer(&[
        ("MSK_DLQ_SINK", "sqs"),
        ("MSK_DLQ_FALLBACK_SINK", "sqs"),
        ("MSK_DLQ_KAFKA_SECURITY", "scram-sha-512"),
    ])
    .await;
    let reply = f
        .invoke(&read_event("msk-basic.json"), TIMEOUT)
        .await
        .unwrap();
    assert!(matches!(reply, Reply::Exited(_)), "{reply:?}");
    let stderr = f.stderr_lines().join("\n");
    assert!(
        stderr.contains("MSK_DLQ_SQS_QUEUE_URL is required when the sqs sink is used"),
        "{stderr}"
    );
    assert!(
        stderr.contains("MSK_DLQ_FALLBACK_SINK must differ from MSK_DLQ_SINK"),
        "{stderr}"
    );
    assert!(
        stderr.contains("MSK_DLQ_KAFKA_SASL_USERNAME is required"),
        "{stderr}"
    );
}

#[tokio::test]
async fn lp09_an_sns_topic_nobody_receives_from_stops_the_cold_start() {
    let sdk = stack::sdk().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let arn = sns
        .create_topic()
        .name(unique("dlq-no-subscriber"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let endpoint = stack::aws_endpoint();
    let mut f = consumer(&[
        ("MSK_DLQ_SINK", "sns"),
        ("MSK_DLQ_SNS_TOPIC_ARN", &arn),
        ("AWS_ENDPOINT_URL", &endpoint),
    ])
    .await;
    let reply = f
        .invoke(&read_event("msk-mixed.json"), TIMEOUT)
        .await
        .unwrap();
    assert!(
        matches!(reply, Reply::Exited(_)),
        "SNS accepts letters nobody receives: {reply:?}"
    );
    let stderr = f.stderr_lines().join("\n");
    assert!(stderr.contains("no confirmed subscription"), "{stderr}");
}
