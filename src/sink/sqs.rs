//! SQS dead-letter queue: `SendMessageBatch`, standard or FIFO queues.

use std::collections::HashMap;

use super::batched::{BatchTransport, EntryStatus, OutMessage};
use super::SinkError;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

/// SQS's largest message and batch: 1 MiB.
pub const SQS_MAX_BYTES: usize = 1_048_576;

const NAME: &str = "sqs";

/// The SQS side of a [`super::BatchedSink`].
pub struct SqsTransport {
    /// The SDK client.
    pub client: aws_sdk_sqs::Client,
    /// The queue.
    pub queue_url: String,
}

impl BatchTransport for SqsTransport {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }

    async fn send_batch(
        &self,
        batch: &[OutMessage],
    ) -> Result<HashMap<String, EntryStatus>, SinkError> {
        let mut entries = Vec::with_capacity(batch.len());
        for m in batch {
            let mut e = SendMessageBatchRequestEntry::builder()
                .id(&m.id)
                .message_body(&m.body)
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
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                let text = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
                SinkError::unavailable_because(NAME, text, e)
            })?;
        let mut statuses = HashMap::new();
        for ok in out.successful() {
            statuses.insert(
                ok.id().to_owned(),
                EntryStatus::Ok {
                    message_id: ok.message_id().to_owned(),
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
