//! msk-dlq: consume Amazon MSK and self-managed Kafka topics with AWS Lambda
//! without losing a record.
//!
//! The core is sans-IO: [`event`] decodes what Lambda sends, [`process`]
//! decides each record's [`outcome`], [`response`] builds the partial batch
//! response and [`envelope`] the dead-letter formats. Everything that talks to
//! a network sits behind the [`sink::DeadLetterSink`] trait.

pub mod aws;
pub mod breaker;
pub mod config;
pub mod dead_letter;
pub mod envelope;
pub mod event;
pub mod handler;
pub mod inspect;
pub mod kafka;
pub mod lambda;
pub mod metrics;
pub mod outcome;
pub mod process;
pub mod replay;
pub mod replayer;
pub mod reprocess;
pub mod response;
pub mod retry;
pub mod sample;
pub mod sink;
pub mod source;

pub use event::{
    decode_event, Batch, BatchSource, EventError, Header, KafkaRecord, MalformedRecord,
};
pub use handler::{ErrorClass, HandlerError, RecordHandler};
pub use outcome::{DlqKind, Outcome};
pub use response::BatchResponse;
