//! Fetching records and assembling batches: planned retries first, then
//! records by partition up to the batch size and the payload limit,
//! waiting up to the batching window.

use std::time::Duration;

use rdkafka::message::{Headers as _, Message as _};
use tokio::time::Instant;

use super::{epoch_ms, Entry, Esm, Key};
use crate::destination::Condition;
use crate::event::{envelope_size, record_cost, Rec, RecParts};
use crate::settings::MAX_PAYLOAD_BYTES;

impl Esm {
    pub(super) async fn fetch(&mut self, wait: Duration) -> usize {
        let mut n = 0;
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match tokio::time::timeout(left, self.consumer.recv()).await {
                Ok(Ok(m)) => m,
                Ok(Err(e)) => {
                    eprintln!("[esm] consumer error: {e}");
                    break;
                }
                Err(_) => break,
            };
            let headers = msg
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            let (timestamp, timestamp_type) = match msg.timestamp() {
                rdkafka::Timestamp::CreateTime(t) => (Some(t), "CREATE_TIME"),
                rdkafka::Timestamp::LogAppendTime(t) => (Some(t), "LOG_APPEND_TIME"),
                rdkafka::Timestamp::NotAvailable => (None, "CREATE_TIME"),
            };
            let key = msg.key().map(<[u8]>::to_vec);
            let value = msg.payload().map(<[u8]>::to_vec);
            let ((key, key_schema), (value, value_schema)) = match &self.settings.schema_registry {
                Some(r) => (r.deliver(key, true), r.deliver(value, false)),
                None => ((key, None), (value, None)),
            };
            let rec = Rec::new(RecParts {
                topic: msg.topic().to_owned(),
                partition: msg.partition(),
                offset: msg.offset(),
                timestamp,
                timestamp_type,
                key,
                value,
                headers,
                key_schema,
                value_schema,
            });
            let p = self
                .partitions
                .entry((rec.topic.clone(), rec.partition))
                .or_default();
            p.fetched_until = p.fetched_until.max(rec.offset + 1);
            p.unresolved.insert(
                rec.offset,
                Entry {
                    rec,
                    failures: 0,
                    invocations: 0,
                },
            );
            self.stats.fetched += 1;
            n += 1;
            if n >= self.settings.batch_size {
                break;
            }
        }
        n
    }

    pub(super) fn unresolved_count(&self) -> usize {
        self.partitions.values().map(|p| p.unresolved.len()).sum()
    }

    /// The next batch: a planned retry, or records by partition, up to the
    /// batch size and the payload limit, waiting up to the batching window.
    /// `None` when there is nothing to deliver.
    pub(super) async fn next_batch(&mut self) -> Option<Vec<Key>> {
        while let Some(planned) = self.retry_plan.pop_front() {
            let live: Vec<Key> = planned
                .into_iter()
                .filter(|k| self.entry(k).is_some())
                .collect();
            if !live.is_empty() {
                return Some(live);
            }
        }
        let window_end = Instant::now() + self.settings.batching_window;
        loop {
            let wanted = self
                .settings
                .batch_size
                .saturating_sub(self.unresolved_count());
            let wait = if self.unresolved_count() == 0 {
                Duration::from_millis(500)
            } else {
                window_end.saturating_duration_since(Instant::now())
            };
            if wanted > 0 && !wait.is_zero() {
                self.fetch(wait.min(Duration::from_millis(200))).await;
            }
            let count = self.unresolved_count();
            if count == 0 {
                return None;
            }
            if count >= self.settings.batch_size || Instant::now() >= window_end {
                break;
            }
        }
        Some(self.take_fresh().await)
    }

    /// Records from the head of each partition, oldest partitions first.
    pub(super) async fn take_fresh(&mut self) -> Vec<Key> {
        let limit = MAX_PAYLOAD_BYTES;
        let mut size = envelope_size(&self.settings.shape, &self.settings.bootstrap_servers);
        let mut batch = Vec::new();
        let mut too_big = Vec::new();
        let mut too_old = Vec::new();
        let now_ms = epoch_ms();
        'partitions: for ((topic, partition), p) in &self.partitions {
            let mut first = true;
            for (offset, e) in &p.unresolved {
                if batch.len() >= self.settings.batch_size {
                    break 'partitions;
                }
                let key = (topic.clone(), *partition, *offset);
                if let (Some(max), Some(ts)) = (self.settings.max_record_age, e.rec.timestamp) {
                    if now_ms.saturating_sub(ts)
                        > i64::try_from(max.as_millis()).unwrap_or(i64::MAX)
                    {
                        too_old.push(key);
                        continue;
                    }
                }
                let cost = record_cost(&e.rec, first);
                if envelope_size(&self.settings.shape, &self.settings.bootstrap_servers) + cost
                    > limit
                {
                    too_big.push(key);
                    continue;
                }
                if size + cost > limit {
                    break 'partitions;
                }
                size += cost;
                first = false;
                batch.push(key);
            }
        }
        if !too_old.is_empty() {
            self.send_to_destination(&too_old, Condition::RecordAgeExceeded, None)
                .await;
        }
        if !too_big.is_empty() {
            self.send_to_destination(&too_big, Condition::MaximumPayloadSizeExceeded, None)
                .await;
        }
        batch
    }

    pub(super) fn entry(&self, k: &Key) -> Option<&Entry> {
        self.partitions
            .get(&(k.0.clone(), k.1))
            .and_then(|p| p.unresolved.get(&k.2))
    }

    pub(super) fn entry_mut(&mut self, k: &Key) -> Option<&mut Entry> {
        self.partitions
            .get_mut(&(k.0.clone(), k.1))
            .and_then(|p| p.unresolved.get_mut(&k.2))
    }

    pub(super) fn resolve(&mut self, keys: &[Key]) {
        for k in keys {
            if let Some(p) = self.partitions.get_mut(&(k.0.clone(), k.1)) {
                p.unresolved.remove(&k.2);
            }
        }
    }
}
