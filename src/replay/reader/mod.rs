//! Reading a dead-letter queue without losing it: an SQS queue (messages
//! deleted only when acknowledged) or a Kafka DLQ topic (a consumer group's
//! offsets committed only past acknowledged records).

mod kafka;
mod sqs;

use super::stored::{ParseError, Parsed};
use crate::kafka::KafkaConnection;
use crate::sink::SharedError;
use kafka::KafkaReader;
use sqs::SqsReader;

/// A DLQ that cannot be read or acknowledged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReaderError {
    /// An SQS call failed.
    #[error("SQS {action} on {queue} failed: {message}")]
    Sqs {
        /// The API action.
        action: &'static str,
        /// The queue.
        queue: String,
        /// What happened.
        message: String,
        /// The SDK's error, when there is one.
        #[source]
        source: Option<SharedError>,
    },
    /// A Kafka call failed.
    #[error("Kafka {action} on {topic} failed: {message}")]
    Kafka {
        /// What was being done.
        action: &'static str,
        /// The topic.
        topic: String,
        /// What happened.
        message: String,
        /// librdkafka's error, when there is one.
        #[source]
        source: Option<Box<rdkafka::error::KafkaError>>,
    },
}

/// How to acknowledge a message read from a DLQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handle {
    /// An SQS message.
    Sqs {
        /// Its receipt handle.
        receipt: String,
    },
    /// A Kafka record.
    Kafka {
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
    },
}

/// One DLQ message as read.
#[derive(Debug, Clone)]
pub struct DlqItem {
    /// SQS message id, or `topic/partition@offset`.
    pub id: String,
    /// What it holds.
    pub parsed: Result<Parsed, ParseError>,
    /// Its size.
    pub bytes: usize,
    /// When the message entered the DLQ (SQS SentTimestamp / Kafka timestamp).
    pub enqueued_ms: Option<i64>,
    /// How to acknowledge it.
    pub handle: Handle,
}

enum Inner {
    Sqs(SqsReader),
    Kafka(Box<KafkaReader>),
}

/// A dead-letter queue being read: an SQS queue or a Kafka topic.
pub struct DlqReader(Inner);

impl DlqReader {
    /// Reads `queue_url`, hiding what it read for `visibility_timeout`
    /// seconds.
    pub fn sqs(client: aws_sdk_sqs::Client, queue_url: String, visibility_timeout: i32) -> Self {
        DlqReader(Inner::Sqs(SqsReader::new(
            client,
            queue_url,
            visibility_timeout,
        )))
    }

    /// Reads `topic` from `group`'s committed offsets (earliest where none)
    /// to the partition ends as of now. With `commit`, `settle` commits.
    pub fn kafka(
        connection: &KafkaConnection,
        topic: &str,
        group: &str,
        commit: bool,
    ) -> Result<Self, ReaderError> {
        Ok(DlqReader(Inner::Kafka(Box::new(KafkaReader::open(
            connection, topic, group, commit,
        )?))))
    }

    /// A name for messages: the queue URL or the topic.
    pub fn name(&self) -> String {
        match &self.0 {
            Inner::Sqs(s) => s.queue_url().to_owned(),
            Inner::Kafka(k) => format!("kafka topic {}", k.topic()),
        }
    }

    /// Up to `max` messages; empty when the DLQ is drained (or `until` came).
    pub async fn read(
        &mut self,
        max: usize,
        until: tokio::time::Instant,
    ) -> Result<Vec<DlqItem>, ReaderError> {
        match &mut self.0 {
            Inner::Sqs(s) => s.read(max).await,
            Inner::Kafka(k) => tokio::task::block_in_place(|| k.read(max, until)),
        }
    }

    /// Acknowledges `done` (delete, or commit past); `kept` stays in the DLQ
    /// (made visible again by `finish`, or not committed past).
    pub async fn settle(
        &mut self,
        done: &[&DlqItem],
        kept: &[&DlqItem],
    ) -> Result<(), ReaderError> {
        match &mut self.0 {
            Inner::Sqs(s) => {
                s.delete(done).await?;
                s.keep(kept);
                Ok(())
            }
            Inner::Kafka(k) => tokio::task::block_in_place(|| k.settle(done, kept)),
        }
    }

    /// Ends a run: every message read and not acknowledged is visible again
    /// at once (SQS). Kafka needs nothing: uncommitted is unconsumed.
    pub async fn finish(&mut self) -> Result<(), ReaderError> {
        match &mut self.0 {
            Inner::Sqs(s) => s.release().await,
            Inner::Kafka(_) => Ok(()),
        }
    }
}
