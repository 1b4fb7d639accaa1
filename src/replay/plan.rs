//! Replay decisions, pure: which dead letters match the filters, where each
//! goes back to, what headers it carries, and when the loop guard parks it.

use std::sync::Arc;

use super::stored::{StoredDeadLetter, StoredValue};
use crate::event::{decode_event, BatchSource, Entry};
use crate::headers::REPLAY_COUNT as H_REPLAY_COUNT;
use crate::letter::{DeadLetter, DeadRecord, DlqKind};
use crate::record::{Header, KafkaRecord};

/// Which dead letters a replay, purge or listing takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filters {
    /// Only this original topic.
    pub topic: Option<String>,
    /// Only this kind.
    pub kind: Option<DlqKind>,
    /// Only this error type.
    pub error_type: Option<String>,
    /// Failed at or after (epoch ms).
    pub since_ms: Option<i64>,
    /// Failed before (epoch ms).
    pub until_ms: Option<i64>,
}

impl Filters {
    /// Whether `d` passes every filter set.
    pub fn matches(&self, d: &StoredDeadLetter) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        eq(&self.topic, &d.topic)
            && eq(&self.error_type, &d.error_type)
            && self.kind.is_none_or(|k| d.kind == Some(k))
            && self
                .since_ms
                .is_none_or(|s| d.failed_at_ms.is_some_and(|f| f >= s))
            && self
                .until_ms
                .is_none_or(|u| d.failed_at_ms.is_some_and(|f| f < u))
    }

    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }
}

/// The topics a replay may write to: a replay pointed at the wrong topic
/// is how a DLQ tool does harm. Entries are topic names, prefixes ending in
/// `*`, and [`AllowedTargets::ORIGINAL`], the letter's own topic (the
/// default, and the only entry of the default list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedTargets(Vec<String>);

impl AllowedTargets {
    /// The letter's original topic.
    pub const ORIGINAL: &'static str = "@original";

    /// Only the letter's original topic.
    pub fn original_only() -> Self {
        Self(vec![Self::ORIGINAL.to_owned()])
    }

    /// A comma-separated list, e.g. `@original,orders-retry,sandbox-*`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let entries: Vec<String> = list
            .split(',')
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Err("an empty list allows no replay at all".into());
        }
        if let Some(bad) = entries
            .iter()
            .find(|e| e.as_str() == "*" || e.strip_suffix('*').unwrap_or(e).contains('*'))
        {
            return Err(format!(
                "{bad:?}: entries are topic names, prefixes ending in *, or {}",
                Self::ORIGINAL
            ));
        }
        Ok(Self(entries))
    }

    /// Whether a replay of a letter from `original` may write to `target`.
    pub fn allows(&self, target: &str, original: Option<&str>) -> bool {
        self.0.iter().any(|e| {
            if e == Self::ORIGINAL {
                original == Some(target)
            } else if let Some(prefix) = e.strip_suffix('*') {
                target.starts_with(prefix)
            } else {
                e == target
            }
        })
    }
}

impl Default for AllowedTargets {
    fn default() -> Self {
        Self::original_only()
    }
}

impl std::fmt::Display for AllowedTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// Where replays go and when the loop guard stops them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplaySettings {
    /// Replay to this topic instead of the original one.
    pub target_topic: Option<String>,
    /// Loop guard: a dead letter replayed this often is parked instead.
    pub max_replays: u32,
    /// Where replays may write; a letter whose target is not allowed is
    /// refused and kept.
    pub allowed_targets: AllowedTargets,
}

impl ReplaySettings {
    /// Replays to `target_topic` (`None`: the original) until a letter was
    /// replayed `max_replays` times; only the original topic is allowed.
    pub fn new(target_topic: Option<String>, max_replays: u32) -> Self {
        Self {
            target_topic,
            max_replays,
            allowed_targets: AllowedTargets::default(),
        }
    }
}

impl Default for ReplaySettings {
    fn default() -> Self {
        Self::new(None, 3)
    }
}

/// A record on its way back to Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRecord {
    /// The target topic.
    pub topic: String,
    /// `None`: let the producer choose (by key).
    pub partition: Option<i32>,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Option<Vec<u8>>,
    /// The headers: the original ones, then `dlq.replay-count`.
    pub headers: Vec<Header>,
}

/// What to do with a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Write this record.
    Replay(ReplayRecord),
    /// Send it to the parking lot.
    Park {
        /// Why.
        reason: String,
    },
    /// Keep it: its target is not allowed.
    Refuse {
        /// Why.
        reason: String,
    },
}

