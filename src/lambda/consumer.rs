//! The consumer Lambda: a builder that takes configuration in code or from
//! the environment, one invocation (decode, process, log, metrics, answer),
//! and a `tower::Service` so users can add layers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use lambda_runtime::{Diagnostic, LambdaEvent, Service};
use tokio::time::Instant;

use crate::clock::{deadline_instant, epoch_ms_now};
use crate::consumer::{
    BatchReport, BatchResponse, Consumer, ConsumerSettings, FailReason, Invocation, Outcome,
    RecordHandler,
};
use crate::env::{ConfigErrors, ProcessEnv, Reader, Vars};
use crate::event::{
    decode_event, decode_event_body, decode_event_body_on, Batch, DecodedEvent, EventError, Readers,
};
use crate::letter::DlqKind;
use crate::sink::{build_sink, DeadLetterSink, SinkBuildError, SinkConfig, SinkContext};

/// Why an invocation failed as a whole (Lambda retries the batch).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvocationError {
    /// The event is not a Kafka event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// Failed records that cannot be named to Lambda.
    #[error("{0} failed record(s) have no readable offset, so Lambda cannot be told which; failing the whole batch so it is retried")]
    Unidentifiable(usize),
}

impl From<InvocationError> for Diagnostic {
    fn from(e: InvocationError) -> Self {
        let error_type = match &e {
            InvocationError::Event(_) => "InvalidKafkaEvent",
            InvocationError::Unidentifiable(_) => "UnidentifiableRecords",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Why a consumer could not be built (the cold start fails with it).
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Invalid configuration: every problem, one per line.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The sink could not be set up.
    #[error("dead-letter sink could not be set up: {0}")]
    Sink(#[from] SinkBuildError),
}

// `main` prints a returned error with `Debug`: make that the readable text.
impl fmt::Debug for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Builds a [`Consumer`]: settings and sink in code, from the environment,
/// or both (what code sets wins; the environment fills the rest).
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use msk_dlq::{handler_fn, ConsumerBuilder, ConsumerSettings, PartitionOrder};
/// let mut settings = ConsumerSettings::default();
/// settings.order = PartitionOrder::Independent;
/// let consumer = ConsumerBuilder::new(handler_fn(|_record, _ctx| async { Ok(()) }))
///     .settings(settings)
///     .from_env()
///     .build()
///     .await?;
/// lambda_runtime::run(consumer).await?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct ConsumerBuilder<H> {
    handler: H,
    settings: Option<ConsumerSettings>,
    sink: Option<Arc<dyn DeadLetterSink>>,
    sink_config: Option<SinkConfig>,
    vars: Option<Box<dyn Vars + Send>>,
    context: SinkContext,
}

impl<H: RecordHandler> ConsumerBuilder<H> {
    /// A builder for `handler`; without further calls: default settings
    /// and no sink.
    pub fn new(handler: H) -> Self {
        Self {
            handler,
            settings: None,
            sink: None,
            sink_config: None,
            vars: None,
            context: SinkContext::default(),
        }
    }

    /// Settings in code.
    pub fn settings(mut self, settings: ConsumerSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// A sink of your own.
    pub fn sink(mut self, sink: impl DeadLetterSink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// A shared sink of your own.
    pub fn shared_sink(mut self, sink: Arc<dyn DeadLetterSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// A built-in sink, configured in code.
    pub fn sink_config(mut self, config: SinkConfig) -> Self {
        self.sink_config = Some(config);
        self
    }

    /// AWS SDK settings for the SQS/SNS/S3 clients (else loaded from the
    /// environment when a sink needs them).
    #[cfg(any(feature = "sqs", feature = "sns", feature = "s3"))]
    pub fn sdk_config(mut self, sdk: aws_config::SdkConfig) -> Self {
        self.context.sdk = Some(sdk);
        self
    }

    /// Reads what code did not set from the process environment
    /// (`MSK_DLQ_*`), validating everything at once.
    pub fn from_env(self) -> Self {
        self.from_vars(ProcessEnv)
    }

    /// Like [`from_env`](Self::from_env), from another source of variables.
    pub fn from_vars(mut self, vars: impl Vars + Send + 'static) -> Self {
        self.vars = Some(Box::new(vars));
        self
    }

    /// Validates the configuration and creates the sink.
    pub async fn build(self) -> Result<Consumer<H>, BuildError> {
        let (settings, sink_config) = match &self.vars {
            Some(vars) => {
                let mut r = Reader::new(vars.as_ref());
                let settings = self
                    .settings
                    .unwrap_or_else(|| crate::env::consumer_settings(&mut r));
                let sink_config = match (&self.sink, self.sink_config) {
                    (Some(_), _) => None,
                    (None, Some(c)) => Some(c),
                    (None, None) => Some(crate::env::sink_config(&mut r)),
                };
                r.finish((settings, sink_config))?
            }
            None => (self.settings.unwrap_or_default(), self.sink_config),
        };
        let sink = match (self.sink, sink_config) {
            (Some(sink), _) => sink,
            (None, Some(c)) => build_sink(&c, &self.context).await?,
            (None, None) => Arc::new(crate::sink::NoSink),
        };
        Ok(Consumer::new(self.handler, settings, sink))
    }
}

impl<H: RecordHandler> Consumer<H> {
    /// One invocation: decode, process, log, emit metrics, answer.
    pub async fn invoke(
        &self,
        event_json: &str,
        deadline: Instant,
        now_ms: i64,
    ) -> Result<BatchResponse, InvocationError> {
        let inv = Invocation {
            deadline,
            now_ms,
            request_id: Arc::from(""),
        };
        self.invoke_with(event_json, &inv).await
    }

    async fn invoke_with(
        &self,
        event_json: &str,
        inv: &Invocation,
    ) -> Result<BatchResponse, InvocationError> {
        self.invoke_decoded(decode_event(event_json), inv).await
    }

    async fn invoke_decoded(
        &self,
        batch: Result<Batch, EventError>,
        inv: &Invocation,
    ) -> Result<BatchResponse, InvocationError> {
        let batch = batch.map_err(|e| {
            tracing::error!(error = %e, "event rejected");
            e
        })?;
        let report = self.process_invocation(&batch, inv).await;
        log_summary(&report, self.sink_name());
        let metrics = &self.settings().metrics;
        if metrics.enabled {
            crate::metrics::emit(&crate::metrics::consumer_metrics(
                &report, metrics, inv.now_ms,
            ));
        }
        let unidentifiable = report.unidentifiable_failures();
        if unidentifiable > 0 {
            return Err(InvocationError::Unidentifiable(unidentifiable));
        }
        Ok(BatchResponse::from_report_with(
            &report,
            self.settings().identifier_key,
        ))
    }
}

/// For a runtime of your own: the runtime deserializes the body into a
/// [`DecodedEvent`], borrowing it from its buffer. [`serve`] hands the body
/// over whole instead, which saves a pass over it.
impl<H: RecordHandler> Service<LambdaEvent<DecodedEvent>> for Consumer<H> {
    type Response = BatchResponse;
    type Error = InvocationError;
    type Future = Pin<Box<dyn Future<Output = Result<BatchResponse, InvocationError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<DecodedEvent>) -> Self::Future {
        self.call_decoded(event.payload.0, &event.context)
    }
}

impl<H: RecordHandler> Consumer<H> {
    fn call_decoded(
        &self,
        batch: Result<Batch, EventError>,
        context: &lambda_runtime::Context,
    ) -> Pin<Box<dyn Future<Output = Result<BatchResponse, InvocationError>> + Send>> {
        let consumer = self.clone();
        let now_ms = epoch_ms_now();
        let inv = Invocation {
            deadline: deadline_instant(context.deadline, now_ms),
            now_ms,
            request_id: Arc::from(context.request_id.as_str()),
        };
        Box::pin(async move { consumer.invoke_decoded(batch, &inv).await })
    }

    /// One invocation from its body as received (see `body.rs`).
    pub(super) fn call_with_body(
        &self,
        body: Option<bytes::Bytes>,
        context: lambda_runtime::Context,
    ) -> Pin<Box<dyn Future<Output = Result<BatchResponse, InvocationError>> + Send>> {
        let threads = decode_threads(context.env_config.memory);
        let batch = match (&body, tokio::runtime::Handle::try_current()) {
            // A large body is read in pieces, on the runtime's blocking
            // threads: they are already running, and idle between events.
            (Some(body), Ok(runtime)) if threads > 1 => {
                let spawn = |job| {
                    runtime.spawn_blocking(job);
                };
                decode_event_body_on(
                    body,
                    Readers {
                        spawn: &spawn,
                        threads,
                    },
                )
            }
            (Some(body), _) => decode_event_body(body),
            (None, _) => Err(EventError::NotJson(serde::de::Error::custom(
                "the invocation's body did not reach the consumer",
            ))),
        };
        self.call_decoded(batch, &context)
    }
}

/// How many threads may read one event: the CPUs this process may use, but
/// no more than the vCPUs the function's memory pays for (Lambda gives one
/// vCPU's time per 1,769 MB, while showing two CPUs up to 3,008 MB; below
/// that, a second reader would only wait for its share of the one).
/// `memory_mb` of 0 or less: not on Lambda, the CPUs alone.
fn decode_threads(memory_mb: i32) -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    match usize::try_from(memory_mb) {
        Ok(mb) if mb > 0 => cpus.min(((mb + VCPU_MB / 2) / VCPU_MB).max(1)),
        _ => cpus,
    }
}

/// Memory that buys one vCPU's time on Lambda, in MB.
const VCPU_MB: usize = 1769;

/// Runs a consumer Lambda with `handler`, configured from the environment.
/// Configuration problems stop the cold start with a message naming each.
pub async fn run<H: RecordHandler>(handler: H) -> Result<(), lambda_runtime::Error> {
    super::init_tracing();
    let consumer = match ConsumerBuilder::new(handler).from_env().build().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cold start failed");
            return Err(e.into());
        }
    };
    serve(consumer).await
}

/// Serves `consumer` as the Lambda function, with the Runtime API loop on a
/// thread of its own: handlers run on the runtime the consumer was built in,
/// so one that blocks its thread or spins cannot stop the invocation from
/// answering by its deadline (its unsettled records are reported failed).
///
/// It also keeps memory glibc's allocator would hand back to the kernel
/// between invocations (see `GLIBC_TUNABLES` in the README to choose
/// otherwise), and reads an event of 2 MiB or more in pieces, one per
/// vCPU the function's memory pays for, on the runtime's blocking threads.
pub async fn serve<H: RecordHandler>(consumer: Consumer<H>) -> Result<(), lambda_runtime::Error> {
    super::memory::keep_freed_memory();
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("lambda-runtime".into())
        .spawn(move || {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                // Its blocking threads read large events in pieces (see
                // `call_with_body`): kept, a warm function does not start
                // one per event.
                .thread_keep_alive(std::time::Duration::from_secs(3600))
                .build()
                .map_err(lambda_runtime::Error::from)
                .and_then(|rt| {
                    rt.block_on({
                        let bodies = super::body::Bodies::default();
                        lambda_runtime::Runtime::new(super::body::BodyConsumer {
                            consumer,
                            bodies: bodies.clone(),
                        })
                        .layer(lambda_runtime::layers::TracingLayer::new())
                        .layer(super::body::TakeBody(bodies))
                        .run()
                    })
                });
            let _ = done.send(outcome);
        })?;
    result
        .await
        .map_err(|_| lambda_runtime::Error::from("the Lambda runtime thread stopped"))?
}

fn log_summary(report: &BatchReport, sink: &str) {
    let tally = report.tally();
    let kind = |k: DlqKind| tally.count(|o| o == Outcome::DeadLettered(k));
    let failed = |f: FailReason| tally.count(|o| o == Outcome::Failed(f));
    tracing::info!(
        records = report.records.len(),
        processed = tally.count(|o| o == Outcome::Processed),
        dead_lettered = tally.count(|o| matches!(o, Outcome::DeadLettered(_))),
        failed = tally.count(Outcome::is_failed),
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
        failed_flood_guard = failed(FailReason::FloodGuard),
        breaker_opened = report.breaker_opened,
        "batch done"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer() -> Consumer<impl RecordHandler> {
        Consumer::new(
            crate::handler_fn(|_, _| async { Ok(()) }),
            ConsumerSettings::default(),
            Arc::new(crate::sink::NoSink),
        )
    }

    fn context() -> lambda_runtime::Context {
        let mut c = lambda_runtime::Context::default();
        c.request_id = "r-1".to_owned();
        c.deadline = u64::try_from(epoch_ms_now()).unwrap_or(0) + 60_000;
        c
    }

    #[tokio::test]
    async fn a_body_that_is_not_utf8_fails_the_invocation_naming_why() {
        let body = bytes::Bytes::from_static(b"{\"eventSource\":\"aws:kafka\xff\"}");
        let err = consumer()
            .call_with_body(Some(body), context())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("not UTF-8") && text.contains("index 25"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_body_with_a_byte_order_mark_is_decoded() {
        let body = "\u{feff}{\"eventSource\":\"aws:kafka\",\"records\":{\"t-0\":[{\"topic\":\"t\",\"partition\":0,\"offset\":7,\"value\":\"eA==\"}]}}";
        let response = consumer()
            .call_with_body(Some(bytes::Bytes::from_static(body.as_bytes())), context())
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
    }

    #[test]
    fn readers_are_the_vcpus_the_memory_pays_for() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(decode_threads(0), cpus);
        assert_eq!(decode_threads(-1), cpus);
        assert_eq!(decode_threads(128), 1);
        assert_eq!(decode_threads(2_600), 1);
        assert_eq!(decode_threads(2_700), cpus.min(2));
        assert_eq!(decode_threads(10_240), cpus.min(6));
    }

    /// Large enough to be read in pieces on a machine with two CPUs or more.
    #[tokio::test]
    async fn a_large_body_is_decoded_whole() {
        const PER_PARTITION: i64 = 900;
        let value = crate::codec::encode_b64(&[b'x'; 300]);
        let lists: Vec<String> = (0..8)
            .map(|p| {
                let records: Vec<String> = (0..PER_PARTITION)
                    .map(|o| format!(r#"{{"topic":"t","partition":{p},"offset":{o},"timestamp":1,"timestampType":"CREATE_TIME","key":null,"value":"{value}","headers":[]}}"#))
                    .collect();
                format!(r#""t-{p}":[{}]"#, records.join(","))
            })
            .collect();
        let body = format!(
            r#"{{"eventSource":"aws:kafka","records":{{{}}}}}"#,
            lists.join(",")
        );
        assert!(body.len() > 2 << 20);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let handler = {
            let seen = seen.clone();
            crate::handler_fn(move |r, _| {
                let seen = seen.clone();
                async move {
                    let id = (r.partition(), r.offset());
                    seen.lock()
                        .map_err(|_| crate::HandlerError::permanent("Poisoned", ""))?
                        .push(id);
                    match id {
                        (5, o) if o == PER_PARTITION - 1 => {
                            Err(crate::HandlerError::permanent("Bad", "last of 5"))
                        }
                        _ => Ok(()),
                    }
                }
            })
        };
        let consumer = Consumer::new(
            handler,
            ConsumerSettings::default(),
            Arc::new(crate::sink::NoSink),
        );
        let response = consumer
            .call_with_body(Some(bytes::Bytes::from(body)), context())
            .await
            .unwrap();
        let [failed] = response.batch_item_failures.as_slice() else {
            panic!("one failure expected: {response:?}");
        };
        let id = &failed.item_identifier;
        assert_eq!(
            (id.partition.as_str(), id.offset),
            ("t-5", PER_PARTITION - 1)
        );
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        let all: Vec<_> = (0..8)
            .flat_map(|p| (0..PER_PARTITION).map(move |o| (p, o)))
            .collect();
        assert_eq!(seen, all);
    }

    #[tokio::test]
    async fn a_missing_body_fails_the_invocation() {
        let err = consumer()
            .call_with_body(None, context())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("did not reach"), "{err}");
    }
}
