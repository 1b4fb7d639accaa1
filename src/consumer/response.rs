//! The Kafka partial batch response:
//! `{"batchItemFailures":[{"itemIdentifier":{"partition":"<topic>-<partition>","offset":N}}]}`.

use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize, Serializer};

use super::report::BatchReport;

/// The key naming the partition in an item identifier. AWS documents two:
/// `partition` in its own libraries and samples (the default), and
/// `topic-partition` in one schema on the Kafka retry page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdentifierKey {
    /// `{"partition": "<topic>-<partition>", "offset": N}`.
    #[default]
    Partition,
    /// `{"topic-partition": "<topic>-<partition>", "offset": N}`.
    TopicPartition,
}

impl IdentifierKey {
    /// The JSON key.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKey::Partition => "partition",
            IdentifierKey::TopicPartition => "topic-partition",
        }
    }
}

/// The answer to Lambda: the records it must re-deliver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// One entry per failed record.
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One failed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    /// Which record.
    pub item_identifier: ItemIdentifier,
}

/// A record's identifier: partition key and offset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemIdentifier {
    /// `<topic>-<partition>`, exactly the key of the event's `records` map.
    #[serde(alias = "topic-partition")]
    pub partition: String,
    /// The offset.
    pub offset: i64,
    /// The JSON key `partition` is written under.
    #[serde(skip)]
    pub key: IdentifierKey,
}

impl ItemIdentifier {
    /// An identifier written with the default key.
    pub fn new(partition: impl Into<String>, offset: i64) -> Self {
        Self {
            partition: partition.into(),
            offset,
            key: IdentifierKey::default(),
        }
    }
}

impl Serialize for ItemIdentifier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(self.key.as_str(), &self.partition)?;
        m.serialize_entry("offset", &self.offset)?;
        m.end()
    }
}

impl BatchResponse {
    /// One entry per failed record that has an offset, in event order.
    /// Failed records without one are counted by
    /// [`BatchReport::unidentifiable_failures`]; the caller fails the whole
    /// invocation for them.
    pub fn from_report(report: &BatchReport) -> Self {
        Self::from_report_with(report, IdentifierKey::default())
    }

    /// [`BatchResponse::from_report`] with the identifier written under `key`.
    pub fn from_report_with(report: &BatchReport, key: IdentifierKey) -> Self {
        let batch_item_failures = report
            .records
            .iter()
            .filter(|r| r.outcome.is_failed())
            .filter_map(|r| {
                r.id.offset.map(|offset| ItemFailure {
                    item_identifier: ItemIdentifier {
                        partition: r.id.partition_key.to_string(),
                        offset,
                        key,
                    },
                })
            })
            .collect();
        Self {
            batch_item_failures,
        }
    }
}
