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

#[cfg(feature = "avro")]
mod avro;
#[cfg(feature = "registry-confluent")]
mod confluent;
mod framing;
#[cfg(feature = "registry-glue")]
mod glue;
#[cfg(feature = "protobuf")]
mod protobuf;
mod registry;
mod value;
mod wire;

#[cfg(feature = "avro")]
pub use avro::{AvroDecoder, AvroSchemaError};
#[cfg(feature = "registry-confluent")]
pub use confluent::{ConfluentConfigError, ConfluentRegistry};
pub use framing::{
    Framing, FramingError, SchemaId, CONFLUENT_MAGIC, GLUE_COMPRESSION_NONE, GLUE_COMPRESSION_ZLIB,
    GLUE_HEADER_VERSION,
};
#[cfg(feature = "registry-glue")]
pub use glue::GlueRegistry;
pub use registry::{RegisteredSchema, RegistryError, SchemaRegistry, StaticRegistry};
pub use value::{ValueError, MAX_INFLATED_BYTES};
pub use wire::{wire_plan, RecordFormat, SchemaFacts, WireMode, WirePlan};
