//! What operators see of a DLQ: a serializable view of each dead letter and
//! statistics over many. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::reader::DlqItem;
use super::stored::{Format, Parsed, StoredDeadLetter, StoredValue};
use crate::codec::{decode_b64_field, encode_b64, parse_rfc3339_ms, rfc3339_ms};
use crate::letter::{DlqKind, ValueLocation};
use crate::record::Header;
use crate::schema::{RecordFormat, SchemaFacts};

/// Bytes as JSON, without loss: a string when they are UTF-8 text (so text
/// stays readable), else `{"base64": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportBytes(pub Vec<u8>);

impl Serialize for ExportBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeMap as _;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("base64", &encode_b64(&self.0))?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ExportBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Text(String),
            Encoded { base64: String },
        }
        match Wire::deserialize(d)? {
            Wire::Text(t) => Ok(Self(t.into_bytes())),
            Wire::Encoded { base64 } => decode_b64_field("base64", Some(&base64))
                .map(|b| Self(b.unwrap_or_default()))
                .map_err(serde::de::Error::custom),
        }
    }
}

/// One dead letter as JSON (`peek --json`, `export`, `import`): every byte
/// of key, value and headers kept (see [`ExportBytes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LetterView {
    /// The DLQ message it came from.
    pub id: String,
    /// Which writer wrote it.
    pub format: String,
    /// Original topic.
    pub topic: Option<String>,
    /// Original partition.
    pub partition: Option<i32>,
    /// Original offset.
    pub offset: Option<i64>,
    /// Original timestamp, epoch ms.
    pub timestamp: Option<i64>,
    /// `CREATE_TIME` or `LOG_APPEND_TIME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_type: Option<String>,
    /// Handler calls before it was dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Why it was dead-lettered.
    pub kind: Option<String>,
    /// Error type.
    pub error_type: Option<String>,
    /// Error message.
    pub error_message: Option<String>,
    /// When, RFC 3339.
    pub failed_at: Option<String>,
    /// Replay generation.
    pub replay_count: u32,
    /// Which consumer.
    pub consumer: Option<String>,
    /// Event source ARN or `SelfManagedKafka`.
    pub source: Option<String>,
    /// The source cluster's brokers, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
    /// Key.
    pub key: Option<ExportBytes>,
    /// Value (inline values only).
    pub value: Option<ExportBytes>,
    /// Where a claim-checked value is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_location: Option<ValueLocation>,
    /// Size of the value.
    pub value_bytes: Option<usize>,
    /// Headers in order.
    pub headers: Vec<(String, ExportBytes)>,
    /// Schema-registry metadata and how Lambda delivered the record.
    #[serde(flatten)]
    pub schema: SchemaFacts,
}

impl LetterView {
    /// The view of `d`, read from the DLQ message `id`.
    pub fn new(id: &str, d: &StoredDeadLetter) -> Self {
        let (value, value_location, value_bytes) = match &d.value {
            StoredValue::Inline(v) => (v.clone().map(ExportBytes), None, v.as_ref().map(Vec::len)),
            StoredValue::S3(loc) => (None, Some(loc.clone()), usize::try_from(loc.size).ok()),
        };
        LetterView {
            id: id.to_owned(),
            format: d.format.as_str().to_owned(),
            topic: d.topic.clone(),
            partition: d.partition,
            offset: d.offset,
            timestamp: d.timestamp,
            timestamp_type: d.timestamp_type.clone(),
            attempts: d.attempts,
            kind: d.kind.map(|k| k.as_str().to_owned()),
            error_type: d.error_type.clone(),
            error_message: d.error_message.clone(),
            failed_at: d.failed_at_ms.map(rfc3339_ms),
            replay_count: d.replay_count,
            consumer: d.consumer.clone(),
            source: d.source.clone(),
            bootstrap_servers: d.bootstrap_servers.clone(),
            key: d.key.clone().map(ExportBytes),
            value,
            value_location,
            value_bytes,
            headers: d
                .headers
                .iter()
                .map(|h| (h.name.clone(), ExportBytes(h.value.clone())))
                .collect(),
            schema: d.schema.clone(),
        }
    }

