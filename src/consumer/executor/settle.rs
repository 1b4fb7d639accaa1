//! What a record due for the DLQ becomes: its dead letter, and the outcome
//! once the sink answered.

use std::sync::Arc;

use tokio::time::Instant;

use super::Executor;
use crate::clock::InvocationClock;
use crate::consumer::handler::{HandlerError, RecordHandler};
use crate::consumer::policy::{next_step, BreakerView, Phase, RecordFacts, Step};
use crate::consumer::report::{FailReason, Outcome};
use crate::event::{BatchEntry, BatchSource, Entry};
use crate::letter::{DeadLetter, DeadRecord, DlqKind};
use crate::record::RecordId;
use crate::sink::SinkError;

impl<H: RecordHandler> Executor<H> {
    pub(super) fn settle_letter(&self, kind: DlqKind, confirmed: bool) -> Outcome {
        let facts = RecordFacts {
            attempts: 0,
            phase: Phase::DeadLettered { kind, confirmed },
            now: Instant::now(),
            cutoff: Instant::now(),
            age: None,
            breaker: BreakerView::Closed,
            jitter: 0.0,
        };
        match next_step(&self.policy, &facts) {
            Step::Settle(outcome) => outcome,
            // The policy settles every written letter; anything else would
            // be a bug, and failing the record keeps it safe.
            _ => Outcome::Failed(FailReason::DlqWriteFailed),
        }
    }

    pub(super) fn letter(
        &self,
        source: &Arc<BatchSource>,
        entry: &BatchEntry,
        kind: DlqKind,
        error: HandlerError,
        attempts: u32,
        clock: &InvocationClock,
    ) -> DeadLetter {
        let record = match &entry.entry {
            Entry::Record(r) => DeadRecord::Decoded(r.clone()),
            Entry::Malformed(m) => DeadRecord::Malformed(m.clone()),
        };
        DeadLetter::new(
            source.clone(),
            record,
            kind,
            error.error_type,
            error.message,
        )
        .with_partition_key(entry.id.partition_key.clone())
        .with_attempts(attempts)
        .with_failed_at_ms(clock.now_ms())
        .with_consumer(self.settings.consumer_name.clone())
        .with_record_format(self.settings.record_format)
    }
}

pub(super) fn log_dlq_failure(id: &RecordId, e: &SinkError) {
    tracing::warn!(record = %id, error = %e, "dead-letter write not confirmed; record reported failed");
}
