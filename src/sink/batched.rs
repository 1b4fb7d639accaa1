//! What SQS and SNS sinks share: one JSON envelope per letter, message
//! attributes, FIFO ids, the size limit with an optional claim check,
//! batches of at most 10 entries and the sink's byte limit, sent
//! concurrently, each entry confirmed or retried on its own.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::time::Instant;

use super::{BoxFuture, Confirmation, DeadLetterSink, LargeValueStore, SinkError, SinkResult};
use crate::headers::{ATTRIBUTE_KIND, ATTRIBUTE_ORIGINAL_TOPIC};
use crate::letter::{DeadLetter, Envelope};

/// SQS and SNS take at most this many entries per batch call.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// One message on its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    /// Unique within a batch call.
    pub id: String,
    /// The envelope JSON.
    pub body: String,
    /// Message attributes (all of type String).
    pub attributes: Vec<(&'static str, String)>,
    /// FIFO message group.
    pub group_id: Option<String>,
    /// FIFO deduplication id.
    pub dedup_id: Option<String>,
}

impl OutMessage {
    /// Size as SQS and SNS count it: body plus attribute names, types and values.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(n, v)| n.len() + "String".len() + v.len())
                .sum::<usize>()
    }
}

/// What the service said about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryStatus {
    /// Stored.
    Ok {
        /// The service's message id.
        message_id: String,
    },
    /// Not stored.
    Failed {
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
        /// Whether the request was at fault (final) or the service (retried).
        sender_fault: bool,
    },
}

/// A batch API: SQS `SendMessageBatch` or SNS `PublishBatch`.
pub trait BatchTransport: Send + Sync + 'static {
    /// The sink's name.
    fn name(&self) -> &'static str;
    /// Whether the destination is FIFO (needs group and dedup ids).
    fn fifo(&self) -> bool;
    /// Sends one batch; a whole-call failure (network, auth, throttling) is
    /// an `Err`, per-entry answers are in the map by entry id.
    fn send_batch(
        &self,
        batch: &[OutMessage],
    ) -> impl Future<Output = Result<HashMap<String, EntryStatus>, SinkError>> + Send;
}

/// A dead-letter sink over a [`BatchTransport`].
pub struct BatchedSink<T> {
    /// The service.
    pub transport: T,
    /// The largest message accepted.
    pub max_message_bytes: usize,
    /// Where values too large for a message go.
    pub claim_check: Option<Arc<dyn LargeValueStore>>,
    /// Further tries of an entry the service failed on its side.
    pub retries: u32,
}

impl<T: BatchTransport> DeadLetterSink for BatchedSink<T> {
    fn name(&self) -> &'static str {
        self.transport.name()
    }

    fn send<'a>(&'a self, letter: &'a DeadLetter, deadline: Instant) -> BoxFuture<'a, SinkResult> {
        Box::pin(async move {
            self.send_letters(std::slice::from_ref(letter), deadline)
                .await
                .pop()
                .unwrap_or_else(|| Err(SinkError::unavailable(self.transport.name(), "no result")))
        })
    }

    fn send_batch<'a>(
        &'a self,
        letters: &'a [DeadLetter],
        deadline: Instant,
    ) -> BoxFuture<'a, Vec<SinkResult>> {
        Box::pin(self.send_letters(letters, deadline))
    }
}

impl<T: BatchTransport> BatchedSink<T> {
    fn message(
        &self,
        index: usize,
        envelope: &Envelope,
        letter: &DeadLetter,
    ) -> Result<OutMessage, SinkError> {
        let mut attributes = vec![(ATTRIBUTE_KIND, letter.kind.as_str().to_owned())];
        if let Some(t) = letter.topic() {
            attributes.push((ATTRIBUTE_ORIGINAL_TOPIC, t.to_owned()));
        }
        let fifo = self.transport.fifo();
        // An envelope that cannot be written must not go out empty.
        let body = envelope.to_json().map_err(|e| {
            SinkError::unavailable_because(
                self.transport.name(),
                "envelope could not be serialized",
                e,
            )
        })?;
        Ok(OutMessage {
            id: index.to_string(),
            body,
            attributes,
            group_id: fifo.then(|| letter.group_id()),
            dedup_id: fifo.then(|| letter.dedup_id()),
        })
    }

