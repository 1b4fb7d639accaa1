//! The Kafka partial batch response:
//! `{"batchItemFailures":[{"itemIdentifier":{"partition":"<topic>-<partition>","offset":N}}]}`.

use serde::{Deserialize, Serialize};

use crate::process::BatchReport;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: ItemIdentifier,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemIdentifier {
    /// `<topic>-<partition>`, exactly the key of the event's `records` map.
    pub partition: String,
    pub offset: i64,
}

impl BatchResponse {
    /// One entry per failed record that has an offset, in event order.
    /// Failed records without one are counted by
    /// [`BatchReport::unidentifiable_failures`]; the caller fails the whole
    /// invocation for them.
    pub fn from_report(report: &BatchReport) -> Self {
        let batch_item_failures = report
            .records
            .iter()
            .filter(|r| r.outcome.is_failed())
            .filter_map(|r| {
                r.id.offset.map(|offset| ItemFailure {
                    item_identifier: ItemIdentifier {
                        partition: r.id.partition_key.to_string(),
                        offset,
                    },
                })
            })
            .collect();
        Self {
            batch_item_failures,
        }
    }
}
