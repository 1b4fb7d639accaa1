//! Throughput of the pure core on Lambda-sized batches: decoding, the whole
//! processing path with a no-op handler and with one that reads every key
//! and value, and the response. Run: `make bench`.

mod common;

use std::time::Duration;

use common::{consumer, invoke, process as run, Accept, ReadAll};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use msk_dlq::testing::synthetic_event;
use msk_dlq::{
    decode_event, decode_event_body, BatchResponse, HandlerError, KafkaRecord,
    PartitionOrder as Ordering, RecordContext, RecordHandler,
};

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
        let p = consumer(Accept, ordering);
        g.bench_function(format!("10k-ok-{name}"), |b| {
            b.iter(|| run(&rt, &p, &batch))
        });
    }
    let p = consumer(TenPercentBad, Ordering::Independent);
    g.bench_function("10k-10pct-failed-with-response", |b| {
        b.iter(|| {
            let r = run(&rt, &p, &batch);
            serde_json::to_string(&BatchResponse::from_report(&r)).unwrap()
        })
    });
    g.finish();
}

/// The whole in-process path next to two references on the same 10,000-
/// record event: the fastest pass these crates allow ([`common::floor`])
/// and what a naive Rust consumer writes ([`common::aws_lambda_events`]).
/// `benches/roofline.rs` runs the same cases interleaved.
fn roofline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for records in [1_000usize, 10_000] {
        let ev = synthetic_event("orders", records, 8, 300);
        let mut g = c.benchmark_group(format!("roofline-{records}"));
        g.throughput(Throughput::Elements(records as u64));
        let body = bytes::Bytes::from(ev.clone());
        let no_op = consumer(Accept, Ordering::Ordered);
        let read_all = consumer(ReadAll, Ordering::Ordered);
        g.bench_function("msk-dlq decode+process+response", |b| {
            b.iter(|| invoke(&rt, &no_op, &body))
        });
        g.bench_function("msk-dlq, handler reads every key and value", |b| {
            b.iter(|| invoke(&rt, &read_all, &body))
        });
        g.bench_function("floor: borrowed parse + SIMD base64", |b| {
            let mut buf = vec![0u8; 4096];
            b.iter(|| common::floor(&ev, &mut buf))
        });
        g.bench_function("aws_lambda_events KafkaEvent + base64", |b| {
            b.iter(|| common::aws_lambda_events(&ev))
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
