//! Where dead letters go. A sink confirms each letter on its own; only a
//! confirmed letter counts as dead-lettered, anything else is reported to
//! Lambda as failed.
//!
//! Writing a sink of your own takes one method:
//!
//! ```
//! use msk_dlq::letter::DeadLetter;
//! use msk_dlq::sink::{BoxFuture, Confirmation, DeadLetterSink, SinkError, SinkResult};
//! use tokio::time::Instant;
//!
//! struct Stdout;
//!
//! impl DeadLetterSink for Stdout {
//!     fn name(&self) -> &'static str {
//!         "stdout"
//!     }
//!
//!     fn send<'a>(&'a self, letter: &'a DeadLetter, _deadline: Instant) -> BoxFuture<'a, SinkResult> {
//!         Box::pin(async move {
//!             let body = letter.envelope().to_json().map_err(|e| SinkError::unavailable("stdout", e.to_string()))?;
//!             println!("{body}");
//!             Ok(Confirmation::new("stdout", "printed"))
//!         })
//!     }
//! }
//! ```

#[cfg(any(feature = "sqs", feature = "sns"))]
mod batched;
#[cfg(feature = "s3")]
mod claim_check;
mod config;
#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "sns")]
mod sns;
#[cfg(feature = "sqs")]
mod sqs;

use std::error::Error as StdError;
use std::sync::Arc;

use futures::future::join_all;
use tokio::time::Instant;

pub use futures::future::BoxFuture;

#[cfg(any(feature = "sqs", feature = "sns"))]
pub use batched::{BatchTransport, BatchedSink, EntryStatus, OutMessage, MAX_BATCH_ENTRIES};
#[cfg(feature = "s3")]
pub use claim_check::S3ClaimCheck;
pub use config::{build_sink, SinkBuildError, SinkConfig, SinkContext, SinkKind, UnknownSinkKind};
#[cfg(feature = "kafka")]
pub use kafka::{KafkaSink, Partitioning};
#[cfg(feature = "sns")]
pub use sns::{SnsTransport, SNS_MAX_BYTES};
#[cfg(feature = "sqs")]
pub use sqs::{SqsTransport, SQS_MAX_BYTES};

use crate::letter::{DeadLetter, ValueLocation};

/// An error kept as the source of another, shareable between the results
/// of a batch.
pub type SharedError = Arc<dyn StdError + Send + Sync>;

/// Proof that a sink stored a letter durably.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Confirmation {
    /// The sink's name.
    pub sink: &'static str,
    /// Where it landed: `topic/partition@offset`, a message id ...
    pub location: String,
}

impl Confirmation {
    /// A confirmation from `sink` of a write at `location`.
    pub fn new(sink: &'static str, location: impl Into<String>) -> Self {
        Self {
            sink,
            location: location.into(),
        }
    }
}

/// Why a sink did not confirm a letter. The record is reported failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// No sink is configured.
    #[error("no dead-letter sink is configured (MSK_DLQ_SINK=none)")]
    NotConfigured,
    /// The service refused this letter.
    #[error("{sink} refused the dead letter: {code}: {message}")]
    Rejected {
        /// The sink.
        sink: &'static str,
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The service could not be reached or failed.
    #[error("{sink} could not be reached or failed: {message}")]
    Unavailable {
        /// The sink.
        sink: &'static str,
        /// What happened.
        message: String,
        /// The error behind it.
        #[source]
        source: Option<SharedError>,
    },
    /// The letter is larger than the sink accepts and cannot be claim-checked.
    #[error("dead letter of {size} bytes exceeds the {limit}-byte limit of {sink} and no large-payload bucket is configured")]
    TooLarge {
        /// The sink.
        sink: &'static str,
        /// The letter's size.
        size: usize,
        /// The sink's limit.
        limit: usize,
    },
    /// No confirmation came before the deadline.
    #[error("{sink} did not confirm the dead letter before the invocation deadline")]
    DeadlineExceeded {
        /// The sink.
        sink: &'static str,
    },
}

impl SinkError {
    /// [`SinkError::Unavailable`] without a source.
    pub fn unavailable(sink: &'static str, message: impl Into<String>) -> Self {
        SinkError::Unavailable {
            sink,
            message: message.into(),
            source: None,
        }
    }

    /// [`SinkError::Unavailable`] caused by `source`.
    pub fn unavailable_because(
        sink: &'static str,
        message: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        SinkError::Unavailable {
            sink,
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }
}

/// One letter's result.
pub type SinkResult = Result<Confirmation, SinkError>;

/// A dead-letter destination.
///
/// Implement [`send`](DeadLetterSink::send); a sink that can write several
/// letters in one call (SQS, SNS, Kafka) also overrides
/// [`send_batch`](DeadLetterSink::send_batch). Both must return by
/// `deadline`; a letter not confirmed by then is an error.
pub trait DeadLetterSink: Send + Sync + 'static {
    /// A short name for logs and errors.
    fn name(&self) -> &'static str;

