//! The pure record policy, every combination of error class x attempts x
//! deadline x exhaustion policy x age x breaker state, without a runtime.
//! The expected step comes from the decision table in `expect_*` below,
//! written from the README's rules, row by row.

use std::time::Duration;

use msk_dlq::consumer::policy::{
    next_step, AttemptResult, BreakerView, Cause, PartitionGate, Phase, RecordFacts, RecordPolicy,
    Step,
};
use msk_dlq::consumer::{ErrorClass, ExhaustionPolicy, FailReason, RetryPolicy};
use msk_dlq::{ConsumerSettings, DlqKind, Outcome, PartitionOrder};
use tokio::time::Instant;

const MAX_ATTEMPTS: u32 = 3;
const MAX_AGE: Duration = Duration::from_secs(3600);
const BACKOFF: Duration = Duration::from_millis(400);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Deadline {
    /// The next backoff still starts before the cutoff.
    Roomy,
    /// The next backoff would start at or after the cutoff.
    Tight,
    /// The cutoff has passed.
    Passed,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Age {
    Unknown,
    Young,
    Old,
}

fn policy(on_exhausted: ExhaustionPolicy) -> RecordPolicy {
    let mut s = ConsumerSettings::default();
    // Base = max: the jittered delay is within [BACKOFF/2, BACKOFF].
    s.retry = RetryPolicy::new(MAX_ATTEMPTS, BACKOFF, BACKOFF);
    s.on_exhausted = on_exhausted;
    s.max_record_age = Some(MAX_AGE);
    RecordPolicy::from_settings(&s)
}

fn facts(
    attempts: u32,
    phase: Phase,
    deadline: Deadline,
    age: Age,
    breaker: BreakerView,
) -> RecordFacts {
    let now = Instant::now();
    let cutoff = match deadline {
        Deadline::Roomy => now + Duration::from_secs(10),
        Deadline::Tight => now + BACKOFF / 4,
        Deadline::Passed => now,
    };
    RecordFacts {
        attempts,
        phase,
        now,
        cutoff,
        age: match age {
            Age::Unknown => None,
            Age::Young => Some(Duration::from_secs(10)),
            Age::Old => Some(MAX_AGE + Duration::from_secs(1)),
        },
        breaker,
        jitter: 0.5,
    }
}

const CLASSES: [AttemptResult; 7] = [
    AttemptResult::DeadlineCut,
    AttemptResult::Succeeded,
    AttemptResult::Failed(ErrorClass::Transient),
    AttemptResult::Failed(ErrorClass::Permanent),
    AttemptResult::Failed(ErrorClass::DeadLetter),
    AttemptResult::Panicked,
    AttemptResult::TimedOut,
];
const DEADLINES: [Deadline; 3] = [Deadline::Roomy, Deadline::Tight, Deadline::Passed];
const AGES: [Age; 3] = [Age::Unknown, Age::Young, Age::Old];
const BREAKERS: [BreakerView; 3] = [BreakerView::Closed, BreakerView::Refused, BreakerView::Open];
const EXHAUSTION: [ExhaustionPolicy; 2] =
    [ExhaustionPolicy::DeadLetter, ExhaustionPolicy::Redeliver];

fn failed(r: FailReason) -> Step {
    Step::Settle(Outcome::Failed(r))
}

fn dead(kind: DlqKind, cause: Cause) -> Step {
    Step::DeadLetter { kind, cause }
}

/// After a call ended with `result`.
fn expect_after_call(
    result: AttemptResult,
    attempts: u32,
    deadline: Deadline,
    on_exhausted: ExhaustionPolicy,
    age: Age,
    breaker: BreakerView,
) -> Option<Step> {
    Some(match result {
        AttemptResult::Succeeded => Step::Settle(Outcome::Processed),
        AttemptResult::Failed(ErrorClass::Permanent) | AttemptResult::Panicked => {
            dead(DlqKind::Permanent, Cause::LastError)
        }
        AttemptResult::Failed(ErrorClass::DeadLetter) => dead(DlqKind::Manual, Cause::LastError),
        // Cut by the invocation's cutoff: re-delivered, whatever else holds.
        AttemptResult::DeadlineCut => failed(FailReason::DeadlineNear),
        // Transient and timed out: the breaker first, then the attempts,
        // then the deadline.
        _ if breaker == BreakerView::Open => failed(FailReason::BreakerOpen),
        _ if attempts >= MAX_ATTEMPTS => match (on_exhausted, age) {
            (ExhaustionPolicy::DeadLetter, _) => dead(DlqKind::RetriesExhausted, Cause::LastError),
            (ExhaustionPolicy::Redeliver, Age::Old) => dead(DlqKind::TooOld, Cause::LastError),
            (ExhaustionPolicy::Redeliver, _) => failed(FailReason::Redeliver),
            _ => return None,
        },
        _ if deadline != Deadline::Roomy => failed(FailReason::DeadlineNear),
        // A retry: the delay is checked separately (jittered).
        _ => return None,
    })
}

/// Before a call (first, or after a backoff).
fn expect_ready(attempts: u32, deadline: Deadline, age: Age, breaker: BreakerView) -> Step {
    if attempts == 0 && age == Age::Old {
        dead(DlqKind::TooOld, Cause::TooOld)
    } else if deadline == Deadline::Passed {
        failed(FailReason::DeadlineNear)
    } else if breaker != BreakerView::Closed {
        failed(FailReason::BreakerOpen)
    } else {
        Step::Call
    }
}

#[test]
fn every_combination_after_a_call_follows_the_table() {
    let mut cases = 0;
    for result in CLASSES {
        for attempts in 1..=MAX_ATTEMPTS {
            for deadline in DEADLINES {
                for on_exhausted in EXHAUSTION {
                    for age in AGES {
                        for breaker in BREAKERS {
                            let f =
                                facts(attempts, Phase::Attempted(result), deadline, age, breaker);
                            let got = next_step(&policy(on_exhausted), &f);
                            let want = expect_after_call(
                                result,
                                attempts,
                                deadline,
                                on_exhausted,
                                age,
                                breaker,
                            );
                            match want {
                                Some(step) => assert_eq!(got, step, "{result:?} attempt {attempts} {deadline:?} {on_exhausted:?} {age:?} {breaker:?}"),
                                None => match got {
                                    Step::RetryAfter(d) => assert!(d >= BACKOFF / 2 && d <= BACKOFF, "{d:?}"),
                                    other => panic!("expected a retry for {result:?} attempt {attempts} {deadline:?} {age:?} {breaker:?}, got {other:?}"),
                                },
                            }
                            cases += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cases, 7 * 3 * 3 * 2 * 3 * 3);
}

#[test]
fn every_combination_before_a_call_follows_the_table() {
    for attempts in 0..=MAX_ATTEMPTS {
        for deadline in DEADLINES {
            for on_exhausted in EXHAUSTION {
                for age in AGES {
                    for breaker in BREAKERS {
                        let f = facts(attempts, Phase::Ready, deadline, age, breaker);
                        assert_eq!(
                            next_step(&policy(on_exhausted), &f),
                            expect_ready(attempts, deadline, age, breaker),
                            "attempts {attempts} {deadline:?} {age:?} {breaker:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_written_letter_settles_as_confirmed_or_failed() {
    for kind in DlqKind::ALL {
        for confirmed in [true, false] {
            let f = facts(
                1,
                Phase::DeadLettered { kind, confirmed },
                Deadline::Passed,
                Age::Old,
                BreakerView::Open,
            );
            let want = if confirmed {
                Outcome::DeadLettered(kind)
            } else {
                Outcome::Failed(FailReason::DlqWriteFailed)
            };
            assert_eq!(
                next_step(&policy(ExhaustionPolicy::DeadLetter), &f),
                Step::Settle(want)
            );
        }
    }
}

#[test]
fn without_a_max_age_nothing_is_too_old() {
    let mut s = ConsumerSettings::default();
    s.max_record_age = None;
    let p = RecordPolicy::from_settings(&s);
    let f = facts(
        0,
        Phase::Ready,
        Deadline::Roomy,
        Age::Old,
        BreakerView::Closed,
    );
    assert_eq!(next_step(&p, &f), Step::Call);
}

#[test]
fn the_backoff_grows_with_the_attempts_and_draws_from_the_jitter() {
    let mut s = ConsumerSettings::default();
    s.retry = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_secs(60));
    let p = RecordPolicy::from_settings(&s);
    let transient = Phase::Attempted(AttemptResult::Failed(ErrorClass::Transient));
    let mut f = facts(
        1,
        transient,
        Deadline::Roomy,
        Age::Young,
        BreakerView::Closed,
    );
    f.jitter = 1.0;
    assert_eq!(
        next_step(&p, &f),
        Step::RetryAfter(Duration::from_millis(100))
    );
    f.attempts = 4;
    assert_eq!(
        next_step(&p, &f),
        Step::RetryAfter(Duration::from_millis(800))
    );
    f.jitter = 0.0;
    assert_eq!(
        next_step(&p, &f),
        Step::RetryAfter(Duration::from_millis(400))
    );
}

#[test]
fn ordered_partitions_stop_at_the_first_failure_independent_ones_never() {
    let mut gate = PartitionGate::new(PartitionOrder::Ordered);
    assert_eq!(gate.admit(), None);
    gate.settled(Outcome::Processed);
    gate.settled(Outcome::DeadLettered(DlqKind::Permanent));
    assert_eq!(gate.admit(), None);
    gate.settled(Outcome::Failed(FailReason::DeadlineNear));
    assert_eq!(
        gate.admit(),
        Some(Outcome::Failed(FailReason::EarlierRecordFailed))
    );

    let mut gate = PartitionGate::new(PartitionOrder::Independent);
    gate.settled(Outcome::Failed(FailReason::DeadlineNear));
    assert_eq!(gate.admit(), None);
}