    /// The message for a letter, claim-checked if too large; the upload must
    /// finish by `upload_deadline`.
    async fn prepare(
        &self,
        index: usize,
        letter: &DeadLetter,
        upload_deadline: Instant,
    ) -> Result<OutMessage, SinkError> {
        let name = self.transport.name();
        let mut envelope = letter.envelope();
        let msg = self.message(index, &envelope, letter)?;
        let size = msg.size();
        if size <= self.max_message_bytes {
            return Ok(msg);
        }
        let too_large = SinkError::TooLarge {
            sink: name,
            size,
            limit: self.max_message_bytes,
        };
        let Some(claim) = &self.claim_check else {
            tracing::error!(record = %letter.group_id(), offset = ?letter.offset(), size, limit = self.max_message_bytes,
                "dead letter too large for {name} and no large-payload bucket configured; record reported failed");
            return Err(too_large);
        };
        let value = letter.value().unwrap_or_default();
        // Bounded on its own: a slow upload fails its letter, not the batch.
        let location = tokio::time::timeout_at(upload_deadline, claim.store(letter, value))
            .await
            .map_err(|_| SinkError::DeadlineExceeded { sink: "s3" })??;
        envelope.value = None;
        envelope.raw = None;
        envelope.value_location = Some(location);
        let msg = self.message(index, &envelope, letter)?;
        if msg.size() > self.max_message_bytes {
            // Headers or key alone exceed the limit: nothing more to move out.
            return Err(SinkError::TooLarge {
                sink: name,
                size: msg.size(),
                limit: self.max_message_bytes,
            });
        }
        Ok(msg)
    }

    /// Sends `letters`: one result per letter, in order.
    pub async fn send_letters(&self, letters: &[DeadLetter], deadline: Instant) -> Vec<SinkResult> {
        let mut results: Vec<Option<SinkResult>> = vec![None; letters.len()];
        // Uploads get two thirds of the time left; sending keeps the rest.
        let now = Instant::now();
        let upload_deadline = now + deadline.saturating_duration_since(now) * 2 / 3;
        let prepared = join_all(
            letters
                .iter()
                .enumerate()
                .map(|(i, l)| self.prepare(i, l, upload_deadline)),
        )
        .await;
        let mut ready = Vec::new();
        for (i, p) in prepared.into_iter().enumerate() {
            match p {
                Ok(m) => ready.push(m),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let batches = pack(ready, self.max_message_bytes);
        let outcomes = join_all(
            batches
                .into_iter()
                .map(|b| self.send_with_retries(b, deadline)),
        )
        .await;
        for (id, r) in outcomes.into_iter().flatten() {
            if let Ok(i) = id.parse::<usize>() {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
        let name = self.transport.name();
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(SinkError::unavailable(name, "no answer for this entry")))
            })
            .collect()
    }

    async fn send_with_retries(
        &self,
        mut batch: Vec<OutMessage>,
        deadline: Instant,
    ) -> Vec<(String, SinkResult)> {
        let name = self.transport.name();
        let mut done = Vec::with_capacity(batch.len());
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt > self.retries;
            let call = tokio::time::timeout_at(deadline, self.transport.send_batch(&batch)).await;
            let statuses = match call {
                Err(_) => {
                    done.extend(
                        batch
                            .drain(..)
                            .map(|m| (m.id, Err(SinkError::DeadlineExceeded { sink: name }))),
                    );
                    return done;
                }
                Ok(Err(e)) if last => {
                    done.extend(batch.drain(..).map(|m| (m.id, Err(e.clone()))));
                    return done;
                }
                Ok(Err(_)) => HashMap::new(),
                Ok(Ok(s)) => s,
            };
            let mut retry = Vec::new();
            for m in batch.drain(..) {
                match statuses.get(&m.id) {
                    Some(EntryStatus::Ok { message_id }) => {
                        done.push((m.id, Ok(Confirmation::new(name, message_id.clone()))))
                    }
                    Some(EntryStatus::Failed {
                        code,
                        message,
                        sender_fault,
                    }) if *sender_fault || last => done.push((
                        m.id,
                        Err(SinkError::Rejected {
                            sink: name,
                            code: code.clone(),
                            message: message.clone(),
                        }),
                    )),
                    None if last && !statuses.is_empty() => done.push((
                        m.id,
                        Err(SinkError::unavailable(
                            name,
                            "entry missing from the batch result",
                        )),
                    )),
                    _ => retry.push(m),
                }
            }
            if retry.is_empty() {
                return done;
            }
            batch = retry;
            let pause = crate::backoff::delay(
                Duration::from_millis(100),
                Duration::from_secs(5),
                attempt,
                fastrand::f64(),
            );
            if Instant::now() + pause >= deadline {
                done.extend(
                    batch
                        .drain(..)
                        .map(|m| (m.id, Err(SinkError::DeadlineExceeded { sink: name }))),
                );
                return done;
            }
            tokio::time::sleep(pause).await;
        }
    }
}

