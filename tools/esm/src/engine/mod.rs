//! The event source mapping's loop: consume, batch, invoke, read the answer,
//! retry or bisect, send what is exhausted to the on-failure destination,
//! commit. One invocation at a time; the records of a partition stay in
//! order because a partition's commit never passes an unresolved record.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use lambda_emulator::{Function, Reply};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;

mod batching;
mod resolution;

use crate::answer::{self, Answer};
use crate::destination::{Condition, Destination};
use crate::event::{event_json, Rec};
use crate::settings::{EsmSettings, StartingPosition};
use crate::stats::Stats;

/// Why the emulator cannot run.
#[derive(Debug, thiserror::Error)]
pub enum EsmError {
    /// A setting Lambda would refuse.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// The broker refused or could not be reached.
    #[error("Kafka at {bootstrap}: {message}")]
    Kafka {
        /// The brokers.
        bootstrap: String,
        /// What happened.
        message: String,
    },
    /// A topic of `Topics` does not exist.
    #[error("Topics: topic {0:?} does not exist on the cluster")]
    NoSuchTopic(String),
    /// The function binary did not start.
    #[error("the function binary {binary} did not start: {message}")]
    Function {
        /// The binary.
        binary: String,
        /// What happened.
        message: String,
    },
}

/// The function the mapping invokes: a binary and its environment.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function binary (a `bootstrap` for `provided.al2023`).
    pub binary: PathBuf,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub name: String,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Copy the function's logs to ours.
    pub echo: bool,
}

type Key = (String, i32, i64);

/// How often a long run prints a summary line.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);

struct Entry {
    rec: Rec,
    /// Failed deliveries so far (the retry count).
    failures: u32,
    invocations: u32,
}

#[derive(Default)]
struct Partition {
    /// Fetched and not yet resolved, by offset.
    unresolved: BTreeMap<i64, Entry>,
    /// The next offset to fetch (one past the last fetched).
    fetched_until: i64,
    committed: i64,
}

/// The emulator.
pub struct Esm {
    settings: EsmSettings,
    consumer: StreamConsumer,
    spec: FunctionSpec,
    function: Option<Function>,
    destination: Option<Destination>,
    partitions: BTreeMap<(String, i32), Partition>,
    /// Batches to deliver again as they are (whole-batch retries, bisected
    /// halves, listed-only re-deliveries), before anything new.
    retry_plan: VecDeque<Vec<Key>>,
    /// Records whose destination write failed, tried again first.
    undelivered: Vec<(Vec<Key>, Condition, Option<String>)>,
    /// What happened.
    pub stats: Stats,
    last_summary: Stats,
    warnings: Vec<String>,
    quiet: bool,
}

