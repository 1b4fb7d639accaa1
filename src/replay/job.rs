//! Sends dead letters home: resolves claim-checked values, fetches back
//! records Lambda's on-failure documents only point to, applies the repair
//! hook, writes to Kafka and waits for the confirmation, parks what the loop
//! guard stops. A dead letter is only acknowledged after its write was
//! confirmed.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::audit::{AuditContext, AuditError, AuditLog, AuditRecord};
use super::plan::{plan, to_letter, Filters, Plan, ReplayRecord, ReplaySettings};
use super::repair::Repair;
use super::stored::{Parsed, StoredDeadLetter, StoredValue};
pub use super::summary::ReplaySummary;
use super::wire::WireOutcome;
use crate::kafka::{OutRecord, ProduceError, ProducerPool};
use crate::schema::WireMode;
use crate::sink::{send_by_deadline, DeadLetterSink, LargeValueStore};

/// Why a replay was not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Neither configuration nor the letter name a cluster.
    #[error("no bootstrap servers for the replay target: set MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS / --bootstrap")]
    NoBootstrap,
    /// The write was not confirmed.
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

/// What to do with the DLQ message afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Every letter in it was replayed or parked, confirmed: delete/commit.
    Done,
    /// Leave it in the DLQ (failed, filtered out, or dry run).
    Keep,
}

/// How a replayer runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplayerConfig {
    /// Targets and the loop guard.
    pub settings: ReplaySettings,
    /// Which letters to take.
    pub filters: Filters,
    /// Change nothing; count what would happen.
    pub dry_run: bool,
    /// Replays per second, at most.
    pub rate_per_sec: Option<f64>,
    /// The target cluster; `None`: the dead letter's own `bootstrapServers`.
    pub bootstrap_servers: Option<String>,
    /// Replay letters that name another cluster onto `bootstrap_servers`
    /// too (a migration, a tunnel, a listener under another name). Off: such
    /// letters are refused and kept.
    pub any_cluster: bool,
    /// `dlq.consumer` of parked letters.
    pub consumer_name: Arc<str>,
    /// How letters that went through a schema registry are written back.
    pub wire_mode: WireMode,
}

impl Default for ReplayerConfig {
    fn default() -> Self {
        Self {
            settings: ReplaySettings::default(),
            filters: Filters::default(),
            dry_run: false,
            rate_per_sec: None,
            bootstrap_servers: None,
            any_cluster: false,
            consumer_name: Arc::from("msk-dlq-replay"),
            wire_mode: WireMode::Auto,
        }
    }
}

/// Replays dead letters: resolves their values, applies the repair hook,
/// writes and waits for confirmation, parks what the loop guard stops.
pub struct Replayer {
    pub(super) cfg: ReplayerConfig,
    pub(super) producers: Arc<ProducerPool>,
    parking: Arc<dyn DeadLetterSink>,
    claim_check: Option<Arc<dyn LargeValueStore>>,
    repair: Option<Arc<dyn Repair>>,
    next_slot: tokio::sync::Mutex<Instant>,
    /// DLQ messages replayed in full by this (warm) replayer.
    done: Arc<RecentIds>,
    audit: Option<Arc<AuditLog>>,
}

/// A bounded set of recent message ids: the oldest are forgotten first.
#[derive(Debug, Default)]
struct RecentIds {
    inner: std::sync::Mutex<(
        std::collections::HashSet<String>,
        std::collections::VecDeque<String>,
    )>,
}

impl RecentIds {
    const CAPACITY: usize = 100_000;

    fn contains(&self, id: &str) -> bool {
        self.inner.lock().map(|g| g.0.contains(id)).unwrap_or(false)
    }

    fn insert(&self, id: &str) {
        if let Ok(mut g) = self.inner.lock() {
            if g.0.insert(id.to_owned()) {
                g.1.push_back(id.to_owned());
                if g.1.len() > Self::CAPACITY {
                    if let Some(old) = g.1.pop_front() {
                        g.0.remove(&old);
                    }
                }
            }
        }
    }
}

impl fmt::Debug for Replayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replayer")
            .field("cfg", &self.cfg)
            .field("parking", &self.parking.name())
            .finish_non_exhaustive()
    }
}

impl Replayer {
    /// A replayer writing through `producers`, parking to `parking`, reading
    /// claim-checked values from `claim_check`, repairing with `repair`.
    pub fn new(
        cfg: ReplayerConfig,
        producers: Arc<ProducerPool>,
        parking: Arc<dyn DeadLetterSink>,
        claim_check: Option<Arc<dyn LargeValueStore>>,
        repair: Option<Arc<dyn Repair>>,
    ) -> Self {
        Self {
            cfg,
            producers,
            parking,
            claim_check,
            repair,
            next_slot: tokio::sync::Mutex::new(Instant::now()),
            done: Arc::default(),
            audit: None,
        }
    }

