//! Sends dead letters home: resolves claim-checked values, fetches back
//! records Lambda's on-failure documents only point to, applies the repair
//! hook, writes to Kafka and waits for the confirmation, parks what the loop
//! guard stops. A dead letter is only acknowledged after its write was
//! confirmed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Header as KHeader, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::{Message as _, Offset, TopicPartitionList};
use tokio::time::Instant;

use crate::dead_letter::{FetchBack, Format, Parsed, StoredDeadLetter, StoredValue};
use crate::envelope::H_PREFIX;
use crate::kafka::{KafkaConnection, KafkaContext};
use crate::outcome::DlqKind;
use crate::replay::{plan, to_letter, Filters, Plan, ReplayRecord, ReplaySettings};
use crate::sink::claim_check::ClaimCheck;
use crate::sink::kafka::{create_producer, DlqProducer};
use crate::sink::{send_by_deadline, DeadLetterSink};

/// A user hook that may fix a dead letter before it is replayed (a schema
/// migration, a corrected field). An error parks the letter.
pub trait Repair: Send + Sync + 'static {
    fn repair(&self, letter: &StoredDeadLetter, value: &mut Option<Vec<u8>>) -> Result<(), String>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplaySummary {
    pub messages: u64,
    pub letters: u64,
    pub replayed: u64,
    pub parked: u64,
    pub filtered_out: u64,
    pub failed: u64,
    pub fetched_back: u64,
    /// Offsets of an on-failure document no longer in the topic.
    pub fetch_back_gone: u64,
    /// Dry run: letters that would have been replayed.
    pub would_replay: u64,
    pub unreadable: u64,
}

impl ReplaySummary {
    pub fn add(&mut self, o: &ReplaySummary) {
        self.messages += o.messages;
        self.letters += o.letters;
        self.replayed += o.replayed;
        self.parked += o.parked;
        self.filtered_out += o.filtered_out;
        self.failed += o.failed;
        self.fetched_back += o.fetched_back;
        self.fetch_back_gone += o.fetch_back_gone;
        self.would_replay += o.would_replay;
        self.unreadable += o.unreadable;
    }
}

/// What to do with the DLQ message afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every letter in it was replayed or parked, confirmed: delete/commit.
    Done,
    /// Leave it in the DLQ (failed, filtered out, or dry run).
    Keep,
}

#[derive(Debug, Clone)]
pub struct ReplayerConfig {
    pub settings: ReplaySettings,
    pub filters: Filters,
    pub dry_run: bool,
    /// Replays per second, at most.
    pub rate_per_sec: Option<f64>,
    /// The source cluster; `None`: the dead letter's own `bootstrapServers`.
    pub connection: KafkaConnection,
    pub consumer_name: Arc<str>,
}

pub struct Replayer {
    cfg: ReplayerConfig,
    producers: Arc<Mutex<HashMap<String, Arc<DlqProducer>>>>,
    parking: Arc<dyn DeadLetterSink>,
    claim_check: Option<ClaimCheck>,
    repair: Option<Arc<dyn Repair>>,
    next_slot: tokio::sync::Mutex<Instant>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("offsets {first}..={last} of {topic}-{partition} are no longer in the topic (earliest kept offset is {low})")]
    Gone {
        topic: String,
        partition: i32,
        first: i64,
        last: i64,
        low: i64,
    },
    #[error("fetch-back from {topic}-{partition} failed: {message}")]
    Failed {
        topic: String,
        partition: i32,
        message: String,
    },
}

