//! Schema registries (AWS Glue, Confluent-compatible): the framing their
//! serializers put in front of a payload, what a dead letter keeps of a
//! record's schema, how a replay restores the bytes the topic's consumers
//! expect, and typed values for handlers.
//!
//! With a registry, the bytes Lambda delivers are not the bytes on the
//! topic: `EventRecordFormat: SOURCE` removes the framing, `JSON` converts
//! the value. A replay re-frames from the schema id where that is exact,
//! reads the original back from the topic by offset where it is not, and
//! otherwise keeps the letter.

mod framing;
mod value;
mod wire;

pub use framing::{
    Framing, FramingError, SchemaId, CONFLUENT_MAGIC, GLUE_COMPRESSION_NONE, GLUE_COMPRESSION_ZLIB,
    GLUE_HEADER_VERSION,
};
pub use value::ValueError;
pub use wire::{wire_plan, RecordFormat, SchemaFacts, WireMode, WirePlan};
