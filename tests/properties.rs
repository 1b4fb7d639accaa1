//! Property: for any batch and any handler behaviour, every record ends in
//! exactly one outcome, the response lists exactly the failed records, and
//! in ordered mode nothing after a failed record of a partition was handled.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::{event_json, Scripted, Step, TestSink};
use msk_dlq::breaker::CircuitBreaker;
use msk_dlq::process::{Ordering, ProcessSettings, Processor};
use msk_dlq::retry::RetryPolicy;
use msk_dlq::{decode_event, BatchResponse, Outcome};
use proptest::prelude::*;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Ok),
        2 => Just(Step::Transient),
        1 => Just(Step::Permanent),
        1 => Just(Step::Manual),
        1 => Just(Step::Panic),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    // (partition, count of records)
    partitions: Vec<u8>,
    steps: Vec<Vec<Step>>,
    ordered: bool,
    sink_fails: Vec<bool>,
}

fn case() -> impl Strategy<Value = Case> {
    (prop::collection::vec(1u8..8, 1..5), any::<bool>()).prop_flat_map(|(partitions, ordered)| {
        let n: usize = partitions.iter().map(|&c| c as usize).sum();
        (
            Just(partitions),
            prop::collection::vec(prop::collection::vec(step(), 1..4), n),
            Just(ordered),
            prop::collection::vec(any::<bool>(), n),
        )
            .prop_map(|(partitions, steps, ordered, sink_fails)| Case {
                partitions,
                steps,
                ordered,
                sink_fails,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn every_record_ends_in_exactly_one_outcome(c in case()) {
        let mut records = Vec::new();
        for (p, &count) in c.partitions.iter().enumerate() {
            for o in 0..count as i64 {
                records.push(("topic-x", p as i32, 100 + o));
            }
        }
        let mut h = Scripted::default();
        let mut fail_offsets = HashSet::new();
        for (i, &(_, p, o)) in records.iter().enumerate() {
            h = h.with(&format!("topic-x-{p}"), o, &c.steps[i]);
            if c.sink_fails[i] {
                fail_offsets.insert((p, o));
            }
        }
        let h = Arc::new(h);
        let sink = TestSink::failing_when(move |l| fail_offsets.contains(&(l.partition().unwrap(), l.offset().unwrap())));
        let settings = ProcessSettings {
            ordering: if c.ordered { Ordering::Ordered } else { Ordering::Independent },
            retry: RetryPolicy { max_attempts: 3, backoff_base: Duration::ZERO, backoff_max: Duration::ZERO },
            ..ProcessSettings::default()
        };
        let ev = event_json(&records);
        let batch = decode_event(&ev).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let report = rt.block_on(async {
            let p = Processor::new(h.clone(), sink.clone(), settings, CircuitBreaker::new(0, Duration::from_secs(1)));
            p.process(&batch, tokio::time::Instant::now() + Duration::from_secs(60), 0).await
        });

        // Exactly one outcome per record, and no record twice.
        prop_assert_eq!(report.records.len(), records.len());
        let ids: HashSet<_> = report.records.iter().map(|r| r.id.clone()).collect();
        prop_assert_eq!(ids.len(), records.len());

        // Dead-lettered exactly when the sink confirmed it.
        let confirmed: HashSet<(i32, i64)> = sink.received.lock().unwrap().iter()
            .map(|l| (l.partition().unwrap(), l.offset().unwrap())).collect();
        for r in &report.records {
            let p: i32 = r.id.partition_key.rsplit('-').next().unwrap().parse().unwrap();
            let key = (p, r.id.offset.unwrap());
            prop_assert_eq!(matches!(r.outcome, Outcome::DeadLettered(_)), confirmed.contains(&key));
            if r.outcome == Outcome::Processed {
                prop_assert!(!confirmed.contains(&key), "processed and dead-lettered");
            }
        }

        // The response names exactly the failed records.
        let resp = BatchResponse::from_report(&report);
        let listed: HashSet<(String, i64)> = resp.batch_item_failures.iter()
            .map(|f| (f.item_identifier.partition.clone(), f.item_identifier.offset)).collect();
        let failed: HashSet<(String, i64)> = report.records.iter().filter(|r| r.outcome.is_failed())
            .map(|r| (r.id.partition_key.to_string(), r.id.offset.unwrap())).collect();
        prop_assert_eq!(&listed, &failed);
        prop_assert_eq!(listed.len(), resp.batch_item_failures.len());

        // Ordered: nothing after a failed record of its partition was handled.
        if c.ordered {
            let calls = h.calls();
            let mut first_failed: HashMap<String, i64> = HashMap::new();
            for r in &report.records {
                if r.outcome.is_failed() {
                    let e = first_failed.entry(r.id.partition_key.to_string()).or_insert(i64::MAX);
                    *e = (*e).min(r.id.offset.unwrap());
                }
            }
            for (tp, offset, _) in calls {
                if let Some(&f) = first_failed.get(&tp) {
                    prop_assert!(offset <= f, "{tp}@{offset} handled after failed {f}");
                }
            }
            // And every record after the first failure is failed too.
            for r in &report.records {
                if let Some(&f) = first_failed.get(&*r.id.partition_key) {
                    if r.id.offset.unwrap() > f {
                        prop_assert!(r.outcome.is_failed());
                    }
                }
            }
        }
    }
}
