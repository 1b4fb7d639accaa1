//! A local emulator of Lambda's Kafka event source mapping (provisioned
//! mode): it consumes topics of a real broker from a consumer group, builds
//! invocation events byte-compatible with Lambda's, invokes a function
//! binary through the Lambda Runtime API, and does with the answer what the
//! mapping does: commit, re-deliver, retry, bisect, send exhausted records
//! to the on-failure destination, move on.

pub mod answer;
pub mod destination;
pub mod engine;
pub mod event;
pub mod schema;
pub mod settings;
pub mod stats;
pub mod template;

pub use destination::Destination;
pub use engine::{Esm, EsmError, FunctionSpec};
pub use schema::SchemaRegistry;
pub use settings::{
    EsmSettings, EventShape, IdentifierKey, OnFailure, Redelivery, StartingPosition,
};
pub use stats::Stats;
