//! The dead-letter formats: the JSON envelope for SQS/SNS and the header set
//! of a Kafka DLQ record. Pure functions; the sinks only move bytes.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{
    decode_b64_field, encode_b64, BatchSource, Header, KafkaRecord, MalformedRecord,
};
use crate::outcome::DlqKind;

pub const H_TOPIC: &str = "dlq.original.topic";
pub const H_PARTITION: &str = "dlq.original.partition";
pub const H_OFFSET: &str = "dlq.original.offset";
pub const H_TIMESTAMP: &str = "dlq.original.timestamp";
pub const H_TIMESTAMP_TYPE: &str = "dlq.original.timestamp-type";
pub const H_SOURCE: &str = "dlq.source";
pub const H_CONSUMER: &str = "dlq.consumer";
pub const H_KIND: &str = "dlq.kind";
pub const H_ERROR_TYPE: &str = "dlq.error.type";
pub const H_ERROR_MESSAGE: &str = "dlq.error.message";
pub const H_ATTEMPTS: &str = "dlq.attempts";
pub const H_FAILED_AT: &str = "dlq.failed-at";
pub const H_REPLAY_COUNT: &str = "dlq.replay-count";
/// Prefix of every header this project owns.
pub const H_PREFIX: &str = "dlq.";

/// Message attribute names on SQS/SNS.
pub const ATTR_KIND: &str = "dlq.kind";
pub const ATTR_TOPIC: &str = "dlq.original.topic";

pub const ENVELOPE_VERSION: u32 = 1;
/// `dlq.error.message` is cut to this many bytes (on a char boundary).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// What was dead-lettered: a decoded record, or one kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadRecord {
    Decoded(Arc<KafkaRecord>),
    Malformed(Arc<MalformedRecord>),
}

/// A record on its way to a dead-letter sink, with why and where from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub source: Arc<BatchSource>,
    pub record: DeadRecord,
    pub kind: DlqKind,
    pub error_type: String,
    pub error_message: String,
    pub attempts: u32,
    /// Epoch milliseconds.
    pub failed_at_ms: i64,
    pub consumer: Arc<str>,
    pub replay_count: u32,
}

impl DeadLetter {
    pub fn topic(&self) -> Option<&str> {
        match &self.record {
            DeadRecord::Decoded(r) => Some(&r.topic),
            DeadRecord::Malformed(m) => m.topic.as_deref(),
        }
    }

    pub fn partition(&self) -> Option<i32> {
        match &self.record {
            DeadRecord::Decoded(r) => Some(r.partition),
            DeadRecord::Malformed(m) => m.partition,
        }
    }

    pub fn offset(&self) -> Option<i64> {
        match &self.record {
            DeadRecord::Decoded(r) => Some(r.offset),
            DeadRecord::Malformed(m) => m.offset,
        }
    }

    pub fn timestamp(&self) -> Option<i64> {
        match &self.record {
            DeadRecord::Decoded(r) => r.timestamp,
            DeadRecord::Malformed(m) => m.timestamp,
        }
    }

    pub fn key(&self) -> Option<&[u8]> {
        match &self.record {
            DeadRecord::Decoded(r) => r.key.as_deref(),
            DeadRecord::Malformed(_) => None,
        }
    }

    /// The bytes stored as the dead letter's value: the original value, or
    /// for a malformed record its JSON as received.
    pub fn value(&self) -> Option<&[u8]> {
        match &self.record {
            DeadRecord::Decoded(r) => r.value.as_deref(),
            DeadRecord::Malformed(m) => Some(m.raw.as_bytes()),
        }
    }

    /// The original headers without our own `dlq.*` ones (those of an earlier
    /// dead-lettering or replay are replaced, not repeated).
    pub fn user_headers(&self) -> impl Iterator<Item = &Header> {
        let headers: &[Header] = match &self.record {
            DeadRecord::Decoded(r) => &r.headers,
            DeadRecord::Malformed(_) => &[],
        };
        headers.iter().filter(|h| !h.name.starts_with(H_PREFIX))
    }

    /// `<topic>-<partition>`, the SQS FIFO message group.
    pub fn group_id(&self) -> String {
        format!(
            "{}-{}",
            self.topic().unwrap_or("unknown"),
            self.partition()
                .map_or_else(|| "unknown".to_owned(), |p| p.to_string())
        )
    }

    /// The record within its partition: the offset, or for a record whose
    /// offset is unknown a digest of its bytes, so two such records never
    /// share an id.
    pub fn record_ref(&self) -> String {
        match self.offset() {
            Some(o) if o >= 0 => o.to_string(),
            _ => format!(
                "raw-{}",
                &hex(&Sha256::digest(self.value().unwrap_or_default()))[..16]
            ),
        }
    }

    /// Short digest of the source cluster, so equal topic names of two
    /// clusters never share an id.
    pub fn source_ref(&self) -> String {
        hex(&Sha256::digest(self.source.label().as_bytes()))[..12].to_owned()
    }

