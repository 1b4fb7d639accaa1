//! Names of a dead letter that must never collide: the SQS/SNS FIFO group
//! and deduplication ids, and the S3 claim-check object key.

use super::DeadLetter;
use crate::codec::sha256_hex;

impl DeadLetter {
    /// `<topic>-<partition>`, the SQS FIFO message group.
    pub fn group_id(&self) -> String {
        format!(
            "{}-{}",
            self.topic().unwrap_or("unknown"),
            self.partition()
                .map_or_else(|| "unknown".to_owned(), |p| p.to_string())
        )
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

    /// Short digest of the source cluster, so equal topic names of two
    /// clusters never share an id.
    pub fn source_ref(&self) -> String {
        sha256_hex(self.source.label().as_bytes())[..12].to_owned()
    }

    /// Stable across retries of the same dead-lettering, new for each replay
    /// generation, so FIFO dedup drops only true duplicates: a digest of
    /// `<source>|<topic>-<partition>-<offset>-<replayCount>`.
    pub fn dedup_id(&self) -> String {
        sha256_hex(
            format!(
                "{}|{}-{}-{}",
                self.source.label(),
                self.group_id(),
                self.record_ref(),
                self.replay_count
            )
            .as_bytes(),
        )
    }

    /// The S3 object key of a claim-checked value under `prefix`: stable per
    /// record and replay generation, so a retried write overwrites instead of
    /// piling up.
    pub fn claim_check_key(&self, prefix: &str) -> String {
        format!(
            "{}{}/{}/{}-{}.bin",
            prefix,
            self.source_ref(),
            self.group_id(),
            self.record_ref(),
            self.replay_count
        )
    }
}
