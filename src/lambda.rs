//! Glue between the Lambda runtime and the pure core: cold-start setup,
//! one invocation, logs and metrics.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::breaker::CircuitBreaker;
use crate::config::{ConfigErrors, ConsumerConfig, MetricsConfig, ProcessEnv, Reader, Vars};
use crate::event::{decode_event, EventError};
use crate::handler::RecordHandler;
use crate::metrics;
use crate::outcome::{DlqKind, FailReason, Outcome};
use crate::process::{BatchReport, Processor};
use crate::response::BatchResponse;
use crate::sink::config::SinkConfig;
use crate::sink::DeadLetterSink;

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("{0} failed record(s) have no readable offset, so Lambda cannot be told which; failing the whole batch so it is retried")]
    Unidentifiable(usize),
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> Self {
        let error_type = match &e {
            InvocationError::Event(_) => "InvalidKafkaEvent",
            InvocationError::Unidentifiable(_) => "UnidentifiableRecords",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

#[derive(thiserror::Error)]
pub enum InitError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("dead-letter sink could not be set up: {0}")]
    Sink(String),
}

// `main` prints a returned error with `Debug`: make that the readable text.
impl std::fmt::Debug for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A consumer: the processor plus what one invocation needs around it.
pub struct Consumer<H> {
    processor: Processor<H>,
    metrics: MetricsConfig,
}

impl<H: RecordHandler> Consumer<H> {
    pub fn new(processor: Processor<H>, metrics: MetricsConfig) -> Self {
        Self { processor, metrics }
    }

    /// Reads and validates the whole configuration, then builds the sink.
    pub async fn from_vars(handler: H, vars: &dyn Vars) -> Result<Self, InitError> {
        let mut r = Reader::new(vars);
        let cfg = ConsumerConfig::read(&mut r);
        let sink_cfg = SinkConfig::read(&mut r);
        let (cfg, sink_cfg) = r.finish((cfg, sink_cfg))?;
        let sink = sink_cfg.build().await.map_err(InitError::Sink)?;
        Ok(Self::with_sink(handler, cfg, sink))
    }

    pub fn with_sink(handler: H, cfg: ConsumerConfig, sink: Arc<dyn DeadLetterSink>) -> Self {
        let breaker = CircuitBreaker::new(cfg.breaker_threshold, cfg.breaker_cooldown);
        let processor = Processor::new(Arc::new(handler), sink, cfg.process, breaker);
        Self::new(processor, cfg.metrics)
    }

    /// One invocation: decode, process, log, emit metrics, answer.
    pub async fn invoke(
        &self,
        event_json: &str,
        deadline: Instant,
        now_ms: i64,
    ) -> Result<BatchResponse, InvocationError> {
        let batch = decode_event(event_json).map_err(|e| {
            tracing::error!(error = %e, "event rejected");
            e
        })?;
        let report = self.processor.process(&batch, deadline, now_ms).await;
        log_summary(&report, self.processor.sink_name());
        if self.metrics.enabled {
            metrics::emit(&metrics::consumer_metrics(&report, &self.metrics, now_ms));
        }
        let unidentifiable = report.unidentifiable_failures();
        if unidentifiable > 0 {
            return Err(InvocationError::Unidentifiable(unidentifiable));
        }
        Ok(BatchResponse::from_report(&report))
    }
}

fn log_summary(report: &BatchReport, sink: &str) {
    let kind = |k: DlqKind| report.count(|o| o == Outcome::DeadLettered(k));
    let failed = |f: FailReason| report.count(|o| o == Outcome::Failed(f));
    tracing::info!(
        records = report.records.len(),
        processed = report.count(|o| o == Outcome::Processed),
        dead_lettered = report.count(|o| matches!(o, Outcome::DeadLettered(_))),
        failed = report.count(Outcome::is_failed),
        retries = report.retries(),
        sink,
        dlq_permanent = kind(DlqKind::Permanent),
        dlq_malformed = kind(DlqKind::Malformed),
        dlq_retries_exhausted = kind(DlqKind::RetriesExhausted),
        dlq_too_old = kind(DlqKind::TooOld),
        dlq_manual = kind(DlqKind::Manual),
        failed_redeliver = failed(FailReason::Redeliver),
        failed_earlier_record = failed(FailReason::EarlierRecordFailed),
        failed_deadline = failed(FailReason::DeadlineNear),
        failed_breaker_open = failed(FailReason::BreakerOpen),
        failed_dlq_write = failed(FailReason::DlqWriteFailed),
        breaker_opened = report.breaker_opened,
        "batch done"
    );
}

pub fn epoch_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Converts Lambda's deadline (epoch ms) to a monotonic instant.
pub fn deadline_instant(deadline_ms: u64, now_ms: i64) -> Instant {
    let left = i64::try_from(deadline_ms)
        .unwrap_or(i64::MAX)
        .saturating_sub(now_ms);
    Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

/// Structured JSON logs on stderr; level from `RUST_LOG` or Lambda's
/// `AWS_LAMBDA_LOG_LEVEL`, default `info`. Record payloads are never logged.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a consumer Lambda with `handler`. Configuration problems stop the
/// cold start with a message naming each one.
pub async fn run_consumer<H: RecordHandler>(handler: H) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let consumer = match Consumer::from_vars(handler, &ProcessEnv).await {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "cold start failed");
            return Err(e.into());
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let consumer = consumer.clone();
        async move {
            let now_ms = epoch_ms_now();
            let deadline = deadline_instant(event.context.deadline, now_ms);
            consumer.invoke(event.payload.get(), deadline, now_ms).await
        }
    }))
    .await
}

/// Runs the reprocessor Lambda (SQS or MSK trigger on a DLQ, or a direct
/// `{"replayJob": ...}` invocation). `repair` may fix letters before replay.
pub async fn run_reprocessor(
    repair: Option<Arc<dyn crate::replayer::Repair>>,
) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let mut r = Reader::new(&ProcessEnv);
    let setup = crate::reprocess::ReprocessorSetup::read(&mut r);
    let replayer = match r.finish(setup) {
        Ok(setup) => setup.build(repair).await.map_err(InitError::Sink),
        Err(e) => Err(InitError::Config(e)),
    };
    let replayer = match replayer {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::error!(error = %e, "cold start failed");
            return Err(e.into());
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let replayer = replayer.clone();
        async move {
            let now_ms = epoch_ms_now();
            let deadline = deadline_instant(event.context.deadline, now_ms);
            // Leave time to answer: replay writes stop a second early.
            let deadline = deadline
                .checked_sub(Duration::from_secs(1))
                .unwrap_or(deadline);
            crate::reprocess::handle_invocation(&replayer, &event.payload, deadline).await
        }
    }))
    .await
}
