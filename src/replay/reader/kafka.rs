//! A Kafka topic as a DLQ, read as a consumer group: offsets are committed
//! only past a contiguous run of acknowledged records. Records acknowledged
//! above that point (past a kept one) are listed in the commit's metadata,
//! so a later run skips them instead of replaying them again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::{DlqItem, Handle, ReaderError};
use crate::kafka::{headers_of, KafkaConnection, KafkaContext};
use crate::replay::parse::from_kafka;

pub(super) struct KafkaReader {
    consumer: BaseConsumer<KafkaContext>,
    topic: String,
    /// End of each partition when reading started, as the broker lists it.
    ends: BTreeMap<i32, i64>,
    positions: BTreeMap<i32, i64>,
    /// Partitions whose end the last fetch reached. A partition is drained
    /// when it is at its end *and* past the listed one: some Kafka-compatible
    /// brokers list the end of a multi-record batch too low.
    at_end: BTreeSet<i32>,
    /// The group's committed offset per partition.
    committed: BTreeMap<i32, i64>,
    /// Acknowledged offsets at or above the committed one, per partition.
    acked: BTreeMap<i32, BTreeSet<i64>>,
    commit: bool,
    /// Whether the broker was seen to keep commit metadata (checked once).
    metadata_checked: bool,
}

/// Prefix of the commit metadata this reader writes.
const ACKED_PREFIX: &str = "msk-dlq:acked:";
/// Brokers keep at most 4096 bytes of commit metadata by default.
const MAX_METADATA_BYTES: usize = 3_900;

/// `5-7,9` for {5, 6, 7, 9}, cut (at the highest ranges) to fit `max`.
fn encode_acked(offsets: &BTreeSet<i64>, max: usize) -> String {
    let mut out = String::from(ACKED_PREFIX);
    let mut iter = offsets.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        let range = if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        };
        if out.len() + range.len() + 1 > max {
            // What does not fit is replayed again next time: at least once.
            break;
        }
        if out.len() > ACKED_PREFIX.len() {
            out.push(',');
        }
        out.push_str(&range);
    }
    out
}

fn decode_acked(metadata: &str) -> BTreeSet<i64> {
    let Some(ranges) = metadata.strip_prefix(ACKED_PREFIX) else {
        return BTreeSet::new();
    };
    let mut out = BTreeSet::new();
    for r in ranges.split(',').filter(|r| !r.is_empty()) {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        if let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) {
            // Bounded: a damaged range must not allocate without end.
            if a <= b && b - a < 1_000_000 {
                out.extend(a..=b);
            }
        }
    }
    out
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
            .set("enable.partition.eof", "true");
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
        let mut starts = BTreeMap::new();
        let mut acked = BTreeMap::new();
        let mut assign = TopicPartitionList::new();
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .map_err(|e| kerr("watermarks", e))?;
            let elem = committed.find_partition(topic, p.id());
            let start = match elem.as_ref().map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o.max(low),
                _ => low,
            };
            let done: BTreeSet<i64> = elem
                .map(|e| decode_acked(e.metadata()))
                .unwrap_or_default()
                .into_iter()
                .filter(|&o| o >= start)
                .collect();
            ends.insert(p.id(), high);
            positions.insert(p.id(), start);
            starts.insert(p.id(), start);
            acked.insert(p.id(), done);
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
            at_end: BTreeSet::new(),
            committed: starts,
            acked,
            commit,
            metadata_checked: false,
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
        self.ends.iter().all(|(p, end)| {
            self.at_end.contains(p) && self.positions.get(p).copied().unwrap_or(0) >= *end
        })
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
            let m = match msg {
                Ok(m) => m,
                Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                    self.at_end.insert(p);
                    continue;
                }
                Err(e) => return Err(self.err("poll", e)),
            };
            self.at_end.remove(&m.partition());
            self.positions.insert(m.partition(), m.offset() + 1);
            if self
                .acked
                .get(&m.partition())
                .is_some_and(|a| a.contains(&m.offset()))
            {
                // Replayed by an earlier run past a kept letter.
                continue;
            }
            let headers = headers_of(&m);
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

    /// Commits, per partition, past the longest run of acknowledged records,
    /// with the acknowledged ones above it in the commit's metadata: a kept
    /// record holds the commit, so the next run reads it again, and skips
    /// what was acknowledged after it.
    pub(super) fn settle(
        &mut self,
        done: &[&DlqItem],
        _kept: &[&DlqItem],
    ) -> Result<(), ReaderError> {
        let mut touched = BTreeSet::new();
        for item in done {
            if let Handle::Kafka { partition, offset } = item.handle {
                self.acked.entry(partition).or_default().insert(offset);
                touched.insert(partition);
            }
        }
        if !self.commit || touched.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        let topic = self.topic.clone();
        for partition in touched {
            let acked = self.acked.entry(partition).or_default();
            let committed = self.committed.entry(partition).or_insert(0);
            while acked.remove(committed) {
                *committed += 1;
            }
            let metadata = encode_acked(acked, MAX_METADATA_BYTES);
            tpl.add_partition_offset(&topic, partition, Offset::Offset(*committed))
                .map_err(|e| self.err("commit", e))?;
            if let Some(mut e) = tpl.find_partition(&topic, partition) {
                e.set_metadata(metadata);
            }
        }
        self.consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| self.err("commit", e))?;
        if !self.metadata_checked && tpl.elements().iter().any(|e| !e.metadata().is_empty()) {
            self.metadata_checked = true;
            self.check_metadata_kept(&tpl);
        }
        Ok(())
    }

    /// Warns (once) when the broker dropped the commit's metadata: letters
    /// acknowledged past a kept one are then read, and replayed, again by
    /// the next run. Kafka keeps it; some Kafka-compatible brokers do not.
    fn check_metadata_kept(&self, written: &TopicPartitionList) {
        let Ok(read) = self
            .consumer
            .committed_offsets(written.clone(), Duration::from_secs(10))
        else {
            return;
        };
        let dropped = written.elements().iter().any(|w| {
            !w.metadata().is_empty()
                && read
                    .find_partition(w.topic(), w.partition())
                    .is_some_and(|r| r.metadata() != w.metadata())
        });
        if dropped {
            tracing::warn!(
                topic = %self.topic,
                "the broker does not keep commit metadata: dead letters replayed past a kept one will be replayed again by the next run"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_offsets_round_trip_through_commit_metadata() {
        let set: BTreeSet<i64> = [5, 6, 7, 9, 12, 13].into_iter().collect();
        let text = encode_acked(&set, MAX_METADATA_BYTES);
        assert_eq!(text, "msk-dlq:acked:5-7,9,12-13");
        assert_eq!(decode_acked(&text), set);
        assert!(decode_acked("someone else's metadata").is_empty());
        let big: BTreeSet<i64> = (0..10_000).map(|i| i * 2).collect();
        assert!(encode_acked(&big, MAX_METADATA_BYTES).len() <= MAX_METADATA_BYTES);
    }
}