    /// Stable across retries of the same dead-lettering, new for each replay
    /// generation, so FIFO dedup drops only true duplicates: a digest of
    /// `<source>|<topic>-<partition>-<offset>-<replayCount>`.
    pub fn dedup_id(&self) -> String {
        let text = format!(
            "{}|{}-{}-{}",
            self.source.label(),
            self.group_id(),
            self.record_ref(),
            self.replay_count
        );
        hex(&Sha256::digest(text.as_bytes()))
    }

    pub fn truncated_error_message(&self) -> &str {
        truncate_utf8(&self.error_message, MAX_ERROR_MESSAGE_BYTES)
    }

    /// The Kafka DLQ record headers: original ones in order, then ours.
    pub fn kafka_headers(&self) -> Vec<Header> {
        let mut out: Vec<Header> = self.user_headers().cloned().collect();
        let mut push = |name: &str, value: String| {
            out.push(Header {
                name: name.to_owned(),
                value: value.into_bytes(),
            })
        };
        if let Some(t) = self.topic() {
            push(H_TOPIC, t.to_owned());
        }
        if let Some(p) = self.partition() {
            push(H_PARTITION, p.to_string());
        }
        if let Some(o) = self.offset() {
            push(H_OFFSET, o.to_string());
        }
        if let Some(ts) = self.timestamp() {
            push(H_TIMESTAMP, ts.to_string());
        }
        if let DeadRecord::Decoded(r) = &self.record {
            if let Some(tt) = &r.timestamp_type {
                push(H_TIMESTAMP_TYPE, tt.clone());
            }
        }
        push(H_SOURCE, self.source.label().to_owned());
        push(H_CONSUMER, self.consumer.to_string());
        push(H_KIND, self.kind.as_str().to_owned());
        push(H_ERROR_TYPE, self.error_type.clone());
        push(H_ERROR_MESSAGE, self.truncated_error_message().to_owned());
        push(H_ATTEMPTS, self.attempts.to_string());
        push(H_FAILED_AT, rfc3339_ms(self.failed_at_ms));
        push(H_REPLAY_COUNT, self.replay_count.to_string());
        out
    }

    pub fn envelope(&self) -> Envelope {
        let (timestamp_type, raw) = match &self.record {
            DeadRecord::Decoded(r) => (r.timestamp_type.clone(), None),
            DeadRecord::Malformed(m) => (None, Some(m.raw.clone())),
        };
        Envelope {
            version: ENVELOPE_VERSION,
            source: EnvelopeSource {
                event_source: self.source.event_source.clone(),
                event_source_arn: self.source.event_source_arn.clone(),
                bootstrap_servers: self.source.bootstrap_servers.clone(),
                topic: self.topic().map(str::to_owned),
                partition: self.partition(),
                offset: self.offset(),
                timestamp: self.timestamp(),
                timestamp_type,
            },
            key: self.key().map(encode_b64),
            value: match &self.record {
                DeadRecord::Decoded(r) => r.value.as_deref().map(encode_b64),
                DeadRecord::Malformed(_) => None,
            },
            headers: self
                .user_headers()
                .map(|h| EnvelopeHeader {
                    name: h.name.clone(),
                    value: encode_b64(&h.value),
                })
                .collect(),
            error: EnvelopeError {
                kind: self.kind,
                error_type: self.error_type.clone(),
                message: self.truncated_error_message().to_owned(),
            },
            attempts: self.attempts,
            failed_at: rfc3339_ms(self.failed_at_ms),
            consumer: self.consumer.to_string(),
            replay_count: self.replay_count,
            raw,
            value_location: None,
        }
    }
}

