//! Fetch-back: Lambda's SQS/SNS on-failure documents name only offsets;
//! their records are read back from the source cluster by offset.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use tokio::time::Instant;

use super::job::{ReplaySummary, Replayer, Verdict};
use super::stored::{kind_of_condition, FetchBack, Format, StoredDeadLetter, StoredValue};
use crate::headers::is_ours;
use crate::kafka::{headers_of, KafkaConnection, KafkaContext};
use crate::record::replay_count_of;
use crate::schema::SchemaFacts;

/// Why records could not be fetched back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The range (or its start) is older than the partition's earliest
    /// kept offset: retention removed it.
    #[error("offsets {first}..={last} of {topic}-{partition} are no longer in the topic (earliest kept offset is {low})")]
    Gone {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// First offset gone.
        first: i64,
        /// Last offset gone.
        last: i64,
        /// The partition's earliest kept offset.
        low: i64,
    },
    /// The cluster could not be read.
    #[error("fetch-back from {topic}-{partition} failed: {message}")]
    Failed {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// What happened.
        message: String,
        /// librdkafka's error, when there is one.
        #[source]
        source: Option<Box<rdkafka::error::KafkaError>>,
    },
}

/// What a fetch-back read, and the part of the range no longer in the topic.
pub type Fetched = (Vec<StoredDeadLetter>, Option<FetchError>);

/// Reads exactly the offsets `first..=last` of one partition back from the
/// source cluster (assign + seek; no consumer group offsets are committed).
/// Offsets before the partition's start are reported as gone; the rest of
/// the range is still read.
pub async fn fetch_back(
    connection: &KafkaConnection,
    bootstrap: &str,
    range: &FetchBack,
    deadline: Instant,
) -> Result<Fetched, FetchError> {
    let connection = connection.clone();
    let bootstrap = bootstrap.to_owned();
    let range = range.clone();
    let timeout = deadline.saturating_duration_since(Instant::now());
    let r2 = range.clone();
    tokio::task::spawn_blocking(move || fetch_back_blocking(&connection, &bootstrap, &r2, timeout))
        .await
        .map_err(|e| FetchError::Failed {
            topic: range.topic.clone(),
            partition: range.partition,
            message: e.to_string(),
            source: None,
        })?
}

fn fetch_back_blocking(
    connection: &KafkaConnection,
    bootstrap: &str,
    range: &FetchBack,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    let failed = |message: String| FetchError::Failed {
        topic: range.topic.clone(),
        partition: range.partition,
        message,
        source: None,
    };
    let kafka = |e: rdkafka::error::KafkaError| FetchError::Failed {
        topic: range.topic.clone(),
        partition: range.partition,
        message: e.to_string(),
        source: Some(Box::new(e)),
    };
    let started = std::time::Instant::now();
    let mut cfg = connection.client_config(bootstrap);
    cfg.set("group.id", "msk-dlq-fetch-back")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error");
    let consumer: BaseConsumer<KafkaContext> = cfg
        .create_with_context(connection.context())
        .map_err(kafka)?;
    let (low, high) = consumer
        .fetch_watermarks(&range.topic, range.partition, timeout)
        .map_err(kafka)?;
    let gone = |last: i64| FetchError::Gone {
        topic: range.topic.clone(),
        partition: range.partition,
        first: range.first_offset,
        last,
        low,
    };
    if range.last_offset < low {
        return Err(gone(range.last_offset));
    }
    let gone_part = (range.first_offset < low).then(|| gone(low - 1));
    let start = range.first_offset.max(low);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&range.topic, range.partition, Offset::Offset(start))
        .map_err(kafka)?;
    consumer.assign(&tpl).map_err(kafka)?;
    let mut out = Vec::new();
    while started.elapsed() < timeout {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if m.offset() > range.last_offset {
                    return Ok((out, gone_part));
                }
                let headers = headers_of(&m);
                let replay_count = replay_count_of(&headers);
                out.push(StoredDeadLetter {
                    format: Format::LambdaPayload,
                    topic: Some(range.topic.clone()),
                    partition: Some(range.partition),
                    offset: Some(m.offset()),
                    timestamp: m.timestamp().to_millis(),
                    timestamp_type: None,
                    attempts: None,
                    key: m.key().map(<[u8]>::to_vec),
                    value: StoredValue::Inline(m.payload().map(<[u8]>::to_vec)),
                    headers: headers.into_iter().filter(|h| !is_ours(&h.name)).collect(),
                    kind: Some(kind_of_condition(range.condition.as_deref())),
                    error_type: range.condition.clone(),
                    error_message: None,
                    failed_at_ms: None,
                    replay_count,
                    consumer: None,
                    source: range.source.clone(),
                    bootstrap_servers: Some(bootstrap.to_owned()),
                    // Read from the topic itself: these are the wire bytes.
                    schema: SchemaFacts::default(),
                });
                if m.offset() >= range.last_offset {
                    return Ok((out, gone_part));
                }
            }
            // At the end without reaching `last`. If the listed end lies past
            // it, every offset of the range that still exists was read
            // (compaction leaves gaps). The end is not checked before
            // reading: some brokers list a multi-record batch's end too low,
            // and reading reaches `last` anyway.
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {
                let end = high;
                if end > range.last_offset {
                    return Ok((out, gone_part));
                }
                return Err(failed(format!(
                    "offset {} is beyond the end of the partition ({end})",
                    range.last_offset
                )));
            }
            Some(Err(e)) => return Err(kafka(e)),
            None => {}
        }
    }
    // A partial range must not count as fetched: the document is kept.
    Err(failed(format!(
        "only {} record(s) of the range read before the deadline",
        out.len()
    )))
}

