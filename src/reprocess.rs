//! The reprocessor: configuration, replay jobs over a whole DLQ (used by the
//! operator CLI and by direct invocation), and the Lambda handlers for SQS
//! and Kafka DLQ triggers.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::config::{ConfigError, Reader};
use crate::dead_letter::{from_kafka, from_message_body, parse_rfc3339_ms};
use crate::event::{decode_event, Entry};
use crate::kafka::KafkaConnection;
use crate::outcome::DlqKind;
use crate::replay::{Filters, ReplaySettings};
use crate::replayer::{ReplaySummary, Replayer, ReplayerConfig, Verdict};
use crate::response::{BatchResponse, ItemFailure, ItemIdentifier};
use crate::sink::config::{SinkConfig, SinkKind};
use crate::sink::DeadLetterSink;
use crate::source::DlqSource;

pub const VAR_TARGET_TOPIC: &str = "MSK_DLQ_REPLAY_TARGET_TOPIC";
pub const VAR_MAX_REPLAYS: &str = "MSK_DLQ_MAX_REPLAYS";
pub const VAR_RATE: &str = "MSK_DLQ_REPLAY_RATE";
pub const VAR_DRY_RUN: &str = "MSK_DLQ_REPLAY_DRY_RUN";
pub const VAR_FILTER_TOPIC: &str = "MSK_DLQ_REPLAY_FILTER_TOPIC";
pub const VAR_FILTER_KIND: &str = "MSK_DLQ_REPLAY_FILTER_KIND";
pub const VAR_FILTER_ERROR_TYPE: &str = "MSK_DLQ_REPLAY_FILTER_ERROR_TYPE";
pub const VAR_FILTER_SINCE: &str = "MSK_DLQ_REPLAY_FILTER_SINCE";
pub const VAR_FILTER_UNTIL: &str = "MSK_DLQ_REPLAY_FILTER_UNTIL";
pub const VAR_PARKING_SINK: &str = "MSK_DLQ_PARKING_SINK";
pub const VAR_PARKING_KAFKA_TOPIC: &str = "MSK_DLQ_PARKING_KAFKA_TOPIC";
pub const VAR_PARKING_SQS_QUEUE_URL: &str = "MSK_DLQ_PARKING_SQS_QUEUE_URL";
pub const VAR_PARKING_SNS_TOPIC_ARN: &str = "MSK_DLQ_PARKING_SNS_TOPIC_ARN";

const SINK_KINDS: &[(&str, SinkKind)] = &[
    ("none", SinkKind::None),
    ("kafka", SinkKind::Kafka),
    ("sqs", SinkKind::Sqs),
    ("sns", SinkKind::Sns),
];

/// Parses a `kind` filter value, naming the allowed ones.
pub fn parse_kind(s: &str) -> Result<DlqKind, String> {
    DlqKind::parse(s).ok_or_else(|| {
        let all: Vec<&str> = DlqKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown kind {s:?}: expected one of {}", all.join(", "))
    })
}

/// Parses a time filter: RFC 3339 or epoch milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .ok()
        .or_else(|| parse_rfc3339_ms(s))
        .ok_or_else(|| {
            format!("{s:?} is not an RFC 3339 time (2026-11-22T04:00:00Z) or epoch milliseconds")
        })
}

/// Everything the reprocessor needs, from the environment.
pub struct ReprocessorSetup {
    pub replayer: ReplayerConfig,
    pub parking: SinkConfig,
    pub bucket: Option<String>,
}