    /// Stores one letter; `Ok` only once it is durably stored.
    fn send<'a>(&'a self, letter: &'a DeadLetter, deadline: Instant) -> BoxFuture<'a, SinkResult>;

    /// Stores several letters: one result per letter, in order. The default
    /// sends each with [`send`](DeadLetterSink::send), concurrently.
    fn send_batch<'a>(
        &'a self,
        letters: &'a [DeadLetter],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<SinkResult>> {
        Box::pin(join_all(letters.iter().map(|l| self.send(l, deadline))))
    }
}

/// Stores values too large for a message and reads them back (the S3
/// claim check).
pub trait LargeValueStore: Send + Sync + 'static {
    /// Stores `value` for `letter`; where it went.
    fn store<'a>(
        &'a self,
        letter: &'a DeadLetter,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<ValueLocation, SinkError>>;

    /// Reads a stored value back.
    fn fetch<'a>(
        &'a self,
        location: &'a ValueLocation,
    ) -> BoxFuture<'a, Result<Vec<u8>, SinkError>>;
}

/// No DLQ: every letter fails, so its record is reported failed and Lambda
/// re-delivers it. Nothing is dropped.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSink;

impl DeadLetterSink for NoSink {
    fn name(&self) -> &'static str {
        "none"
    }

    fn send<'a>(&'a self, _: &'a DeadLetter, _: Instant) -> BoxFuture<'a, SinkResult> {
        Box::pin(async { Err(SinkError::NotConfigured) })
    }
}

/// Sends `letters` through `sink` bounded by `deadline`: on time-out, and
/// for a sink that answered for the wrong number of letters, every letter
/// is an error. One result per letter, in order.
pub async fn send_by_deadline(
    sink: &dyn DeadLetterSink,
    letters: &[DeadLetter],
    deadline: Instant,
) -> Vec<SinkResult> {
    if letters.is_empty() {
        return Vec::new();
    }
    let name = sink.name();
    match tokio::time::timeout_at(deadline, sink.send_batch(letters, deadline)).await {
        Ok(results) if results.len() == letters.len() => results,
        // A sink that answered for the wrong number of letters confirmed
        // nothing we can trust.
        Ok(_) => letters
            .iter()
            .map(|_| {
                Err(SinkError::unavailable(
                    name,
                    "sink returned a result count different from the letter count",
                ))
            })
            .collect(),
        Err(_) => letters
            .iter()
            .map(|_| Err(SinkError::DeadlineExceeded { sink: name }))
            .collect(),
    }
}

/// Tries `primary`, then `fallback` for the letters the primary did not
/// confirm. Only a letter both failed is an error.
pub struct FallbackSink {
    primary: Arc<dyn DeadLetterSink>,
    fallback: Arc<dyn DeadLetterSink>,
}

impl FallbackSink {
    /// `fallback` takes what `primary` does not confirm.
    pub fn new(primary: Arc<dyn DeadLetterSink>, fallback: Arc<dyn DeadLetterSink>) -> Self {
        Self { primary, fallback }
    }
}

impl DeadLetterSink for FallbackSink {
    fn name(&self) -> &'static str {
        "fallback"
    }

    fn send<'a>(&'a self, letter: &'a DeadLetter, deadline: Instant) -> BoxFuture<'a, SinkResult> {
        Box::pin(async move {
            let mut results = self
                .send_batch(std::slice::from_ref(letter), deadline)
                .await;
            results
                .pop()
                .unwrap_or_else(|| Err(SinkError::unavailable("fallback", "no result")))
        })
    }

    fn send_batch<'a>(
        &'a self,
        letters: &'a [DeadLetter],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<SinkResult>> {
        Box::pin(async move {
            // The primary gets half of the time left, so a hanging primary
            // still leaves the fallback time to confirm.
            let now = Instant::now();
            let primary_deadline = now + deadline.saturating_duration_since(now) / 2;
            let mut results =
                send_by_deadline(self.primary.as_ref(), letters, primary_deadline).await;
            let retry_idx: Vec<usize> = results
                .iter()
                .enumerate()
                .filter(|(_, r)| r.is_err())
                .map(|(i, _)| i)
                .collect();
            if retry_idx.is_empty() {
                return results;
            }
            let retry: Vec<DeadLetter> = retry_idx.iter().map(|&i| letters[i].clone()).collect();
            for (pos, second) in send_by_deadline(self.fallback.as_ref(), &retry, deadline)
                .await
                .into_iter()
                .enumerate()
            {
                let i = retry_idx[pos];
                if second.is_ok() {
                    results[i] = second;
                } else if let (Err(first), Err(second)) = (&results[i], second) {
                    tracing::warn!(primary = %first, fallback = %second, "both dead-letter sinks failed");
                }
            }
            results
        })
    }
}
