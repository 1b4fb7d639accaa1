//! Where dead letters go. A sink confirms each letter on its own; only a
//! confirmed letter counts as dead-lettered, anything else is reported to
//! Lambda as failed.

pub mod batched;
pub mod claim_check;
pub mod config;
pub mod kafka;
pub mod sns;
pub mod sqs;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::time::Instant;

use crate::envelope::DeadLetter;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Proof that a sink stored a letter durably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub sink: &'static str,
    /// Where it landed: `topic/partition@offset`, a message id ...
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    #[error("no dead-letter sink is configured (MSK_DLQ_SINK=none)")]
    NotConfigured,
    #[error("{sink} refused the dead letter: {code}: {message}")]
    Rejected {
        sink: &'static str,
        code: String,
        message: String,
    },
    #[error("{sink} could not be reached or failed: {message}")]
    Unavailable { sink: &'static str, message: String },
    #[error("dead letter of {size} bytes exceeds the {limit}-byte limit of {sink} and no large-payload bucket is configured")]
    TooLarge {
        sink: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("{sink} did not confirm the dead letter before the invocation deadline")]
    DeadlineExceeded { sink: &'static str },
}

pub type SinkResult = Result<Confirmation, SinkError>;

/// A dead-letter destination. `send` returns one result per letter, in
/// order, and must return by `deadline`; a letter it could not confirm by
/// then is an error.
pub trait DeadLetterSink: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    fn send<'a>(
        &'a self,
        letters: &'a [DeadLetter],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<SinkResult>>;
}

/// No DLQ: every letter fails, so its record is reported failed and Lambda
/// re-delivers it. Nothing is dropped.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSink;

impl DeadLetterSink for NoSink {
    fn name(&self) -> &'static str {
        "none"
    }

    fn send<'a>(&'a self, letters: &'a [DeadLetter], _: Instant) -> BoxFuture<'a, Vec<SinkResult>> {
        Box::pin(async move {
            letters
                .iter()
                .map(|_| Err(SinkError::NotConfigured))
                .collect()
        })
    }
}

/// Runs `send` bounded by `deadline`: on time-out every letter is an error.
pub async fn send_by_deadline(
    sink: &dyn DeadLetterSink,
    letters: &[DeadLetter],
    deadline: Instant,
) -> Vec<SinkResult> {
    if letters.is_empty() {
        return Vec::new();
    }
    let name = sink.name();
    match tokio::time::timeout_at(deadline, sink.send(letters, deadline)).await {
        Ok(results) if results.len() == letters.len() => results,
        // A sink that answered for the wrong number of letters confirmed
        // nothing we can trust.
        Ok(_) => letters
            .iter()
            .map(|_| {
                Err(SinkError::Unavailable {
                    sink: name,
                    message: "sink returned a result count different from the letter count".into(),
                })
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
    pub primary: Arc<dyn DeadLetterSink>,
    pub fallback: Arc<dyn DeadLetterSink>,
}

impl DeadLetterSink for FallbackSink {
    fn name(&self) -> &'static str {
        "fallback"
    }

    fn send<'a>(
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
