//! The per-record handler a user writes, and what it is told.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;

use crate::event::BatchSource;
use crate::record::KafkaRecord;

/// How a handler failure is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// May succeed if tried again (timeouts, throttling, a dependency down).
    Transient,
    /// Will never succeed: dead-letter as `permanent`.
    Permanent,
    /// The handler asks for this record to be dead-lettered (`manual`).
    DeadLetter,
}

/// A handler's failure: its class, a short machine-readable type (it
/// becomes `dlq.error.type`), a message, and optionally the error behind it.
#[derive(Clone, thiserror::Error)]
#[error("{class:?} {error_type}: {message}")]
pub struct HandlerError {
    /// How it is treated.
    pub class: ErrorClass,
    /// A short machine-readable name, e.g. `InvalidOrder`.
    pub error_type: String,
    /// What went wrong.
    pub message: String,
    #[source]
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("class", &self.class)
            .field("error_type", &self.error_type)
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(ToString::to_string))
            .finish()
    }
}

impl PartialEq for HandlerError {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class
            && self.error_type == other.error_type
            && self.message == other.message
    }
}

impl Eq for HandlerError {}

impl HandlerError {
    /// Worth retrying.
    pub fn transient(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, error_type, message)
    }

    /// Never worth retrying: dead-letter as `permanent`.
    pub fn permanent(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, error_type, message)
    }

    /// Dead-letter this record on purpose (Karafka's `dispatch_to_dlq`).
    pub fn dead_letter(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorClass::DeadLetter, error_type, message)
    }

    /// An error of `class`.
    pub fn new(
        class: ErrorClass,
        error_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            class,
            error_type: error_type.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Keeps the error behind this one (reachable through
    /// [`std::error::Error::source`]).
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }
}

impl From<crate::schema::ValueError> for HandlerError {
    /// A value that cannot be read will not become readable by retrying:
    /// `permanent`, typed `SchemaMismatch`, `SchemaNotFound` or
    /// `DeserializationError`; a registry that did not answer is
    /// `transient` (`SchemaRegistryUnavailable`).
    fn from(e: crate::schema::ValueError) -> Self {
        let class = if e.is_transient() {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        };
        HandlerError::new(class, e.error_type(), e.to_string()).with_source(e)
    }
}

/// What a handler knows about the call it is in.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordContext {
    /// 1 for the first call with this record in this invocation.
    pub attempt: u32,
    /// Attempts allowed per invocation.
    pub max_attempts: u32,
    /// The call is cut at this instant (attempt time-out or the
    /// invocation's deadline less its margin).
    pub deadline: Instant,
    /// Lambda's request id of the invocation.
    pub request_id: Arc<str>,
    /// Where the batch came from.
    pub source: Arc<BatchSource>,
}

impl RecordContext {
    /// A context for attempt `attempt` of `max_attempts`, cut at `deadline`;
    /// for handlers' own tests.
    pub fn new(attempt: u32, max_attempts: u32, deadline: Instant) -> Self {
        Self {
            attempt,
            max_attempts,
            deadline,
            request_id: Arc::from(""),
            source: Arc::new(BatchSource {
                event_source: crate::event::SOURCE_MSK.to_owned(),
                event_source_arn: None,
                bootstrap_servers: None,
            }),
        }
    }

    /// Whether this is the last attempt of this invocation.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Handles one record. Records of one partition are handled one at a time in
/// offset order; partitions run concurrently, so the handler is shared.
///
/// A panic inside `handle` is caught and becomes a `permanent` failure of
/// that record (`error.type` = `HandlerPanic`).
pub trait RecordHandler: Send + Sync + 'static {
    /// Handles `record`; `Ok` means done.
    fn handle(
        &self,
        record: &KafkaRecord,
        ctx: &RecordContext,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// A [`RecordHandler`] made of a closure; see [`handler_fn`].
#[derive(Debug, Clone, Copy)]
pub struct HandlerFn<F>(F);

/// A handler from a closure taking the record and its context by value
/// (both are cheap clones):
///
/// ```
/// use msk_dlq::{handler_fn, HandlerError};
/// let handler = handler_fn(|record, _ctx| async move {
///     serde_json::from_slice::<serde_json::Value>(record.value().unwrap_or(b"null"))
///         .map(drop)
///         .map_err(|e| HandlerError::permanent("InvalidJson", e.to_string()))
/// });
/// # let _ = handler;
/// ```
pub fn handler_fn<F, Fut>(f: F) -> HandlerFn<F>
where
    F: Fn(KafkaRecord, RecordContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    HandlerFn(f)
}

impl<F, Fut> RecordHandler for HandlerFn<F>
where
    F: Fn(KafkaRecord, RecordContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    fn handle(
        &self,
        record: &KafkaRecord,
        ctx: &RecordContext,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (self.0)(record.clone(), ctx.clone())
    }
}

/// A shared handler is a handler.
impl<H: RecordHandler> RecordHandler for Arc<H> {
    fn handle(
        &self,
        record: &KafkaRecord,
        ctx: &RecordContext,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self.as_ref().handle(record, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{RegistryError, SchemaId, ValueError};

    #[test]
    fn unreadable_values_are_permanent_and_registry_outages_transient() {
        let mismatch: HandlerError = ValueError::NoSchema { part: "value" }.into();
        assert_eq!(
            (mismatch.class, mismatch.error_type.as_str()),
            (ErrorClass::Permanent, "DeserializationError")
        );
        let outage: HandlerError = ValueError::Registry {
            part: "value",
            source: RegistryError::Unavailable {
                id: SchemaId::Confluent(1),
                source: "HTTP 503".into(),
            },
        }
        .into();
        assert_eq!(
            (outage.class, outage.error_type.as_str()),
            (ErrorClass::Transient, "SchemaRegistryUnavailable")
        );
        assert!(outage.source().is_some(), "the cause is kept");
    }
}
