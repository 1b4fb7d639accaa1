//! Reading a dead-letter queue without losing it: an SQS queue (messages
//! deleted only when acknowledged) or a Kafka DLQ topic (a consumer group's
//! offsets committed only past acknowledged records).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use crate::dead_letter::{from_kafka, from_message_body, ParseError, Parsed};
use crate::kafka::{KafkaConnection, KafkaContext};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("SQS {action} on {queue} failed: {message}")]
    Sqs {
        action: &'static str,
        queue: String,
        message: String,
    },
    #[error("Kafka {action} on {topic} failed: {message}")]
    Kafka {
        action: &'static str,
        topic: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handle {
    Sqs { receipt: String },
    Kafka { partition: i32, offset: i64 },
}

/// One DLQ message as read.
#[derive(Debug, Clone)]
pub struct DlqItem {
    /// SQS message id, or `topic/partition@offset`.
    pub id: String,
    pub parsed: Result<Parsed, ParseError>,
    pub bytes: usize,
    /// When the message entered the DLQ (SQS SentTimestamp / Kafka timestamp).
    pub enqueued_ms: Option<i64>,
    pub handle: Handle,
}

pub struct SqsSource {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// How long a read message stays invisible to others.
    pub visibility_timeout: i32,
    seen: HashSet<String>,
    empty_reads: u32,
    /// Receipts of messages to make visible again when the run ends (kept
    /// ones, and re-deliveries of messages already read in this run).
    to_release: Vec<String>,
}

pub struct KafkaSource {
    consumer: BaseConsumer<KafkaContext>,
    topic: String,
    /// End of each partition when reading started: "drained" means reached.
    ends: BTreeMap<i32, i64>,
    positions: BTreeMap<i32, i64>,
    /// Read but not yet acknowledged or kept, per partition, in order.
    pending: BTreeMap<i32, BTreeMap<i64, bool>>,
    commit: bool,
}

pub enum DlqSource {
    Sqs(SqsSource),
    Kafka(Box<KafkaSource>),
}

impl DlqSource {
    pub fn sqs(client: aws_sdk_sqs::Client, queue_url: String, visibility_timeout: i32) -> Self {
        DlqSource::Sqs(SqsSource {
            client,
            queue_url,
            visibility_timeout,
            seen: HashSet::new(),
            empty_reads: 0,
            to_release: Vec::new(),
        })
    }

    /// Reads `topic` from `group`'s committed offsets (earliest where none)
    /// to the partition ends as of now. With `commit`, `ack` commits.
    pub fn kafka(
        connection: &KafkaConnection,
        topic: &str,
        group: &str,
        commit: bool,
    ) -> Result<Self, SourceError> {
        let err = |action: &'static str, e: String| SourceError::Kafka {
            action,
            topic: topic.to_owned(),
            message: e,
        };
        let bootstrap = connection.bootstrap_servers.clone().ok_or_else(|| {
            err(
                "connect",
                "no bootstrap servers given (--bootstrap or MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS)"
                    .into(),
            )
        })?;
        let mut cfg = connection.client_config(&bootstrap);
        cfg.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        let consumer: BaseConsumer<KafkaContext> = cfg
            .create_with_context(connection.context())
            .map_err(|e| err("connect", e.to_string()))?;
        let timeout = Duration::from_secs(10);
        let md = consumer.fetch_metadata(Some(topic), timeout).map_err(|e| {
            err(
                "metadata",
                format!("{e} (is the broker at {bootstrap} reachable?)"),
            )
        })?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or_else(|| err("metadata", "topic not found".into()))?;
        if let Some(e) = t.error() {
            return Err(err("metadata", format!("{e:?}")));
        }
        let mut tpl = TopicPartitionList::new();
        for p in t.partitions() {
            tpl.add_partition(topic, p.id());
        }
        let committed = consumer
            .committed_offsets(tpl.clone(), timeout)
            .map_err(|e| err("committed offsets", e.to_string()))?;
        let mut ends = BTreeMap::new();
        let mut positions = BTreeMap::new();
        let mut assign = TopicPartitionList::new();
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .map_err(|e| err("watermarks", e.to_string()))?;
            let start = match committed.find_partition(topic, p.id()).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o.max(low),
                _ => low,
            };
            ends.insert(p.id(), high);
            positions.insert(p.id(), start);
            assign
                .add_partition_offset(topic, p.id(), Offset::Offset(start))
                .map_err(|e| err("assign", e.to_string()))?;
        }
        consumer
            .assign(&assign)
            .map_err(|e| err("assign", e.to_string()))?;
        Ok(DlqSource::Kafka(Box::new(KafkaSource {
            consumer,
            topic: topic.to_owned(),
            ends,
            positions,
            pending: BTreeMap::new(),
            commit,
        })))
    }

    pub fn name(&self) -> String {
        match self {
            DlqSource::Sqs(s) => s.queue_url.clone(),
            DlqSource::Kafka(k) => format!("kafka topic {}", k.topic),
        }
    }

    /// Up to `max` messages; empty when the DLQ is drained (or `until` came).
    pub async fn read(
        &mut self,
        max: usize,
        until: tokio::time::Instant,
    ) -> Result<Vec<DlqItem>, SourceError> {
        match self {
            DlqSource::Sqs(s) => s.read(max).await,
            DlqSource::Kafka(k) => tokio::task::block_in_place(|| k.read(max, until)),
        }
    }

    /// Acknowledges `done` (delete, or commit past); `kept` stays in the DLQ
    /// (made visible again by `finish`, or not committed past).
    pub async fn settle(
        &mut self,
        done: &[&DlqItem],
        kept: &[&DlqItem],
    ) -> Result<(), SourceError> {
        match self {
            DlqSource::Sqs(s) => {
                s.delete(done).await?;
                s.keep(kept);
                Ok(())
            }
            DlqSource::Kafka(k) => tokio::task::block_in_place(|| k.settle(done, kept)),
        }
    }

    /// Ends a run: every message read and not acknowledged is visible again
    /// at once (SQS). Kafka needs nothing: uncommitted is unconsumed.
    pub async fn finish(&mut self) -> Result<(), SourceError> {
        match self {
            DlqSource::Sqs(s) => s.release().await,
            DlqSource::Kafka(_) => Ok(()),
        }
    }
}

