//! Outgoing dead letters and their formats: the header set of a Kafka DLQ
//! record and the JSON envelope for SQS/SNS. Pure; the sinks only move bytes.

mod envelope;
mod identity;
mod kind;

use std::sync::Arc;

pub use envelope::{
    Envelope, EnvelopeDecodeError, EnvelopeError, EnvelopeHeader, EnvelopeSource, ValueLocation,
    ENVELOPE_VERSION,
};
pub use kind::{DlqKind, UnknownKind};

use crate::codec::{rfc3339_ms, truncate_utf8};
use crate::event::{BatchSource, MalformedRecord};
use crate::headers as h;
use crate::record::{Header, KafkaRecord};
use crate::schema::{RecordFormat, SchemaFacts};

/// What was dead-lettered: a decoded record, or one kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadRecord {
    /// A decoded record.
    Decoded(KafkaRecord),
    /// A record that could not be decoded, as received.
    Malformed(Arc<MalformedRecord>),
}

/// One record on its way to a dead-letter sink, with why and where from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The batch's source (cluster).
    pub source: Arc<BatchSource>,
    /// The record.
    pub record: DeadRecord,
    /// The key of the event's `records` map the record came under.
    pub partition_key: Arc<str>,
    /// Why.
    pub kind: DlqKind,
    /// A short machine-readable error name.
    pub error_type: String,
    /// The error message (cut to 1 KiB on the wire).
    pub error_message: String,
    /// Handler calls made in the invocation that dead-lettered it.
    pub attempts: u32,
    /// When, epoch milliseconds.
    pub failed_at_ms: i64,
    /// Which consumer.
    pub consumer: Arc<str>,
    /// Replay generation of the record (its `dlq.replay-count`).
    pub replay_count: u32,
    /// The mapping's `EventRecordFormat`, when the consumer was told it.
    pub record_format: Option<RecordFormat>,
}

impl DeadLetter {
    /// A letter for `record` from `source`; attempts 0, failed now, consumer
    /// unnamed, and the record's own replay count.
    pub fn new(
        source: Arc<BatchSource>,
        record: DeadRecord,
        kind: DlqKind,
        error_type: impl Into<String>,
        error_message: impl Into<String>,
    ) -> Self {
        let (replay_count, partition_key) = match &record {
            DeadRecord::Decoded(r) => (
                r.replay_count(),
                Arc::from(format!("{}-{}", r.topic(), r.partition())),
            ),
            DeadRecord::Malformed(m) => (
                0,
                Arc::from(match (&m.topic, m.partition) {
                    (Some(t), Some(p)) => format!("{t}-{p}"),
                    _ => "unknown".to_owned(),
                }),
            ),
        };
        Self {
            source,
            record,
            partition_key,
            kind,
            error_type: error_type.into(),
            error_message: error_message.into(),
            attempts: 0,
            failed_at_ms: crate::clock::epoch_ms_now(),
            consumer: Arc::from(""),
            replay_count,
            record_format: None,
        }
    }

    /// Sets the mapping's `EventRecordFormat`.
    #[must_use]
    pub fn with_record_format(mut self, f: Option<RecordFormat>) -> Self {
        self.record_format = f;
        self
    }

    /// What the letter keeps of its record's schema.
    pub fn schema(&self) -> SchemaFacts {
        match &self.record {
            DeadRecord::Decoded(r) => SchemaFacts::new(
                r.key_schema().cloned(),
                r.value_schema().cloned(),
                self.record_format,
            ),
            DeadRecord::Malformed(_) => SchemaFacts::default(),
        }
    }

    /// Sets the attempts made.
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Sets when it failed (epoch ms).
    #[must_use]
    pub fn with_failed_at_ms(mut self, ms: i64) -> Self {
        self.failed_at_ms = ms;
        self
    }

    /// Sets the consumer name.
    #[must_use]
    pub fn with_consumer(mut self, consumer: Arc<str>) -> Self {
        self.consumer = consumer;
        self
    }

    /// Sets the key of the event's `records` map the record came under.
    #[must_use]
    pub fn with_partition_key(mut self, key: Arc<str>) -> Self {
        self.partition_key = key;
        self
    }

