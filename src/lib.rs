//! msk-dlq: consume Amazon MSK and self-managed Kafka topics with AWS Lambda
//! without losing a record.
//!
//! Every record of an invocation ends processed, dead-lettered (the sink
//! confirmed the write) or reported failed (Lambda re-delivers it).
//!
//! ```no_run
//! use msk_dlq::{HandlerError, KafkaRecord, RecordContext, RecordHandler};
//!
//! struct Orders;
//!
//! impl RecordHandler for Orders {
//!     async fn handle(&self, record: &KafkaRecord, _ctx: &RecordContext) -> Result<(), HandlerError> {
//!         // Not JSON, or JSON of another shape: a `permanent` error.
//!         let _order: serde_json::Value = record.value_json()?;
//!         Ok(())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     msk_dlq::run(Orders).await
//! }
//! ```
//!
//! # Layers
//!
//! From pure leaves up to the Lambda glue; a module uses only those above
//! it in this list:
//!
//! 1. leaves: [`codec`], [`headers`], [`record`], [`backoff`], and the clock;
//! 2. [`event`]: decoding what Lambda sends; [`schema`]: registry framing,
//!    wire-format decisions and typed values;
//! 3. [`letter`]: outgoing dead-letter formats;
//! 4. [`kafka`]: Kafka clients (connection, producer pool);
//! 5. [`sink`]: where dead letters go;
//! 6. [`consumer`]: the handler, the pure record [`consumer::policy`], the
//!    executor, the report and the response;
//! 7. [`replay`]: reading DLQs, parsing every dead-letter format, the pure
//!    replay plan, fetch-back and replay jobs;
//! 8. [`metrics`]: CloudWatch Embedded Metric Format;
//! 9. [`env`](mod@env): every `MSK_DLQ_*` variable;
//! 10. [`lambda`]: the runtime glue.
//!
//! # Features
//!
//! `kafka` (librdkafka), `sqs`, `sns`, `s3` (claim check), `replay` and
//! `tls-aws-lc` (the AWS clients' TLS, the SDK's default) are on by
//! default; an SQS-only consumer builds with `default-features = false,
//! features = ["sqs", "tls-aws-lc"]`, or `"tls-ring"` for a smaller binary,
//! and compiles neither librdkafka nor OpenSSL. `testing` adds synthetic
//! events and test doubles.
//! Typed values beyond JSON are opt-in: `avro` (apache-avro) and `protobuf`
//! (prost), with writer schemas from `registry-confluent` (REST) or
//! `registry-glue` (AWS SDK) — see [`schema`].
#![warn(missing_docs)]

#[cfg(any(
    feature = "sqs",
    feature = "sns",
    feature = "s3",
    feature = "registry-glue"
))]
pub mod aws;
pub mod backoff;
mod clock;
pub mod codec;
pub mod consumer;
pub mod env;
pub mod event;
pub mod headers;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod lambda;
pub mod letter;
pub mod metrics;
pub mod record;
#[cfg(feature = "replay")]
pub mod replay;
pub mod schema;
pub mod sink;
#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{deadline_instant, epoch_ms_now};
pub use consumer::{
    handler_fn, BatchResponse, Consumer, ConsumerSettings, ErrorClass, HandlerError, Outcome,
    PartitionOrder, RecordContext, RecordHandler,
};
pub use event::{decode_event, decode_event_body};
#[cfg(feature = "replay")]
pub use lambda::run_reprocessor;
pub use lambda::{run, ConsumerBuilder};
pub use letter::{DeadLetter, DlqKind};
pub use record::{Header, KafkaRecord};
pub use sink::DeadLetterSink;