/// Groups messages into batches of at most 10 entries and `max_bytes` total.
fn pack(messages: Vec<OutMessage>, max_bytes: usize) -> Vec<Vec<OutMessage>> {
    let mut batches: Vec<Vec<OutMessage>> = Vec::new();
    let mut current: Vec<OutMessage> = Vec::new();
    let mut bytes = 0;
    for m in messages {
        let size = m.size();
        if !current.is_empty() && (current.len() == MAX_BATCH_ENTRIES || bytes + size > max_bytes) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(m);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::event::BatchSource;
    use crate::letter::{DeadRecord, DlqKind};
    use crate::record::KafkaRecord;

    /// Entry-level answers a real endpoint gives but the local one cannot be
    /// made to: per call, the status of each entry id.
    struct Scripted {
        calls: Mutex<Vec<HashMap<String, EntryStatus>>>,
    }

    impl BatchTransport for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn fifo(&self) -> bool {
            false
        }
        async fn send_batch(
            &self,
            _: &[OutMessage],
        ) -> Result<HashMap<String, EntryStatus>, SinkError> {
            let mut calls = self.calls.lock().unwrap();
            if calls.is_empty() {
                return Err(SinkError::unavailable("scripted", "no more answers"));
            }
            Ok(calls.remove(0))
        }
    }

    fn letter(offset: i64) -> DeadLetter {
        let record = KafkaRecord::builder("t", 0, offset)
            .timestamp(1)
            .value(Some(b"v".to_vec()))
            .build();
        DeadLetter::new(
            std::sync::Arc::new(BatchSource {
                event_source: "aws:kafka".into(),
                event_source_arn: None,
                bootstrap_servers: None,
            }),
            DeadRecord::Decoded(record),
            DlqKind::Permanent,
            "E",
            "m",
        )
        .with_attempts(1)
        .with_failed_at_ms(0)
        .with_consumer(std::sync::Arc::from("c"))
    }

    fn ok(id: &str) -> (String, EntryStatus) {
        (
            id.into(),
            EntryStatus::Ok {
                message_id: format!("m{id}"),
            },
        )
    }

    fn failed(id: &str, sender_fault: bool) -> (String, EntryStatus) {
        (
            id.into(),
            EntryStatus::Failed {
                code: "X".into(),
                message: "refused".into(),
                sender_fault,
            },
        )
    }

    #[tokio::test(start_paused = true)]
    async fn entries_are_settled_one_by_one() {
        let sink = BatchedSink {
            transport: Scripted {
                calls: Mutex::new(vec![
                    // Server-side failure of 1 is retried; 2 is the sender's
                    // fault and final; 3 is missing from the answer.
                    [ok("0"), failed("1", false), failed("2", true)]
                        .into_iter()
                        .collect(),
                    [ok("1"), ok("3")].into_iter().collect(),
                ]),
            },
            max_message_bytes: 1_048_576,
            claim_check: None,
            retries: 2,
        };
        let letters: Vec<DeadLetter> = (0..4).map(letter).collect();
        let r = sink
            .send_letters(
                &letters,
                tokio::time::Instant::now() + std::time::Duration::from_secs(30),
            )
            .await;
        assert!(matches!(&r[0], Ok(c) if c.location == "m0"));
        assert!(matches!(&r[1], Ok(c) if c.location == "m1"), "{r:?}");
        assert!(matches!(&r[2], Err(SinkError::Rejected { .. })), "{r:?}");
        assert!(r[3].is_ok(), "{r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_end_in_a_failure_not_a_confirmation() {
        let sink = BatchedSink {
            transport: Scripted {
                calls: Mutex::new(vec![[failed("0", false)].into_iter().collect()]),
            },
            max_message_bytes: 1_048_576,
            claim_check: None,
            retries: 2,
        };
        let r = sink
            .send_letters(
                &[letter(0)],
                tokio::time::Instant::now() + std::time::Duration::from_secs(30),
            )
            .await;
        assert!(matches!(&r[0], Err(SinkError::Unavailable { .. })), "{r:?}");
    }

    fn msg(id: usize, size: usize) -> OutMessage {
        OutMessage {
            id: id.to_string(),
            body: "x".repeat(size),
            attributes: vec![],
            group_id: None,
            dedup_id: None,
        }
    }

    #[test]
    fn packs_by_count_and_bytes() {
        let sizes: Vec<usize> = (0..25).map(|_| 10).collect();
        let b = pack(
            sizes.iter().enumerate().map(|(i, &s)| msg(i, s)).collect(),
            1000,
        );
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10, 5]);
        let b = pack(vec![msg(0, 600), msg(1, 600), msg(2, 300)], 1000);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 2]);
    }
}
