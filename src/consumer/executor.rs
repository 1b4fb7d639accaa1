//! Carries out what [`super::policy`] decides: handler calls under
//! time-outs with panics caught, backoff sleeps, breaker bookkeeping and
//! dead-letter dispatch. Partitions run concurrently up to a bound, each as
//! a task of the handler runtime; the records of one partition strictly in
//! order. The invocation waits for them only until its cutoff: a handler
//! that blocks its thread or spins cannot hold the answer past the deadline
//! (its records still unsettled are reported failed).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::breaker::{BreakerState, CircuitBreaker};
use super::flood::FloodTracker;
use super::handler::{ErrorClass, HandlerError, RecordContext, RecordHandler};
use super::policy::{
    next_step, AttemptResult, BreakerView, Cause, PartitionGate, Phase, RecordFacts, RecordPolicy,
    Step,
};
use super::report::{BatchReport, FailReason, Outcome, RecordReport};
use super::settings::{ConsumerSettings, PartitionOrder};
use crate::clock::InvocationClock;
use crate::event::{Batch, BatchSource, Entry, PartitionBatch};
use crate::letter::{DeadLetter, DlqKind};
use crate::record::KafkaRecord;
use crate::sink::{send_by_deadline, DeadLetterSink, SinkError};

mod attempt;
mod settle;

use settle::log_dlq_failure;

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
    // Whether the breaker is closed without failures, set under its lock:
    // there, acquiring and a success change nothing, so records that
    // succeed while it holds skip the lock.
    breaker_quiet: AtomicBool,
    flood: FloodTracker,
    /// Where partitions run: the runtime the consumer was built in.
    handlers: Option<Handle>,
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

/// How handling a record ended, before any dead-letter write. The error is
/// boxed: every record's end moves through here, and few carry one.
enum RecordEnd {
    Settled(Outcome),
    DeadLetter {
        kind: DlqKind,
        error: Box<HandlerError>,
    },
}

impl<H: RecordHandler> Executor<H> {
    pub(crate) fn new(
        handler: Arc<H>,
        sink: Arc<dyn DeadLetterSink>,
        settings: ConsumerSettings,
    ) -> Self {
        let breaker = CircuitBreaker::new(settings.breaker.threshold, settings.breaker.cooldown);
        let flood = FloodTracker::new(settings.flood_guard);
        Self {
            handler,
            sink,
            policy: RecordPolicy::from_settings(&settings),
            settings,
            breaker: Mutex::new(breaker),
            breaker_quiet: AtomicBool::new(true),
            flood,
            handlers: Handle::try_current().ok(),
        }
    }

    pub(crate) fn set_handler_runtime(&mut self, handle: Handle) {
        self.handlers = Some(handle);
    }

    pub(crate) fn settings(&self) -> &ConsumerSettings {
        &self.settings
    }

