//! A Kafka topic as a DLQ, read as a consumer group: offsets are committed
//! only past a contiguous run of acknowledged records.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::{DlqItem, Handle, ReaderError};
use crate::kafka::{headers_of, KafkaConnection, KafkaContext};
use crate::replay::parse::from_kafka;

pub(super) struct KafkaReader {
    consumer: BaseConsumer<KafkaContext>,
    topic: String,
    /// End of each partition when reading started: "drained" means reached.
    ends: BTreeMap<i32, i64>,
    positions: BTreeMap<i32, i64>,
    /// Read but not yet acknowledged or kept, per partition, in order.
    pending: BTreeMap<i32, BTreeMap<i64, bool>>,
    commit: bool,
}

impl KafkaReader {
    pub(super) fn open(
        connection: &KafkaConnection,
        topic: &str,
        group: &str,
        commit: bool,
    ) -> Result<Self, ReaderError> {
        let err = |action: &'static str, e: String| ReaderError::Kafka {
            action,
            topic: topic.to_owned(),
            message: e,
            source: None,
        };
        let kerr = |action: &'static str, e: rdkafka::error::KafkaError| ReaderError::Kafka {
            action,
            topic: topic.to_owned(),
            message: e.to_string(),
            source: Some(Box::new(e)),
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
            .map_err(|e| kerr("connect", e))?;
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
            .map_err(|e| kerr("committed offsets", e))?;
        let mut ends = BTreeMap::new();
        let mut positions = BTreeMap::new();
        let mut assign = TopicPartitionList::new();
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .map_err(|e| kerr("watermarks", e))?;
            let start = match committed.find_partition(topic, p.id()).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o.max(low),
                _ => low,
            };
            ends.insert(p.id(), high);
            positions.insert(p.id(), start);
            assign
                .add_partition_offset(topic, p.id(), Offset::Offset(start))
                .map_err(|e| kerr("assign", e))?;
        }
        consumer.assign(&assign).map_err(|e| kerr("assign", e))?;
        Ok(KafkaReader {
            consumer,
            topic: topic.to_owned(),
            ends,
            positions,
            pending: BTreeMap::new(),
            commit,
        })
    }

    pub(super) fn topic(&self) -> &str {
        &self.topic
    }

    fn err(&self, action: &'static str, e: rdkafka::error::KafkaError) -> ReaderError {
        ReaderError::Kafka {
            action,
            topic: self.topic.clone(),
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }

    fn drained(&self) -> bool {
        self.ends
            .iter()
            .all(|(p, end)| self.positions.get(p).copied().unwrap_or(0) >= *end)
    }

    pub(super) fn read(
        &mut self,
        max: usize,
        until: tokio::time::Instant,
    ) -> Result<Vec<DlqItem>, ReaderError> {
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
            let headers = headers_of(&m);
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
    pub(super) fn settle(
        &mut self,
        done: &[&DlqItem],
        _kept: &[&DlqItem],
    ) -> Result<(), ReaderError> {
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
                    .map_err(|e| ReaderError::Kafka {
                        action: "commit",
                        topic: topic.clone(),
                        message: e.to_string(),
                        source: Some(Box::new(e)),
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