/// Decides what to do with a dead letter whose value is `value` (already
/// fetched if it was claim-checked).
pub fn plan(d: &StoredDeadLetter, value: Option<Vec<u8>>, s: &ReplaySettings) -> Plan {
    if d.replay_count >= s.max_replays {
        return Plan::Park {
            reason: format!(
                "replayed {} times, the maximum is {}",
                d.replay_count, s.max_replays
            ),
        };
    }
    let (key, value, headers) = if d.kind == Some(DlqKind::Malformed) {
        // The value is the record's JSON as Lambda sent it; replay the
        // record it describes only if it decodes now.
        match value.as_deref().and_then(decode_raw_record) {
            Some(r) => (
                r.key().map(<[u8]>::to_vec),
                r.value().map(<[u8]>::to_vec),
                r.headers().to_vec(),
            ),
            None => {
                return Plan::Park {
                    reason: "malformed record still cannot be decoded; repair it first".into(),
                }
            }
        }
    } else {
        (d.key.clone(), value, d.headers.clone())
    };
    let same_topic = s.target_topic.is_none();
    let Some(topic) = s.target_topic.clone().or_else(|| d.topic.clone()) else {
        return Plan::Park {
            reason: "original topic unknown and no target topic given".into(),
        };
    };
    if !s.allowed_targets.allows(&topic, d.topic.as_deref()) {
        return Plan::Refuse {
            reason: format!(
                "replay target {topic} is not on the allow-list ({})",
                s.allowed_targets
            ),
        };
    }
    let mut headers: Vec<Header> = headers
        .into_iter()
        .filter(|h| h.name != H_REPLAY_COUNT)
        .collect();
    headers.push(Header {
        name: H_REPLAY_COUNT.to_owned(),
        value: (d.replay_count + 1).to_string().into_bytes(),
    });
    Plan::Replay(ReplayRecord {
        topic,
        partition: if same_topic { d.partition } else { None },
        key,
        value,
        headers,
    })
}

