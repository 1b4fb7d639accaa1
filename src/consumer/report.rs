//! How each record of an invocation ended, and the batch's account.

use std::time::Duration;

use crate::letter::DlqKind;
use crate::record::RecordId;

/// Why a record was reported to Lambda as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FailReason {
    /// Transient failure and the exhaustion policy is `redeliver`.
    Redeliver,
    /// An earlier record of the same partition failed (ordered mode).
    EarlierRecordFailed,
    /// Too close to the invocation deadline to (re)try.
    DeadlineNear,
    /// The circuit breaker is open.
    BreakerOpen,
    /// The record was due for the DLQ but the sink did not confirm it.
    DlqWriteFailed,
    /// The record was due for the DLQ, but the flood guard held it back.
    FloodGuard,
}

impl FailReason {
    /// The log and metric name, e.g. `dlq-write-failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Redeliver => "redeliver",
            FailReason::EarlierRecordFailed => "earlier-record-failed",
            FailReason::DeadlineNear => "deadline-near",
            FailReason::BreakerOpen => "breaker-open",
            FailReason::DlqWriteFailed => "dlq-write-failed",
            FailReason::FloodGuard => "flood-guard",
        }
    }
}

/// Every record ends in exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The handler succeeded.
    Processed,
    /// The sink confirmed its dead letter.
    DeadLettered(DlqKind),
    /// Reported to Lambda in `batchItemFailures`, so it is re-delivered.
    Failed(FailReason),
}

impl Outcome {
    /// Whether Lambda is told about it.
    pub fn is_failed(self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

/// Records by outcome (see [`BatchReport::tally`]).
pub(crate) struct Tally(Vec<(Outcome, usize)>);

impl Tally {
    /// Records whose outcome matches `pred`.
    pub(crate) fn count(&self, pred: impl Fn(Outcome) -> bool) -> usize {
        self.0
            .iter()
            .filter(|(o, _)| pred(*o))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The outcome of one record, with what metrics and logs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordReport {
    /// How Lambda names it.
    pub id: RecordId,
    /// Its topic, when known.
    pub topic: Option<std::sync::Arc<str>>,
    /// How it ended.
    pub outcome: Outcome,
    /// Handler calls made for this record in this invocation.
    pub attempts: u32,
    /// The last error's type, for dead-lettered records.
    pub error_type: Option<String>,
}

/// The account of one invocation.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    /// Every record, in event order.
    pub records: Vec<RecordReport>,
    /// Dead-letter writes attempted.
    pub dlq_writes: u32,
    /// Dead-letter writes not confirmed.
    pub dlq_write_failures: u32,
    /// How long each sink call took.
    pub dlq_latencies: Vec<Duration>,
    /// Whether the breaker opened during the invocation.
    pub breaker_opened: bool,
}

impl BatchReport {
    /// Records whose outcome matches `pred`.
    pub fn count(&self, pred: impl Fn(Outcome) -> bool) -> usize {
        self.records.iter().filter(|r| pred(r.outcome)).count()
    }

    /// How many records ended in each outcome, in one pass (a summary asks
    /// for a dozen counts).
    pub(crate) fn tally(&self) -> Tally {
        let mut counts: Vec<(Outcome, usize)> = Vec::new();
        for r in &self.records {
            match counts.iter_mut().find(|(o, _)| *o == r.outcome) {
                Some((_, n)) => *n += 1,
                None => counts.push((r.outcome, 1)),
            }
        }
        Tally(counts)
    }

    /// Handler calls beyond the first, over all records.
    pub fn retries(&self) -> u32 {
        self.records
            .iter()
            .map(|r| r.attempts.saturating_sub(1))
            .sum()
    }

    /// Failed records without an offset cannot be named to Lambda; the
    /// invocation must fail as a whole for them.
    pub fn unidentifiable_failures(&self) -> usize {
        self.records
            .iter()
            .filter(|r| r.outcome.is_failed() && r.id.offset.is_none())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::letter::DlqKind;
    use crate::record::RecordId;

    #[test]
    fn a_tally_counts_as_a_pass_per_outcome_does() {
        let outcomes = [
            Outcome::Processed,
            Outcome::DeadLettered(DlqKind::Malformed),
            Outcome::Failed(FailReason::FloodGuard),
            Outcome::DeadLettered(DlqKind::TooOld),
        ];
        let report = BatchReport {
            records: (0..30)
                .map(|i| RecordReport {
                    id: RecordId {
                        partition_key: Arc::from("t-0"),
                        offset: Some(i),
                    },
                    topic: None,
                    outcome: outcomes[(i * i % 5) as usize % outcomes.len()],
                    attempts: 1,
                    error_type: None,
                })
                .collect(),
            ..BatchReport::default()
        };
        let tally = report.tally();
        for o in outcomes
            .into_iter()
            .chain([Outcome::Failed(FailReason::Redeliver)])
        {
            assert_eq!(tally.count(|x| x == o), report.count(|x| x == o), "{o:?}");
        }
        assert_eq!(tally.count(|_| true), 30);
    }
}
