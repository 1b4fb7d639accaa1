//! Throughput of the pure core on Lambda-sized batches: decoding, the whole
//! processing path with a no-op handler and with one that reads every key
//! and value, and the response. Run: `make bench`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use msk_dlq::sink::NoSink;
use msk_dlq::testing::synthetic_event;
use msk_dlq::{
    decode_event, decode_event_body, BatchResponse, Consumer, ConsumerSettings, HandlerError,
    KafkaRecord, PartitionOrder as Ordering, RecordContext, RecordHandler,
};

fn settings(order: Ordering) -> ConsumerSettings {
    let mut s = ConsumerSettings::default();
    s.order = order;
    s.breaker.threshold = 0;
    s
}

struct Accept;

impl RecordHandler for Accept {
    async fn handle(&self, _: &KafkaRecord, _: &RecordContext) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// Reads every key and value (each decoded from base64 on first use).
struct ReadAll;

impl RecordHandler for ReadAll {
    async fn handle(&self, r: &KafkaRecord, _: &RecordContext) -> Result<(), HandlerError> {
        let n = r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len);
        std::hint::black_box(n);
        Ok(())
    }
}

/// Every 10th record fails permanently: exercises the failure path.
struct TenPercentBad;

impl RecordHandler for TenPercentBad {
    async fn handle(&self, r: &KafkaRecord, _: &RecordContext) -> Result<(), HandlerError> {
        if r.offset() % 10 == 0 {
            Err(HandlerError::permanent("Bad", "bench"))
        } else {
            Ok(())
        }
    }
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for records in [100usize, 10_000] {
        let ev = synthetic_event("orders", records, 8, 300);
        g.throughput(Throughput::Bytes(ev.len() as u64));
        // From text, every key and value decoded; from the body as the
        // Lambda runtime hands it over, keys and values only checked.
        g.bench_with_input(BenchmarkId::new("text", records), &ev, |b, ev| {
            b.iter(|| decode_event(ev).unwrap())
        });
        let body = bytes::Bytes::from(ev);
        g.bench_with_input(BenchmarkId::new("body", records), &body, |b, body| {
            b.iter(|| decode_event_body(body).unwrap())
        });
    }
    g.finish();
}

fn process(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("process");
    let ev = synthetic_event("orders", 10_000, 8, 300);
    let batch = decode_event(&ev).unwrap();
    g.throughput(Throughput::Elements(10_000));
    for (name, ordering) in [
        ("ordered", Ordering::Ordered),
        ("independent", Ordering::Independent),
    ] {
        let p = Consumer::new(Accept, settings(ordering), Arc::new(NoSink));
        g.bench_function(format!("10k-ok-{name}"), |b| {
            b.iter(|| {
                rt.block_on(p.process(
                    &batch,
                    tokio::time::Instant::now() + Duration::from_secs(600),
                    1_700_000_000_000,
                ))
            })
        });
    }
    let p = Consumer::new(
        TenPercentBad,
        settings(Ordering::Independent),
        Arc::new(NoSink),
    );
    g.bench_function("10k-10pct-failed-with-response", |b| {
        b.iter(|| {
            let r = rt.block_on(p.process(
                &batch,
                tokio::time::Instant::now() + Duration::from_secs(600),
                1_700_000_000_000,
            ));
            serde_json::to_string(&BatchResponse::from_report(&r)).unwrap()
        })
    });
    g.finish();
}

/// The whole in-process path next to two references on the same 10,000-
/// record event: the fastest pass these crates allow (serde_json borrowing
/// only keys and values, SIMD base64 into one reused buffer) and what a
/// naive Rust consumer writes (`aws_lambda_events::KafkaEvent`, then base64
/// of every key and value).
/// The Lambda path: the body as received, decoded, processed, and the
/// response serialized.
fn invoke<H: RecordHandler>(
    rt: &tokio::runtime::Runtime,
    consumer: &Consumer<H>,
    body: &bytes::Bytes,
) -> String {
    let batch = decode_event_body(body).unwrap();
    let r = rt.block_on(consumer.process(
        &batch,
        tokio::time::Instant::now() + Duration::from_secs(600),
        1_700_000_000_000,
    ));
    serde_json::to_string(&BatchResponse::from_report(&r)).unwrap()
}

fn roofline(c: &mut Criterion) {
    use base64::Engine as _;
    use std::collections::HashMap;

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

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for records in [1_000usize, 10_000] {
        let ev = synthetic_event("orders", records, 8, 300);
        let mut g = c.benchmark_group(format!("roofline-{records}"));
        g.throughput(Throughput::Elements(records as u64));
        let body = bytes::Bytes::from(ev.clone());
        let no_op = Consumer::new(Accept, settings(Ordering::Ordered), Arc::new(NoSink));
        let read_all = Consumer::new(ReadAll, settings(Ordering::Ordered), Arc::new(NoSink));
        g.bench_function("msk-dlq decode+process+response", |b| {
            b.iter(|| invoke(&rt, &no_op, &body))
        });
        g.bench_function("msk-dlq, handler reads every key and value", |b| {
            b.iter(|| invoke(&rt, &read_all, &body))
        });
        g.bench_function("floor: borrowed parse + SIMD base64", |b| {
            let mut buf = vec![0u8; 4096];
            b.iter(|| {
                let e: RoofEvent<'_> = serde_json::from_str(&ev).unwrap();
                let mut n = 0usize;
                for list in e.records.values() {
                    for r in list {
                        for text in [r.key, r.value].into_iter().flatten() {
                            let out = base64_simd::Out::from_slice(&mut buf[..]);
                            n += base64_simd::STANDARD
                                .decode(text.as_bytes(), out)
                                .unwrap()
                                .len();
                        }
                    }
                }
                n
            })
        });
        g.bench_function("aws_lambda_events KafkaEvent + base64", |b| {
            b.iter(|| {
                let e: aws_lambda_events::event::kafka::KafkaEvent =
                    serde_json::from_str(&ev).unwrap();
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
            })
        });
        g.finish();
    }
}

/// The allocator as a Lambda function built on `msk_dlq::serve` has it,
/// for every benchmark of the run (the references too).
fn allocator(_: &mut Criterion) {
    msk_dlq::lambda::keep_freed_memory();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = allocator, decode, process, roofline
}
criterion_main!(benches);
