//! The in-process targets, measured interleaved: each round times the
//! Lambda path (decode + process + response, no-op handler), the floor and
//! `aws_lambda_events` once each, in turns, so the three see the same
//! machine. Criterion (`benches/batch.rs`) runs them minutes apart, which on
//! a machine whose speed drifts moves their ratios more than the code does.
//! Run: `make bench` (ROUNDS=300 by default).

mod common;

use std::time::Instant;

use common::{invoke, Accept};
use msk_dlq::testing::synthetic_event;

/// One measured case: returns something to keep the optimiser honest.
type Case<'a> = Box<dyn FnMut() -> usize + 'a>;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // `cargo bench` passes its own arguments; a test run only checks this
    // builds and runs.
    let testing = std::env::args().any(|a| a == "--test" || a == "--list");
    msk_dlq::lambda::keep_freed_memory();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if testing { 2 } else { 300 });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let ev = synthetic_event("orders", 10_000, 8, 300);
    let body = bytes::Bytes::from(ev.clone());
    let consumer = common::consumer(Accept, msk_dlq::PartitionOrder::Ordered);
    let mut buf = vec![0u8; 4096];
    let mut cases: [(&str, Case<'_>); 3] = [
        (
            "msk-dlq decode+process+response",
            Box::new(|| invoke(&rt, &consumer, &body).len()),
        ),
        (
            "floor: borrowed parse + SIMD base64",
            Box::new(|| common::floor(&ev, &mut buf)),
        ),
        (
            "aws_lambda_events KafkaEvent + base64",
            Box::new(|| common::aws_lambda_events(&ev)),
        ),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); cases.len()];
    let warmup = rounds / 10;
    for round in 0..warmup + rounds {
        // A different case first each round: none always follows another.
        for k in 0..cases.len() {
            let i = (round + k) % cases.len();
            let start = Instant::now();
            std::hint::black_box((cases[i].1)());
            let took = start.elapsed();
            if round >= warmup {
                times[i].push(took.as_secs_f64() * 1e3);
            }
        }
    }
    // Per-round ratios: the Lambda path against each reference of the
    // same round.
    let ratio = |a: usize, b: usize| -> Vec<f64> {
        times[a].iter().zip(&times[b]).map(|(x, y)| x / y).collect()
    };
    let mut over_floor = ratio(0, 1);
    let mut naive_over = ratio(2, 0);
    println!("10,000 records x 300 B, {rounds} rounds interleaved (ms):");
    for (i, (name, _)) in cases.iter().enumerate() {
        let mut t = times[i].clone();
        let min = t.iter().copied().fold(f64::INFINITY, f64::min);
        println!("  {name:42} median {:7.3}  min {:7.3}", median(&mut t), min);
    }
    println!(
        "  msk-dlq / floor: {:.2}x   aws_lambda_events / msk-dlq: {:.2}x   (medians of the per-round ratios)",
        median(&mut over_floor),
        median(&mut naive_over)
    );
}
