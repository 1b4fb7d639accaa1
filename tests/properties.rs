//! Property: for any batch and any handler behaviour, every record ends in
//! exactly one outcome, the response lists exactly the failed records, and
//! in ordered mode nothing after a failed record of a partition was handled.
//!
//! It runs the pure record policy, synchronously and without a runtime: the
//! driver below plays the executor's part with a scripted handler and sink.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{event_json, Step};
use msk_dlq::consumer::policy::{
    next_step, AttemptResult, BreakerView, PartitionGate, Phase, RecordFacts, RecordPolicy,
    Step as Next,
};
use msk_dlq::consumer::{BatchReport, ErrorClass, FailReason, RecordReport, RetryPolicy};
use msk_dlq::event::{Batch, Entry};
use msk_dlq::{decode_event, BatchResponse, ConsumerSettings, Outcome, PartitionOrder};
use proptest::prelude::*;
use tokio::time::Instant;

type Script = HashMap<(String, i64), Vec<Step>>;

struct Run {
    report: BatchReport,
    calls: Vec<(String, i64, u32)>,
    confirmed: HashSet<(i32, i64)>,
}

/// The executor's loop without I/O: scripted calls, time that only moves by
/// backoffs, dead letters confirmed unless `sink_fails` names them.
fn simulate(
    batch: &Batch,
    s: &ConsumerSettings,
    script: &Script,
    sink_fails: &HashSet<(i32, i64)>,
) -> Run {
    let policy = RecordPolicy::from_settings(s);
    let mut now = Instant::now();
    let cutoff = now + Duration::from_secs(60);
    let mut run = Run {
        report: BatchReport::default(),
        calls: Vec::new(),
        confirmed: HashSet::new(),
    };
    let mut pending = Vec::new();
    for partition in &batch.partitions {
        let mut gate = PartitionGate::new(s.order);
        for entry in &partition.entries {
            let Entry::Record(record) = &entry.entry else {
                unreachable!("the generator writes valid records")
            };
            let tp = format!("{}-{}", record.topic(), record.partition());
            let mut facts = RecordFacts {
                attempts: 0,
                phase: Phase::Ready,
                now,
                cutoff,
                age: None,
                breaker: BreakerView::Closed,
                jitter: 0.5,
            };
            let outcome = match gate.admit() {
                Some(outcome) => outcome,
                None => loop {
                    facts.now = now;
                    match next_step(&policy, &facts) {
                        Next::Call => {
                            facts.attempts += 1;
                            run.calls
                                .push((tp.clone(), record.offset(), facts.attempts));
                            let steps = script.get(&(tp.clone(), record.offset()));
                            let step = steps.map_or(Step::Ok, |st| {
                                st[(facts.attempts as usize - 1).min(st.len() - 1)]
                            });
                            facts.phase = Phase::Attempted(match step {
                                Step::Ok | Step::Slow(_) => AttemptResult::Succeeded,
                                Step::Transient => AttemptResult::Failed(ErrorClass::Transient),
                                Step::Permanent => AttemptResult::Failed(ErrorClass::Permanent),
                                Step::Manual => AttemptResult::Failed(ErrorClass::DeadLetter),
                                Step::Panic => AttemptResult::Panicked,
                            });
                        }
                        Next::RetryAfter(d) => {
                            now += d;
                            facts.phase = Phase::Ready;
                        }
                        Next::DeadLetter { kind, .. } if s.order == PartitionOrder::Ordered => {
                            let key = (record.partition(), record.offset());
                            let confirmed = !sink_fails.contains(&key);
                            if confirmed {
                                run.confirmed.insert(key);
                            }
                            facts.phase = Phase::DeadLettered { kind, confirmed };
                        }
                        Next::DeadLetter { kind, .. } => {
                            pending.push((
                                run.report.records.len(),
                                kind,
                                (record.partition(), record.offset()),
                            ));
                            break Outcome::Failed(FailReason::DlqWriteFailed);
                        }
                        Next::Settle(outcome) => break outcome,
                    }
                },
            };
            if s.order == PartitionOrder::Ordered {
                gate.settled(outcome);
            }
            run.report.records.push(RecordReport {
                id: entry.id.clone(),
                topic: Some(record.shared_topic().clone()),
                outcome,
                attempts: 0,
                error_type: None,
            });
        }
    }
    // Independent mode: the batch of dead letters goes out at the end.
    for (index, kind, key) in pending {
        let confirmed = !sink_fails.contains(&key);
        if confirmed {
            run.confirmed.insert(key);
        }
        let facts = RecordFacts {
            attempts: 0,
            phase: Phase::DeadLettered { kind, confirmed },
            now,
            cutoff,
            age: None,
            breaker: BreakerView::Closed,
            jitter: 0.5,
        };
        let Next::Settle(outcome) = next_step(&policy, &facts) else {
            unreachable!("a written letter settles")
        };
        run.report.records[index].outcome = outcome;
    }
    run
}

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
        let mut script = Script::new();
        let mut fail_offsets = HashSet::new();
        for (i, &(_, p, o)) in records.iter().enumerate() {
            script.insert((format!("topic-x-{p}"), o), c.steps[i].clone());
            if c.sink_fails[i] {
                fail_offsets.insert((p, o));
            }
        }
        let mut settings = ConsumerSettings::default();
        settings.order = if c.ordered { PartitionOrder::Ordered } else { PartitionOrder::Independent };
        settings.retry = RetryPolicy::new(3, Duration::ZERO, Duration::ZERO);
        let ev = event_json(&records);
        let batch = decode_event(&ev).unwrap();
        let Run { report, calls, confirmed } = simulate(&batch, &settings, &script, &fail_offsets);

        // Exactly one outcome per record, and no record twice.
        prop_assert_eq!(report.records.len(), records.len());
        let ids: HashSet<_> = report.records.iter().map(|r| r.id.clone()).collect();
        prop_assert_eq!(ids.len(), records.len());

        // Dead-lettered exactly when the sink confirmed it.
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
