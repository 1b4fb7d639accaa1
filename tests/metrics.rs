//! The EMF lines of a real invocation, validated against the CloudWatch
//! Embedded Metric Format specification.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{read_event, Scripted, Step, TestSink};
use msk_dlq::consumer::MetricsSettings;
use msk_dlq::metrics::{consumer_metrics, reprocessor_metrics};
use msk_dlq::replay::ReplaySummary;
use msk_dlq::{Consumer, ConsumerSettings};
use serde_json::Value;

const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one EMF document; returns its metric values by name.
fn validate(line: &str) -> serde_json::Map<String, Value> {
    let doc: Value = serde_json::from_str(line).expect("EMF line is a JSON object");
    let root = doc.as_object().unwrap();
    let aws = root["_aws"].as_object().expect("_aws metadata");
    assert!(
        aws["Timestamp"].as_i64().is_some_and(|t| t > 0),
        "Timestamp: epoch ms integer"
    );
    let directives = aws["CloudWatchMetrics"].as_array().unwrap();
    assert!(!directives.is_empty());
    let mut values = serde_json::Map::new();
    for d in directives {
        let ns = d["Namespace"].as_str().unwrap();
        assert!(!ns.is_empty() && ns.len() <= 255 && !ns.starts_with("AWS/"));
        for set in d["Dimensions"].as_array().unwrap() {
            let set = set.as_array().unwrap();
            assert!(set.len() <= 30, "at most 30 dimensions per set");
            for dim in set {
                let key = dim.as_str().unwrap();
                assert!(
                    root[key].is_string(),
                    "dimension {key} is a string member of the root"
                );
            }
        }
        let metrics = d["Metrics"].as_array().unwrap();
        assert!(metrics.len() <= 100, "at most 100 metrics per directive");
        for m in metrics {
            let name = m["Name"].as_str().unwrap();
            assert!(!name.is_empty() && name.len() <= 1024);
            assert!(
                UNITS.contains(&m["Unit"].as_str().unwrap()),
                "unit of {name}"
            );
            let v = &root[name];
            match v {
                Value::Number(_) => {}
                Value::Array(a) => {
                    assert!(!a.is_empty() && a.len() <= 100, "{name}: 1..=100 values");
                    assert!(a.iter().all(Value::is_number), "{name}: numbers");
                }
                other => panic!("metric {name} has no numeric value: {other}"),
            }
            values.insert(name.to_owned(), v.clone());
        }
    }
    values
}

#[tokio::test(start_paused = true)]
async fn consumer_invocation_emits_valid_emf() {
    let batch = msk_dlq::decode_event(&read_event("msk-mixed.json")).unwrap();
    let h = Scripted::default()
        .with("shop.orders-v1-0", 12, &[Step::Permanent])
        .with("shop.orders-v1-1", 20, &[Step::Transient]);
    let mut settings = ConsumerSettings::default();
    settings.breaker.threshold = 0;
    let p = Consumer::new(Arc::new(h), settings, TestSink::confirming());
    let report = p
        .process(
            &batch,
            tokio::time::Instant::now() + Duration::from_secs(60),
            1_795_320_000_000,
        )
        .await;
    let mut cfg = MetricsSettings::default();
    cfg.namespace = "MskDlq".into();
    cfg.function_name = "orders-consumer".into();
    let lines = consumer_metrics(&report, &cfg, 1_795_320_000_000);
    assert_eq!(lines.len(), 2, "one per topic, one for the function");
    let topic = validate(&lines[0]);
    assert_eq!(topic["RecordsProcessed"], 9.0);
    assert_eq!(topic["RecordsDeadLettered"], 2.0);
    assert_eq!(topic["DeadLetteredRetriesExhausted"], 1.0);
    assert_eq!(topic["Retries"], 2.0);
    let function = validate(&lines[1]);
    assert_eq!(function["DlqWrites"], 2.0);
    assert_eq!(function["DlqWriteFailures"], 0.0);
    assert!(function["DlqWriteLatency"].is_array() || function["DlqWriteLatency"].is_number());

    let mut summary = ReplaySummary::default();
    summary.replayed = 3;
    summary.parked = 1;
    let line = reprocessor_metrics(&summary, &cfg, 1_795_320_000_000);
    let r = validate(&line);
    assert_eq!(r["Replayed"], 3.0);
    assert_eq!(r["Parked"], 1.0);
}

#[test]
fn lp15_no_metric_carries_more_than_100_values() {
    let report = msk_dlq::consumer::BatchReport {
        dlq_latencies: (0..250).map(Duration::from_millis).collect(),
        dlq_writes: 250,
        ..Default::default()
    };
    let mut cfg = MetricsSettings::default();
    cfg.function_name = "orders-consumer".into();
    let lines = consumer_metrics(&report, &cfg, 1_795_320_000_000);
    let mut latencies = 0;
    for line in &lines {
        let values = validate(line);
        if let Some(v) = values.get("DlqWriteLatency") {
            latencies += v.as_array().map_or(1, Vec::len);
        }
    }
    assert_eq!(latencies, 250, "every latency is kept");
}
