//! SNS dead-letter topic: `PublishBatch`, standard or FIFO topics.

use std::collections::HashMap;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use tokio::time::Instant;

use crate::envelope::DeadLetter;
use crate::sink::batched::{BatchTransport, BatchedSink, EntryStatus, OutMessage};
use crate::sink::{BoxFuture, DeadLetterSink, SinkResult};

/// SNS's default largest message and batch: 256 KiB.
pub const SNS_MAX_BYTES: usize = 262_144;

pub struct SnsTransport {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

impl BatchTransport for SnsTransport {
    fn name(&self) -> &'static str {
        "sns"
    }

    fn fifo(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }

    async fn send_batch(
        &self,
        batch: &[OutMessage],
    ) -> Result<HashMap<String, EntryStatus>, String> {
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
                    .map_err(|e| e.to_string())?;
                e = e.message_attributes(*name, attr);
            }
            entries.push(e.build().map_err(|e| e.to_string())?);
        }
        let out = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_sdk_sns::error::DisplayErrorContext(e).to_string())?;
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

pub type SnsSink = BatchedSink<SnsTransport>;

impl DeadLetterSink for SnsSink {
    fn name(&self) -> &'static str {
        "sns"
    }

    fn send<'a>(
        &'a self,
        letters: &'a [DeadLetter],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<SinkResult>> {
        Box::pin(self.send_letters(letters, deadline))
    }
}
