//! Carries out what [`super::policy`] decides: handler calls under
//! time-outs with panics caught, backoff sleeps, breaker bookkeeping and
//! dead-letter dispatch. Partitions run concurrently up to a bound; the
//! records of one partition strictly in order.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;

use super::breaker::CircuitBreaker;
use super::handler::{ErrorClass, HandlerError, RecordContext, RecordHandler};
use super::policy::{
    next_step, AttemptResult, BreakerView, Cause, PartitionGate, Phase, RecordFacts, RecordPolicy,
    Step,
};
use super::report::{BatchReport, FailReason, Outcome, RecordReport};
use super::settings::{ConsumerSettings, PartitionOrder};
use crate::clock::InvocationClock;
use crate::event::{Batch, BatchEntry, BatchSource, Entry, PartitionBatch};
use crate::letter::{DeadLetter, DeadRecord, DlqKind};
use crate::record::{KafkaRecord, RecordId};
use crate::sink::{send_by_deadline, DeadLetterSink, SinkError};

/// What one invocation runs under.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub(crate) deadline: Instant,
    pub(crate) now_ms: i64,
    pub(crate) request_id: Arc<str>,
}

pub(crate) struct Executor<H> {
    handler: Arc<H>,
    sink: Arc<dyn DeadLetterSink>,
    settings: ConsumerSettings,
    policy: RecordPolicy,
    // Shared by all invocations of a warm execution environment.
    breaker: Mutex<CircuitBreaker>,
}

/// A record that is due for the dead-letter queue.
struct Pending {
    index: usize,
    letter: DeadLetter,
}

#[derive(Default)]
struct PartitionRun {
    reports: Vec<RecordReport>,
    pending: Vec<Pending>,
    dlq_writes: u32,
    dlq_write_failures: u32,
    dlq_latencies: Vec<Duration>,
}

/// How handling a record ended, before any dead-letter write.
enum RecordEnd {
    Settled(Outcome),
    DeadLetter { kind: DlqKind, error: HandlerError },
}

impl<H: RecordHandler> Executor<H> {
    pub(crate) fn new(
        handler: Arc<H>,
        sink: Arc<dyn DeadLetterSink>,
        settings: ConsumerSettings,
    ) -> Self {
        let breaker = CircuitBreaker::new(settings.breaker.threshold, settings.breaker.cooldown);
        Self {
            handler,
            sink,
            policy: RecordPolicy::from_settings(&settings),
            settings,
            breaker: Mutex::new(breaker),
        }
    }

    pub(crate) fn settings(&self) -> &ConsumerSettings {
        &self.settings
    }

