//! The names this project writes on dead letters: `dlq.*` Kafka headers and
//! SQS/SNS message attributes (the dead-letter format in `docs/dead-letter-format.md`).

/// Original topic of the dead record.
pub const ORIGINAL_TOPIC: &str = "dlq.original.topic";
/// Original partition (decimal).
pub const ORIGINAL_PARTITION: &str = "dlq.original.partition";
/// Original offset (decimal).
pub const ORIGINAL_OFFSET: &str = "dlq.original.offset";
/// Original timestamp, epoch milliseconds (decimal).
pub const ORIGINAL_TIMESTAMP: &str = "dlq.original.timestamp";
/// `CREATE_TIME` or `LOG_APPEND_TIME`.
pub const ORIGINAL_TIMESTAMP_TYPE: &str = "dlq.original.timestamp-type";
/// The key's schema format (`AVRO`, `PROTOBUF`, `JSON`), from Lambda's
/// `keySchemaMetadata`.
pub const ORIGINAL_KEY_DATA_FORMAT: &str = "dlq.original.key.data-format";
/// The key's schema id in its registry (a number or a UUID).
pub const ORIGINAL_KEY_SCHEMA_ID: &str = "dlq.original.key.schema-id";
/// The value's schema format, from Lambda's `valueSchemaMetadata`.
pub const ORIGINAL_VALUE_DATA_FORMAT: &str = "dlq.original.value.data-format";
/// The value's schema id in its registry.
pub const ORIGINAL_VALUE_SCHEMA_ID: &str = "dlq.original.value.schema-id";
/// How Lambda delivered the record: `SOURCE` (framing removed) or `JSON`
/// (converted), the mapping's `EventRecordFormat`.
pub const ORIGINAL_RECORD_FORMAT: &str = "dlq.original.record-format";
/// The event source ARN, or `SelfManagedKafka`.
pub const SOURCE: &str = "dlq.source";
/// The function (or configured consumer name) that dead-lettered it.
pub const CONSUMER: &str = "dlq.consumer";
/// Why: `permanent`, `malformed`, `retries-exhausted`, `too-old`, `manual`.
pub const KIND: &str = "dlq.kind";
/// A short machine-readable error name, e.g. `InvalidOrder`.
pub const ERROR_TYPE: &str = "dlq.error.type";
/// The error message, at most [`MAX_ERROR_MESSAGE_BYTES`].
pub const ERROR_MESSAGE: &str = "dlq.error.message";
/// Handler calls made in the invocation that dead-lettered it.
pub const ATTEMPTS: &str = "dlq.attempts";
/// RFC 3339 UTC time of dead-lettering.
pub const FAILED_AT: &str = "dlq.failed-at";
/// How often the record was replayed from a DLQ (absent: 0).
pub const REPLAY_COUNT: &str = "dlq.replay-count";
/// Prefix of every header this project owns.
pub const PREFIX: &str = "dlq.";

/// SQS/SNS message attribute with the kind, for filter policies.
pub const ATTRIBUTE_KIND: &str = "dlq.kind";
/// SQS/SNS message attribute with the original topic.
pub const ATTRIBUTE_ORIGINAL_TOPIC: &str = "dlq.original.topic";

/// `dlq.error.message` is cut to this many bytes (on a character boundary).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Whether a header name is one of ours.
pub fn is_ours(name: &str) -> bool {
    name.starts_with(PREFIX)
}
