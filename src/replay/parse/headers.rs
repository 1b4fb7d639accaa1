//! Dead letters described by Kafka headers: ours (`dlq.*`), Spring Kafka's
//! (`kafka_dlt-*`) and Kafka Connect's (`__connect.errors.*`), as one table
//! of header names per writer.

use crate::codec::parse_rfc3339_ms;
use crate::headers as ours;
use crate::letter::DlqKind;
use crate::record::{Header, SchemaMetadata};
use crate::replay::stored::{Format, ParseError, StoredDeadLetter, StoredValue};
use crate::schema::{RecordFormat, SchemaFacts};

/// How one writer names the facts of a dead letter.
pub(super) struct Scheme {
    format: Format,
    /// Present on every letter of this writer.
    markers: &'static [&'static str],
    /// Headers with this prefix are the writer's, not the record's.
    prefix: &'static str,
    topic: &'static str,
    partition: &'static str,
    offset: &'static str,
    timestamp: Option<&'static str>,
    timestamp_type: Option<&'static str>,
    attempts: Option<&'static str>,
    kind: Option<&'static str>,
    error_type: &'static str,
    error_message: &'static str,
    failed_at: Option<&'static str>,
    consumer: &'static str,
    source: Option<&'static str>,
    number: fn(&[u8]) -> Option<i64>,
}

pub(super) const SCHEMES: [Scheme; 3] = [
    Scheme {
        format: Format::KafkaRecord,
        markers: &[ours::ORIGINAL_TOPIC, ours::KIND],
        prefix: ours::PREFIX,
        topic: ours::ORIGINAL_TOPIC,
        partition: ours::ORIGINAL_PARTITION,
        offset: ours::ORIGINAL_OFFSET,
        timestamp: Some(ours::ORIGINAL_TIMESTAMP),
        timestamp_type: Some(ours::ORIGINAL_TIMESTAMP_TYPE),
        attempts: Some(ours::ATTEMPTS),
        kind: Some(ours::KIND),
        error_type: ours::ERROR_TYPE,
        error_message: ours::ERROR_MESSAGE,
        failed_at: Some(ours::FAILED_AT),
        consumer: ours::CONSUMER,
        source: Some(ours::SOURCE),
        number: decimal,
    },
    Scheme {
        format: Format::SpringKafka,
        markers: &["kafka_dlt-original-topic"],
        prefix: "kafka_dlt-",
        topic: "kafka_dlt-original-topic",
        partition: "kafka_dlt-original-partition",
        offset: "kafka_dlt-original-offset",
        timestamp: Some("kafka_dlt-original-timestamp"),
        timestamp_type: Some("kafka_dlt-original-timestamp-type"),
        attempts: None,
        kind: None,
        error_type: "kafka_dlt-exception-fqcn",
        error_message: "kafka_dlt-exception-message",
        failed_at: None,
        consumer: "kafka_dlt-original-consumer-group",
        source: None,
        number: big_endian_or_decimal,
    },
    Scheme {
        format: Format::KafkaConnect,
        markers: &["__connect.errors.topic"],
        prefix: "__connect.errors.",
        topic: "__connect.errors.topic",
        partition: "__connect.errors.partition",
        offset: "__connect.errors.offset",
        timestamp: None,
        timestamp_type: None,
        attempts: None,
        kind: None,
        error_type: "__connect.errors.exception.class.name",
        error_message: "__connect.errors.exception.message",
        failed_at: None,
        consumer: "__connect.errors.connector.name",
        source: None,
        number: decimal,
    },
];