    /// Sets the replay generation.
    #[must_use]
    pub fn with_replay_count(mut self, n: u32) -> Self {
        self.replay_count = n;
        self
    }

    /// The original topic, when known.
    pub fn topic(&self) -> Option<&str> {
        match &self.record {
            DeadRecord::Decoded(r) => Some(r.topic()),
            DeadRecord::Malformed(m) => m.topic.as_deref(),
        }
    }

    /// The original partition, when known.
    pub fn partition(&self) -> Option<i32> {
        match &self.record {
            DeadRecord::Decoded(r) => Some(r.partition()),
            DeadRecord::Malformed(m) => m.partition,
        }
    }

    /// The original offset, when known.
    pub fn offset(&self) -> Option<i64> {
        match &self.record {
            DeadRecord::Decoded(r) => Some(r.offset()),
            DeadRecord::Malformed(m) => m.offset,
        }
    }

    /// The original timestamp, when known.
    pub fn timestamp(&self) -> Option<i64> {
        match &self.record {
            DeadRecord::Decoded(r) => r.timestamp(),
            DeadRecord::Malformed(m) => m.timestamp,
        }
    }

    /// The original key bytes (`None`: null key, or malformed).
    pub fn key(&self) -> Option<&[u8]> {
        match &self.record {
            DeadRecord::Decoded(r) => r.key(),
            DeadRecord::Malformed(_) => None,
        }
    }

    /// The bytes stored as the dead letter's value: the original value, or
    /// for a malformed record its JSON as received.
    pub fn value(&self) -> Option<&[u8]> {
        match &self.record {
            DeadRecord::Decoded(r) => r.value(),
            DeadRecord::Malformed(m) => Some(m.raw.as_bytes()),
        }
    }

    /// The original headers without our own `dlq.*` ones (those of an earlier
    /// dead-lettering or replay are replaced, not repeated).
    pub fn user_headers(&self) -> impl Iterator<Item = &Header> {
        let headers: &[Header] = match &self.record {
            DeadRecord::Decoded(r) => r.headers(),
            DeadRecord::Malformed(_) => &[],
        };
        headers.iter().filter(|x| !h::is_ours(&x.name))
    }

    /// The error message as written: at most 1 KiB, cut on a character
    /// boundary.
    pub fn truncated_error_message(&self) -> &str {
        truncate_utf8(&self.error_message, h::MAX_ERROR_MESSAGE_BYTES)
    }