    pub(crate) fn sink_name(&self) -> &'static str {
        self.sink.name()
    }

    /// Processes `batch`: every record ends processed, dead-lettered (the
    /// sink confirmed it) or failed.
    pub(crate) async fn process(self: &Arc<Self>, batch: &Batch, inv: &Invocation) -> BatchReport {
        let clock = InvocationClock::new(inv.now_ms);
        self.flood.start_invocation();
        let opened_before = self.breaker_opened_count();
        let handle = self.handlers.clone().unwrap_or_else(Handle::current);
        let slots = Arc::new(Semaphore::new(self.settings.partition_concurrency.max(1)));
        let cancelled = Arc::new(AtomicBool::new(false));
        let mut progress = Vec::with_capacity(batch.partitions.len());
        let mut tasks = Vec::with_capacity(batch.partitions.len());
        for partition in &batch.partitions {
            let run = Arc::new(Mutex::new(PartitionRun {
                reports: Vec::with_capacity(partition.entries.len()),
                ..PartitionRun::default()
            }));
            progress.push(run.clone());
            let this = self.clone();
            let partition = partition.clone();
            let source = batch.source.clone();
            let inv = inv.clone();
            let slots = slots.clone();
            let cancelled = cancelled.clone();
            tasks.push(handle.spawn(async move {
                let Ok(_slot) = slots.acquire_owned().await else {
                    return;
                };
                this.run_partition(&source, &partition, &inv, clock, &run, &cancelled)
                    .await;
            }));
        }
        // Ordered partitions may write a dead letter up to the dispatch
        // cutoff (waited for a little past it, so a write cut there settles
        // as a failed write); independent ones leave the batch dispatch
        // time for it.
        let wait_until = match self.settings.order {
            PartitionOrder::Ordered => {
                let cut = self.dispatch_cutoff(inv);
                cut + inv.deadline.saturating_duration_since(cut) / 4
            }
            _ => {
                let start = self.processing_cutoff(inv);
                start + (self.dispatch_cutoff(inv).saturating_duration_since(start)) / 2
            }
        };
        let all = futures::future::join_all(tasks.iter_mut());
        if tokio::time::timeout_at(wait_until, all).await.is_err() {
            cancelled.store(true, Ordering::SeqCst);
            for t in &tasks {
                t.abort();
            }
            tracing::warn!("handlers still running at the invocation's cutoff; their unsettled records are reported failed");
        }

        let mut report = BatchReport::default();
        let mut pending_all: Vec<(usize, Pending)> = Vec::new();
        for (partition, run) in batch.partitions.iter().zip(progress) {
            let run = std::mem::take(&mut *run.lock().unwrap_or_else(|p| p.into_inner()));
            let base = report.records.len();
            let settled = run.reports.len();
            report.records.extend(run.reports);
            // Records a cut task never settled: Lambda re-delivers them.
            report.records.extend(
                partition.entries[settled.min(partition.entries.len())..]
                    .iter()
                    .map(|e| RecordReport {
                        id: e.id.clone(),
                        topic: e.entry.shared_topic(),
                        outcome: Outcome::Failed(FailReason::DeadlineNear),
                        attempts: 0,
                        error_type: None,
                    }),
            );
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

    /// Runs one partition's records in order, publishing each outcome to
    /// `progress` as it settles, so a cut task still reports what it did.
    async fn run_partition(
        &self,
        source: &Arc<BatchSource>,
        partition: &PartitionBatch,
        inv: &Invocation,
        clock: InvocationClock,
        progress: &Mutex<PartitionRun>,
        cancelled: &AtomicBool,
    ) {
        let progress = || progress.lock().unwrap_or_else(|p| p.into_inner());
        let immediate = self.settings.order == PartitionOrder::Ordered;
        let mut gate = PartitionGate::new(self.settings.order);
        // One context for the partition's calls; each attempt sets its own
        // number and deadline.
        let mut ctx = RecordContext {
            attempt: 0,
            max_attempts: self.settings.retry.max_attempts,
            deadline: self.processing_cutoff(inv),
            request_id: inv.request_id.clone(),
            source: source.clone(),
        };
        for (index, entry) in partition.entries.iter().enumerate() {
            if cancelled.load(Ordering::SeqCst) {
                return;
            }
            let mut report = RecordReport {
                id: entry.id.clone(),
                topic: entry.entry.shared_topic(),
                outcome: Outcome::Failed(FailReason::EarlierRecordFailed),
                attempts: 0,
                error_type: None,
            };
            if let Some(outcome) = gate.admit() {
                report.outcome = outcome;
                progress().reports.push(report);
                continue;
            }
            let end = match &entry.entry {
                Entry::Malformed(m) => RecordEnd::DeadLetter {
                    kind: DlqKind::Malformed,
                    error: Box::new(HandlerError::permanent("MalformedRecord", m.reason.clone())),
                },
                Entry::Record(record) => {
                    self.run_record(record, inv, clock, &mut ctx, &mut report.attempts)
                        .await
                }
            };
            report.outcome = match end {
                RecordEnd::Settled(outcome) => {
                    if outcome == Outcome::Processed {
                        self.flood.processed();
                    }
                    outcome
                }
                RecordEnd::DeadLetter { kind, error } if self.flood.hold(kind) => {
                    report.error_type = Some(error.error_type);
                    Outcome::Failed(FailReason::FloodGuard)
                }
                RecordEnd::DeadLetter { kind, error } => {
                    report.error_type = Some(error.error_type.clone());
                    let letter = self.letter(source, entry, kind, *error, report.attempts, &clock);
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
                        let took = started.elapsed();
                        if let Err(e) = &result {
                            log_dlq_failure(&entry.id, e);
                        }
                        let failed = result.is_err();
                        let mut run = progress();
                        run.dlq_latencies.push(took);
                        run.dlq_writes += 1;
                        run.dlq_write_failures += u32::from(failed);
                        drop(run);
                        self.settle_letter(kind, result.is_ok())
                    } else {
                        progress().pending.push(Pending { index, letter });
                        // Settled after the batch dispatch.
                        Outcome::Failed(FailReason::DlqWriteFailed)
                    }
                }
            };
            if immediate {
                gate.settled(report.outcome);
            }
            progress().reports.push(report);
        }
    }

    /// Runs the policy for one record until it settles or is due for the DLQ.
    async fn run_record(
        &self,
        record: &KafkaRecord,
        inv: &Invocation,
        clock: InvocationClock,
        ctx: &mut RecordContext,
        attempts: &mut u32,
    ) -> RecordEnd {
        let cutoff = self.processing_cutoff(inv);
        // A negative timestamp (-1: none) is no age at all; without a max
        // age the clock is not read for it.
        let age = record
            .timestamp()
            .filter(|&ts| ts >= 0 && self.settings.max_record_age.is_some())
            .map(|ts| {
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
        let mut last_error: Option<Box<HandlerError>> = None;
        // `facts.now` is read where time moved: at the start, after an
        // attempt that did not succeed, after a backoff.
        loop {
            match next_step(&self.policy, &facts) {
                Step::Call => {
                    let quiet = self.breaker_quiet.load(Ordering::Acquire);
                    if !quiet && !self.with_breaker(|b| b.try_acquire(facts.now)) {
                        facts.breaker = BreakerView::Refused;
                        continue;
                    }
                    facts.attempts += 1;
                    *attempts = facts.attempts;
                    let (result, error) = self.attempt(record, ctx, &facts).await;
                    // A success settles the record and leaves the breaker
                    // closed at any instant: the clock is read only when a
                    // retry or the breaker's cool-down will depend on it.
                    let succeeded = result == AttemptResult::Succeeded;
                    let now = if succeeded { facts.now } else { Instant::now() };
                    facts.breaker = if succeeded && self.breaker_quiet.load(Ordering::Acquire) {
                        BreakerView::Closed
                    } else {
                        self.with_breaker(|b| {
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
                        })
                    };
                    facts.now = now;
                    // Jitter only spreads retries: a success needs none.
                    facts.jitter = if succeeded { 0.0 } else { fastrand::f64() };
                    facts.phase = Phase::Attempted(result);
                    if error.is_some() {
                        last_error = error;
                    }
                }
                Step::RetryAfter(delay) => {
                    tokio::time::sleep(delay).await;
                    facts.now = Instant::now();
                    facts.phase = Phase::Ready;
                }
                Step::DeadLetter { kind, cause } => {
                    let error = match cause {
                        Cause::TooOld => Box::new(HandlerError::permanent(
                            "RecordTooOld",
                            format!(
                                "record is older than the max record age of {}s",
                                self.settings.max_record_age.map_or(0, |d| d.as_secs())
                            ),
                        )),
                        Cause::LastError => last_error.take().unwrap_or_else(|| {
                            Box::new(HandlerError::permanent("Unknown", "no error was recorded"))
                        }),
                    };
                    return RecordEnd::DeadLetter { kind, error };
                }
                Step::Settle(outcome) => return RecordEnd::Settled(outcome),
            }
        }
    }

    fn with_breaker<T>(&self, f: impl FnOnce(&mut CircuitBreaker) -> T) -> T {
        // A poisoned lock only means another partition panicked while holding
        // it; the breaker state itself is still consistent.
        let mut guard = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut guard);
        let quiet = guard.state()
            == (BreakerState::Closed {
                consecutive_failures: 0,
            });
        self.breaker_quiet.store(quiet, Ordering::Release);
        out
    }
}
