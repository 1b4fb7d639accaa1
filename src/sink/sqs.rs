//! SQS dead-letter queue: `SendMessageBatch`, standard or FIFO queues.

use std::collections::HashMap;

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use tokio::time::Instant;

use crate::envelope::DeadLetter;
use crate::sink::batched::{BatchTransport, BatchedSink, EntryStatus, OutMessage};
use crate::sink::{BoxFuture, DeadLetterSink, SinkResult};

/// SQS's largest message and batch: 1 MiB.
pub const SQS_MAX_BYTES: usize = 1_048_576;

pub struct SqsTransport {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl BatchTransport for SqsTransport {
    fn name(&self) -> &'static str {
        "sqs"
    }

    fn fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }

    async fn send_batch(
        &self,
        batch: &[OutMessage],
    ) -> Result<HashMap<String, EntryStatus>, String> {
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
                    .map_err(|e| e.to_string())?;
                e = e.message_attributes(*name, attr);
            }
            entries.push(e.build().map_err(|e| e.to_string())?);
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
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

pub type SqsSink = BatchedSink<SqsTransport>;

impl DeadLetterSink for SqsSink {
    fn name(&self) -> &'static str {
        "sqs"
    }

    fn send<'a>(
        &'a self,
        letters: &'a [DeadLetter],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<SinkResult>> {
        Box::pin(self.send_letters(letters, deadline))
    }
}
