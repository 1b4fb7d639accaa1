//! What becomes of a batch's records after the answer: done, re-delivered,
//! retried whole or bisected, or sent to the on-failure destination; and
//! the commit that follows.

use std::collections::{BTreeMap, BTreeSet};

use rdkafka::consumer::{CommitMode, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};

use super::{Esm, Key};
use crate::destination::{Condition, Failed};
use crate::event::Rec;
use crate::settings::Redelivery;

impl Esm {
    pub(super) async fn partial(
        &mut self,
        batch: &[Key],
        records: &[Rec],
        failed: &BTreeSet<(String, i64)>,
    ) -> String {
        let mut lowest: BTreeMap<String, i64> = BTreeMap::new();
        for (pk, o) in failed {
            let e = lowest.entry(pk.clone()).or_insert(*o);
            *e = (*e).min(*o);
        }
        let mut done = Vec::new();
        let mut again = Vec::new();
        for (k, r) in batch.iter().zip(records) {
            let pk = r.partition_key();
            let retried = match self.settings.redelivery {
                Redelivery::FromLowestFailed => lowest.get(&pk).is_some_and(|&l| r.offset >= l),
                Redelivery::ListedOnly => failed.contains(&(pk, r.offset)),
            };
            if retried {
                again.push(k.clone());
            } else {
                done.push(k.clone());
            }
        }
        self.stats.processed += done.len() as u64;
        self.resolve(&done);
        for (pk, o) in failed {
            if let Some(k) = again
                .iter()
                .find(|k| format!("{}-{}", k.0, k.1) == *pk && k.2 == *o)
            {
                let k = k.clone();
                if let Some(e) = self.entry_mut(&k) {
                    e.failures += 1;
                }
            }
        }
        let exhausted = self.exhausted(&again);
        let mut action = match self.settings.redelivery {
            Redelivery::FromLowestFailed => format!(
                "re-deliver from {}",
                lowest
                    .iter()
                    .map(|(pk, o)| format!("{pk}@{o}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Redelivery::ListedOnly => format!("re-deliver the {} listed record(s)", again.len()),
        };
        if !exhausted.is_empty() {
            action.push_str(&format!(
                "; {} record(s) out of retries -> on-failure",
                exhausted.len()
            ));
            self.send_to_destination(&exhausted, Condition::RetryAttemptsExhausted, None)
                .await;
        }
        if self.settings.redelivery == Redelivery::ListedOnly {
            let left: Vec<Key> = again
                .into_iter()
                .filter(|k| self.entry(k).is_some())
                .collect();
            if !left.is_empty() {
                self.retry_plan.push_front(left);
            }
        }
        self.stats.retried += failed.len() as u64;
        action
    }

    /// Records of `keys` past the retry limit.
    pub(super) fn exhausted(&self, keys: &[Key]) -> Vec<Key> {
        let Some(limit) = self.settings.retry_limit() else {
            return Vec::new();
        };
        keys.iter()
            .filter(|k| self.entry(k).is_some_and(|e| e.failures > limit))
            .cloned()
            .collect()
    }

    pub(super) async fn batch_failed(&mut self, batch: Vec<Key>, error: Option<String>) -> String {
        for k in &batch {
            if let Some(e) = self.entry_mut(k) {
                e.failures += 1;
            }
        }
        let exhausted = self.exhausted(&batch);
        if !exhausted.is_empty() {
            // The batch is retried as one: its records run out together.
            self.send_to_destination(&batch, Condition::RetryAttemptsExhausted, error)
                .await;
            return format!("out of retries: {} record(s) -> on-failure", batch.len());
        }
        self.stats.retried += batch.len() as u64;
        if self.settings.bisect_on_error && batch.len() > 1 {
            self.stats.bisections += 1;
            let (a, b) = batch.split_at(batch.len() / 2);
            let (a, b) = (a.to_vec(), b.to_vec());
            let text = format!("bisect into {} + {}", a.len(), b.len());
            self.retry_plan.push_front(b);
            self.retry_plan.push_front(a);
            text
        } else {
            let text = format!("retry the batch of {}", batch.len());
            self.retry_plan.push_front(batch);
            text
        }
    }

    /// Sends `keys` to the on-failure destination; resolves them once it
    /// took them (or, without one, as Lambda does: they are skipped).
    pub(super) async fn send_to_destination(
        &mut self,
        keys: &[Key],
        condition: Condition,
        error: Option<String>,
    ) {
        let records: Vec<Rec> = keys
            .iter()
            .filter_map(|k| self.entry(k).map(|e| e.rec.clone()))
            .collect();
        if records.is_empty() {
            return;
        }
        let invoke_count = keys
            .iter()
            .filter_map(|k| self.entry(k).map(|e| e.invocations))
            .max()
            .unwrap_or(0);
        let Some(dest) = self.destination.as_mut() else {
            eprintln!(
                "[esm] {} record(s) {} and there is no on-failure destination: Lambda skips them",
                records.len(),
                condition.as_str()
            );
            self.stats.discarded += records.len() as u64;
            self.resolve(keys);
            return;
        };
        let failed = Failed {
            records: records.iter().collect(),
            condition,
            request_id: format!("esm-{}", self.stats.invocations),
            function_arn: format!(
                "arn:aws:lambda:us-east-1:000000000000:function:{}",
                self.spec.name
            ),
            invoke_count,
            function_error: error.clone(),
            shape: &self.settings.shape,
            bootstrap: &self.settings.bootstrap_servers,
        };
        match dest.deliver(&failed).await {
            Ok(()) => {
                self.stats.to_on_failure += records.len() as u64;
                self.resolve(keys);
            }
            Err(e) => {
                eprintln!("[esm] {e}; the records stay and the write is tried again");
                self.stats.destination_errors += 1;
                self.undelivered.push((keys.to_vec(), condition, error));
            }
        }
    }

    /// Commits, per partition, up to the first unresolved record.
    pub(super) fn commit(&mut self) {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), p) in &mut self.partitions {
            let watermark = p
                .unresolved
                .keys()
                .next()
                .copied()
                .unwrap_or(p.fetched_until);
            if watermark > p.committed
                && tpl
                    .add_partition_offset(topic, *partition, Offset::Offset(watermark))
                    .is_ok()
            {
                p.committed = watermark;
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
                eprintln!("[esm] commit failed: {e}");
                self.stats.commit_errors += 1;
            }
        }
    }
}
