//! The per-record handler a user writes.

use std::future::Future;

use crate::event::KafkaRecord;

/// How a handler failure is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// May succeed if tried again (timeouts, throttling, a dependency down).
    Transient,
    /// Will never succeed: dead-letter as `permanent`.
    Permanent,
    /// The handler asks for this record to be dead-lettered (`manual`).
    DeadLetter,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class:?} {error_type}: {message}")]
pub struct HandlerError {
    pub class: ErrorClass,
    /// A short machine-readable name (`dlq.error.type`), e.g. `InvalidOrder`.
    pub error_type: String,
    pub message: String,
}

impl HandlerError {
    pub fn transient(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, error_type, message)
    }

    pub fn permanent(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, error_type, message)
    }

    /// Dead-letter this record on purpose (Karafka's `dispatch_to_dlq`).
    pub fn dead_letter(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorClass::DeadLetter, error_type, message)
    }

    pub fn new(
        class: ErrorClass,
        error_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            class,
            error_type: error_type.into(),
            message: message.into(),
        }
    }
}

/// What the handler knows about the current attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first call with this record in this invocation.
    pub number: u32,
    pub max_attempts: u32,
}

/// Handles one record. Records of one partition are handled one at a time in
/// offset order; partitions run concurrently, so the handler is shared.
///
/// A panic inside `handle` is caught and becomes a `permanent` failure of
/// that record (`error.type` = `HandlerPanic`).
pub trait RecordHandler: Send + Sync + 'static {
    fn handle(
        &self,
        record: &KafkaRecord,
        attempt: Attempt,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}