impl SqsSource {
    fn err(&self, action: &'static str, e: impl std::fmt::Display) -> SourceError {
        SourceError::Sqs {
            action,
            queue: self.queue_url.clone(),
            message: e.to_string(),
        }
    }

    async fn read(&mut self, max: usize) -> Result<Vec<DlqItem>, SourceError> {
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
                .map_err(|e| {
                    self.err("ReceiveMessage", aws_sdk_sqs::error::DisplayErrorContext(e))
                })?;
            for m in r.messages() {
                let id = m.message_id().unwrap_or_default().to_owned();
                if !self.seen.insert(id.clone()) {
                    // Read again in this run: hide it until the run ends.
                    self.to_release
                        .extend(m.receipt_handle().map(str::to_owned));
                    continue;
                }
                let body = m.body().unwrap_or_default();
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

    async fn delete(&self, items: &[&DlqItem]) -> Result<(), SourceError> {
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
            let out = req.send().await.map_err(|e| {
                self.err(
                    "DeleteMessageBatch",
                    aws_sdk_sqs::error::DisplayErrorContext(e),
                )
            })?;
            if let Some(f) = out.failed().first() {
                return Err(self.err(
                    "DeleteMessageBatch",
                    format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                ));
            }
        }
        Ok(())
    }

    fn keep(&mut self, items: &[&DlqItem]) {
        for item in items {
            if let Handle::Sqs { receipt } = &item.handle {
                self.to_release.push(receipt.clone());
            }
        }
    }

    async fn release(&mut self) -> Result<(), SourceError> {
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
            req.send().await.map_err(|e| {
                self.err(
                    "ChangeMessageVisibilityBatch",
                    aws_sdk_sqs::error::DisplayErrorContext(e),
                )
            })?;
        }
        Ok(())
    }
}

impl KafkaSource {
    fn err(&self, action: &'static str, e: impl std::fmt::Display) -> SourceError {
        SourceError::Kafka {
            action,
            topic: self.topic.clone(),
            message: e.to_string(),
        }
    }

    fn drained(&self) -> bool {
        self.ends
            .iter()
            .all(|(p, end)| self.positions.get(p).copied().unwrap_or(0) >= *end)
    }

    fn read(
        &mut self,
        max: usize,
        until: tokio::time::Instant,
    ) -> Result<Vec<DlqItem>, SourceError> {
        let mut out = Vec::new();
        let until = until.min(tokio::time::Instant::now() + Duration::from_secs(10));
        while out.len() < max && !self.drained() && tokio::time::Instant::now() < until {
            let Some(msg) = self.consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let m = msg.map_err(|e| self.err("poll", e))?;
            let end = self.ends.get(&m.partition()).copied().unwrap_or(0);
            self.positions.insert(m.partition(), m.offset() + 1);
            if m.offset() >= end {
                continue;
            }
            let headers = crate::kafka::headers_of(&m);
            self.pending
                .entry(m.partition())
                .or_default()
                .insert(m.offset(), false);
            out.push(DlqItem {
                id: format!("{}/{}@{}", self.topic, m.partition(), m.offset()),
                parsed: from_kafka(m.key(), m.payload(), &headers),
                bytes: m.payload().map_or(0, <[u8]>::len) + m.key().map_or(0, <[u8]>::len),
                enqueued_ms: m.timestamp().to_millis(),
                handle: Handle::Kafka {
                    partition: m.partition(),
                    offset: m.offset(),
                },
            });
        }
        Ok(out)
    }

    /// Commits, per partition, past the longest run of acknowledged records:
    /// a kept record holds the commit, so the next run reads it again.
    fn settle(&mut self, done: &[&DlqItem], _kept: &[&DlqItem]) -> Result<(), SourceError> {
        for item in done {
            if let Handle::Kafka { partition, offset } = item.handle {
                if let Some(p) = self.pending.get_mut(&partition) {
                    p.insert(offset, true);
                }
            }
        }
        if !self.commit {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        let topic = self.topic.clone();
        for (partition, offsets) in &mut self.pending {
            let mut next = None;
            while let Some((&o, &ok)) = offsets.iter().next() {
                if !ok {
                    break;
                }
                offsets.remove(&o);
                next = Some(o + 1);
            }
            if let Some(n) = next {
                tpl.add_partition_offset(&topic, *partition, Offset::Offset(n))
                    .map_err(|e| SourceError::Kafka {
                        action: "commit",
                        topic: topic.clone(),
                        message: e.to_string(),
                    })?;
            }
        }
        if tpl.count() > 0 {
            self.consumer
                .commit(&tpl, CommitMode::Sync)
                .map_err(|e| self.err("commit", e))?;
        }
        Ok(())
    }
}