/// The SQS/SNS message body (contract version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub version: u32,
    pub source: EnvelopeSource,
    pub key: Option<String>,
    pub value: Option<String>,
    #[serde(default)]
    pub headers: Vec<EnvelopeHeader>,
    pub error: EnvelopeError,
    pub attempts: u32,
    pub failed_at: String,
    pub consumer: String,
    #[serde(default)]
    pub replay_count: u32,
    /// A malformed record's JSON as received (then `key`/`value` are null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Claim check: the value was too large for the sink and is stored here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_location: Option<ValueLocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeSource {
    pub event_source: String,
    #[serde(default)]
    pub event_source_arn: Option<String>,
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub timestamp_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeHeader {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeError {
    pub kind: DlqKind,
    #[serde(rename = "type")]
    pub error_type: String,
    pub message: String,
}

/// Where a claim-checked value lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueLocation {
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeDecodeError {
    #[error("envelope is not valid JSON of version {ENVELOPE_VERSION}: {0}")]
    Json(String),
    #[error("envelope version {0} is not supported (expected {ENVELOPE_VERSION})")]
    Version(u32),
    #[error("envelope field {0}")]
    Field(String),
}

impl Envelope {
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    pub fn from_json(text: &str) -> Result<Self, EnvelopeDecodeError> {
        let env: Envelope =
            serde_json::from_str(text).map_err(|e| EnvelopeDecodeError::Json(e.to_string()))?;
        if env.version != ENVELOPE_VERSION {
            return Err(EnvelopeDecodeError::Version(env.version));
        }
        Ok(env)
    }

    pub fn key_bytes(&self) -> Result<Option<Vec<u8>>, EnvelopeDecodeError> {
        decode_b64_field("key", self.key.as_deref()).map_err(EnvelopeDecodeError::Field)
    }

    pub fn value_bytes(&self) -> Result<Option<Vec<u8>>, EnvelopeDecodeError> {
        decode_b64_field("value", self.value.as_deref()).map_err(EnvelopeDecodeError::Field)
    }

    pub fn header_list(&self) -> Result<Vec<Header>, EnvelopeDecodeError> {
        self.headers
            .iter()
            .map(|h| {
                decode_b64_field("headers.value", Some(&h.value))
                    .map(|v| Header {
                        name: h.name.clone(),
                        value: v.unwrap_or_default(),
                    })
                    .map_err(EnvelopeDecodeError::Field)
            })
            .collect()
    }
}

pub fn encode_b64_opt(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(encode_b64)
}

pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-22T04:00:00.123Z`.
pub fn rfc3339_ms(epoch_ms: i64) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| epoch_ms.to_string())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> DeadLetter {
        DeadLetter {
            source: Arc::new(BatchSource {
                event_source: "aws:kafka".into(),
                event_source_arn: Some("arn:aws:kafka:us-east-1:123:cluster/c/1".into()),
                bootstrap_servers: Some("b-1:9092".into()),
            }),
            record: DeadRecord::Decoded(Arc::new(KafkaRecord {
                topic: "orders".into(),
                partition: 3,
                offset: 42,
                timestamp: Some(1545084650987),
                timestamp_type: Some("CREATE_TIME".into()),
                key: None,
                value: Some(b"{}".to_vec()),
                headers: vec![
                    Header {
                        name: "trace-id".into(),
                        value: vec![0xff, 0x01],
                    },
                    Header {
                        name: H_REPLAY_COUNT.into(),
                        value: b"1".to_vec(),
                    },
                ],
                key_schema: None,
                value_schema: None,
            })),
            kind: DlqKind::Permanent,
            error_type: "InvalidOrder".into(),
            error_message: "é".repeat(600),
            attempts: 1,
            failed_at_ms: 1_795_320_000_123,
            consumer: Arc::from("orders-consumer"),
            replay_count: 1,
        }
    }

    #[test]
    fn kafka_headers_keep_originals_first_and_replace_ours() {
        let h = letter().kafka_headers();
        assert_eq!(h[0].name, "trace-id");
        assert_eq!(h[0].value, vec![0xff, 0x01]);
        assert_eq!(h.iter().filter(|h| h.name == H_REPLAY_COUNT).count(), 1);
        let get = |n: &str| {
            h.iter()
                .find(|h| h.name == n)
                .map(|h| String::from_utf8(h.value.clone()).unwrap())
        };
        assert_eq!(get(H_TIMESTAMP).as_deref(), Some("1545084650987"));
        assert_eq!(
            get(H_FAILED_AT).as_deref(),
            Some("2026-11-22T04:00:00.123Z")
        );
        assert_eq!(get(H_KIND).as_deref(), Some("permanent"));
        assert!(get(H_ERROR_MESSAGE).unwrap().len() <= MAX_ERROR_MESSAGE_BYTES);
    }

    #[test]
    fn envelope_round_trips() {
        let l = letter();
        let env = l.envelope();
        let back = Envelope::from_json(&env.to_json().unwrap()).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.key_bytes().unwrap(), None);
        assert_eq!(back.value_bytes().unwrap(), Some(b"{}".to_vec()));
        assert_eq!(back.header_list().unwrap().len(), 1);
        assert_eq!(back.source.timestamp, Some(1545084650987));
    }

    #[test]
    fn dedup_id_changes_with_replay_generation() {
        let a = letter();
        let mut b = letter();
        b.replay_count = 2;
        assert_eq!(a.dedup_id(), letter().dedup_id());
        assert_ne!(a.dedup_id(), b.dedup_id());
        assert_eq!(a.group_id(), "orders-3");
        assert_eq!(a.dedup_id().len(), 64);
    }

    #[test]
    fn records_without_offset_get_distinct_ids() {
        let raw = |text: &str| DeadLetter {
            record: DeadRecord::Malformed(Arc::new(MalformedRecord {
                raw: text.into(),
                reason: "bad".into(),
                topic: Some("orders".into()),
                partition: None,
                offset: None,
                timestamp: None,
            })),
            kind: DlqKind::Malformed,
            ..letter()
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

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_utf8("aé", 2), "a");
        assert_eq!(truncate_utf8("abc", 5), "abc");
    }
}