impl Scheme {
    /// The letter, if `headers` are this writer's: `None` when they are not,
    /// an error when they are but a header the replay needs is missing or
    /// unreadable (a damaged partition must not become "any partition").
    pub(super) fn read(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Option<Result<StoredDeadLetter, ParseError>> {
        let get = |name: &str| {
            headers
                .iter()
                .find(|h| h.name == name)
                .map(|h| h.value.as_slice())
        };
        if !self.markers.iter().any(|m| get(m).is_some()) {
            return None;
        }
        Some(self.letter(key, value, headers, &get))
    }

    fn letter<'h>(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &'h [Header],
        get: &dyn Fn(&str) -> Option<&'h [u8]>,
    ) -> Result<StoredDeadLetter, ParseError> {
        let damaged = |name: &str, why: String| ParseError::Damaged(format!("header {name} {why}"));
        let text = |name: &str| -> Result<Option<String>, ParseError> {
            get(name)
                .map(|v| {
                    std::str::from_utf8(v)
                        .map(str::to_owned)
                        .map_err(|_| damaged(name, "is not UTF-8".into()))
                })
                .transpose()
        };
        // Free text only informs: kept even when not UTF-8.
        let info = |name: &str| get(name).map(|v| String::from_utf8_lossy(v).into_owned());
        let number = |name: &str, min: i64| -> Result<Option<i64>, ParseError> {
            get(name)
                .map(|v| {
                    (self.number)(v).filter(|n| *n >= min).ok_or_else(|| {
                        damaged(
                            name,
                            format!("is {:?}, not a number >= {min}", String::from_utf8_lossy(v)),
                        )
                    })
                })
                .transpose()
        };
        let num = |name: &str| number(name, 0);
        let topic = text(self.topic)?.ok_or_else(|| damaged(self.topic, "is missing".into()))?;
        let partition = num(self.partition)?
            .map(|p| {
                i32::try_from(p).map_err(|_| damaged(self.partition, format!("{p} is too large")))
            })
            .transpose()?;
        let kind = match self.kind.map(text).transpose()?.flatten() {
            Some(k) => Some(
                k.parse::<DlqKind>()
                    .map_err(|e| damaged(ours::KIND, e.to_string()))?,
            ),
            None => None,
        };
        let replay_count = match text(ours::REPLAY_COUNT)? {
            Some(n) => n
                .trim()
                .parse::<u32>()
                .map_err(|_| damaged(ours::REPLAY_COUNT, format!("is {n:?}, not a count")))?,
            None => 0,
        };
        Ok(StoredDeadLetter {
            format: self.format,
            topic: Some(topic),
            partition,
            offset: num(self.offset)?,
            // -1: the record had no timestamp.
            timestamp: self.timestamp.map(|t| number(t, -1)).transpose()?.flatten(),
            timestamp_type: self.timestamp_type.and_then(info),
            attempts: self
                .attempts
                .map(|a| number(a, 0))
                .transpose()?
                .flatten()
                .and_then(|n| u32::try_from(n).ok()),
            // A malformed record's value is its raw JSON as received: replay
            // decodes the record it describes, if it can now be decoded.
            key: key.map(<[u8]>::to_vec),
            value: StoredValue::Inline(value.map(<[u8]>::to_vec)),
            headers: headers
                .iter()
                .filter(|h| !h.name.starts_with(self.prefix) && !ours::is_ours(&h.name))
                .cloned()
                .collect(),
            kind,
            error_type: info(self.error_type),
            error_message: info(self.error_message),
            failed_at_ms: self
                .failed_at
                .and_then(info)
                .and_then(|t| parse_rfc3339_ms(&t)),
            replay_count,
            consumer: info(self.consumer),
            source: self.source.and_then(info),
            bootstrap_servers: None,
            schema: SchemaFacts::new(
                schema_metadata(
                    &info,
                    ours::ORIGINAL_KEY_DATA_FORMAT,
                    ours::ORIGINAL_KEY_SCHEMA_ID,
                ),
                schema_metadata(
                    &info,
                    ours::ORIGINAL_VALUE_DATA_FORMAT,
                    ours::ORIGINAL_VALUE_SCHEMA_ID,
                ),
                info(ours::ORIGINAL_RECORD_FORMAT).and_then(|f| RecordFormat::parse(&f)),
            ),
        })
    }
}

/// Registry metadata from a pair of `dlq.original.*` headers.
fn schema_metadata(
    info: &dyn Fn(&str) -> Option<String>,
    format: &str,
    id: &str,
) -> Option<SchemaMetadata> {
    let (data_format, schema_id) = (info(format), info(id));
    (data_format.is_some() || schema_id.is_some()).then_some(SchemaMetadata {
        data_format,
        schema_id,
    })
}

fn decimal(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

/// Spring writes partition/offset/timestamp as big-endian binary; some
/// tools write decimal text.
fn big_endian_or_decimal(b: &[u8]) -> Option<i64> {
    if let Some(n) = decimal(b) {
        return Some(n);
    }
    match b.len() {
        4 => Some(i64::from(i32::from_be_bytes(b.try_into().ok()?))),
        8 => Some(i64::from_be_bytes(b.try_into().ok()?)),
        _ => None,
    }
}
