//! What operators see of a DLQ: a serializable view of each dead letter and
//! statistics over many. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use super::reader::DlqItem;
use super::stored::{Parsed, StoredDeadLetter, StoredValue};
use crate::codec::{encode_b64_opt, rfc3339_ms};
use crate::letter::ValueLocation;

/// One dead letter as JSON (`peek --json`, `export`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LetterView {
    /// The DLQ message it came from.
    pub id: String,
    /// Which writer wrote it.
    pub format: &'static str,
    /// Original topic.
    pub topic: Option<String>,
    /// Original partition.
    pub partition: Option<i32>,
    /// Original offset.
    pub offset: Option<i64>,
    /// Original timestamp, epoch ms.
    pub timestamp: Option<i64>,
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
    /// Key, base64.
    pub key: Option<String>,
    /// Value, base64 (inline values only).
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Where a claim-checked value is.
    pub value_location: Option<ValueLocation>,
    /// Size of the value.
    pub value_bytes: Option<usize>,
    /// Headers, as text.
    pub headers: Vec<(String, String)>,
}

impl LetterView {
    /// The view of `d`, read from the DLQ message `id`.
    pub fn new(id: &str, d: &StoredDeadLetter) -> Self {
        let (value, value_location, value_bytes) = match &d.value {
            StoredValue::Inline(v) => {
                (encode_b64_opt(v.as_deref()), None, v.as_ref().map(Vec::len))
            }
            StoredValue::S3(loc) => (None, Some(loc.clone()), usize::try_from(loc.size).ok()),
        };
        LetterView {
            id: id.to_owned(),
            format: d.format.as_str(),
            topic: d.topic.clone(),
            partition: d.partition,
            offset: d.offset,
            timestamp: d.timestamp,
            kind: d.kind.map(|k| k.as_str().to_owned()),
            error_type: d.error_type.clone(),
            error_message: d.error_message.clone(),
            failed_at: d.failed_at_ms.map(rfc3339_ms),
            replay_count: d.replay_count,
            consumer: d.consumer.clone(),
            source: d.source.clone(),
            key: encode_b64_opt(d.key.as_deref()),
            value,
            value_location,
            value_bytes,
            headers: d
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.clone(),
                        String::from_utf8_lossy(&h.value).into_owned(),
                    )
                })
                .collect(),
        }
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
                    if let Some(t) = l.failed_at_ms.or(item.enqueued_ms) {
                        self.oldest_ms = Some(self.oldest_ms.map_or(t, |o| o.min(t)));
                        self.newest_ms = Some(self.newest_ms.map_or(t, |n| n.max(t)));
                    }
                }
            }
        }
    }
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