    /// The Kafka DLQ record headers: original ones in order, then ours.
    pub fn kafka_headers(&self) -> Vec<Header> {
        let mut out: Vec<Header> = self.user_headers().cloned().collect();
        let mut push = |name: &str, value: String| out.push(Header::new(name, value));
        if let Some(t) = self.topic() {
            push(h::ORIGINAL_TOPIC, t.to_owned());
        }
        if let Some(p) = self.partition() {
            push(h::ORIGINAL_PARTITION, p.to_string());
        }
        if let Some(o) = self.offset() {
            push(h::ORIGINAL_OFFSET, o.to_string());
        }
        if let Some(ts) = self.timestamp() {
            push(h::ORIGINAL_TIMESTAMP, ts.to_string());
        }
        if let DeadRecord::Decoded(r) = &self.record {
            if let Some(tt) = r.timestamp_type() {
                push(h::ORIGINAL_TIMESTAMP_TYPE, tt.to_owned());
            }
        }
        let schema = self.schema();
        for (m, format_name, id_name) in [
            (
                &schema.key,
                h::ORIGINAL_KEY_DATA_FORMAT,
                h::ORIGINAL_KEY_SCHEMA_ID,
            ),
            (
                &schema.value,
                h::ORIGINAL_VALUE_DATA_FORMAT,
                h::ORIGINAL_VALUE_SCHEMA_ID,
            ),
        ] {
            if let Some(m) = m {
                if let Some(f) = &m.data_format {
                    push(format_name, f.clone());
                }
                if let Some(id) = &m.schema_id {
                    push(id_name, id.clone());
                }
            }
        }
        if let (true, Some(f)) = (schema.has_registry(), schema.record_format) {
            push(h::ORIGINAL_RECORD_FORMAT, f.as_str().to_owned());
        }
        push(h::SOURCE, self.source.label().to_owned());
        push(h::CONSUMER, self.consumer.to_string());
        push(h::KIND, self.kind.as_str().to_owned());
        push(h::ERROR_TYPE, self.error_type.clone());
        push(h::ERROR_MESSAGE, self.truncated_error_message().to_owned());
        push(h::ATTEMPTS, self.attempts.to_string());
        push(h::FAILED_AT, rfc3339_ms(self.failed_at_ms));
        push(h::REPLAY_COUNT, self.replay_count.to_string());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn letter() -> DeadLetter {
        let record = KafkaRecord::builder("orders", 3, 42)
            .timestamp(1545084650987)
            .timestamp_type(Some("CREATE_TIME"))
            .value(Some(b"{}".to_vec()))
            .header("trace-id", vec![0xff, 0x01])
            .header(h::REPLAY_COUNT, b"1".to_vec())
            .build();
        DeadLetter::new(
            Arc::new(BatchSource {
                event_source: "aws:kafka".into(),
                event_source_arn: Some("arn:aws:kafka:us-east-1:123:cluster/c/1".into()),
                bootstrap_servers: Some("b-1:9092".into()),
            }),
            DeadRecord::Decoded(record),
            DlqKind::Permanent,
            "InvalidOrder",
            "é".repeat(600),
        )
        .with_attempts(1)
        .with_failed_at_ms(1_795_320_000_123)
        .with_consumer(Arc::from("orders-consumer"))
    }

    #[test]
    fn kafka_headers_keep_originals_first_and_replace_ours() {
        let hs = letter().kafka_headers();
        assert_eq!(hs[0].name, "trace-id");
        assert_eq!(hs[0].value, vec![0xff, 0x01]);
        assert_eq!(hs.iter().filter(|x| x.name == h::REPLAY_COUNT).count(), 1);
        let get = |n: &str| {
            hs.iter()
                .find(|x| x.name == n)
                .map(|x| String::from_utf8(x.value.clone()).unwrap())
        };
        assert_eq!(get(h::ORIGINAL_TIMESTAMP).as_deref(), Some("1545084650987"));
        assert_eq!(
            get(h::FAILED_AT).as_deref(),
            Some("2026-11-22T04:00:00.123Z")
        );
        assert_eq!(get(h::KIND).as_deref(), Some("permanent"));
        assert!(get(h::ERROR_MESSAGE).unwrap().len() <= h::MAX_ERROR_MESSAGE_BYTES);
    }

    #[test]
    fn dedup_id_changes_with_replay_generation() {
        let a = letter();
        let b = letter().with_replay_count(2);
        assert_eq!(a.dedup_id(), letter().dedup_id());
        assert_ne!(a.dedup_id(), b.dedup_id());
        assert_eq!(a.group_id(), "orders-3");
        assert_eq!(a.dedup_id().len(), 64);
    }

    #[test]
    fn records_without_offset_get_distinct_ids() {
        let raw = |text: &str| {
            let mut l = letter();
            l.record = DeadRecord::Malformed(Arc::new(MalformedRecord {
                raw: text.into(),
                reason: "bad".into(),
                topic: Some("orders".into()),
                partition: None,
                offset: None,
                timestamp: None,
            }));
            l.kind = DlqKind::Malformed;
            l
        };
        assert_ne!(raw("{\"a\":1}").dedup_id(), raw("{\"a\":2}").dedup_id());
        assert_eq!(raw("{\"a\":1}").dedup_id(), raw("{\"a\":1}").dedup_id());
        let mut other_cluster = letter();
        other_cluster.source = Arc::new(BatchSource {
            event_source: "SelfManagedKafka".into(),
            event_source_arn: None,
            bootstrap_servers: None,
        });
        assert_ne!(letter().dedup_id(), other_cluster.dedup_id());
    }
}