impl ReprocessorSetup {
    pub fn read(r: &mut Reader<'_>) -> Self {
        let connection = KafkaConnection::read(r);
        let mut filters = Filters {
            topic: r.string(VAR_FILTER_TOPIC),
            error_type: r.string(VAR_FILTER_ERROR_TYPE),
            ..Filters::default()
        };
        if let Some(k) = r.string(VAR_FILTER_KIND) {
            match parse_kind(&k) {
                Ok(kind) => filters.kind = Some(kind),
                Err(expected) => r.errors.push(ConfigError::Invalid {
                    var: VAR_FILTER_KIND,
                    value: k,
                    expected,
                }),
            }
        }
        for (var, slot) in [
            (VAR_FILTER_SINCE, &mut filters.since_ms),
            (VAR_FILTER_UNTIL, &mut filters.until_ms),
        ] {
            if let Some(t) = r.string(var) {
                match parse_time(&t) {
                    Ok(ms) => *slot = Some(ms),
                    Err(expected) => r.errors.push(ConfigError::Invalid {
                        var,
                        value: t,
                        expected,
                    }),
                }
            }
        }
        let rate = r.int(VAR_RATE, 0u32, 0, 100_000);
        let replayer = ReplayerConfig {
            settings: ReplaySettings {
                target_topic: r.string(VAR_TARGET_TOPIC),
                max_replays: r.int(VAR_MAX_REPLAYS, 3u32, 1, 1000),
            },
            filters,
            dry_run: r.bool(VAR_DRY_RUN, false),
            rate_per_sec: (rate > 0).then_some(f64::from(rate)),
            connection: connection.clone(),
            consumer_name: Arc::from(
                r.string("AWS_LAMBDA_FUNCTION_NAME")
                    .unwrap_or_else(|| "msk-dlq-reprocessor".to_owned())
                    .as_str(),
            ),
        };
        let kind = r.choice(VAR_PARKING_SINK, SinkKind::None, SINK_KINDS);
        let required = |r: &mut Reader<'_>, var, want: SinkKind| {
            if kind == want {
                r.required(var, "it is the parking-lot sink")
            } else {
                None
            }
        };
        let parking = SinkConfig {
            primary: kind,
            fallback: SinkKind::None,
            kafka_topic: required(r, VAR_PARKING_KAFKA_TOPIC, SinkKind::Kafka),
            kafka: connection,
            partitioning: crate::sink::kafka::Partitioning::ByKey,
            sqs_queue_url: required(r, VAR_PARKING_SQS_QUEUE_URL, SinkKind::Sqs),
            sns_topic_arn: required(r, VAR_PARKING_SNS_TOPIC_ARN, SinkKind::Sns),
            bucket: None,
            bucket_prefix: String::new(),
            max_message_bytes: None,
            retries: 2,
        };
        Self {
            replayer,
            parking,
            bucket: r.string(crate::sink::config::VAR_BUCKET),
        }
    }

    pub async fn build(
        self,
        repair: Option<Arc<dyn crate::replayer::Repair>>,
    ) -> Result<Replayer, String> {
        let parking: Arc<dyn DeadLetterSink> = self.parking.build().await?;
        let claim = match self.bucket {
            Some(bucket) => Some(crate::sink::claim_check::ClaimCheck {
                client: crate::aws::s3(&crate::aws::sdk_config().await),
                bucket,
                prefix: String::new(),
            }),
            None => None,
        };
        Ok(Replayer::new(self.replayer, parking, claim, repair))
    }
}

/// Drains `source` through `replayer` until it is empty, `limit` letters
/// were taken, or `deadline` is near. `progress` sees the running summary.
pub async fn run_job(
    source: &mut DlqSource,
    replayer: &Replayer,
    limit: Option<u64>,
    deadline: Instant,
    mut progress: impl FnMut(&ReplaySummary),
) -> Result<ReplaySummary, crate::source::SourceError> {
    let mut summary = ReplaySummary::default();
    loop {
        // Stop early enough to settle what was read before the deadline.
        let stop_reading = deadline
            .checked_sub(Duration::from_secs(5))
            .unwrap_or(deadline);
        if limit.is_some_and(|l| summary.letters >= l) || Instant::now() >= stop_reading {
            break;
        }
        let items = source.read(10, stop_reading).await?;
        if items.is_empty() {
            break;
        }
        let mut done = Vec::new();
        let mut kept = Vec::new();
        for item in &items {
            let verdict = match &item.parsed {
                Ok(parsed) if limit.is_none_or(|l| summary.letters < l) => {
                    replayer
                        .handle(parsed.clone(), deadline, &mut summary)
                        .await
                }
                Ok(_) => Verdict::Keep,
                Err(e) => {
                    tracing::warn!(id = %item.id, error = %e, "unreadable dead letter kept");
                    summary.unreadable += 1;
                    Verdict::Keep
                }
            };
            match verdict {
                Verdict::Done => done.push(item),
                Verdict::Keep => kept.push(item),
            }
        }
        source.settle(&done, &kept).await?;
        progress(&summary);
    }
    source.finish().await?;
    Ok(summary)
}

