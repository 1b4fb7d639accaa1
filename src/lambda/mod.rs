//! The Lambda runtime glue: cold start (configuration, sinks), the
//! invocation loop, logs and metrics. Everything else is in the layers below.

mod body;
#[cfg(feature = "replay")]
mod bom;
mod consumer;
mod memory;
#[cfg(feature = "replay")]
mod reprocessor;

pub use crate::event::DecodedEvent;
pub use consumer::{run, serve, BuildError, ConsumerBuilder, InvocationError};
#[cfg(feature = "replay")]
pub use reprocessor::{
    handle_invocation, handle_kafka, handle_sqs, run_reprocessor, ReplayJob, ReprocessError,
};

/// Logs for Lambda: level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON
/// when the function's log format is JSON, to stderr (stdout carries the
/// EMF metrics). Record payloads are never logged. Does nothing when the
/// program installed a subscriber of its own.
pub fn init_tracing() {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
}