impl Replayer {
    pub fn new(
        cfg: ReplayerConfig,
        parking: Arc<dyn DeadLetterSink>,
        claim_check: Option<ClaimCheck>,
        repair: Option<Arc<dyn Repair>>,
    ) -> Self {
        Self {
            cfg,
            producers: Arc::new(Mutex::new(HashMap::new())),
            parking,
            claim_check,
            repair,
            next_slot: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    pub fn config(&self) -> &ReplayerConfig {
        &self.cfg
    }

    /// The same replayer (producers, parking lot, hooks) with other settings.
    pub fn with_config(&self, cfg: ReplayerConfig) -> Self {
        Self {
            cfg,
            producers: self.producers.clone(),
            parking: self.parking.clone(),
            claim_check: self.claim_check.clone(),
            repair: self.repair.clone(),
            next_slot: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Handles one DLQ message, already parsed.
    pub async fn handle(
        &self,
        parsed: Parsed,
        deadline: Instant,
        summary: &mut ReplaySummary,
    ) -> Verdict {
        summary.messages += 1;
        let letters = match parsed {
            Parsed::Letters(l) => l,
            Parsed::FetchBack(ranges) => {
                match self.fetch_back_all(&ranges, deadline, summary).await {
                    Some(l) => l,
                    None => return Verdict::Keep,
                }
            }
        };
        // A dry run changes nothing, so nothing is acknowledged either.
        let mut verdict = if self.cfg.dry_run {
            Verdict::Keep
        } else {
            Verdict::Done
        };
        for letter in letters {
            if self.handle_letter(letter, deadline, summary).await == Verdict::Keep {
                verdict = Verdict::Keep;
            }
        }
        verdict
    }

    async fn handle_letter(
        &self,
        letter: StoredDeadLetter,
        deadline: Instant,
        summary: &mut ReplaySummary,
    ) -> Verdict {
        summary.letters += 1;
        if !self.cfg.filters.matches(&letter) {
            summary.filtered_out += 1;
            return Verdict::Keep;
        }
        let mut value = match &letter.value {
            StoredValue::Inline(v) => v.clone(),
            StoredValue::S3(loc) => match &self.claim_check {
                Some(c) => match tokio::time::timeout_at(deadline, c.fetch(loc))
                    .await
                    .unwrap_or_else(|_| Err("S3 read did not finish before the deadline".into()))
                {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::warn!(error = %e, "claim-checked value could not be read; dead letter kept");
                        summary.failed += 1;
                        return Verdict::Keep;
                    }
                },
                None => {
                    tracing::warn!(bucket = %loc.bucket, key = %loc.key, "dead letter's value is in S3 but no bucket access is configured; kept");
                    summary.failed += 1;
                    return Verdict::Keep;
                }
            },
        };
        let mut plan = plan(&letter, value.clone(), &self.cfg.settings);
        if let (Plan::Replay(_), Some(repair)) = (&plan, &self.repair) {
            plan = match repair.repair(&letter, &mut value) {
                Ok(()) => crate::replay::plan(&letter, value.clone(), &self.cfg.settings),
                Err(reason) => Plan::Park {
                    reason: format!("repair hook refused: {reason}"),
                },
            };
        }
        if self.cfg.dry_run {
            match plan {
                Plan::Replay(_) => summary.would_replay += 1,
                Plan::Park { .. } => summary.parked += 1,
            }
            return Verdict::Keep;
        }
        match plan {
            Plan::Replay(record) => {
                if !self.wait_for_rate_slot(deadline).await {
                    // No time left for this one: it stays for the next run.
                    summary.failed += 1;
                    return Verdict::Keep;
                }
                let bootstrap = self
                    .cfg
                    .connection
                    .bootstrap_servers
                    .clone()
                    .or_else(|| letter.bootstrap_servers.clone());
                match self.write(bootstrap.as_deref(), &record, deadline).await {
                    Ok(at) => {
                        tracing::info!(topic = %record.topic, at = %at, offset = ?letter.offset, "replayed");
                        summary.replayed += 1;
                        Verdict::Done
                    }
                    Err(e) => {
                        tracing::warn!(topic = %record.topic, error = %e, "replay not confirmed; dead letter kept");
                        summary.failed += 1;
                        Verdict::Keep
                    }
                }
            }
            Plan::Park { reason } => self.park(&letter, value, &reason, deadline, summary).await,
        }
    }

    async fn park(
        &self,
        letter: &StoredDeadLetter,
        value: Option<Vec<u8>>,
        reason: &str,
        deadline: Instant,
        summary: &mut ReplaySummary,
    ) -> Verdict {
        let now_ms = crate::lambda::epoch_ms_now();
        let parked = to_letter(letter, value, reason, now_ms, &self.cfg.consumer_name);
        let result = send_by_deadline(
            self.parking.as_ref(),
            std::slice::from_ref(&parked),
            deadline,
        )
        .await;
        match result.into_iter().next() {
            Some(Ok(c)) => {
                tracing::warn!(reason, at = %c.location, topic = ?letter.topic, offset = ?letter.offset, "dead letter parked");
                summary.parked += 1;
                Verdict::Done
            }
            Some(Err(e)) => {
                tracing::error!(reason, error = %e, "dead letter could not be parked; kept");
                summary.failed += 1;
                Verdict::Keep
            }
            None => {
                summary.failed += 1;
                Verdict::Keep
            }
        }
    }

    /// Waits for the rate limit; `false` if the slot comes after `deadline`.
    async fn wait_for_rate_slot(&self, deadline: Instant) -> bool {
        if Instant::now() >= deadline {
            return false;
        }
        let Some(rate) = self.cfg.rate_per_sec.filter(|r| *r > 0.0) else {
            return true;
        };
        // A rate so small the interval overflows means one an hour.
        let interval = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::from_secs(3600));
        let mut next = self.next_slot.lock().await;
        let now = Instant::now();
        let at = (*next).max(now);
        if at >= deadline {
            return false;
        }
        *next = at + interval;
        drop(next);
        tokio::time::sleep_until(at).await;
        true
    }

    fn producer(&self, bootstrap: &str) -> Result<Arc<DlqProducer>, String> {
        let mut map = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = map.get(bootstrap) {
            return Ok(p.clone());
        }
        let p = Arc::new(create_producer(&self.cfg.connection, bootstrap)?);
        map.insert(bootstrap.to_owned(), p.clone());
        Ok(p)
    }

    /// Writes one record and waits for its delivery report.
    pub async fn write(
        &self,
        bootstrap: Option<&str>,
        r: &ReplayRecord,
        deadline: Instant,
    ) -> Result<String, String> {
        let bootstrap = bootstrap.ok_or("no bootstrap servers for the replay target: set MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS / --bootstrap")?;
        let producer = self.producer(bootstrap)?;
        let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
        for h in &r.headers {
            headers = headers.insert(KHeader {
                key: &h.name,
                value: Some(&h.value),
            });
        }
        let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&r.topic).headers(headers);
        if let Some(k) = &r.key {
            rec = rec.key(k);
        }
        if let Some(v) = &r.value {
            rec = rec.payload(v);
        }
        if let Some(p) = r.partition {
            rec = rec.partition(p);
        }
        let delivery = producer.send_result(rec).map_err(|(e, _)| e.to_string())?;
        match tokio::time::timeout_at(deadline, delivery).await {
            Ok(Ok(Ok(d))) => Ok(format!("{}/{}@{}", r.topic, d.partition, d.offset)),
            Ok(Ok(Err((e, _)))) => Err(e.to_string()),
            Ok(Err(_)) => Err("producer dropped the delivery report".into()),
            Err(_) => Err("not confirmed before the deadline".into()),
        }
    }

    async fn fetch_back_all(
        &self,
        ranges: &[FetchBack],
        deadline: Instant,
        summary: &mut ReplaySummary,
    ) -> Option<Vec<StoredDeadLetter>> {
        let mut out = Vec::new();
        for range in ranges {
            let bootstrap = self
                .cfg
                .connection
                .bootstrap_servers
                .clone()
                .or_else(|| range.bootstrap_servers.clone());
            let Some(bootstrap) = bootstrap else {
                tracing::error!(
                    "on-failure document names no bootstrap servers and none are configured; kept"
                );
                summary.failed += 1;
                return None;
            };
            let (records, gone) =
                match fetch_back(&self.cfg.connection, &bootstrap, range, deadline).await {
                    Ok(fetched) => fetched,
                    Err(e @ FetchError::Gone { .. }) => (Vec::new(), Some(e)),
                    Err(e) => {
                        tracing::error!(error = %e, "fetch-back failed; kept");
                        summary.failed += 1;
                        return None;
                    }
                };
            summary.fetched_back += records.len() as u64;
            out.extend(records);
            if let Some(e) = gone {
                // Counted and parked with the reason, never silently dropped;
                // what is still in the topic is replayed.
                tracing::error!(error = %e, "part of the range is gone from the topic; parking a record of it");
                summary.fetch_back_gone += 1;
                if self.cfg.dry_run {
                    summary.parked += 1;
                    continue;
                }
                let stub = StoredDeadLetter {
                    format: Format::LambdaPayload,
                    topic: Some(range.topic.clone()),
                    partition: Some(range.partition),
                    offset: Some(range.first_offset),
                    timestamp: None,
                    key: None,
                    value: StoredValue::Inline(None),
                    headers: Vec::new(),
                    kind: Some(DlqKind::RetriesExhausted),
                    error_type: range.condition.clone(),
                    error_message: Some(e.to_string()),
                    failed_at_ms: None,
                    replay_count: 0,
                    consumer: None,
                    source: range.source.clone(),
                    bootstrap_servers: Some(bootstrap.clone()),
                };
                if self
                    .park(&stub, None, &e.to_string(), deadline, summary)
                    .await
                    == Verdict::Keep
                {
                    return None;
                }
            }
        }
        Some(out)
    }
}

/// What a fetch-back read, and the part of the range no longer in the topic.
pub type Fetched = (Vec<StoredDeadLetter>, Option<FetchError>);

/// Reads exactly the offsets `first..=last` of one partition back from the
/// source cluster (assign + seek; no consumer group offsets are committed).
/// Offsets before the partition's start are reported as gone; the rest of
/// the range is still read.
pub async fn fetch_back(
    connection: &KafkaConnection,
    bootstrap: &str,
    range: &FetchBack,
    deadline: Instant,
) -> Result<Fetched, FetchError> {
    let connection = connection.clone();
    let bootstrap = bootstrap.to_owned();
    let range = range.clone();
    let timeout = deadline.saturating_duration_since(Instant::now());
    let r2 = range.clone();
    tokio::task::spawn_blocking(move || fetch_back_blocking(&connection, &bootstrap, &r2, timeout))
        .await
        .map_err(|e| FetchError::Failed {
            topic: range.topic.clone(),
            partition: range.partition,
            message: e.to_string(),
        })?
}

fn fetch_back_blocking(
    connection: &KafkaConnection,
    bootstrap: &str,
    range: &FetchBack,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    let failed = |message: String| FetchError::Failed {
        topic: range.topic.clone(),
        partition: range.partition,
        message,
    };
    let started = std::time::Instant::now();
    let mut cfg = connection.client_config(bootstrap);
    cfg.set("group.id", "msk-dlq-fetch-back")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error");
    let consumer: BaseConsumer<KafkaContext> = cfg
        .create_with_context(connection.context())
        .map_err(|e| failed(e.to_string()))?;
    let (low, high) = consumer
        .fetch_watermarks(&range.topic, range.partition, timeout)
        .map_err(|e| failed(e.to_string()))?;
    let gone = |last: i64| FetchError::Gone {
        topic: range.topic.clone(),
        partition: range.partition,
        first: range.first_offset,
        last,
        low,
    };
    if range.last_offset < low {
        return Err(gone(range.last_offset));
    }
    let gone_part = (range.first_offset < low).then(|| gone(low - 1));
    let start = range.first_offset.max(low);
    if range.last_offset >= high {
        return Err(failed(format!(
            "offset {} is beyond the end of the partition ({high})",
            range.last_offset
        )));
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&range.topic, range.partition, Offset::Offset(start))
        .map_err(|e| failed(e.to_string()))?;
    consumer.assign(&tpl).map_err(|e| failed(e.to_string()))?;
    let mut out = Vec::new();
    while started.elapsed() < timeout {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if m.offset() > range.last_offset {
                    return Ok((out, gone_part));
                }
                let headers = crate::kafka::headers_of(&m);
                let replay_count = headers
                    .iter()
                    .find(|h| h.name == crate::envelope::H_REPLAY_COUNT)
                    .and_then(|h| std::str::from_utf8(&h.value).ok()?.parse().ok())
                    .unwrap_or(0);
                out.push(StoredDeadLetter {
                    format: Format::LambdaPayload,
                    topic: Some(range.topic.clone()),
                    partition: Some(range.partition),
                    offset: Some(m.offset()),
                    timestamp: m.timestamp().to_millis(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: StoredValue::Inline(m.payload().map(<[u8]>::to_vec)),
                    headers: headers
                        .into_iter()
                        .filter(|h| !h.name.starts_with(H_PREFIX))
                        .collect(),
                    kind: Some(DlqKind::RetriesExhausted),
                    error_type: range.condition.clone(),
                    error_message: None,
                    failed_at_ms: None,
                    replay_count,
                    consumer: None,
                    source: range.source.clone(),
                    bootstrap_servers: Some(bootstrap.to_owned()),
                });
                if m.offset() >= range.last_offset {
                    return Ok((out, gone_part));
                }
            }
            // The end is past `last` (checked above): every offset of the
            // range that still exists was read (compaction leaves gaps).
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return Ok((out, gone_part)),
            Some(Err(e)) => return Err(failed(e.to_string())),
            None => {}
        }
    }
    // A partial range must not count as fetched: the document is kept.
    Err(failed(format!(
        "only {} record(s) of the range read before the deadline",
        out.len()
    )))
}