impl Esm {
    /// Connects to the cluster (checking every topic exists), assigns every
    /// partition from the group's committed offsets (else the starting
    /// position) and starts the function.
    pub async fn start(
        settings: EsmSettings,
        spec: FunctionSpec,
        destination: Option<Destination>,
    ) -> Result<Self, EsmError> {
        settings.validate()?;
        let kafka = |message: String| EsmError::Kafka {
            bootstrap: settings.bootstrap_servers.clone(),
            message,
        };
        let consumer: StreamConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &settings.bootstrap_servers)
            .set("group.id", &settings.consumer_group)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set(
                "auto.offset.reset",
                match settings.starting_position {
                    StartingPosition::TrimHorizon => "earliest",
                    StartingPosition::Latest => "latest",
                },
            )
            .create()
            .map_err(|e| kafka(e.to_string()))?;
        let mut partitions = BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for topic in &settings.topics {
            let md = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .map_err(|e| kafka(format!("metadata of {topic}: {e}")))?;
            let t = md.topics().iter().find(|t| t.name() == topic);
            match t {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                    for p in t.partitions() {
                        tpl.add_partition(topic, p.id());
                    }
                }
                _ => return Err(EsmError::NoSuchTopic(topic.clone())),
            }
        }
        let committed = consumer
            .committed_offsets(tpl.clone(), Duration::from_secs(10))
            .map_err(|e| kafka(format!("committed offsets: {e}")))?;
        let mut assign = TopicPartitionList::new();
        for e in committed.elements() {
            let (low, high) = consumer
                .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(10))
                .map_err(|err| kafka(format!("watermarks: {err}")))?;
            let start = match e.offset() {
                // Not clamped to `high`: some brokers list a multi-record
                // batch's end too low, and a fetch past the real end resets.
                Offset::Offset(o) => o.max(low),
                _ => match settings.starting_position {
                    StartingPosition::TrimHorizon => low,
                    StartingPosition::Latest => high,
                },
            };
            assign
                .add_partition_offset(e.topic(), e.partition(), Offset::Offset(start))
                .map_err(|err| kafka(err.to_string()))?;
            partitions.insert(
                (e.topic().to_owned(), e.partition()),
                Partition {
                    unresolved: BTreeMap::new(),
                    fetched_until: start,
                    committed: start,
                },
            );
        }
        consumer.assign(&assign).map_err(|e| kafka(e.to_string()))?;
        let function = start_function(&spec).await?;
        Ok(Self {
            settings,
            consumer,
            spec,
            function: Some(function),
            destination,
            partitions,
            retry_plan: VecDeque::new(),
            undelivered: Vec::new(),
            stats: Stats::default(),
            last_summary: Stats::default(),
            warnings: Vec::new(),
            quiet: false,
        })
    }

    /// No per-invocation lines.
    pub fn quiet(&mut self) {
        self.quiet = true;
    }

    /// What a user should know (an unexpected identifier key, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The function process's id, while it runs (for fault injection).
    pub fn function_pid(&self) -> Option<u32> {
        self.function.as_ref().and_then(Function::pid)
    }

    /// Committed offset per partition.
    pub fn committed(&self) -> BTreeMap<String, i64> {
        self.partitions
            .iter()
            .map(|((t, p), s)| (format!("{t}-{p}"), s.committed))
            .collect()
    }

    /// Runs until nothing was fetched and nothing waited for `idle`, or for
    /// at most `max`.
    pub async fn run_until_idle(&mut self, idle: Duration, max: Duration) -> &Stats {
        let end = Instant::now() + max;
        let mut idle_since = Instant::now();
        let mut summary_at = Instant::now() + SUMMARY_EVERY;
        while Instant::now() < end {
            if self.step().await {
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= idle {
                break;
            }
            self.live_summary(&mut summary_at);
        }
        &self.stats
    }

    /// A one-line summary every [`SUMMARY_EVERY`] of a long run, when
    /// something happened.
    fn live_summary(&mut self, at: &mut Instant) {
        if self.quiet || Instant::now() < *at || self.last_summary == self.stats {
            return;
        }
        *at = Instant::now() + SUMMARY_EVERY;
        self.last_summary = self.stats.clone();
        let s = &self.stats;
        println!(
            "[esm] so far: {} invocations, {} fetched, {} done, {} re-delivered, {} to on-failure, {} waiting",
            s.invocations,
            s.fetched,
            s.processed,
            s.retried,
            s.to_on_failure,
            self.unresolved_count()
        );
    }

    /// Runs until `stop` resolves.
    pub async fn run_until(&mut self, stop: impl std::future::Future<Output = ()>) -> &Stats {
        tokio::pin!(stop);
        let mut summary_at = Instant::now() + SUMMARY_EVERY;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = self.step() => {}
            }
            self.live_summary(&mut summary_at);
        }
        &self.stats
    }

    /// One round: deliver pending destination writes, build a batch, invoke,
    /// act on the answer. `false` when there was nothing to do.
    pub async fn step(&mut self) -> bool {
        if !self.undelivered.is_empty() {
            let pending = std::mem::take(&mut self.undelivered);
            for (keys, condition, error) in pending {
                self.send_to_destination(&keys, condition, error).await;
            }
        }
        let Some(batch) = self.next_batch().await else {
            return false;
        };
        if batch.is_empty() {
            return true;
        }
        self.invoke(batch).await;
        self.commit();
        true
    }

    async fn invoke(&mut self, batch: Vec<Key>) {
        let records: Vec<Rec> = batch
            .iter()
            .filter_map(|k| self.entry(k).map(|e| e.rec.clone()))
            .collect();
        let refs: Vec<&Rec> = records.iter().collect();
        let event = event_json(
            &self.settings.shape,
            &self.settings.bootstrap_servers,
            &refs,
        );
        for k in &batch {
            if let Some(e) = self.entry_mut(k) {
                e.invocations += 1;
            }
        }
        self.stats.invocations += 1;
        self.stats.delivered += batch.len() as u64;
        let reply = match self.function.as_mut() {
            Some(f) => f
                .invoke(&event, self.settings.function_timeout)
                .await
                .unwrap_or_else(|e| Reply::Exited(e.to_string())),
            None => Reply::Exited("the function is not running".into()),
        };
        if matches!(
            reply,
            Reply::Exited(_) | Reply::TimedOut | Reply::InitError(_)
        ) {
            // Lambda starts a fresh execution environment after a crash or
            // a time-out.
            if let Some(f) = self.function.take() {
                f.stop().await;
            }
            match start_function(&self.spec).await {
                Ok(f) => self.function = Some(f),
                Err(e) => eprintln!("[esm] {e}"),
            }
        }
        let in_batch: BTreeSet<(String, i64)> = records
            .iter()
            .map(|r| (r.partition_key(), r.offset))
            .collect();
        let answer = answer::read(
            &reply,
            self.settings.report_batch_item_failures,
            self.settings.identifier_key,
            &in_batch,
            &mut self.warnings,
        );
        let summary = describe(&records, event.len());
        let action = match answer {
            Answer::Success => {
                self.stats.succeeded_batches += 1;
                self.stats.processed += batch.len() as u64;
                self.resolve(&batch);
                "commit past the batch".to_owned()
            }
            Answer::Partial(failed) => {
                self.stats.partial_batches += 1;
                self.partial(&batch, &records, &failed).await
            }
            Answer::BatchFailed(why) => {
                self.stats.failed_batches += 1;
                let error = match &reply {
                    Reply::Error { error_type, .. } => Some(error_type.clone()),
                    _ => None,
                };
                let action = self.batch_failed(batch, error).await;
                format!("{why}; {action}")
            }
        };
        if !self.quiet {
            println!("[esm] #{} {summary} -> {action}", self.stats.invocations);
        }
    }

    /// Stops the function.
    pub async fn stop(mut self) {
        if let Some(f) = self.function.take() {
            f.stop().await;
        }
    }
}

async fn start_function(spec: &FunctionSpec) -> Result<Function, EsmError> {
    let err = |message: String| EsmError::Function {
        binary: spec.binary.display().to_string(),
        message,
    };
    if !spec.binary.is_file() {
        return Err(err("no such file".into()));
    }
    let mut f = Function::start(&spec.binary, &spec.name, &spec.env, spec.echo)
        .await
        .map_err(|e| err(format!("{e:#}")))?;
    f.wait_ready(Duration::from_secs(30))
        .await
        .map_err(|e| err(format!("{e:#}")))?;
    Ok(f)
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn describe(records: &[Rec], bytes: usize) -> String {
    let mut ranges: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in records {
        let e = ranges
            .entry(r.partition_key())
            .or_insert((r.offset, r.offset));
        e.0 = e.0.min(r.offset);
        e.1 = e.1.max(r.offset);
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|(k, (a, b))| {
            if a == b {
                format!("{k}@{a}")
            } else {
                format!("{k}@{a}..{b}")
            }
        })
        .collect();
    format!(
        "batch of {} record(s), {} partition(s) [{}], {} KB",
        records.len(),
        ranges.len(),
        parts.join(" "),
        bytes / 1024
    )
}
