//! Kafka DLQ topic sink: the pool's idempotent producer (`acks=all`) per
//! cluster, each letter awaited to its delivery report.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use rdkafka::producer::Producer as _;
use tokio::time::Instant;

use super::{BoxFuture, Confirmation, DeadLetterSink, SinkError, SinkResult};
use crate::kafka::{send_confirmed, OutRecord, ProduceError, Producer, ProducerPool};
use crate::letter::DeadLetter;

const NAME: &str = "kafka";
/// How long a cached partition count is trusted.
const PARTITIONS_TTL: Duration = Duration::from_secs(300);

/// Which DLQ partition a letter goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Partitioning {
    /// Original partition modulo the DLQ topic's partition count, so the
    /// order within a source partition survives.
    #[default]
    SameModulo,
    /// The producer's partitioner hashes the key.
    ByKey,
}

/// Dead letters as records of a Kafka topic.
pub struct KafkaSink {
    topic: String,
    bootstrap: Option<String>,
    pool: Arc<ProducerPool>,
    partitioning: Partitioning,
    partitions: Mutex<Option<(i32, Instant)>>,
}

impl KafkaSink {
    /// Letters go to `topic` on `bootstrap`, or, when that is `None`, on the
    /// cluster each batch came from. A configured cluster's producer is
    /// created now, so bad settings fail the cold start.
    pub fn new(
        topic: impl Into<String>,
        bootstrap: Option<String>,
        pool: Arc<ProducerPool>,
        partitioning: Partitioning,
    ) -> Result<Self, ProduceError> {
        if let Some(b) = &bootstrap {
            pool.get(b)?;
        }
        Ok(Self {
            topic: topic.into(),
            bootstrap,
            pool,
            partitioning,
            partitions: Mutex::new(None),
        })
    }

    async fn partition_count(
        &self,
        producer: &Arc<Producer>,
        deadline: Instant,
    ) -> Result<i32, SinkError> {
        if let Some((n, at)) = *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < PARTITIONS_TTL {
                return Ok(n);
            }
        }
        let producer = producer.clone();
        let topic = self.topic.clone();
        let timeout = deadline.saturating_duration_since(Instant::now());
        let n = tokio::task::spawn_blocking(move || {
            let md = producer
                .client()
                .fetch_metadata(Some(&topic), timeout)
                .map_err(|e| {
                    SinkError::unavailable_because(NAME, format!("metadata of {topic}"), e)
                })?;
            let t = md
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .ok_or_else(|| {
                    SinkError::unavailable(NAME, format!("topic {topic} not in metadata"))
                })?;
            if let Some(err) = t.error() {
                return Err(SinkError::unavailable(
                    NAME,
                    format!("topic {topic}: {err:?}"),
                ));
            }
            i32::try_from(t.partitions().len())
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| {
                    SinkError::unavailable(NAME, format!("topic {topic} has no partitions"))
                })
        })
        .await
        .map_err(|e| SinkError::unavailable_because(NAME, "metadata lookup failed", e))??;
        *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) = Some((n, Instant::now()));
        Ok(n)
    }

    async fn send_all(&self, letters: &[DeadLetter], deadline: Instant) -> Vec<SinkResult> {
        let all = |e: SinkError| letters.iter().map(|_| Err(e.clone())).collect();
        let Some(bootstrap) = self.bootstrap.clone().or_else(|| {
            letters
                .first()
                .and_then(|l| l.source.bootstrap_servers.clone())
        }) else {
            return all(SinkError::unavailable(
                NAME,
                "no bootstrap servers: set MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS",
            ));
        };
        let producer = match self.pool.get(&bootstrap) {
            Ok(p) => p,
            Err(e) => return all(SinkError::unavailable_because(NAME, e.to_string(), e)),
        };
        let count = match self.partitioning {
            Partitioning::SameModulo => match self.partition_count(&producer, deadline).await {
                Ok(n) => Some(n),
                Err(e) => return all(e),
            },
            Partitioning::ByKey => None,
        };
        // Letters go out concurrently; librdkafka keeps per-partition order
        // and the idempotent producer keeps it across its own retries.
        let mut results = join_all(
            letters
                .iter()
                .map(|l| self.send_one(&producer, l, count, deadline)),
        )
        .await;
        let retry = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .is_some_and(|e| self.pool.retire(&bootstrap, &producer, e));
        if retry {
            // What the old producer failed gets one more try with a new one.
            let fresh = match self.pool.get(&bootstrap) {
                Ok(p) => p,
                Err(e) => return all(SinkError::unavailable_because(NAME, e.to_string(), e)),
            };
            for (i, letter) in letters.iter().enumerate() {
                if results[i].is_err() {
                    results[i] = self.send_one(&fresh, letter, count, deadline).await;
                }
            }
        }
        results.into_iter().map(|r| self.confirmation(r)).collect()
    }

    async fn send_one(
        &self,
        producer: &Producer,
        letter: &DeadLetter,
        count: Option<i32>,
        deadline: Instant,
    ) -> Result<crate::kafka::Delivered, ProduceError> {
        let headers = letter.kafka_headers();
        let record = OutRecord {
            topic: &self.topic,
            partition: count.zip(letter.partition()).map(|(n, p)| p.rem_euclid(n)),
            key: letter.key(),
            value: letter.value(),
            headers: &headers,
        };
        send_confirmed(producer, &record, deadline).await
    }

    fn confirmation(&self, result: Result<crate::kafka::Delivered, ProduceError>) -> SinkResult {
        match result {
            Ok(d) => Ok(Confirmation::new(
                NAME,
                format!("{}/{}@{}", self.topic, d.partition, d.offset),
            )),
            Err(ProduceError::Deadline) => Err(SinkError::DeadlineExceeded { sink: NAME }),
            Err(e @ ProduceError::Delivery(_)) => Err(SinkError::Rejected {
                sink: NAME,
                code: e
                    .code()
                    .map_or_else(|| "unknown".to_owned(), |c| format!("{c:?}")),
                message: e.to_string(),
            }),
            Err(e) => Err(SinkError::unavailable_because(NAME, e.to_string(), e)),
        }
    }
}

impl DeadLetterSink for KafkaSink {
    fn name(&self) -> &'static str {
        NAME
    }

    fn send<'a>(&'a self, letter: &'a DeadLetter, deadline: Instant) -> BoxFuture<'a, SinkResult> {
        Box::pin(async move {
            self.send_all(std::slice::from_ref(letter), deadline)
                .await
                .pop()
                .unwrap_or_else(|| Err(SinkError::unavailable(NAME, "no result")))
        })
    }

    fn send_batch<'a>(
        &'a self,
        letters: &'a [DeadLetter],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<SinkResult>> {
        Box::pin(self.send_all(letters, deadline))
    }
}