fn decode_raw_record(raw: &[u8]) -> Option<KafkaRecord> {
    let raw = std::str::from_utf8(raw).ok()?;
    let event = format!(r#"{{"eventSource":"aws:kafka","records":{{"x-0":[{raw}]}}}}"#);
    let batch = decode_event(&event).ok()?;
    match &batch.partitions.first()?.entries.first()?.entry {
        Entry::Record(r) => Some(r.clone()),
        Entry::Malformed(_) => None,
    }
}

/// A stored dead letter as a letter for a sink: how parked letters reach the
/// parking lot in the same formats as the DLQ.
pub fn to_letter(
    d: &StoredDeadLetter,
    value: Option<Vec<u8>>,
    reason: &str,
    now_ms: i64,
    consumer: &Arc<str>,
) -> DeadLetter {
    let record = KafkaRecord::builder(
        d.topic.clone().unwrap_or_else(|| "unknown".to_owned()),
        d.partition.unwrap_or(0),
        d.offset.unwrap_or(-1),
    )
    .timestamp_opt(d.timestamp)
    .key(d.key.clone())
    .value(value)
    .headers(d.headers.clone())
    .build();
    DeadLetter::new(
        Arc::new(BatchSource {
            event_source: d.source.clone().unwrap_or_else(|| "unknown".to_owned()),
            event_source_arn: d.source.clone().filter(|s| s.starts_with("arn:")),
            bootstrap_servers: d.bootstrap_servers.clone(),
        }),
        DeadRecord::Decoded(record),
        d.kind.unwrap_or(DlqKind::RetriesExhausted),
        "Parked",
        format!(
            "{reason}; last error: {}: {}",
            d.error_type.as_deref().unwrap_or("unknown"),
            d.error_message.as_deref().unwrap_or("")
        ),
    )
    .with_failed_at_ms(now_ms)
    .with_consumer(consumer.clone())
    .with_replay_count(d.replay_count)
}

/// A stored dead letter as the letter it was, with `value` (resolved if it
/// was claim-checked): for writing it into another DLQ (`import`) without
/// changing what it says.
pub fn restore(d: &StoredDeadLetter, value: Option<Vec<u8>>, now_ms: i64) -> DeadLetter {
    let record = KafkaRecord::builder(
        d.topic.clone().unwrap_or_else(|| "unknown".to_owned()),
        d.partition.unwrap_or(0),
        d.offset.unwrap_or(-1),
    )
    .timestamp_opt(d.timestamp)
    .timestamp_type(d.timestamp_type.clone())
    .key(d.key.clone())
    .value(value)
    .headers(d.headers.clone())
    .build();
    let arn = d.source.clone().filter(|s| s.starts_with("arn:"));
    let source = BatchSource {
        event_source: if arn.is_some() {
            crate::event::SOURCE_MSK.to_owned()
        } else {
            d.source
                .clone()
                .unwrap_or_else(|| crate::event::SOURCE_SELF_MANAGED.to_owned())
        },
        event_source_arn: arn,
        bootstrap_servers: d.bootstrap_servers.clone(),
    };
    DeadLetter::new(
        Arc::new(source),
        DeadRecord::Decoded(record),
        d.kind.unwrap_or(DlqKind::RetriesExhausted),
        d.error_type.clone().unwrap_or_else(|| "Unknown".to_owned()),
        d.error_message.clone().unwrap_or_default(),
    )
    .with_failed_at_ms(d.failed_at_ms.unwrap_or(now_ms))
    .with_attempts(d.attempts.unwrap_or(0))
    .with_consumer(Arc::from(d.consumer.as_deref().unwrap_or("msk-dlq-import")))
    .with_replay_count(d.replay_count)
}

/// The inline value, if the letter has one (claim-checked values are
/// fetched by the caller).
pub fn inline_value(d: &StoredDeadLetter) -> Option<Option<Vec<u8>>> {
    match &d.value {
        StoredValue::Inline(v) => Some(v.clone()),
        StoredValue::S3(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::stored::Format;

    fn dead(replay_count: u32) -> StoredDeadLetter {
        StoredDeadLetter {
            format: Format::Envelope,
            topic: Some("orders".into()),
            partition: Some(2),
            offset: Some(9),
            timestamp: Some(1),
            timestamp_type: None,
            attempts: None,
            key: Some(b"k".to_vec()),
            value: StoredValue::Inline(Some(b"v".to_vec())),
            headers: vec![Header::new("trace", b"t".to_vec())],
            kind: Some(DlqKind::Permanent),
            error_type: Some("InvalidOrder".into()),
            error_message: None,
            failed_at_ms: Some(1000),
            replay_count,
            consumer: None,
            source: None,
            bootstrap_servers: None,
            schema: crate::schema::SchemaFacts::default(),
        }
    }

    #[test]
    fn replays_to_the_original_partition_with_the_next_replay_count() {
        let Plan::Replay(r) = plan(&dead(0), Some(b"v".to_vec()), &ReplaySettings::default())
        else {
            panic!()
        };
        assert_eq!((r.topic.as_str(), r.partition), ("orders", Some(2)));
        assert_eq!(r.headers.last().unwrap().value, b"1");
        assert_eq!(r.headers[0].name, "trace");
        let Plan::Replay(r) = plan(&dead(2), Some(b"v".to_vec()), &ReplaySettings::default())
        else {
            panic!()
        };
        assert_eq!(
            r.headers
                .iter()
                .filter(|h| h.name == H_REPLAY_COUNT)
                .count(),
            1
        );
        assert_eq!(r.headers.last().unwrap().value, b"3");
    }

    #[test]
    fn loop_guard_parks_at_the_maximum() {
        assert!(matches!(
            plan(&dead(3), None, &ReplaySettings::default()),
            Plan::Park { .. }
        ));
    }

    #[test]
    fn override_topic_lets_the_producer_pick_the_partition() {
        let mut s = ReplaySettings::new(Some("orders-retry".into()), 3);
        s.allowed_targets = AllowedTargets::parse("orders-retry").unwrap();
        let Plan::Replay(r) = plan(&dead(0), None, &s) else {
            panic!()
        };
        assert_eq!((r.topic.as_str(), r.partition), ("orders-retry", None));
    }

    #[test]
    fn only_allowed_targets_are_written() {
        // By default only the letter's own topic.
        let s = ReplaySettings::new(Some("payments".into()), 3);
        assert!(matches!(plan(&dead(0), None, &s), Plan::Refuse { .. }));
        assert!(matches!(
            plan(&dead(0), None, &ReplaySettings::default()),
            Plan::Replay(_)
        ));
        let list = AllowedTargets::parse("@original, sandbox-*").unwrap();
        assert!(list.allows("orders", Some("orders")));
        assert!(list.allows("sandbox-orders", Some("orders")));
        assert!(!list.allows("payments", Some("orders")));
        assert!(!list.allows("orders", None), "no original topic known");
        assert!(AllowedTargets::parse(" , ").is_err());
        assert!(AllowedTargets::parse("*").is_err());
        assert!(AllowedTargets::parse("a*b").is_err());
        // The loop guard parks before the target is judged.
        assert!(matches!(plan(&dead(3), None, &s), Plan::Park { .. }));
    }

    #[test]
    fn filters_combine() {
        let d = dead(0);
        assert!(Filters::default().matches(&d));
        let f = Filters {
            topic: Some("orders".into()),
            kind: Some(DlqKind::Permanent),
            since_ms: Some(1000),
            until_ms: Some(1001),
            ..Filters::default()
        };
        assert!(f.matches(&d));
        assert!(!Filters {
            kind: Some(DlqKind::Manual),
            ..f.clone()
        }
        .matches(&d));
        assert!(!Filters {
            until_ms: Some(1000),
            ..f
        }
        .matches(&d));
    }
}
