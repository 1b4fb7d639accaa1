//! The consumer: a handler run over a batch with retries, a breaker and
//! dead-lettering, answered with a partial batch response.
//!
//! [`policy`] decides each record's fate without I/O; the executor carries
//! it out; [`BatchReport`] accounts for every record and [`BatchResponse`] tells Lambda
//! which ones to re-deliver. Build a [`Consumer`] with
//! [`crate::ConsumerBuilder`].

mod breaker;
mod executor;
mod flood;
mod handler;
pub mod policy;
mod report;
mod response;
mod retry;
mod settings;

use std::sync::Arc;

use tokio::time::Instant;

pub use breaker::{BreakerState, CircuitBreaker};
pub use flood::{FloodCounts, FloodGuard};
pub use handler::{handler_fn, ErrorClass, HandlerError, HandlerFn, RecordContext, RecordHandler};
pub use report::{BatchReport, FailReason, Outcome, RecordReport};
pub use response::{BatchResponse, IdentifierKey, ItemFailure, ItemIdentifier};
pub use retry::RetryPolicy;
pub use settings::{
    BreakerSettings, ConsumerSettings, ExhaustionPolicy, MetricsSettings, PartitionOrder,
};

pub(crate) use executor::Invocation;

use crate::event::Batch;
use crate::sink::DeadLetterSink;
use executor::Executor;

/// A handler, its settings and its dead-letter sink, ready for invocations.
/// Cheap to clone; the circuit breaker is shared by the clones, so it spans
/// the warm invocations of an execution environment.
pub struct Consumer<H> {
    executor: Arc<Executor<H>>,
}

impl<H> Clone for Consumer<H> {
    fn clone(&self) -> Self {
        Self {
            executor: self.executor.clone(),
        }
    }
}

impl<H: RecordHandler> Consumer<H> {
    /// A consumer from parts; [`crate::ConsumerBuilder`] also reads the
    /// environment and builds sinks.
    pub fn new(handler: H, settings: ConsumerSettings, sink: Arc<dyn DeadLetterSink>) -> Self {
        Self {
            executor: Arc::new(Executor::new(Arc::new(handler), sink, settings)),
        }
    }

    /// Runs partitions on `handle`'s runtime instead of the one the consumer
    /// was built in. Call it before cloning the consumer; a clone keeps the
    /// runtime it has.
    #[must_use]
    pub fn with_handler_runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        if let Some(executor) = Arc::get_mut(&mut self.executor) {
            executor.set_handler_runtime(handle);
        }
        self
    }

    /// Its settings.
    pub fn settings(&self) -> &ConsumerSettings {
        self.executor.settings()
    }

    /// The sink's name, for logs.
    pub fn sink_name(&self) -> &'static str {
        self.executor.sink_name()
    }

    /// Processes a decoded batch: `deadline` is the invocation's deadline,
    /// `now_ms` the wall clock (epoch ms) now, for record ages and
    /// `failed-at`. Every record ends processed, dead-lettered or failed.
    pub async fn process(&self, batch: &Batch, deadline: Instant, now_ms: i64) -> BatchReport {
        let inv = Invocation {
            deadline,
            now_ms,
            request_id: Arc::from(""),
        };
        self.executor.process(batch, &inv).await
    }

    pub(crate) async fn process_invocation(&self, batch: &Batch, inv: &Invocation) -> BatchReport {
        self.executor.process(batch, inv).await
    }
}
