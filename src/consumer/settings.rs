//! How a consumer processes a batch, configured in code (the defaults) or
//! read from the environment by [`crate::env`].

use std::sync::Arc;
use std::time::Duration;

use super::response::IdentifierKey;
use super::retry::RetryPolicy;

/// How the records of one partition relate (Karafka's `independent` flag,
/// as a mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PartitionOrder {
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
#[non_exhaustive]
pub enum ExhaustionPolicy {
    /// Dead-letter as `retries-exhausted`.
    #[default]
    DeadLetter,
    /// Report failed so Lambda re-delivers; dead-letter as `too-old` once the
    /// record is older than the max record age.
    Redeliver,
}

/// The circuit breaker for a failing dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerSettings {
    /// Consecutive transient failures that open it; 0 disables it.
    pub threshold: u32,
    /// How long it stays open before a probe call.
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            threshold: 10,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// CloudWatch Embedded Metric Format output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSettings {
    /// Whether metrics are written at all.
    pub enabled: bool,
    /// The CloudWatch namespace.
    pub namespace: String,
    /// The `FunctionName` dimension.
    pub function_name: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            namespace: "MskDlq".to_owned(),
            function_name: "local".to_owned(),
        }
    }
}

/// Everything about processing a batch apart from the sink.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsumerSettings {
    /// Ordered or independent records within a partition.
    pub order: PartitionOrder,
    /// Partitions handled at once.
    pub partition_concurrency: usize,
    /// Attempts and backoff within one invocation.
    pub retry: RetryPolicy,
    /// What exhausted transient failures become.
    pub on_exhausted: ExhaustionPolicy,
    /// Records older than this are dead-lettered `too-old`.
    pub max_record_age: Option<Duration>,
    /// Upper bound of one handler call; `None`: only the deadline bounds it.
    pub attempt_timeout: Option<Duration>,
    /// No handler attempt runs past `deadline - margin`; dead-letter writes
    /// must finish by `deadline - margin/3`, which leaves time to answer.
    pub deadline_margin: Duration,
    /// `dlq.consumer` of the letters written.
    pub consumer_name: Arc<str>,
    /// The circuit breaker.
    pub breaker: BreakerSettings,
    /// Metrics.
    pub metrics: MetricsSettings,
    /// The key of the record identifier in `batchItemFailures`.
    pub identifier_key: IdentifierKey,
    /// Holds poison records back when there are too many of them.
    pub flood_guard: super::FloodGuard,
    /// The mapping's `EventRecordFormat` when it uses a schema registry;
    /// dead letters keep it so a replay can restore the wire format.
    pub record_format: Option<crate::schema::RecordFormat>,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            order: PartitionOrder::Ordered,
            partition_concurrency: 16,
            retry: RetryPolicy::default(),
            on_exhausted: ExhaustionPolicy::DeadLetter,
            max_record_age: None,
            attempt_timeout: None,
            deadline_margin: Duration::from_millis(1500),
            consumer_name: Arc::from("msk-dlq-consumer"),
            breaker: BreakerSettings::default(),
            metrics: MetricsSettings::default(),
            identifier_key: IdentifierKey::default(),
            flood_guard: super::FloodGuard::default(),
            record_format: None,
        }
    }
}
