//! Throughput of the pure core on Lambda-sized batches: decoding, the whole
//! processing path with a no-op handler, and the response. Run: `make bench`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use msk_dlq::breaker::CircuitBreaker;
use msk_dlq::handler::Attempt;
use msk_dlq::process::{Ordering, ProcessSettings, Processor};
use msk_dlq::sample::synthetic_event;
use msk_dlq::sink::NoSink;
use msk_dlq::{decode_event, BatchResponse, HandlerError, KafkaRecord, RecordHandler};

struct Accept;

impl RecordHandler for Accept {
    async fn handle(&self, _: &KafkaRecord, _: Attempt) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// Every 10th record fails permanently: exercises the failure path.
struct TenPercentBad;

impl RecordHandler for TenPercentBad {
    async fn handle(&self, r: &KafkaRecord, _: Attempt) -> Result<(), HandlerError> {
        if r.offset % 10 == 0 {
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
        g.bench_with_input(BenchmarkId::from_parameter(records), &ev, |b, ev| {
            b.iter(|| decode_event(ev).unwrap())
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
        let p = Processor::new(
            Arc::new(Accept),
            Arc::new(NoSink),
            ProcessSettings {
                ordering,
                ..ProcessSettings::default()
            },
            CircuitBreaker::new(0, Duration::from_secs(1)),
        );
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
    let p = Processor::new(
        Arc::new(TenPercentBad),
        Arc::new(NoSink),
        ProcessSettings {
            ordering: Ordering::Independent,
            ..ProcessSettings::default()
        },
        CircuitBreaker::new(0, Duration::from_secs(1)),
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = decode, process
}
criterion_main!(benches);
