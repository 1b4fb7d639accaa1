//! Kafka DLQ topic sink: one idempotent producer (`acks=all`) per cluster,
//! reused across warm invocations; each letter awaited to its delivery report.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use rdkafka::message::{Header as KHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use tokio::time::Instant;

use crate::envelope::DeadLetter;
use crate::kafka::{KafkaConnection, KafkaContext};
use crate::sink::{BoxFuture, Confirmation, DeadLetterSink, SinkError, SinkResult};

const NAME: &str = "kafka";
/// How long a cached partition count is trusted.
const PARTITIONS_TTL: Duration = Duration::from_secs(300);

/// Which DLQ partition a letter goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// Original partition modulo the DLQ topic's partition count, so the
    /// order within a source partition survives.
    SameModulo,
    /// The producer's partitioner hashes the key.
    ByKey,
}

pub type DlqProducer = FutureProducer<KafkaContext>;

pub struct KafkaSink {
    topic: String,
    connection: KafkaConnection,
    partitioning: Partitioning,
    producers: Mutex<HashMap<String, Arc<DlqProducer>>>,
    partitions: Mutex<Option<(i32, Instant)>>,
}

impl KafkaSink {
    /// With bootstrap servers configured, the producer is created now; else
    /// at the first batch, from the event's `bootstrapServers`.
    pub fn new(
        topic: String,
        connection: KafkaConnection,
        partitioning: Partitioning,
    ) -> Result<Self, String> {
        let sink = Self {
            topic,
            connection,
            partitioning,
            producers: Mutex::new(HashMap::new()),
            partitions: Mutex::new(None),
        };
        if let Some(b) = sink.connection.bootstrap_servers.clone() {
            sink.producer(&b)?;
        }
        Ok(sink)
    }

    fn producer(&self, bootstrap: &str) -> Result<Arc<DlqProducer>, String> {
        let mut map = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = map.get(bootstrap) {
            return Ok(p.clone());
        }
        let producer = create_producer(&self.connection, bootstrap)?;
        let producer = Arc::new(producer);
        map.insert(bootstrap.to_owned(), producer.clone());
        Ok(producer)
    }

    async fn partition_count(
        &self,
        producer: &Arc<DlqProducer>,
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
                .map_err(|e| e.to_string())?;
            let t = md
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .ok_or_else(|| format!("topic {topic} not in metadata"))?;
            if let Some(err) = t.error() {
                return Err(format!("topic {topic}: {err:?}"));
            }
            i32::try_from(t.partitions().len())
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("topic {topic} has no partitions"))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|message| SinkError::Unavailable {
            sink: NAME,
            message,
        })?;
        *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) = Some((n, Instant::now()));
        Ok(n)
    }

    async fn send_all(&self, letters: &[DeadLetter], deadline: Instant) -> Vec<SinkResult> {
        let bootstrap = match self.connection.bootstrap_servers.clone().or_else(|| {
            letters
                .first()
                .and_then(|l| l.source.bootstrap_servers.clone())
        }) {
            Some(b) => b,
            None => {
                return all_err(
                    letters,
                    "no bootstrap servers: set MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS",
                )
            }
        };
        let producer = match self.producer(&bootstrap) {
            Ok(p) => p,
            Err(e) => return all_err(letters, &e),
        };
        let count = match self.partitioning {
            Partitioning::SameModulo => match self.partition_count(&producer, deadline).await {
                Ok(n) => Some(n),
                Err(e) => return letters.iter().map(|_| Err(e.clone())).collect(),
            },
            Partitioning::ByKey => None,
        };
        // Letters go out concurrently; librdkafka keeps per-partition order
        // and the idempotent producer keeps it across its own retries.
        join_all(
            letters
                .iter()
                .map(|l| self.send_one(&producer, l, count, deadline)),
        )
        .await
    }

    async fn send_one(
        &self,
        producer: &DlqProducer,
        letter: &DeadLetter,
        count: Option<i32>,
        deadline: Instant,
    ) -> SinkResult {
        let headers = letter.kafka_headers();
        let mut owned = OwnedHeaders::new_with_capacity(headers.len());
        for h in &headers {
            owned = owned.insert(KHeader {
                key: &h.name,
                value: Some(&h.value),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic).headers(owned);
        if let Some(k) = letter.key() {
            record = record.key(k);
        }
        if let Some(v) = letter.value() {
            record = record.payload(v);
        }
        if let (Some(n), Some(p)) = (count, letter.partition()) {
            record = record.partition(p.rem_euclid(n));
        }
        let delivery = match producer.send_result(record) {
            Ok(f) => f,
            Err((e, _)) => {
                return Err(SinkError::Unavailable {
                    sink: NAME,
                    message: e.to_string(),
                })
            }
        };
        match tokio::time::timeout_at(deadline, delivery).await {
            Ok(Ok(Ok(d))) => Ok(Confirmation {
                sink: NAME,
                location: format!("{}/{}@{}", self.topic, d.partition, d.offset),
            }),
            Ok(Ok(Err((e, _)))) => Err(SinkError::Rejected {
                sink: NAME,
                code: e
                    .rdkafka_error_code()
                    .map_or_else(|| "unknown".to_owned(), |c| format!("{c:?}")),
                message: e.to_string(),
            }),
            Ok(Err(_)) => Err(SinkError::Unavailable {
                sink: NAME,
                message: "producer dropped the delivery report".into(),
            }),
            Err(_) => Err(SinkError::DeadlineExceeded { sink: NAME }),
        }
    }
}

fn all_err(letters: &[DeadLetter], message: &str) -> Vec<SinkResult> {
    letters
        .iter()
        .map(|_| {
            Err(SinkError::Unavailable {
                sink: NAME,
                message: message.to_owned(),
            })
        })
        .collect()
}

/// An idempotent producer with `acks=all`: a confirmed write is on every
/// in-sync replica and written once.
pub fn create_producer(
    connection: &KafkaConnection,
    bootstrap: &str,
) -> Result<DlqProducer, String> {
    let mut cfg = connection.client_config(bootstrap);
    cfg.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        // Bounded so an unreachable cluster fails a delivery in time; the
        // invocation deadline bounds each wait as well.
        .set("message.timeout.ms", "60000");
    cfg.create_with_context(connection.context())
        .map_err(|e| format!("cannot create Kafka producer for {bootstrap}: {e}"))
}

impl DeadLetterSink for KafkaSink {
    fn name(&self) -> &'static str {
        NAME
    }

    fn send<'a>(
        &'a self,
        letters: &'a [DeadLetter],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<SinkResult>> {
        Box::pin(self.send_all(letters, deadline))
    }
}
