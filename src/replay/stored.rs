//! A dead letter read back, whatever wrote it, normalized: enough to
//! filter, show and replay it.

use crate::letter::{DlqKind, ValueLocation};
use crate::record::Header;
use crate::schema::SchemaFacts;

/// Which system wrote the dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// msk-dlq's Kafka DLQ record (`dlq.*` headers).
    KafkaRecord,
    /// msk-dlq's JSON envelope (SQS/SNS).
    Envelope,
    /// Lambda's Kafka-topic on-failure destination record (with `payload`).
    LambdaKafkaDestination,
    /// Lambda's S3 on-failure document (with `payload`).
    LambdaPayload,
    /// Spring Kafka's `DeadLetterPublishingRecoverer` (`kafka_dlt-*` headers).
    SpringKafka,
    /// Kafka Connect's DLQ (`__connect.errors.*` headers).
    KafkaConnect,
}

impl Format {
    /// A short name for views and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::KafkaRecord => "msk-dlq-kafka",
            Format::Envelope => "msk-dlq-envelope",
            Format::LambdaKafkaDestination => "lambda-kafka-destination",
            Format::LambdaPayload => "lambda-payload",
            Format::SpringKafka => "spring-kafka",
            Format::KafkaConnect => "kafka-connect",
        }
    }

    /// The format named by [`Format::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        [
            Format::KafkaRecord,
            Format::Envelope,
            Format::LambdaKafkaDestination,
            Format::LambdaPayload,
            Format::SpringKafka,
            Format::KafkaConnect,
        ]
        .into_iter()
        .find(|f| f.as_str() == name)
    }
}

/// Where the dead record's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredValue {
    /// In the letter itself (`None`: a tombstone).
    Inline(Option<Vec<u8>>),
    /// Claim-checked to S3.
    S3(ValueLocation),
}

/// One dead record, normalized: enough to filter, show and replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredDeadLetter {
    /// Who wrote it.
    pub format: Format,
    /// Original topic.
    pub topic: Option<String>,
    /// Original partition.
    pub partition: Option<i32>,
    /// Original offset.
    pub offset: Option<i64>,
    /// Original timestamp, epoch ms.
    pub timestamp: Option<i64>,
    /// `CREATE_TIME` or `LOG_APPEND_TIME`, when known.
    pub timestamp_type: Option<String>,
    /// Handler calls before it was dead-lettered, when known.
    pub attempts: Option<u32>,
    /// Original key.
    pub key: Option<Vec<u8>>,
    /// Original value, or where it is.
    pub value: StoredValue,
    /// The original headers, without any DLQ metadata headers.
    pub headers: Vec<Header>,
    /// Why, when known.
    pub kind: Option<DlqKind>,
    /// Error type, when known.
    pub error_type: Option<String>,
    /// Error message, when known.
    pub error_message: Option<String>,
    /// When it was dead-lettered, epoch ms.
    pub failed_at_ms: Option<i64>,
    /// Replay generation.
    pub replay_count: u32,
    /// Which consumer dead-lettered it.
    pub consumer: Option<String>,
    /// Event source ARN or `SelfManagedKafka`, where known.
    pub source: Option<String>,
    /// The source cluster's brokers, where known.
    pub bootstrap_servers: Option<String>,
    /// What it keeps of the record's schema (registry metadata, and how
    /// Lambda delivered the record).
    pub schema: SchemaFacts,
}

/// An offset range that Lambda's metadata-only on-failure document names;
/// the records must be fetched back from the source cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchBack {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// First offset of the range.
    pub first_offset: i64,
    /// Last offset of the range (inclusive).
    pub last_offset: i64,
    /// The source cluster's brokers, as the document says.
    pub bootstrap_servers: Option<String>,
    /// The event source ARN, as the document says.
    pub source: Option<String>,
    /// Lambda's condition, e.g. `RetryAttemptsExhausted`.
    pub condition: Option<String>,
    /// When Lambda wrote the document (epoch ms).
    pub written_at_ms: Option<i64>,
}

/// The kind of a record Lambda's on-failure document names, from its
/// condition: a record the mapping's schema registry rejected
/// (`SCHEMA_NOT_FOUND`, `DESERIALIZATION_ERROR`) will not pass as it is,
/// so it is `permanent`; anything else ran out of retries.
pub(crate) fn kind_of_condition(condition: Option<&str>) -> DlqKind {
    match condition {
        Some(c)
            if c.eq_ignore_ascii_case("SCHEMA_NOT_FOUND")
                || c.eq_ignore_ascii_case("DESERIALIZATION_ERROR") =>
        {
            DlqKind::Permanent
        }
        _ => DlqKind::RetriesExhausted,
    }
}

/// What one DLQ message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Dead letters with their records.
    Letters(Vec<StoredDeadLetter>),
    /// Offset ranges whose records must be read back from the cluster.
    FetchBack(Vec<FetchBack>),
}

/// A DLQ message that is not a dead letter this crate can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not a format this crate reads.
    #[error("not a dead letter this tool understands: {0}")]
    Unknown(String),
    /// A known format with damaged content.
    #[error("dead letter is damaged: {0}")]
    Damaged(String),
}
