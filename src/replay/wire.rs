//! A replayed record's wire format: what went through a schema registry is
//! re-framed from its schema id or read back from the source topic by
//! offset, as [`crate::schema::wire_plan`] decides; what cannot be
//! restored is kept, never written in the wrong format.

use tokio::time::Instant;

use super::fetch_back::{fetch_back, FetchError};
use super::job::{ReplaySummary, Replayer};
use super::plan::ReplayRecord;
use super::stored::{FetchBack, StoredDeadLetter, StoredValue};
use crate::schema::{wire_plan, WireMode, WirePlan};

/// Whether a record is ready to write.
pub(super) enum WireOutcome {
    /// Key and value are the bytes to write.
    Ready,
    /// They cannot be restored: keep the letter, with this reason.
    Refuse(String),
    /// The source topic could not be read now: keep it for a later run.
    Retry(String),
}

impl Replayer {
    /// Restores `record`'s key and value to the bytes the topic's consumers
    /// expect.
    pub(super) async fn restore_wire(
        &self,
        letter: &StoredDeadLetter,
        record: &mut ReplayRecord,
        deadline: Instant,
        summary: &mut ReplaySummary,
    ) -> WireOutcome {
        match wire_plan(&letter.schema, self.cfg.wire_mode) {
            WirePlan::AsStored => WireOutcome::Ready,
            plan @ WirePlan::Reframe { .. } => {
                plan.reframe(&mut record.key, &mut record.value);
                summary.reframed += 1;
                WireOutcome::Ready
            }
            WirePlan::Refuse { reason } => WireOutcome::Refuse(reason),
            WirePlan::FetchBack => {
                let outcome = self.fetch_original(letter, record, deadline).await;
                if matches!(outcome, WireOutcome::Ready) {
                    summary.fetched_back += 1;
                }
                outcome
            }
        }
    }

    async fn fetch_original(
        &self,
        letter: &StoredDeadLetter,
        record: &mut ReplayRecord,
        deadline: Instant,
    ) -> WireOutcome {
        // Only for refusals; no text is built on the way to a write.
        let hint = if self.cfg.wire_mode == WireMode::Auto {
            " (MSK_DLQ_REPLAY_WIRE_FORMAT / --wire-format reframe or as-received write it anyway)"
        } else {
            ""
        };
        let (Some(topic), Some(partition), Some(offset)) =
            (letter.topic.clone(), letter.partition, letter.offset)
        else {
            return WireOutcome::Refuse(format!(
                "the record went through a schema registry and its original bytes must be fetched back, but the letter does not name its topic, partition and offset{hint}"
            ));
        };
        let bootstrap = match self.target_cluster(letter.bootstrap_servers.as_deref()) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return WireOutcome::Refuse(format!(
                    "no cluster to fetch the original bytes of {topic}-{partition}@{offset} back from (set the bootstrap servers){hint}"
                ))
            }
            Err(reason) => return WireOutcome::Refuse(reason),
        };
        let range = FetchBack {
            topic: topic.clone(),
            partition,
            first_offset: offset,
            last_offset: offset,
            bootstrap_servers: Some(bootstrap.clone()),
            source: letter.source.clone(),
            condition: None,
            written_at_ms: None,
        };
        let gone = || {
            WireOutcome::Refuse(format!(
                "the original record {topic}-{partition}@{offset} is no longer in the topic (retention or compaction), so its wire bytes cannot be restored{hint}"
            ))
        };
        match fetch_back(self.producers.connection(), &bootstrap, &range, deadline).await {
            Ok((records, _)) => match records.into_iter().find(|r| r.offset == Some(offset)) {
                Some(original) => {
                    record.key = original.key;
                    record.value = match original.value {
                        StoredValue::Inline(v) => v,
                        StoredValue::S3(_) => return gone(),
                    };
                    WireOutcome::Ready
                }
                None => gone(),
            },
            Err(FetchError::Gone { .. }) => gone(),
            Err(e) => WireOutcome::Retry(e.to_string()),
        }
    }
}
