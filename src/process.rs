//! Runs a handler over a batch and decides each record's outcome.
//!
//! Records of one partition are handled strictly in order; partitions run
//! concurrently up to a bound. Every record ends processed, dead-lettered
//! (the sink confirmed it) or failed (reported to Lambda).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;

use crate::breaker::CircuitBreaker;
use crate::envelope::{DeadLetter, DeadRecord};
use crate::event::{Batch, BatchEntry, BatchSource, Entry, KafkaRecord, PartitionBatch, RecordId};
use crate::handler::{Attempt, ErrorClass, HandlerError, RecordHandler};
use crate::outcome::{DlqKind, FailReason, Outcome};
use crate::retry::{next_step, NextStep, RetryPolicy};
use crate::sink::{send_by_deadline, DeadLetterSink, SinkError};

/// Karafka's `independent` flag, as a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ordering {
    /// After a record of a partition is reported failed, the later records of
    /// that partition are reported failed too, unhandled, so Lambda
    /// re-delivers them in order. Dead letters are written before the next
    /// record of the partition is handled.
    #[default]
    Ordered,
    /// Each record stands alone; dead letters are sent in batches at the end.
    Independent,
}

/// What happens when transient failures use up the attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExhaustionPolicy {
    /// Dead-letter as `retries-exhausted`.
    #[default]
    DeadLetter,
    /// Report failed so Lambda re-delivers; dead-letter as `too-old` once the
    /// record is older than the max record age.
    Redeliver,
}

#[derive(Debug, Clone)]
pub struct ProcessSettings {
    pub ordering: Ordering,
    pub partition_concurrency: usize,
    pub retry: RetryPolicy,
    pub on_exhausted: ExhaustionPolicy,
    pub max_record_age: Option<Duration>,
    /// Upper bound of one handler call; `None`: only the deadline bounds it.
    pub attempt_timeout: Option<Duration>,
    /// No handler attempt runs past `deadline - margin`; dead-letter writes
    /// must finish by `deadline - margin/3`, which leaves time to answer.
    pub deadline_margin: Duration,
    pub consumer_name: Arc<str>,
}

impl Default for ProcessSettings {
    fn default() -> Self {
        Self {
            ordering: Ordering::Ordered,
            partition_concurrency: 16,
            retry: RetryPolicy::default(),
            on_exhausted: ExhaustionPolicy::DeadLetter,
            max_record_age: None,
            attempt_timeout: None,
            deadline_margin: Duration::from_millis(1500),
            consumer_name: Arc::from("msk-dlq-consumer"),
        }
    }
}

/// The outcome of one record, with what metrics and logs need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordReport {
    pub id: RecordId,
    pub topic: Option<String>,
    pub outcome: Outcome,
    /// Handler calls made for this record in this invocation.
    pub attempts: u32,
    pub error_type: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    pub records: Vec<RecordReport>,
    /// Dead-letter writes attempted, and how long each sink call took.
    pub dlq_writes: u32,
    pub dlq_write_failures: u32,
    pub dlq_latencies: Vec<Duration>,
    pub breaker_opened: bool,
}

impl BatchReport {
    pub fn count(&self, pred: impl Fn(Outcome) -> bool) -> usize {
        self.records.iter().filter(|r| pred(r.outcome)).count()
    }

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

/// Wall-clock time derived from one reading at invocation start, so it
/// follows tokio's (pausable) clock.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    start_ms: i64,
}

impl Clock {
    fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.start_ms.saturating_add(elapsed)
    }
}

pub struct Processor<H> {
    handler: Arc<H>,
    sink: Arc<dyn DeadLetterSink>,
    settings: ProcessSettings,
    // Shared by all invocations of a warm execution environment.
    breaker: Arc<Mutex<CircuitBreaker>>,
}

/// A record that is due for the dead-letter queue.
struct Pending {
    index: usize,
    letter: DeadLetter,
}

struct PartitionRun {
    reports: Vec<RecordReport>,
    pending: Vec<Pending>,
    dlq_writes: u32,
    dlq_write_failures: u32,
    dlq_latencies: Vec<Duration>,
}

enum Decision {
    Done(Outcome),
    DeadLetter { kind: DlqKind, error: HandlerError },
}

impl<H: RecordHandler> Processor<H> {
    pub fn new(
        handler: Arc<H>,
        sink: Arc<dyn DeadLetterSink>,
        settings: ProcessSettings,
        breaker: CircuitBreaker,
    ) -> Self {
        Self {
            handler,
            sink,
            settings,
            breaker: Arc::new(Mutex::new(breaker)),
        }
    }

    pub fn settings(&self) -> &ProcessSettings {
        &self.settings
    }

