//! SNS dead-letter topic: `PublishBatch`, standard or FIFO topics.

use std::collections::HashMap;

use super::batched::{BatchTransport, EntryStatus, OutMessage};
use super::SinkError;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

/// SNS's default largest message and batch: 256 KiB.
pub const SNS_MAX_BYTES: usize = 262_144;

const NAME: &str = "sns";

/// The SNS side of a [`super::BatchedSink`].
pub struct SnsTransport {
    /// The SDK client.
    pub client: aws_sdk_sns::Client,
    /// The topic.
    pub topic_arn: String,
}

impl BatchTransport for SnsTransport {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fifo(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }

    async fn send_batch(
        &self,
        batch: &[OutMessage],
    ) -> Result<HashMap<String, EntryStatus>, SinkError> {
        let mut entries = Vec::with_capacity(batch.len());
        for m in batch {
            let mut e = PublishBatchRequestEntry::builder()
                .id(&m.id)
                .message(&m.body)
                .set_message_group_id(m.group_id.clone())
                .set_message_deduplication_id(m.dedup_id.clone());
            for (name, value) in &m.attributes {
                let attr = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| {
                        SinkError::unavailable_because(NAME, "invalid message attribute", e)
                    })?;
                e = e.message_attributes(*name, attr);
            }
            entries.push(
                e.build()
                    .map_err(|e| SinkError::unavailable_because(NAME, "invalid batch entry", e))?,
            );
        }
        let out = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                let text = aws_sdk_sns::error::DisplayErrorContext(&e).to_string();
                SinkError::unavailable_because(NAME, text, e)
            })?;
        let mut statuses = HashMap::new();
        for ok in out.successful() {
            statuses.insert(
                ok.id().unwrap_or_default().to_owned(),
                EntryStatus::Ok {
                    message_id: ok.message_id().unwrap_or_default().to_owned(),
                },
            );
        }
        for f in out.failed() {
            statuses.insert(
                f.id().to_owned(),
                EntryStatus::Failed {
                    code: f.code().to_owned(),
                    message: f.message().unwrap_or_default().to_owned(),
                    sender_fault: f.sender_fault(),
                },
            );
        }
        Ok(statuses)
    }
}