    /// The connection for reading a Kafka DLQ on the replay cluster.
    pub fn kafka_connection(&self) -> crate::kafka::KafkaConnection {
        let mut c = self.producers.connection().clone();
        if self.cfg.bootstrap_servers.is_some() {
            c.bootstrap_servers = self.cfg.bootstrap_servers.clone();
        }
        c
    }

    /// The same replayer, writing audit records to `audit`.
    #[must_use]
    pub fn with_audit(mut self, audit: Option<Arc<AuditLog>>) -> Self {
        self.audit = audit;
        self
    }

    /// Records a replay run in the audit trail: a structured log line, and
    /// the audit log when one is configured. Returns where it was written.
    pub async fn audit(
        &self,
        ctx: &AuditContext,
        started_ms: i64,
        summary: &ReplaySummary,
    ) -> Result<Option<String>, AuditError> {
        let record = AuditRecord::new(ctx, &self.cfg, started_ms, summary);
        tracing::info!(
            audit = %serde_json::to_string(&record).unwrap_or_default(),
            "replay audit"
        );
        match &self.audit {
            Some(log) => log.write(&record).await.map(Some),
            None => Ok(None),
        }
    }

    /// Its configuration.
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
            done: self.done.clone(),
            audit: self.audit.clone(),
        }
    }

    /// Handles the DLQ message `id`, already parsed. A message this replayer
    /// already replayed in full (Lambda re-delivers a Kafka DLQ batch from
    /// its lowest kept letter) is acknowledged again without a new write.
    pub async fn handle_message(
        &self,
        id: &str,
        parsed: Parsed,
        deadline: Instant,
        summary: &mut ReplaySummary,
    ) -> Verdict {
        if !self.cfg.dry_run && self.done.contains(id) {
            summary.messages += 1;
            summary.already_replayed += 1;
            return Verdict::Done;
        }
        let verdict = self.handle(parsed, deadline, summary).await;
        if verdict == Verdict::Done && !self.cfg.dry_run {
            self.done.insert(id);
        }
        verdict
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
                    .unwrap_or_else(|_| {
                        Err(crate::sink::SinkError::DeadlineExceeded { sink: "s3" })
                    }) {
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
                Ok(()) => super::plan::plan(&letter, value.clone(), &self.cfg.settings),
                Err(e) => Plan::Park {
                    reason: format!("repair hook refused: {e}"),
                },
            };
        }
        if let Plan::Replay(record) = &mut plan {
            match self.restore_wire(&letter, record, deadline, summary).await {
                WireOutcome::Ready => {}
                WireOutcome::Refuse(reason) => plan = Plan::Refuse { reason },
                WireOutcome::Retry(reason) => {
                    tracing::warn!(reason, topic = ?letter.topic, offset = ?letter.offset, "original bytes could not be read; dead letter kept");
                    summary.failed += 1;
                    return Verdict::Keep;
                }
            }
        }
        if self.cfg.dry_run {
            match plan {
                Plan::Replay(_) => summary.would_replay += 1,
                Plan::Park { .. } => summary.parked += 1,
                Plan::Refuse { .. } => summary.refused += 1,
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
                let bootstrap = match self.target_cluster(letter.bootstrap_servers.as_deref()) {
                    Ok(b) => b,
                    Err(reason) => {
                        tracing::warn!(reason, topic = ?letter.topic, offset = ?letter.offset, "dead letter kept");
                        summary.refused += 1;
                        return Verdict::Keep;
                    }
                };
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
            Plan::Refuse { reason } => {
                tracing::warn!(reason, topic = ?letter.topic, offset = ?letter.offset, "dead letter kept");
                summary.refused += 1;
                Verdict::Keep
            }
        }
    }

    pub(super) async fn park(
        &self,
        letter: &StoredDeadLetter,
        value: Option<Vec<u8>>,
        reason: &str,
        deadline: Instant,
        summary: &mut ReplaySummary,
    ) -> Verdict {
        let now_ms = crate::clock::epoch_ms_now();
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

    /// Writes one record and waits for its delivery report.
    pub async fn write(
        &self,
        bootstrap: Option<&str>,
        r: &ReplayRecord,
        deadline: Instant,
    ) -> Result<String, WriteError> {
        let bootstrap = bootstrap.ok_or(WriteError::NoBootstrap)?;
        let record = OutRecord {
            topic: &r.topic,
            partition: r.partition,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: &r.headers,
        };
        let d = self.producers.send(bootstrap, &record, deadline).await?;
        Ok(format!("{}/{}@{}", r.topic, d.partition, d.offset))
    }
}