    /// The dead letter back, as it was stored (an exported line, read
    /// again by `import`).
    pub fn to_stored(&self) -> Result<StoredDeadLetter, String> {
        let kind = self
            .kind
            .as_deref()
            .map(str::parse::<DlqKind>)
            .transpose()
            .map_err(|e| e.to_string())?;
        let failed_at_ms = self
            .failed_at
            .as_deref()
            .map(|t| parse_rfc3339_ms(t).ok_or_else(|| format!("failedAt {t:?} is not RFC 3339")))
            .transpose()?;
        let value = match (&self.value, &self.value_location) {
            (_, Some(loc)) => StoredValue::S3(loc.clone()),
            (v, None) => StoredValue::Inline(v.as_ref().map(|b| b.0.clone())),
        };
        Ok(StoredDeadLetter {
            format: Format::parse(&self.format).unwrap_or(Format::Envelope),
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type.clone(),
            attempts: self.attempts,
            key: self.key.as_ref().map(|b| b.0.clone()),
            value,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| Header::new(n.clone(), v.0.clone()))
                .collect(),
            kind,
            error_type: self.error_type.clone(),
            error_message: self.error_message.clone(),
            failed_at_ms,
            replay_count: self.replay_count,
            consumer: self.consumer.clone(),
            source: self.source.clone(),
            bootstrap_servers: self.bootstrap_servers.clone(),
            schema: self.schema.clone(),
        })
    }
}

/// The letters in an item (a Lambda on-failure document without payload
/// has none yet: its records are fetched back on replay).
pub fn letters(item: &DlqItem) -> &[StoredDeadLetter] {
    match &item.parsed {
        Ok(Parsed::Letters(l)) => l,
        _ => &[],
    }
}

/// Counts over a DLQ (`msk-dlq stats`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// DLQ messages read.
    pub messages: u64,
    /// Dead letters in them.
    pub letters: u64,
    /// Messages that are not dead letters.
    pub unreadable: u64,
    /// Lambda metadata-only documents (offset ranges to fetch back).
    pub fetch_back_documents: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Letters by original topic.
    pub by_topic: BTreeMap<String, u64>,
    /// Letters by kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Letters by error type.
    pub by_error_type: BTreeMap<String, u64>,
    /// Letters that went through a schema registry, by value schema (see
    /// [`schema_label`]).
    pub by_schema: BTreeMap<String, u64>,
    /// When the oldest letter failed, epoch ms.
    pub oldest_ms: Option<i64>,
    /// When the newest letter failed, epoch ms.
    pub newest_ms: Option<i64>,
    /// When the oldest Lambda on-failure document was written, epoch ms: its
    /// offsets expire with the source topic's retention.
    pub oldest_fetch_back_ms: Option<i64>,
}

impl Stats {
    /// Counts `item`.
    pub fn add(&mut self, item: &DlqItem) {
        self.messages += 1;
        self.bytes += item.bytes as u64;
        match &item.parsed {
            Err(_) => self.unreadable += 1,
            Ok(Parsed::FetchBack(ranges)) => {
                self.fetch_back_documents += 1;
                if let Some(t) = ranges
                    .iter()
                    .filter_map(|r| r.written_at_ms)
                    .chain(item.enqueued_ms)
                    .min()
                {
                    self.oldest_fetch_back_ms =
                        Some(self.oldest_fetch_back_ms.map_or(t, |o| o.min(t)));
                }
            }
            Ok(Parsed::Letters(ls)) => {
                for l in ls {
                    self.letters += 1;
                    let key =
                        |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".to_owned());
                    *self.by_topic.entry(key(&l.topic)).or_default() += 1;
                    *self
                        .by_kind
                        .entry(l.kind.map_or("unknown".to_owned(), |k| k.to_string()))
                        .or_default() += 1;
                    *self.by_error_type.entry(key(&l.error_type)).or_default() += 1;
                    if let Some(s) = schema_label(&l.schema) {
                        *self.by_schema.entry(s).or_default() += 1;
                    }
                    if let Some(t) = l.failed_at_ms.or(item.enqueued_ms) {
                        self.oldest_ms = Some(self.oldest_ms.map_or(t, |o| o.min(t)));
                        self.newest_ms = Some(self.newest_ms.map_or(t, |n| n.max(t)));
                    }
                }
            }
        }
    }
}

/// A letter's schema facts at a glance, `None` without a registry: the
/// value's (else the key's) format and schema id, and how Lambda delivered
/// the record, e.g. `AVRO 7 SOURCE`, `PROTOBUF 3f2c…-… ?`.
pub fn schema_label(s: &SchemaFacts) -> Option<String> {
    let m = s.value.as_ref().or(s.key.as_ref())?;
    Some(format!(
        "{} {} {}",
        m.data_format.as_deref().unwrap_or("?"),
        m.schema_id.as_deref().unwrap_or("?"),
        s.record_format.map_or("?", RecordFormat::as_str)
    ))
}

/// `1h 02m`, `3d 4h`, `12s`: the age of the oldest dead letter at a glance.
pub fn human_age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_well() {
        assert_eq!(human_age(12_000), "12s");
        assert_eq!(human_age(3_720_000), "1h 02m");
        assert_eq!(human_age(277_200_000), "3d 5h");
    }
}