impl Replayer {
    /// Fetches back every range of an on-failure document; `None` when the
    /// document must be kept (a range could not be read, or its gone part
    /// could not be parked).
    pub(super) async fn fetch_back_all(
        &self,
        ranges: &[FetchBack],
        deadline: Instant,
        summary: &mut ReplaySummary,
    ) -> Option<Vec<StoredDeadLetter>> {
        let mut out = Vec::new();
        for range in ranges {
            if let Some(at) = range.written_at_ms {
                summary.oldest_fetch_back_ms =
                    Some(summary.oldest_fetch_back_ms.map_or(at, |o| o.min(at)));
            }
            let bootstrap = match self.target_cluster(range.bootstrap_servers.as_deref()) {
                Ok(b) => b,
                Err(reason) => {
                    tracing::warn!(reason, topic = %range.topic, "on-failure document kept");
                    summary.refused += 1;
                    return None;
                }
            };
            let Some(bootstrap) = bootstrap else {
                tracing::error!(
                    "on-failure document names no bootstrap servers and none are configured; kept"
                );
                summary.failed += 1;
                return None;
            };
            let (records, gone) =
                match fetch_back(self.producers.connection(), &bootstrap, range, deadline).await {
                    Ok(fetched) => fetched,
                    Err(e @ FetchError::Gone { .. }) => (Vec::new(), Some(e)),
                    Err(e) => {
                        tracing::error!(error = %e, "fetch-back failed; kept");
                        summary.failed += 1;
                        return None;
                    }
                };
            summary.fetched_back += records.len() as u64;
            out.extend(records);
            if let Some(e) = gone {
                // Counted and parked with the reason, never silently dropped;
                // what is still in the topic is replayed.
                tracing::error!(error = %e, "part of the range is gone from the topic; parking a record of it");
                summary.fetch_back_gone += 1;
                if self.cfg.dry_run {
                    summary.parked += 1;
                    continue;
                }
                let stub = StoredDeadLetter {
                    format: Format::LambdaPayload,
                    topic: Some(range.topic.clone()),
                    partition: Some(range.partition),
                    offset: Some(range.first_offset),
                    timestamp: None,
                    timestamp_type: None,
                    attempts: None,
                    key: None,
                    value: StoredValue::Inline(None),
                    headers: Vec::new(),
                    kind: Some(kind_of_condition(range.condition.as_deref())),
                    error_type: range.condition.clone(),
                    error_message: Some(e.to_string()),
                    failed_at_ms: None,
                    replay_count: 0,
                    consumer: None,
                    source: range.source.clone(),
                    bootstrap_servers: Some(bootstrap.clone()),
                    schema: SchemaFacts::default(),
                };
                if self
                    .park(&stub, None, &e.to_string(), deadline, summary)
                    .await
                    == Verdict::Keep
                {
                    return None;
                }
            }
        }
        Some(out)
    }
}
