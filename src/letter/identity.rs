//! Names of a dead letter that must never collide: the SQS/SNS FIFO group
//! and deduplication ids, and the S3 claim-check object key.
//!
//! A record is identified by its cluster (the event source ARN, or for
//! self-managed Kafka its bootstrap servers), its partition (the event's
//! `<topic>-<partition>` key when the record's own fields are unreadable),
//! its offset, and its timestamp and bytes: a recreated topic repeats
//! offsets, never timestamps and bytes together.

use sha2::{Digest as _, Sha256};

use super::DeadLetter;
use crate::codec::sha256_hex;

impl DeadLetter {
    /// The cluster the record came from: the event source ARN, else
    /// `SelfManagedKafka:` and its bootstrap servers (sorted, lower case).
    pub fn source_identity(&self) -> String {
        if let Some(arn) = &self.source.event_source_arn {
            return arn.clone();
        }
        let mut servers: Vec<String> = self
            .source
            .bootstrap_servers
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        servers.sort();
        format!("{}:{}", self.source.event_source, servers.join(","))
    }

    /// `<topic>-<partition>`, the SQS FIFO message group; the event's
    /// partition key when the record's own fields are unreadable.
    pub fn group_id(&self) -> String {
        match (self.topic(), self.partition()) {
            (Some(t), Some(p)) => format!("{t}-{p}"),
            _ => self.partition_key.to_string(),
        }
    }

    /// The record within its partition: the offset, or for a record whose
    /// offset is unknown a digest of its bytes, so two such records never
    /// share an id.
    pub fn record_ref(&self) -> String {
        match self.offset() {
            Some(o) if o >= 0 => o.to_string(),
            _ => format!(
                "raw-{}",
                &sha256_hex(self.value().unwrap_or_default())[..16]
            ),
        }
    }

    /// Short digest of [`source_identity`](Self::source_identity), so equal
    /// topic names of two clusters never share a name.
    pub fn source_ref(&self) -> String {
        sha256_hex(self.source_identity().as_bytes())[..12].to_owned()
    }

    /// A digest of the record's timestamp, key and value: what tells offset
    /// 5 of a recreated topic from the old offset 5.
    fn content_ref(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.timestamp().unwrap_or(i64::MIN).to_be_bytes());
        for part in [self.key(), self.value()] {
            match part {
                Some(b) => {
                    h.update([1]);
                    h.update((b.len() as u64).to_be_bytes());
                    h.update(b);
                }
                None => h.update([0]),
            }
        }
        let digest = h.finalize();
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// Stable across retries of the same dead-lettering, new for each replay
    /// generation, so FIFO dedup drops only true duplicates: a digest of the
    /// cluster, partition, offset, replay count, timestamp and bytes.
    pub fn dedup_id(&self) -> String {
        sha256_hex(
            format!(
                "{}|{}-{}-{}|{}",
                self.source_identity(),
                self.group_id(),
                self.record_ref(),
                self.replay_count,
                self.content_ref()
            )
            .as_bytes(),
        )
    }

    /// The S3 object key of a claim-checked value under `prefix`: it names
    /// the cluster, partition, offset and replay generation, and ends in a
    /// digest of the bytes, so no two different values ever share a key (a
    /// retried write of the same letter writes the same bytes again).
    pub fn claim_check_key(&self, prefix: &str) -> String {
        format!(
            "{}{}/{}/{}-{}-{}.bin",
            prefix,
            self.source_ref(),
            self.group_id(),
            self.record_ref(),
            self.replay_count,
            self.content_ref()
        )
    }
}
