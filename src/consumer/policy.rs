//! What happens to a record, decided without I/O: given the facts of one
//! record now (attempts made, the last result, the clock and the cutoff,
//! the record's age, what the breaker said, a jitter draw, whether its dead
//! letter was confirmed) [`next_step`] returns the next step. The executor
//! only carries steps out (calls, timeouts, sleeps, dispatch) and reports
//! the facts back, so every rule here is tested without a runtime.

use std::time::Duration;

use tokio::time::Instant;

use super::handler::ErrorClass;
use super::report::{FailReason, Outcome};
use super::retry::RetryPolicy;
use super::settings::{ConsumerSettings, ExhaustionPolicy, PartitionOrder};
use crate::letter::DlqKind;

/// The rules of [`next_step`], from [`ConsumerSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordPolicy {
    /// Attempts and backoff.
    pub retry: RetryPolicy,
    /// What transient failures lead to once the attempts are used up.
    pub on_exhausted: ExhaustionPolicy,
    /// Records older than this are dead-lettered `too-old`.
    pub max_record_age: Option<Duration>,
}

impl RecordPolicy {
    /// The policy part of `settings`.
    pub fn from_settings(settings: &ConsumerSettings) -> Self {
        Self {
            retry: settings.retry,
            on_exhausted: settings.on_exhausted,
            max_record_age: settings.max_record_age,
        }
    }

    fn too_old(&self, age: Option<Duration>) -> bool {
        matches!((self.max_record_age, age), (Some(max), Some(age)) if age > max)
    }
}

/// How a handler call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptResult {
    /// The handler returned `Ok`.
    Succeeded,
    /// The handler returned an error of this class.
    Failed(ErrorClass),
    /// The handler panicked (treated as permanent).
    Panicked,
    /// The call outlived its attempt time (treated as transient).
    TimedOut,
    /// The call was cut by the invocation's cutoff: nothing is known about
    /// the record, so it is re-delivered, never dead-lettered.
    DeadlineCut,
}

/// What the breaker said about this record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerView {
    /// No objection.
    Closed,
    /// It refused a call.
    Refused,
    /// The last failure left it open.
    Open,
}

/// Where the record is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a call: the first one, or the next after a backoff.
    Ready,
    /// A call just ended so.
    Attempted(AttemptResult),
    /// Its dead letter of this kind was written, confirmed or not.
    DeadLettered {
        /// The kind written.
        kind: DlqKind,
        /// Whether the sink confirmed it.
        confirmed: bool,
    },
}

/// The facts of one record now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordFacts {
    /// Handler calls made for it in this invocation.
    pub attempts: u32,
    /// Where it is.
    pub phase: Phase,
    /// Now.
    pub now: Instant,
    /// No call starts at or after this instant.
    pub cutoff: Instant,
    /// How old it is; `None` when its timestamp is unknown.
    pub age: Option<Duration>,
    /// What the breaker said.
    pub breaker: BreakerView,
    /// A draw from `[0, 1)` for the backoff jitter.
    pub jitter: f64,
}

/// Why a record is to be dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The handler's last error.
    LastError,
    /// Its age, before any call.
    TooOld,
}

/// The next thing to do with a record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Call the handler.
    Call,
    /// Wait this long, then ask again in [`Phase::Ready`].
    RetryAfter(Duration),
    /// Write a dead letter of this kind, then ask again in
    /// [`Phase::DeadLettered`].
    DeadLetter {
        /// The kind.
        kind: DlqKind,
        /// What the letter's error says.
        cause: Cause,
    },
    /// The record ends so.
    Settle(Outcome),
}

/// The next step for a record with these facts.
pub fn next_step(policy: &RecordPolicy, f: &RecordFacts) -> Step {
    match f.phase {
        Phase::Ready => {
            if f.attempts == 0 && policy.too_old(f.age) {
                Step::DeadLetter {
                    kind: DlqKind::TooOld,
                    cause: Cause::TooOld,
                }
            } else if f.now >= f.cutoff {
                Step::Settle(Outcome::Failed(FailReason::DeadlineNear))
            } else if f.breaker != BreakerView::Closed {
                Step::Settle(Outcome::Failed(FailReason::BreakerOpen))
            } else {
                Step::Call
            }
        }
        Phase::Attempted(AttemptResult::Succeeded) => Step::Settle(Outcome::Processed),
        Phase::Attempted(
            AttemptResult::Failed(ErrorClass::Permanent) | AttemptResult::Panicked,
        ) => Step::DeadLetter {
            kind: DlqKind::Permanent,
            cause: Cause::LastError,
        },
        Phase::Attempted(AttemptResult::Failed(ErrorClass::DeadLetter)) => Step::DeadLetter {
            kind: DlqKind::Manual,
            cause: Cause::LastError,
        },
        Phase::Attempted(
            AttemptResult::Failed(ErrorClass::Transient) | AttemptResult::TimedOut,
        ) => after_transient(policy, f),
        Phase::Attempted(AttemptResult::DeadlineCut) => {
            Step::Settle(Outcome::Failed(FailReason::DeadlineNear))
        }
        Phase::DeadLettered {
            kind,
            confirmed: true,
        } => Step::Settle(Outcome::DeadLettered(kind)),
        Phase::DeadLettered {
            confirmed: false, ..
        } => Step::Settle(Outcome::Failed(FailReason::DlqWriteFailed)),
    }
}

fn after_transient(policy: &RecordPolicy, f: &RecordFacts) -> Step {
    if f.breaker == BreakerView::Open {
        // A dependency is down: re-delivery, not a DLQ flood.
        return Step::Settle(Outcome::Failed(FailReason::BreakerOpen));
    }
    if f.attempts >= policy.retry.max_attempts {
        return match policy.on_exhausted {
            ExhaustionPolicy::DeadLetter => Step::DeadLetter {
                kind: DlqKind::RetriesExhausted,
                cause: Cause::LastError,
            },
            ExhaustionPolicy::Redeliver if policy.too_old(f.age) => Step::DeadLetter {
                kind: DlqKind::TooOld,
                cause: Cause::LastError,
            },
            ExhaustionPolicy::Redeliver => Step::Settle(Outcome::Failed(FailReason::Redeliver)),
        };
    }
    let delay = policy.retry.backoff(f.attempts, f.jitter);
    // The retry must at least be able to start before the cutoff.
    match f.now.checked_add(delay) {
        Some(start) if start < f.cutoff => Step::RetryAfter(delay),
        _ => Step::Settle(Outcome::Failed(FailReason::DeadlineNear)),
    }
}

/// The partition rule of [`PartitionOrder::Ordered`]: once a record of a
/// partition is reported failed, the later ones are not handled and are
/// reported failed too, so Lambda re-delivers them in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionGate {
    order: PartitionOrder,
    blocked: bool,
}

impl PartitionGate {
    /// A gate for a partition handled in `order`.
    pub fn new(order: PartitionOrder) -> Self {
        Self {
            order,
            blocked: false,
        }
    }

    /// `None`: handle the next record. `Some(outcome)`: it ends so, unhandled.
    pub fn admit(&self) -> Option<Outcome> {
        self.blocked
            .then_some(Outcome::Failed(FailReason::EarlierRecordFailed))
    }

    /// Tells the gate how a record of the partition ended.
    pub fn settled(&mut self, outcome: Outcome) {
        if self.order == PartitionOrder::Ordered && outcome.is_failed() {
            self.blocked = true;
        }
    }
}
