//! What the benchmarks share: handlers, settings, the Lambda path in
//! process, and the two references it is measured against.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use msk_dlq::consumer::BatchReport;
use msk_dlq::event::Batch;
use msk_dlq::sink::NoSink;
use msk_dlq::{
    decode_event_body, BatchResponse, Consumer, ConsumerSettings, HandlerError, KafkaRecord,
    PartitionOrder, RecordContext, RecordHandler,
};

pub struct Accept;

impl RecordHandler for Accept {
    async fn handle(&self, _: &KafkaRecord, _: &RecordContext) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// Reads every key and value (each decoded from base64 on first use).
pub struct ReadAll;

impl RecordHandler for ReadAll {
    async fn handle(&self, r: &KafkaRecord, _: &RecordContext) -> Result<(), HandlerError> {
        let n = r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len);
        std::hint::black_box(n);
        Ok(())
    }
}

/// A consumer without a sink or circuit breaker.
pub fn consumer<H: RecordHandler>(handler: H, order: PartitionOrder) -> Consumer<H> {
    let mut s = ConsumerSettings::default();
    s.order = order;
    s.breaker.threshold = 0;
    Consumer::new(handler, s, std::sync::Arc::new(NoSink))
}

/// `batch` processed with ten minutes to go.
pub fn process<H: RecordHandler>(
    rt: &tokio::runtime::Runtime,
    consumer: &Consumer<H>,
    batch: &Batch,
) -> BatchReport {
    rt.block_on(consumer.process(
        batch,
        tokio::time::Instant::now() + Duration::from_secs(600),
        1_700_000_000_000,
    ))
}

/// The Lambda path: the body as received, decoded, processed, and the
/// response serialized.
pub fn invoke<H: RecordHandler>(
    rt: &tokio::runtime::Runtime,
    consumer: &Consumer<H>,
    body: &bytes::Bytes,
) -> String {
    let batch = decode_event_body(body).unwrap();
    let r = process(rt, consumer, &batch);
    serde_json::to_string(&BatchResponse::from_report(&r)).unwrap()
}

#[derive(serde::Deserialize)]
struct RoofEvent<'a> {
    #[serde(borrow)]
    records: HashMap<&'a str, Vec<RoofRecord<'a>>>,
}

#[derive(serde::Deserialize)]
struct RoofRecord<'a> {
    #[serde(borrow, default)]
    key: Option<&'a str>,
    #[serde(borrow, default)]
    value: Option<&'a str>,
}

/// The floor: the fastest pass these crates allow over the same event,
/// serde_json borrowing only keys and values, SIMD base64 of each into one
/// reused buffer. Returns the decoded bytes.
pub fn floor(event: &str, buf: &mut [u8]) -> usize {
    let e: RoofEvent<'_> = serde_json::from_str(event).unwrap();
    let mut n = 0usize;
    for list in e.records.values() {
        for r in list {
            for text in [r.key, r.value].into_iter().flatten() {
                let out = base64_simd::Out::from_slice(&mut *buf);
                n += base64_simd::STANDARD
                    .decode(text.as_bytes(), out)
                    .unwrap()
                    .len();
            }
        }
    }
    n
}

/// What a naive Rust consumer writes: `aws_lambda_events::KafkaEvent`, then
/// base64 of every key and value.
pub fn aws_lambda_events(event: &str) -> usize {
    let e: aws_lambda_events::event::kafka::KafkaEvent = serde_json::from_str(event).unwrap();
    let mut n = 0usize;
    for list in e.records.values() {
        for r in list {
            for text in [&r.key, &r.value].into_iter().flatten() {
                n += base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap()
                    .len();
            }
        }
    }
    n
}
