//! An SQS queue as a DLQ: a message is deleted only once acknowledged;
//! messages kept are made visible again when the run ends; messages being
//! worked on stay hidden for as long as the run needs them (a heartbeat
//! extends their visibility), so no other reader takes them meanwhile.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::{DlqItem, Handle, ReaderError};
use crate::replay::parse::from_message_body;

pub(super) struct SqsReader {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    /// How long a read message stays invisible to others.
    visibility_timeout: i32,
    seen: HashSet<String>,
    empty_reads: u32,
    /// Receipts of messages to make visible again when the run ends (kept
    /// ones, and re-deliveries of messages already read in this run).
    to_release: Vec<String>,
    /// Receipts of messages read and not yet settled, by message id.
    in_flight: Arc<Mutex<HashMap<String, String>>>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for SqsReader {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

/// Keeps the in-flight messages hidden: every third of the visibility
/// timeout, their visibility is set to the whole timeout again.
async fn heartbeat(
    client: aws_sdk_sqs::Client,
    queue_url: String,
    visibility: i32,
    in_flight: Arc<Mutex<HashMap<String, String>>>,
) {
    let every = Duration::from_secs(u64::try_from(visibility).unwrap_or(1).max(1)) / 3;
    loop {
        tokio::time::sleep(every).await;
        let receipts: Vec<String> = in_flight
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for chunk in receipts.chunks(10) {
            let entries = chunk.iter().enumerate().filter_map(|(i, receipt)| {
                aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .visibility_timeout(visibility)
                    .build()
                    .ok()
            });
            let sent = client
                .change_message_visibility_batch()
                .queue_url(&queue_url)
                .set_entries(Some(entries.collect()))
                .send()
                .await;
            if let Err(e) = sent {
                tracing::warn!(queue = %queue_url, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "could not extend the visibility of dead letters being replayed");
            }
        }
    }
}

impl SqsReader {
    pub(super) fn new(
        client: aws_sdk_sqs::Client,
        queue_url: String,
        visibility_timeout: i32,
    ) -> Self {
        Self {
            client,
            queue_url,
            visibility_timeout,
            seen: HashSet::new(),
            empty_reads: 0,
            to_release: Vec::new(),
            in_flight: Arc::default(),
            heartbeat: None,
        }
    }

    fn track(&mut self, id: &str, receipt: &str) {
        if let Ok(mut m) = self.in_flight.lock() {
            m.insert(id.to_owned(), receipt.to_owned());
        }
        if self.heartbeat.is_none() {
            self.heartbeat = Some(tokio::spawn(heartbeat(
                self.client.clone(),
                self.queue_url.clone(),
                self.visibility_timeout,
                self.in_flight.clone(),
            )));
        }
    }

    fn untrack(&self, items: &[&DlqItem]) {
        if let Ok(mut m) = self.in_flight.lock() {
            for item in items {
                m.remove(&item.id);
            }
        }
    }

    pub(super) fn queue_url(&self) -> &str {
        &self.queue_url
    }

    fn err(&self, action: &'static str, e: impl std::fmt::Display) -> ReaderError {
        ReaderError::Sqs {
            action,
            queue: self.queue_url.clone(),
            message: e.to_string(),
            source: None,
        }
    }

    fn sdk_err<E>(&self, action: &'static str, e: aws_sdk_sqs::error::SdkError<E>) -> ReaderError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        ReaderError::Sqs {
            action,
            queue: self.queue_url.clone(),
            message: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
            source: Some(Arc::new(e)),
        }
    }

    pub(super) async fn read(&mut self, max: usize) -> Result<Vec<DlqItem>, ReaderError> {
        let mut out = Vec::new();
        // SQS may answer empty while messages exist; two empty long polls
        // in a row count as drained.
        while out.is_empty() && self.empty_reads < 2 {
            let r = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(max.clamp(1, 10) as i32)
                .visibility_timeout(self.visibility_timeout)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .map_err(|e| self.sdk_err("ReceiveMessage", e))?;
            for m in r.messages() {
                let id = m.message_id().unwrap_or_default().to_owned();
                if !self.seen.insert(id.clone()) {
                    // Read again in this run: hide it until the run ends.
                    self.to_release
                        .extend(m.receipt_handle().map(str::to_owned));
                    continue;
                }
                let body = m.body().unwrap_or_default();
                self.track(&id, m.receipt_handle().unwrap_or_default());
                out.push(DlqItem {
                    id,
                    parsed: from_message_body(body),
                    bytes: body.len(),
                    enqueued_ms: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                        .and_then(|t| t.parse().ok()),
                    handle: Handle::Sqs {
                        receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                    },
                });
            }
            if out.is_empty() {
                self.empty_reads += 1;
            } else {
                self.empty_reads = 0;
            }
        }
        Ok(out)
    }

    pub(super) async fn delete(&self, items: &[&DlqItem]) -> Result<(), ReaderError> {
        self.untrack(items);
        for chunk in items.chunks(10) {
            let mut req = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url);
            for (i, item) in chunk.iter().enumerate() {
                if let Handle::Sqs { receipt } = &item.handle {
                    let e = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .map_err(|e| self.err("DeleteMessageBatch", e))?;
                    req = req.entries(e);
                }
            }
            let out = req
                .send()
                .await
                .map_err(|e| self.sdk_err("DeleteMessageBatch", e))?;
            if let Some(f) = out.failed().first() {
                return Err(self.err(
                    "DeleteMessageBatch",
                    format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn keep(&mut self, items: &[&DlqItem]) {
        self.untrack(items);
        for item in items {
            if let Handle::Sqs { receipt } = &item.handle {
                self.to_release.push(receipt.clone());
            }
        }
    }

    pub(super) async fn release(&mut self) -> Result<(), ReaderError> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        // Whatever is still in flight goes back to the queue too.
        let in_flight: Vec<String> = self
            .in_flight
            .lock()
            .map(|mut m| m.drain().map(|(_, r)| r).collect())
            .unwrap_or_default();
        self.to_release.extend(in_flight);
        let receipts = std::mem::take(&mut self.to_release);
        for chunk in receipts.chunks(10) {
            let mut req = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.queue_url);
            for (i, receipt) in chunk.iter().enumerate() {
                let e = aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .build()
                    .map_err(|e| self.err("ChangeMessageVisibilityBatch", e))?;
                req = req.entries(e);
            }
            req.send()
                .await
                .map_err(|e| self.sdk_err("ChangeMessageVisibilityBatch", e))?;
        }
        Ok(())
    }
}
