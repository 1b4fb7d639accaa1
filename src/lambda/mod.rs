//! The Lambda runtime glue: cold start (configuration, sinks), the
//! invocation loop, logs and metrics. Everything else is in the layers below.

mod body;
#[cfg(feature = "replay")]
mod bom;
mod consumer;
mod logs;
mod memory;
#[cfg(feature = "replay")]
mod reprocessor;

pub use crate::event::DecodedEvent;
pub use consumer::{run, serve, BuildError, ConsumerBuilder, InvocationError};
pub use logs::init_tracing;
pub use memory::keep_freed_memory;
#[cfg(feature = "replay")]
pub use reprocessor::{
    handle_invocation, handle_kafka, handle_sqs, run_reprocessor, ReplayJob, ReprocessError,
};
