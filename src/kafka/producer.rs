//! One pool of idempotent producers (`acks=all`), one per cluster, reused
//! across warm invocations, and a send that waits for the delivery report.
//! The DLQ sink, the replayer and the parking lot all write through it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use tokio::time::Instant;

use super::{owned_headers, KafkaConnection, KafkaContext};
use crate::record::Header;

/// A record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition; `None`: the producer's partitioner chooses by key.
    pub partition: Option<i32>,
    /// The key; `None`: a null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None`: a tombstone.
    pub value: Option<&'a [u8]>,
    /// The headers, in order.
    pub headers: &'a [Header],
}

/// Why a record was not confirmed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// No producer could be created for the cluster.
    #[error("cannot create a Kafka producer for {bootstrap}: {source}")]
    Create {
        /// The cluster.
        bootstrap: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// librdkafka refused the record before sending (queue full, too large ...).
    #[error("the producer refused the record: {0}")]
    Enqueue(#[source] KafkaError),
    /// The broker did not store it.
    #[error("the broker did not confirm the record: {0}")]
    Delivery(#[source] KafkaError),
    /// The producer went away before reporting.
    #[error("the producer dropped the delivery report")]
    Dropped,
    /// No report before the deadline.
    #[error("the record was not confirmed before the deadline")]
    Deadline,
}

impl ProduceError {
    /// librdkafka's error code, when there is one.
    pub fn code(&self) -> Option<rdkafka::types::RDKafkaErrorCode> {
        match self {
            ProduceError::Create { source, .. }
            | ProduceError::Enqueue(source)
            | ProduceError::Delivery(source) => source.rdkafka_error_code(),
            ProduceError::Dropped | ProduceError::Deadline => None,
        }
    }
}

/// Where a confirmed record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
}

/// The producer type of the pool.
pub type Producer = FutureProducer<KafkaContext>;

/// Idempotent producers by bootstrap servers.
pub struct ProducerPool {
    connection: KafkaConnection,
    producers: Mutex<HashMap<String, (Arc<Producer>, std::time::Instant)>>,
    renew_refusing_after: Duration,
}

/// A producer that refuses records on cached topic state (authorization
/// denied, topic unknown) keeps refusing until its next metadata refresh,
/// minutes later; one older than this is replaced instead, so a fixed ACL
/// or a created topic takes effect within seconds.
const RENEW_REFUSING_AFTER: Duration = Duration::from_secs(10);

/// Whether librdkafka refused `e` at enqueue on cached cluster state (not
/// for the record's own sake, as with a full queue or a record too large).
fn refused_on_cached_state(e: &ProduceError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(e, ProduceError::Enqueue(_))
        && !matches!(
            e.code(),
            Some(C::QueueFull | C::MessageSizeTooLarge | C::InvalidArgument)
        )
}

impl ProducerPool {
    /// A pool whose producers connect with `connection`'s security.
    pub fn new(connection: KafkaConnection) -> Self {
        Self {
            connection,
            producers: Mutex::new(HashMap::new()),
            renew_refusing_after: RENEW_REFUSING_AFTER,
        }
    }

    /// Replaces a producer refusing records on cached state once it is this
    /// old (default 10 seconds).
    #[must_use]
    pub fn with_renew_refusing_after(mut self, age: Duration) -> Self {
        self.renew_refusing_after = age;
        self
    }

    /// The connection settings.
    pub fn connection(&self) -> &KafkaConnection {
        &self.connection
    }

    /// The producer for `bootstrap`, created on first use, and created anew
    /// when the cached one hit a fatal error (an idempotent producer that
    /// lost its guarantees fails every later write for good).
    pub fn get(&self, bootstrap: &str) -> Result<Arc<Producer>, ProduceError> {
        let mut map = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((p, _)) = map.get(bootstrap) {
            match p.client().fatal_error() {
                None => return Ok(p.clone()),
                Some((code, reason)) => {
                    tracing::warn!(
                        bootstrap,
                        ?code,
                        reason,
                        "Kafka producer in a fatal state; creating a new one"
                    );
                    map.remove(bootstrap);
                }
            }
        }
        let mut cfg = self.connection.client_config(bootstrap);
        cfg.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            // Bounded so an unreachable cluster fails a delivery in time; the
            // invocation deadline bounds each wait as well.
            .set("message.timeout.ms", "60000");
        let producer: Producer =
            cfg.create_with_context(self.connection.context())
                .map_err(|source| ProduceError::Create {
                    bootstrap: bootstrap.to_owned(),
                    source,
                })?;
        let producer = Arc::new(producer);
        map.insert(
            bootstrap.to_owned(),
            (producer.clone(), std::time::Instant::now()),
        );
        Ok(producer)
    }

    /// After `producer` failed with `error`: whether the write deserves one
    /// more try with a new producer, the pool having dropped this one. So it
    /// does when the producer is in a fatal state, or refuses records on
    /// cached state and is old enough (see [`Self::with_renew_refusing_after`]).
    pub fn retire(&self, bootstrap: &str, producer: &Arc<Producer>, error: &ProduceError) -> bool {
        if is_fatal(producer) {
            // `get` replaces it.
            return true;
        }
        let renewed = refused_on_cached_state(error)
            && self.renew(bootstrap, producer, self.renew_refusing_after);
        if renewed {
            tracing::warn!(bootstrap, error = %error, "Kafka producer refusing records on cached state; creating a new one");
        }
        renewed
    }

    /// Drops `producer` from the pool if it is still the one for
    /// `bootstrap` and older than `age`; whether it was dropped.
    fn renew(&self, bootstrap: &str, producer: &Arc<Producer>, age: Duration) -> bool {
        let mut map = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        let stale = map
            .get(bootstrap)
            .is_some_and(|(p, at)| Arc::ptr_eq(p, producer) && at.elapsed() >= age);
        if stale {
            map.remove(bootstrap);
        }
        stale
    }

    /// Produces `record` to `bootstrap` and waits for its delivery report,
    /// at most until `deadline`.
    pub async fn send(
        &self,
        bootstrap: &str,
        record: &OutRecord<'_>,
        deadline: Instant,
    ) -> Result<Delivered, ProduceError> {
        let producer = self.get(bootstrap)?;
        match send_confirmed(&producer, record, deadline).await {
            Err(e) if self.retire(bootstrap, &producer, &e) => {
                let producer = self.get(bootstrap)?;
                send_confirmed(&producer, record, deadline).await
            }
            other => other,
        }
    }
}

/// Whether `producer` hit a fatal error.
pub fn is_fatal(producer: &Producer) -> bool {
    producer.client().fatal_error().is_some()
}

/// Produces `record` with `producer` and waits for its delivery report, at
/// most until `deadline`.
pub async fn send_confirmed(
    producer: &Producer,
    record: &OutRecord<'_>,
    deadline: Instant,
) -> Result<Delivered, ProduceError> {
    let mut rec: FutureRecord<'_, [u8], [u8]> =
        FutureRecord::to(record.topic).headers(owned_headers(record.headers));
    if let Some(k) = record.key {
        rec = rec.key(k);
    }
    if let Some(v) = record.value {
        rec = rec.payload(v);
    }
    if let Some(p) = record.partition {
        rec = rec.partition(p);
    }
    let delivery = producer
        .send_result(rec)
        .map_err(|(e, _)| ProduceError::Enqueue(e))?;
    match tokio::time::timeout_at(deadline, delivery).await {
        Ok(Ok(Ok(d))) => Ok(Delivered {
            partition: d.partition,
            offset: d.offset,
        }),
        Ok(Ok(Err((e, _)))) => Err(ProduceError::Delivery(e)),
        Ok(Err(_)) => Err(ProduceError::Dropped),
        Err(_) => Err(ProduceError::Deadline),
    }
}