    pub(crate) fn sink_name(&self) -> &'static str {
        self.sink.name()
    }

    /// Processes `batch`: every record ends processed, dead-lettered (the
    /// sink confirmed it) or failed.
    pub(crate) async fn process(&self, batch: &Batch, inv: &Invocation) -> BatchReport {
        let clock = InvocationClock::new(inv.now_ms);
        let opened_before = self.breaker_opened_count();
        let concurrency = self.settings.partition_concurrency.max(1);
        // Built first: a closure over the partitions inside the stream makes
        // the future fail the `Send` bound the Lambda service needs.
        let partitions: Vec<_> = batch
            .partitions
            .iter()
            .map(|p| self.run_partition(&batch.source, p, inv, clock))
            .collect();
        let runs: Vec<PartitionRun> = futures::stream::iter(partitions)
            .buffered(concurrency)
            .collect()
            .await;

        let mut report = BatchReport::default();
        let mut pending_all: Vec<(usize, Pending)> = Vec::new();
        for run in runs {
            let base = report.records.len();
            report.records.extend(run.reports);
            report.dlq_writes += run.dlq_writes;
            report.dlq_write_failures += run.dlq_write_failures;
            report.dlq_latencies.extend(run.dlq_latencies);
            pending_all.extend(run.pending.into_iter().map(|p| (base, p)));
        }

        if !pending_all.is_empty() {
            let letters: Vec<DeadLetter> =
                pending_all.iter().map(|(_, p)| p.letter.clone()).collect();
            let started = Instant::now();
            let results =
                send_by_deadline(self.sink.as_ref(), &letters, self.dispatch_cutoff(inv)).await;
            report.dlq_latencies.push(started.elapsed());
            for ((base, p), result) in pending_all.into_iter().zip(results) {
                report.dlq_writes += 1;
                let rec = &mut report.records[base + p.index];
                if let Err(e) = &result {
                    report.dlq_write_failures += 1;
                    log_dlq_failure(&rec.id, e);
                }
                rec.outcome = self.settle_letter(p.letter.kind, result.is_ok());
            }
        }
        report.breaker_opened = self.breaker_opened_count() > opened_before;
        report
    }

    fn settle_letter(&self, kind: DlqKind, confirmed: bool) -> Outcome {
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

    fn breaker_opened_count(&self) -> u64 {
        self.with_breaker(|b| b.opened_count())
    }

    fn processing_cutoff(&self, inv: &Invocation) -> Instant {
        inv.deadline
            .checked_sub(self.settings.deadline_margin)
            .unwrap_or(inv.deadline)
    }

    fn dispatch_cutoff(&self, inv: &Invocation) -> Instant {
        inv.deadline
            .checked_sub(self.settings.deadline_margin / 3)
            .unwrap_or(inv.deadline)
    }

    async fn run_partition(
        &self,
        source: &Arc<BatchSource>,
        partition: &PartitionBatch,
        inv: &Invocation,
        clock: InvocationClock,
    ) -> PartitionRun {
        let mut run = PartitionRun {
            reports: Vec::with_capacity(partition.entries.len()),
            ..PartitionRun::default()
        };
        let immediate = self.settings.order == PartitionOrder::Ordered;
        let mut gate = PartitionGate::new(self.settings.order);
        for entry in &partition.entries {
            let index = run.reports.len();
            let mut report = RecordReport {
                id: entry.id.clone(),
                topic: entry.entry.topic().map(str::to_owned),
                outcome: Outcome::Failed(FailReason::EarlierRecordFailed),
                attempts: 0,
                error_type: None,
            };
            if let Some(outcome) = gate.admit() {
                report.outcome = outcome;
                run.reports.push(report);
                continue;
            }
            let end = match &entry.entry {
                Entry::Malformed(m) => RecordEnd::DeadLetter {
                    kind: DlqKind::Malformed,
                    error: HandlerError::permanent("MalformedRecord", m.reason.clone()),
                },
                Entry::Record(record) => {
                    self.run_record(source, record, inv, clock, &mut report.attempts)
                        .await
                }
            };
            report.outcome = match end {
                RecordEnd::Settled(outcome) => outcome,
                RecordEnd::DeadLetter { kind, error } => {
                    report.error_type = Some(error.error_type.clone());
                    let letter = self.letter(source, entry, kind, error, report.attempts, &clock);
                    if immediate {
                        // Written before the next record of the partition, so
                        // a failed write keeps the partition in order.
                        let started = Instant::now();
                        let result = send_by_deadline(
                            self.sink.as_ref(),
                            std::slice::from_ref(&letter),
                            self.dispatch_cutoff(inv),
                        )
                        .await
                        .into_iter()
                        .next()
                        .unwrap_or(Err(SinkError::unavailable(
                            self.sink.name(),
                            "the sink returned no result",
                        )));
                        run.dlq_latencies.push(started.elapsed());
                        run.dlq_writes += 1;
                        if let Err(e) = &result {
                            run.dlq_write_failures += 1;
                            log_dlq_failure(&entry.id, e);
                        }
                        self.settle_letter(kind, result.is_ok())
                    } else {
                        run.pending.push(Pending { index, letter });
                        // Settled after the batch dispatch.
                        Outcome::Failed(FailReason::DlqWriteFailed)
                    }
                }
            };
            if immediate {
                gate.settled(report.outcome);
            }
            run.reports.push(report);
        }
        run
    }

    /// Runs the policy for one record until it settles or is due for the DLQ.
    async fn run_record(
        &self,
        source: &Arc<BatchSource>,
        record: &KafkaRecord,
        inv: &Invocation,
        clock: InvocationClock,
        attempts: &mut u32,
    ) -> RecordEnd {
        let cutoff = self.processing_cutoff(inv);
        let age = record.timestamp().map(|ts| {
            Duration::from_millis(u64::try_from(clock.now_ms().saturating_sub(ts)).unwrap_or(0))
        });
        let mut facts = RecordFacts {
            attempts: 0,
            phase: Phase::Ready,
            now: Instant::now(),
            cutoff,
            age,
            breaker: BreakerView::Closed,
            jitter: 0.0,
        };
        let mut last_error: Option<HandlerError> = None;
        loop {
            facts.now = Instant::now();
            match next_step(&self.policy, &facts) {
                Step::Call => {
                    if !self.with_breaker(|b| b.try_acquire(facts.now)) {
                        facts.breaker = BreakerView::Refused;
                        continue;
                    }
                    facts.attempts += 1;
                    *attempts = facts.attempts;
                    let (result, error) = self.attempt(source, record, inv, &facts).await;
                    let now = Instant::now();
                    facts.breaker = self.with_breaker(|b| {
                        match result {
                            AttemptResult::Succeeded => b.on_success(),
                            AttemptResult::Failed(ErrorClass::Transient)
                            | AttemptResult::TimedOut => {
                                b.on_transient_failure(now);
                            }
                            _ => b.on_neutral(),
                        }
                        if b.is_open(now) {
                            BreakerView::Open
                        } else {
                            BreakerView::Closed
                        }
                    });
                    facts.jitter = fastrand::f64();
                    facts.phase = Phase::Attempted(result);
                    if error.is_some() {
                        last_error = error;
                    }
                }
                Step::RetryAfter(delay) => {
                    tokio::time::sleep(delay).await;
                    facts.phase = Phase::Ready;
                }
                Step::DeadLetter { kind, cause } => {
                    let error = match cause {
                        Cause::TooOld => HandlerError::permanent(
                            "RecordTooOld",
                            format!(
                                "record is older than the max record age of {}s",
                                self.settings.max_record_age.map_or(0, |d| d.as_secs())
                            ),
                        ),
                        Cause::LastError => last_error.take().unwrap_or_else(|| {
                            HandlerError::permanent("Unknown", "no error was recorded")
                        }),
                    };
                    return RecordEnd::DeadLetter { kind, error };
                }
                Step::Settle(outcome) => return RecordEnd::Settled(outcome),
            }
        }
    }

    /// One handler call, bounded by the attempt time-out and the cutoff,
    /// with panics caught.
    async fn attempt(
        &self,
        source: &Arc<BatchSource>,
        record: &KafkaRecord,
        inv: &Invocation,
        facts: &RecordFacts,
    ) -> (AttemptResult, Option<HandlerError>) {
        let end = match self.settings.attempt_timeout {
            Some(t) => facts.cutoff.min(facts.now + t),
            None => facts.cutoff,
        };
        let ctx = RecordContext {
            attempt: facts.attempts,
            max_attempts: self.settings.retry.max_attempts,
            deadline: end,
            request_id: inv.request_id.clone(),
            source: source.clone(),
        };
        let call = AssertUnwindSafe(self.handler.handle(record, &ctx)).catch_unwind();
        match tokio::time::timeout_at(end, call).await {
            Ok(Ok(Ok(()))) => (AttemptResult::Succeeded, None),
            Ok(Ok(Err(e))) => (AttemptResult::Failed(e.class), Some(e)),
            Ok(Err(panic)) => (
                AttemptResult::Panicked,
                Some(HandlerError::permanent(
                    "HandlerPanic",
                    panic_message(panic.as_ref()),
                )),
            ),
            Err(_) => (
                AttemptResult::TimedOut,
                Some(HandlerError::transient(
                    "AttemptTimeout",
                    "handler did not finish within its attempt time",
                )),
            ),
        }
    }

    fn with_breaker<T>(&self, f: impl FnOnce(&mut CircuitBreaker) -> T) -> T {
        // A poisoned lock only means another partition panicked while holding
        // it; the breaker state itself is still consistent.
        let mut guard = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn letter(
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
        .with_attempts(attempts)
        .with_failed_at_ms(clock.now_ms())
        .with_consumer(self.settings.consumer_name.clone())
    }
}

fn log_dlq_failure(id: &RecordId, e: &SinkError) {
    tracing::warn!(record = %id, error = %e, "dead-letter write not confirmed; record reported failed");
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("handler panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("handler panicked: {s}")
    } else {
        "handler panicked".to_owned()
    }
}