/// A direct-invocation replay job for operators.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayJob {
    pub sqs_queue_url: Option<String>,
    pub kafka_topic: Option<String>,
    pub group: Option<String>,
    pub limit: Option<u64>,
    #[serde(default)]
    pub dry_run: bool,
    pub target_topic: Option<String>,
    pub topic: Option<String>,
    pub kind: Option<String>,
    pub error_type: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReprocessError {
    #[error("event is neither an SQS event, a Kafka event nor a {{\"replayJob\": ...}}: {0}")]
    UnknownEvent(String),
    #[error("replay job is invalid: {0}")]
    BadJob(String),
    #[error(transparent)]
    Event(#[from] crate::event::EventError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("{0} dead letter(s) without a readable offset could not be replayed; failing the whole batch so it is retried")]
    Unidentifiable(usize),
}

impl From<ReprocessError> for lambda_runtime::Diagnostic {
    fn from(e: ReprocessError) -> Self {
        let t = match &e {
            ReprocessError::UnknownEvent(_) => "UnknownEvent",
            ReprocessError::BadJob(_) => "InvalidReplayJob",
            ReprocessError::Event(_) => "InvalidKafkaEvent",
            ReprocessError::Source(_) => "DlqSourceError",
            ReprocessError::Unidentifiable(_) => "UnidentifiableRecords",
        };
        lambda_runtime::Diagnostic {
            error_type: t.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Handles one reprocessor invocation of any supported kind; the answer is
/// the SQS or Kafka partial batch response, or the job summary.
pub async fn handle_invocation(
    replayer: &Replayer,
    event: &Value,
    deadline: Instant,
) -> Result<Value, ReprocessError> {
    if let Some(job) = event.get("replayJob") {
        let job: ReplayJob = serde_json::from_value(job.clone())
            .map_err(|e| ReprocessError::BadJob(e.to_string()))?;
        let summary = run_replay_job(replayer, &job, deadline).await?;
        return Ok(serde_json::to_value(summary).unwrap_or_default());
    }
    let is_sqs = event
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        .is_some_and(|s| s == "aws:sqs");
    if is_sqs
        || event
            .get("Records")
            .is_some_and(|r| r.as_array().is_some_and(Vec::is_empty))
    {
        let sqs: SqsEvent = serde_json::from_value(event.clone())
            .map_err(|e| ReprocessError::UnknownEvent(e.to_string()))?;
        return Ok(
            serde_json::to_value(handle_sqs(replayer, sqs, deadline).await).unwrap_or_default(),
        );
    }
    if event.get("eventSource").is_some() {
        let text = event.to_string();
        return Ok(
            serde_json::to_value(handle_kafka(replayer, &text, deadline).await?)
                .unwrap_or_default(),
        );
    }
    Err(ReprocessError::UnknownEvent(
        "no Records, eventSource or replayJob field".into(),
    ))
}

/// SQS trigger: a message is deleted (not listed) only when every dead
/// letter in it was replayed or parked and confirmed.
pub async fn handle_sqs(
    replayer: &Replayer,
    event: SqsEvent,
    deadline: Instant,
) -> SqsBatchResponse {
    let mut summary = ReplaySummary::default();
    let mut failures = Vec::new();
    for m in event.records {
        let id = m.message_id.clone().unwrap_or_default();
        let verdict = match from_message_body(m.body.as_deref().unwrap_or_default()) {
            Ok(parsed) => replayer.handle(parsed, deadline, &mut summary).await,
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "unreadable dead letter kept");
                summary.unreadable += 1;
                Verdict::Keep
            }
        };
        if verdict == Verdict::Keep {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            failures.push(f);
        }
    }
    log_summary(&summary);
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = failures;
    resp
}

/// MSK trigger on a Kafka DLQ topic: Kafka partial batch response.
pub async fn handle_kafka(
    replayer: &Replayer,
    event: &str,
    deadline: Instant,
) -> Result<BatchResponse, ReprocessError> {
    let batch = decode_event(event)?;
    let mut summary = ReplaySummary::default();
    let mut failures = Vec::new();
    let mut unidentifiable = 0usize;
    for e in batch.entries() {
        let verdict = match &e.entry {
            Entry::Record(r) => {
                match from_kafka(r.key.as_deref(), r.value.as_deref(), &r.headers) {
                    Ok(parsed) => replayer.handle(parsed, deadline, &mut summary).await,
                    Err(err) => {
                        tracing::warn!(record = %e.id, error = %err, "unreadable dead letter kept");
                        summary.unreadable += 1;
                        Verdict::Keep
                    }
                }
            }
            Entry::Malformed(_) => {
                summary.unreadable += 1;
                Verdict::Keep
            }
        };
        match (verdict, e.id.offset) {
            (Verdict::Done, _) => {}
            (Verdict::Keep, Some(offset)) => failures.push(ItemFailure {
                item_identifier: ItemIdentifier {
                    partition: e.id.partition_key.to_string(),
                    offset,
                },
            }),
            (Verdict::Keep, None) => unidentifiable += 1,
        }
    }
    log_summary(&summary);
    if unidentifiable > 0 {
        // Lambda cannot be told which record to keep: fail the whole batch.
        return Err(ReprocessError::Unidentifiable(unidentifiable));
    }
    Ok(BatchResponse {
        batch_item_failures: failures,
    })
}

async fn run_replay_job(
    replayer: &Replayer,
    job: &ReplayJob,
    deadline: Instant,
) -> Result<ReplaySummary, ReprocessError> {
    let bad = ReprocessError::BadJob;
    let mut filters = Filters {
        topic: job.topic.clone(),
        error_type: job.error_type.clone(),
        ..Filters::default()
    };
    if let Some(k) = &job.kind {
        filters.kind = Some(parse_kind(k).map_err(bad)?);
    }
    if let Some(t) = &job.since {
        filters.since_ms = Some(parse_time(t).map_err(bad)?);
    }
    if let Some(t) = &job.until {
        filters.until_ms = Some(parse_time(t).map_err(bad)?);
    }
    let mut cfg = replayer.config().clone();
    cfg.filters = filters;
    cfg.dry_run = job.dry_run || cfg.dry_run;
    if job.target_topic.is_some() {
        cfg.settings.target_topic = job.target_topic.clone();
    }
    let scoped = replayer.with_config(cfg);
    let mut source = match (&job.sqs_queue_url, &job.kafka_topic) {
        (Some(url), None) => {
            let sdk = crate::aws::sdk_config().await;
            DlqSource::sqs(crate::aws::sqs(&sdk), url.clone(), 60)
        }
        (None, Some(topic)) => DlqSource::kafka(
            &scoped.config().connection,
            topic,
            job.group.as_deref().unwrap_or("msk-dlq-reprocessor"),
            !scoped.config().dry_run,
        )?,
        _ => return Err(bad("give exactly one of sqsQueueUrl and kafkaTopic".into())),
    };
    let summary = run_job(&mut source, &scoped, job.limit, deadline, |_| {}).await?;
    log_summary(&summary);
    Ok(summary)
}

fn log_summary(s: &ReplaySummary) {
    let mut r = Reader::new(&crate::config::ProcessEnv);
    let metrics = crate::config::MetricsConfig::read(&mut r);
    if metrics.enabled {
        crate::metrics::emit(&[crate::metrics::reprocessor_metrics(
            s,
            &metrics,
            crate::lambda::epoch_ms_now(),
        )]);
    }
    tracing::info!(
        messages = s.messages,
        letters = s.letters,
        replayed = s.replayed,
        parked = s.parked,
        filtered_out = s.filtered_out,
        failed = s.failed,
        fetched_back = s.fetched_back,
        fetch_back_gone = s.fetch_back_gone,
        would_replay = s.would_replay,
        unreadable = s.unreadable,
        "replay done"
    );
}