    pub fn sink_name(&self) -> &'static str {
        self.sink.name()
    }

    /// Processes `batch`. `deadline` is the invocation deadline; `now_ms` the
    /// wall clock (epoch ms) now, used for record age and `failed-at`.
    pub async fn process(&self, batch: &Batch, deadline: Instant, now_ms: i64) -> BatchReport {
        let clock = Clock {
            start: Instant::now(),
            start_ms: now_ms,
        };
        let opened_before = self.breaker_opened_count();
        let concurrency = self.settings.partition_concurrency.max(1);
        let runs: Vec<PartitionRun> = futures::stream::iter(batch.partitions.iter())
            .map(|p| self.run_partition(&batch.source, p, deadline, clock))
            .buffered(concurrency)
            .collect()
            .await;

        let mut report = BatchReport::default();
        let mut pending_all: Vec<(usize, Pending)> = Vec::new();
        let mut offset = 0;
        for run in runs {
            let base = offset;
            offset += run.reports.len();
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
                send_by_deadline(self.sink.as_ref(), &letters, self.dispatch_cutoff(deadline))
                    .await;
            report.dlq_latencies.push(started.elapsed());
            for ((base, p), result) in pending_all.into_iter().zip(results) {
                report.dlq_writes += 1;
                let rec = &mut report.records[base + p.index];
                match result {
                    Ok(_) => rec.outcome = Outcome::DeadLettered(p.letter.kind),
                    Err(e) => {
                        report.dlq_write_failures += 1;
                        log_dlq_failure(&rec.id, &e);
                        rec.outcome = Outcome::Failed(FailReason::DlqWriteFailed);
                    }
                }
            }
        }
        report.breaker_opened = self.breaker_opened_count() > opened_before;
        report
    }

    fn breaker_opened_count(&self) -> u64 {
        self.breaker.lock().map(|b| b.opened_count()).unwrap_or(0)
    }

    fn processing_cutoff(&self, deadline: Instant) -> Instant {
        deadline
            .checked_sub(self.settings.deadline_margin)
            .unwrap_or(deadline)
    }

    fn dispatch_cutoff(&self, deadline: Instant) -> Instant {
        deadline
            .checked_sub(self.settings.deadline_margin / 3)
            .unwrap_or(deadline)
    }

    async fn run_partition(
        &self,
        source: &Arc<BatchSource>,
        partition: &PartitionBatch,
        deadline: Instant,
        clock: Clock,
    ) -> PartitionRun {
        let mut run = PartitionRun {
            reports: Vec::with_capacity(partition.entries.len()),
            pending: Vec::new(),
            dlq_writes: 0,
            dlq_write_failures: 0,
            dlq_latencies: Vec::new(),
        };
        let ordered = self.settings.ordering == Ordering::Ordered;
        let mut blocked = false;
        for entry in &partition.entries {
            let index = run.reports.len();
            let mut report = RecordReport {
                id: entry.id.clone(),
                topic: topic_of(entry),
                outcome: Outcome::Failed(FailReason::EarlierRecordFailed),
                attempts: 0,
                error_type: None,
            };
            if blocked {
                run.reports.push(report);
                continue;
            }
            let decision = match &entry.entry {
                Entry::Malformed(m) => Decision::DeadLetter {
                    kind: DlqKind::Malformed,
                    error: HandlerError::permanent("MalformedRecord", m.reason.clone()),
                },
                Entry::Record(record) => {
                    self.decide(record, deadline, clock, &mut report.attempts)
                        .await
                }
            };
            report.outcome = match decision {
                Decision::Done(outcome) => outcome,
                Decision::DeadLetter { kind, error } => {
                    report.error_type = Some(error.error_type.clone());
                    let letter =
                        self.letter(source, entry, kind, error, report.attempts, clock.now_ms());
                    if ordered {
                        // Written before the next record of the partition, so
                        // a failed write keeps the partition in order.
                        let started = Instant::now();
                        let result = send_by_deadline(
                            self.sink.as_ref(),
                            std::slice::from_ref(&letter),
                            self.dispatch_cutoff(deadline),
                        )
                        .await;
                        run.dlq_latencies.push(started.elapsed());
                        run.dlq_writes += 1;
                        match result.into_iter().next() {
                            Some(Ok(_)) => Outcome::DeadLettered(kind),
                            Some(Err(e)) => {
                                run.dlq_write_failures += 1;
                                log_dlq_failure(&entry.id, &e);
                                Outcome::Failed(FailReason::DlqWriteFailed)
                            }
                            None => Outcome::Failed(FailReason::DlqWriteFailed),
                        }
                    } else {
                        run.pending.push(Pending { index, letter });
                        // Settled after the batch dispatch.
                        Outcome::Failed(FailReason::DlqWriteFailed)
                    }
                }
            };
            if ordered && report.outcome.is_failed() {
                blocked = true;
            }
            run.reports.push(report);
        }
        run
    }

    /// Runs the handler with retries and decides what becomes of the record.
    async fn decide(
        &self,
        record: &Arc<KafkaRecord>,
        deadline: Instant,
        clock: Clock,
        attempts: &mut u32,
    ) -> Decision {
        let s = &self.settings;
        if self.is_too_old(record, clock) {
            return Decision::DeadLetter {
                kind: DlqKind::TooOld,
                error: HandlerError::permanent(
                    "RecordTooOld",
                    format!(
                        "record is older than the max record age of {}s",
                        s.max_record_age.map_or(0, |d| d.as_secs())
                    ),
                ),
            };
        }
        let cutoff = self.processing_cutoff(deadline);
        loop {
            let now = Instant::now();
            if now >= cutoff {
                return Decision::Done(Outcome::Failed(FailReason::DeadlineNear));
            }
            if !self.with_breaker(|b| b.try_acquire(now)) {
                return Decision::Done(Outcome::Failed(FailReason::BreakerOpen));
            }
            *attempts += 1;
            let attempt = Attempt {
                number: *attempts,
                max_attempts: s.retry.max_attempts,
            };
            let attempt_end = match s.attempt_timeout {
                Some(t) => cutoff.min(now + t),
                None => cutoff,
            };
            let call = AssertUnwindSafe(self.handler.handle(record, attempt)).catch_unwind();
            let result = match tokio::time::timeout_at(attempt_end, call).await {
                Ok(Ok(result)) => result,
                Ok(Err(panic)) => Err(HandlerError::permanent(
                    "HandlerPanic",
                    panic_message(panic.as_ref()),
                )),
                Err(_) => Err(HandlerError::transient(
                    "AttemptTimeout",
                    "handler did not finish within its attempt time",
                )),
            };
            let error = match result {
                Ok(()) => {
                    self.with_breaker(|b| b.on_success());
                    return Decision::Done(Outcome::Processed);
                }
                Err(e) => e,
            };
            match error.class {
                ErrorClass::Permanent => {
                    self.with_breaker(|b| b.on_neutral());
                    return Decision::DeadLetter {
                        kind: DlqKind::Permanent,
                        error,
                    };
                }
                ErrorClass::DeadLetter => {
                    self.with_breaker(|b| b.on_neutral());
                    return Decision::DeadLetter {
                        kind: DlqKind::Manual,
                        error,
                    };
                }
                ErrorClass::Transient => {}
            }
            let now = Instant::now();
            let open = self.with_breaker(|b| {
                b.on_transient_failure(now);
                b.is_open(now)
            });
            if open {
                // A dependency is down: re-delivery, not a DLQ flood.
                return Decision::Done(Outcome::Failed(FailReason::BreakerOpen));
            }
            let delay = s.retry.backoff(*attempts, fastrand::f64());
            match next_step(&s.retry, *attempts, delay, now, cutoff) {
                NextStep::RetryAfter(d) => tokio::time::sleep(d).await,
                NextStep::DeadlineNear => {
                    return Decision::Done(Outcome::Failed(FailReason::DeadlineNear))
                }
                NextStep::Exhausted => {
                    return match s.on_exhausted {
                        ExhaustionPolicy::DeadLetter => Decision::DeadLetter {
                            kind: DlqKind::RetriesExhausted,
                            error,
                        },
                        ExhaustionPolicy::Redeliver if self.is_too_old(record, clock) => {
                            Decision::DeadLetter {
                                kind: DlqKind::TooOld,
                                error,
                            }
                        }
                        ExhaustionPolicy::Redeliver => {
                            Decision::Done(Outcome::Failed(FailReason::Redeliver))
                        }
                    };
                }
            }
        }
    }

    fn is_too_old(&self, record: &KafkaRecord, clock: Clock) -> bool {
        match (self.settings.max_record_age, record.timestamp) {
            (Some(max), Some(ts)) => {
                let age_ms = clock.now_ms().saturating_sub(ts);
                age_ms > i64::try_from(max.as_millis()).unwrap_or(i64::MAX)
            }
            _ => false,
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
        now_ms: i64,
    ) -> DeadLetter {
        let (record, replay_count) = match &entry.entry {
            Entry::Record(r) => (DeadRecord::Decoded(r.clone()), r.replay_count()),
            Entry::Malformed(m) => (DeadRecord::Malformed(m.clone()), 0),
        };
        DeadLetter {
            source: source.clone(),
            record,
            kind,
            error_type: error.error_type,
            error_message: error.message,
            attempts,
            failed_at_ms: now_ms,
            consumer: self.settings.consumer_name.clone(),
            replay_count,
        }
    }
}

fn topic_of(entry: &BatchEntry) -> Option<String> {
    match &entry.entry {
        Entry::Record(r) => Some(r.topic.clone()),
        Entry::Malformed(m) => m.topic.clone(),
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
