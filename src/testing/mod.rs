//! Fixtures and test doubles for tests of handlers and sinks (the
//! `testing` feature): synthetic events shaped like Lambda's, and a sink
//! that records, fails or stalls on demand.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::codec::encode_b64;
use crate::letter::DeadLetter;
use crate::sink::{BoxFuture, Confirmation, DeadLetterSink, SinkError, SinkResult};

/// An MSK event with `records` records spread round-robin over `partitions`
/// partitions of `topic`, each value a JSON order padded to `value_bytes`.
/// 10,000 records of 300 bytes make an event of about 6 MB (base64 and JSON add about 100%).
pub fn synthetic_event(
    topic: &str,
    records: usize,
    partitions: usize,
    value_bytes: usize,
) -> String {
    let partitions = partitions.max(1);
    let mut per_partition: Vec<String> = vec![String::new(); partitions];
    for i in 0..records {
        let p = i % partitions;
        let offset = i / partitions;
        let mut value = format!(r#"{{"order_id":"o-{i}","amount":{}.5,"pad":""#, i % 1000);
        let pad = value_bytes.saturating_sub(value.len() + 2);
        value.extend(std::iter::repeat_n('x', pad));
        value.push_str("\"}");
        let entries = &mut per_partition[p];
        if !entries.is_empty() {
            entries.push(',');
        }
        let _ = write!(
            entries,
            r#"{{"topic":"{topic}","partition":{p},"offset":{offset},"timestamp":{ts},"timestampType":"CREATE_TIME","key":"{key}","value":"{value}","headers":[{{"trace-id":[116,45,{h}]}}]}}"#,
            ts = 1_700_000_000_000i64 + i as i64,
            key = encode_b64(format!("customer-{}", i % 97).as_bytes()),
            value = encode_b64(value.as_bytes()),
            h = 48 + (i % 10),
        );
    }
    let mut out = String::from(
        r#"{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:us-east-1:123456789012:cluster/bench/1","bootstrapServers":"b-1:9092","records":{"#,
    );
    for (p, entries) in per_partition.iter().enumerate() {
        if p > 0 {
            out.push(',');
        }
        let _ = write!(out, r#""{topic}-{p}":[{entries}]"#);
    }
    out.push_str("}}");
    out
}

/// A sink that confirms letters unless told otherwise, optionally after a
/// delay, and keeps what it confirmed.
pub struct TestSink {
    fail: Box<dyn Fn(&DeadLetter) -> bool + Send + Sync>,
    delay: Duration,
    received: Mutex<Vec<DeadLetter>>,
    calls: Mutex<usize>,
}

impl TestSink {
    /// Confirms every letter.
    pub fn confirming() -> Arc<Self> {
        Self::failing_when(|_| false)
    }

    /// Fails the letters `f` picks, confirms the others.
    pub fn failing_when(f: impl Fn(&DeadLetter) -> bool + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            fail: Box::new(f),
            delay: Duration::ZERO,
            received: Mutex::new(Vec::new()),
            calls: Mutex::new(0),
        })
    }

    /// Confirms every letter after `delay` per call.
    pub fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            fail: Box::new(|_| false),
            delay,
            received: Mutex::new(Vec::new()),
            calls: Mutex::new(0),
        })
    }

    /// The letters confirmed so far.
    pub fn received(&self) -> Vec<DeadLetter> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The offsets of the letters confirmed so far.
    pub fn offsets(&self) -> Vec<i64> {
        self.received()
            .iter()
            .filter_map(DeadLetter::offset)
            .collect()
    }

    /// How often the sink was called.
    pub fn calls(&self) -> usize {
        self.calls.lock().map(|c| *c).unwrap_or(0)
    }
}

impl DeadLetterSink for TestSink {
    fn name(&self) -> &'static str {
        "test"
    }

    fn send<'a>(&'a self, letter: &'a DeadLetter, deadline: Instant) -> BoxFuture<'a, SinkResult> {
        Box::pin(async move {
            self.send_batch(std::slice::from_ref(letter), deadline)
                .await
                .pop()
                .unwrap_or_else(|| Err(SinkError::unavailable("test", "no result")))
        })
    }

    fn send_batch<'a>(
        &'a self,
        letters: &'a [DeadLetter],
        _deadline: Instant,
    ) -> BoxFuture<'a, Vec<SinkResult>> {
        Box::pin(async move {
            if let Ok(mut c) = self.calls.lock() {
                *c += 1;
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            letters
                .iter()
                .map(|l| {
                    if (self.fail)(l) {
                        Err(SinkError::unavailable("test", "injected"))
                    } else {
                        if let Ok(mut r) = self.received.lock() {
                            r.push(l.clone());
                        }
                        Ok(Confirmation::new(
                            "test",
                            format!("test/{}", l.offset().unwrap_or(-1)),
                        ))
                    }
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_event_decodes_completely() {
        let ev = synthetic_event("orders", 10_000, 8, 300);
        assert!(ev.len() > 5_500_000 && ev.len() < 6_500_000, "{}", ev.len());
        let batch = crate::decode_event(&ev).unwrap();
        assert_eq!(batch.len(), 10_000);
        assert!(batch
            .entries()
            .all(|e| matches!(e.entry, crate::event::Entry::Record(_))));
        // From the body too, where the records span several chunks of the
        // store: each partition's records in order, each value its own.
        let lazy = crate::decode_event_body(&bytes::Bytes::from(ev.clone())).unwrap();
        assert_eq!(lazy, batch);
        for (p, partition) in lazy.partitions.iter().enumerate() {
            for (i, e) in partition.entries.iter().enumerate() {
                let crate::event::Entry::Record(r) = &e.entry else {
                    panic!("malformed: {:?}", e.id);
                };
                assert_eq!((r.partition(), r.offset()), (p as i32, i as i64));
                let order = format!("\"order_id\":\"o-{}\"", i * 8 + p);
                let value = std::str::from_utf8(r.value().unwrap()).unwrap();
                assert!(value.contains(&order), "{value}");
            }
        }
    }
}
