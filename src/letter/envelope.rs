//! The SQS/SNS message body of a dead letter (contract version 1).

use serde::{Deserialize, Serialize};

use super::{DeadLetter, DeadRecord, DlqKind};
use crate::codec::{decode_b64_field, encode_b64, rfc3339_ms, Base64Error};
use crate::record::Header;
use crate::schema::SchemaFacts;

/// The envelope version this code writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// The SQS/SNS message body (contract version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`].
    pub version: u32,
    /// Where the record came from.
    pub source: EnvelopeSource,
    /// Base64 key, or null.
    pub key: Option<String>,
    /// Base64 value, or null (tombstone, malformed, claim-checked).
    pub value: Option<String>,
    /// The original headers without `dlq.*`, values base64.
    #[serde(default)]
    pub headers: Vec<EnvelopeHeader>,
    /// Why.
    pub error: EnvelopeError,
    /// Handler calls made.
    pub attempts: u32,
    /// RFC 3339 UTC.
    pub failed_at: String,
    /// Which consumer.
    pub consumer: String,
    /// Replay generation.
    #[serde(default)]
    pub replay_count: u32,
    /// A malformed record's JSON as received (then `key`/`value` are null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Claim check: the value was too large for the sink and is stored here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_location: Option<ValueLocation>,
}

/// The `source` object of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeSource {
    /// `aws:kafka` or `SelfManagedKafka`.
    pub event_source: String,
    /// The MSK cluster ARN.
    #[serde(default)]
    pub event_source_arn: Option<String>,
    /// The brokers Lambda read from.
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// Original topic.
    pub topic: Option<String>,
    /// Original partition.
    pub partition: Option<i32>,
    /// Original offset.
    pub offset: Option<i64>,
    /// Original timestamp, epoch ms.
    pub timestamp: Option<i64>,
    /// Original timestamp type.
    #[serde(default)]
    pub timestamp_type: Option<String>,
    /// Lambda's schema metadata and the mapping's `EventRecordFormat`, when
    /// a registry was involved.
    #[serde(flatten)]
    pub schema: SchemaFacts,
}

/// A header of an [`Envelope`]: name and base64 value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeHeader {
    /// The name.
    pub name: String,
    /// The value, base64.
    pub value: String,
}

/// The `error` object of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeError {
    /// Why it was dead-lettered.
    pub kind: DlqKind,
    /// A short machine-readable error name.
    #[serde(rename = "type")]
    pub error_type: String,
    /// The message, at most 1 KiB.
    pub message: String,
}

/// Where a claim-checked value lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueLocation {
    /// The S3 bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The value's size in bytes.
    pub size: u64,
}

/// An envelope that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeDecodeError {
    /// Not JSON of the envelope's shape.
    #[error("envelope is not valid JSON of version {ENVELOPE_VERSION}: {0}")]
    Json(#[source] serde_json::Error),
    /// A version this code does not know.
    #[error("envelope version {0} is not supported (expected {ENVELOPE_VERSION})")]
    Version(u32),
    /// A base64 field that does not decode.
    #[error("envelope field {0}")]
    Field(#[from] Base64Error),
}

impl Envelope {
    /// The JSON body.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Reads a body, checking the version.
    pub fn from_json(text: &str) -> Result<Self, EnvelopeDecodeError> {
        let env: Envelope = serde_json::from_str(text).map_err(EnvelopeDecodeError::Json)?;
        if env.version != ENVELOPE_VERSION {
            return Err(EnvelopeDecodeError::Version(env.version));
        }
        Ok(env)
    }

    /// The key bytes.
    pub fn key_bytes(&self) -> Result<Option<Vec<u8>>, EnvelopeDecodeError> {
        Ok(decode_b64_field("key", self.key.as_deref())?)
    }

    /// The value bytes (inline only).
    pub fn value_bytes(&self) -> Result<Option<Vec<u8>>, EnvelopeDecodeError> {
        Ok(decode_b64_field("value", self.value.as_deref())?)
    }

    /// The headers as bytes.
    pub fn header_list(&self) -> Result<Vec<Header>, EnvelopeDecodeError> {
        self.headers
            .iter()
            .map(|h| {
                let v = decode_b64_field("headers.value", Some(&h.value))?;
                Ok(Header::new(h.name.clone(), v.unwrap_or_default()))
            })
            .collect()
    }
}

impl DeadLetter {
    /// The SQS/SNS envelope of this letter.
    pub fn envelope(&self) -> Envelope {
        let (timestamp_type, raw) = match &self.record {
            DeadRecord::Decoded(r) => (r.timestamp_type().map(str::to_owned), None),
            DeadRecord::Malformed(m) => (None, Some(m.raw.clone())),
        };
        let mut schema = self.schema();
        if !schema.has_registry() {
            schema.record_format = None;
        }
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
                schema,
            },
            key: self.key().map(encode_b64),
            value: match &self.record {
                DeadRecord::Decoded(r) => r.value().map(encode_b64),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let l = crate::letter::tests::letter();
        let env = l.envelope();
        let back = Envelope::from_json(&env.to_json().unwrap()).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.key_bytes().unwrap(), None);
        assert_eq!(back.value_bytes().unwrap(), Some(b"{}".to_vec()));
        assert_eq!(back.header_list().unwrap().len(), 1);
        assert_eq!(back.source.timestamp, Some(1545084650987));
    }
}
