//! The reprocessor Lambda: answers an SQS trigger on the DLQ queue, an MSK
//! trigger on the Kafka DLQ topic, or a direct `{"replayJob": ...}`
//! invocation, replaying dead letters through a [`Replayer`].

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::future::BoxFuture;
use lambda_runtime::{service_fn, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::clock::{deadline_instant, epoch_ms_now};
use crate::codec::parse_time;
use crate::consumer::{BatchResponse, ItemFailure, ItemIdentifier};
use crate::env::{ProcessEnv, Reader};
use crate::event::{decode_event, Entry};
use crate::letter::DlqKind;
use crate::replay::audit::{AuditContext, TouchedLetter};
use crate::replay::parse::{from_kafka, from_message_body};
use crate::replay::{
    run_job, DlqReader, Filters, ReaderError, Repair, ReplaySummary, Replayer, Verdict,
};

/// Runs the reprocessor Lambda, configured from the environment. `repair`
/// may fix letters before replay.
pub async fn run_reprocessor(repair: Option<Arc<dyn Repair>>) -> Result<(), lambda_runtime::Error> {
    super::init_tracing();
    let mut r = Reader::new(&ProcessEnv);
    let setup = crate::env::replay_setup(&mut r);
    let replayer = match r.finish(setup) {
        Ok(setup) => setup
            .build(None, repair)
            .await
            .map_err(super::BuildError::Sink),
        Err(e) => Err(super::BuildError::Config(e)),
    };
    let replayer = match replayer {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::error!(error = %e, "cold start failed");
            return Err(e.into());
        }
    };
    let service = service_fn(move |event: LambdaEvent<Value>| {
        let replayer = replayer.clone();
        // Boxed: the unboxed future type is deep enough to need a raised
        // recursion limit in every crate that calls this.
        let answer: BoxFuture<'static, Result<Value, ReprocessError>> = Box::pin(async move {
            let now_ms = epoch_ms_now();
            let deadline = deadline_instant(event.context.deadline, now_ms);
            // Leave time to answer: replay writes stop a second early.
            let deadline = deadline
                .checked_sub(Duration::from_secs(1))
                .unwrap_or(deadline);
            handle_invocation(&replayer, &event.payload, deadline).await
        });
        answer
    });
    lambda_runtime::Runtime::new(service)
        .layer(lambda_runtime::layers::TracingLayer::new())
        .layer(super::bom::StripBom)
        .run()
        .await
}

/// A direct-invocation replay job for operators.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ReplayJob {
    /// Drain this SQS queue ...
    pub sqs_queue_url: Option<String>,
    /// ... or this Kafka topic.
    pub kafka_topic: Option<String>,
    /// The Kafka consumer group (default `msk-dlq-reprocessor`).
    pub group: Option<String>,
    /// Dead letters to take at most.
    pub limit: Option<u64>,
    /// Change nothing; count what would happen.
    #[serde(default)]
    pub dry_run: bool,
    /// Replay here instead of the original topic.
    pub target_topic: Option<String>,
    /// How records that went through a schema registry are written back:
    /// `auto`, `reframe`, `fetch-back` or `as-received`.
    pub wire_format: Option<String>,
    /// Only this original topic.
    pub topic: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this error type.
    pub error_type: Option<String>,
    /// Only letters that failed at or after this time.
    pub since: Option<String>,
    /// Only letters that failed before this time.
    pub until: Option<String>,
}

/// Why a reprocessor invocation failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReprocessError {
    /// Not an event the reprocessor answers.
    #[error("event is neither an SQS event, a Kafka event nor a {{\"replayJob\": ...}}: {0}")]
    UnknownEvent(String),
    /// A replay job with bad fields.
    #[error("replay job is invalid: {0}")]
    BadJob(String),
    /// A Kafka event that cannot be read.
    #[error(transparent)]
    Event(#[from] crate::event::EventError),
    /// The DLQ cannot be read or acknowledged.
    #[error(transparent)]
    Reader(#[from] ReaderError),
    /// Kept letters that cannot be named to Lambda.
    #[error("{0} dead letter(s) without a readable offset could not be replayed; failing the whole batch so it is retried")]
    Unidentifiable(usize),
}

impl From<ReprocessError> for lambda_runtime::Diagnostic {
    fn from(e: ReprocessError) -> Self {
        let t = match &e {
            ReprocessError::UnknownEvent(_) => "UnknownEvent",
            ReprocessError::BadJob(_) => "InvalidReplayJob",
            ReprocessError::Event(_) => "InvalidKafkaEvent",
            ReprocessError::Reader(_) => "DlqReaderError",
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
    let started_ms = epoch_ms_now();
    let source = event
        .records
        .first()
        .and_then(|m| m.event_source_arn.clone())
        .map_or_else(|| "sqs".to_owned(), |arn| format!("sqs:{arn}"));
    let mut summary = ReplaySummary::default();
    let mut failures = Vec::new();
    for m in event.records {
        let id = m.message_id.clone().unwrap_or_default();
        let verdict = match from_message_body(m.body.as_deref().unwrap_or_default()) {
            Ok(parsed) => {
                replayer
                    .handle_message(&id, parsed, deadline, &mut summary)
                    .await
            }
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "unreadable dead letter kept");
                summary.unreadable += 1;
                Verdict::Keep
            }
        };
        summary.touched.push(TouchedLetter {
            id: id.clone(),
            acknowledged: verdict == Verdict::Done,
        });
        if verdict == Verdict::Keep {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            failures.push(f);
        }
    }
    log_summary(&summary);
    audit(replayer, "sqs-trigger", source, started_ms, &summary).await;
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
    let started_ms = epoch_ms_now();
    let topics: std::collections::BTreeSet<&str> =
        batch.entries().filter_map(|e| e.entry.topic()).collect();
    let source = format!("kafka:{}", topics.into_iter().collect::<Vec<_>>().join(","));
    let mut summary = ReplaySummary::default();
    let mut failures = Vec::new();
    let mut unidentifiable = 0usize;
    for e in batch.entries() {
        let verdict = match &e.entry {
            Entry::Record(r) => match from_kafka(r.key(), r.value(), r.headers()) {
                Ok(parsed) => {
                    replayer
                        .handle_message(&e.id.to_string(), parsed, deadline, &mut summary)
                        .await
                }
                Err(err) => {
                    tracing::warn!(record = %e.id, error = %err, "unreadable dead letter kept");
                    summary.unreadable += 1;
                    Verdict::Keep
                }
            },
            Entry::Malformed(_) => {
                summary.unreadable += 1;
                Verdict::Keep
            }
        };
        summary.touched.push(TouchedLetter {
            id: e.id.to_string(),
            acknowledged: verdict == Verdict::Done,
        });
        match (verdict, e.id.offset) {
            (Verdict::Done, _) => {}
            (Verdict::Keep, Some(offset)) => failures.push(ItemFailure {
                item_identifier: ItemIdentifier::new(e.id.partition_key.to_string(), offset),
            }),
            (Verdict::Keep, None) => unidentifiable += 1,
        }
    }
    log_summary(&summary);
    audit(replayer, "kafka-trigger", source, started_ms, &summary).await;
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
    let bad = |e: &dyn std::fmt::Display| ReprocessError::BadJob(e.to_string());
    let mut filters = Filters {
        topic: job.topic.clone(),
        error_type: job.error_type.clone(),
        ..Filters::default()
    };
    if let Some(k) = &job.kind {
        filters.kind = Some(k.parse::<DlqKind>().map_err(|e| bad(&e))?);
    }
    if let Some(t) = &job.since {
        filters.since_ms = Some(parse_time(t).map_err(|e| bad(&e))?);
    }
    if let Some(t) = &job.until {
        filters.until_ms = Some(parse_time(t).map_err(|e| bad(&e))?);
    }
    let mut cfg = replayer.config().clone();
    cfg.filters = filters;
    cfg.dry_run = job.dry_run || cfg.dry_run;
    if let Some(t) = &job.target_topic {
        // A job may pick a target, never widen the function's allow-list.
        if !cfg.settings.allowed_targets.allows(t, None) {
            return Err(bad(&format!(
                "targetTopic {t} is not on the function's replay allow-list ({}); set MSK_DLQ_REPLAY_ALLOWED_TARGETS",
                cfg.settings.allowed_targets
            )));
        }
        cfg.settings.target_topic = Some(t.clone());
    }
    if let Some(w) = &job.wire_format {
        cfg.wire_mode = crate::schema::WireMode::parse(w).ok_or_else(|| {
            bad(&format!(
                "wireFormat {w:?} is not one of auto, reframe, fetch-back, as-received"
            ))
        })?;
    }
    let scoped = replayer.with_config(cfg);
    let mut source = match (&job.sqs_queue_url, &job.kafka_topic) {
        (Some(url), None) => {
            let sdk = crate::aws::sdk_config().await;
            DlqReader::sqs(aws_sdk_sqs::Client::new(&sdk), url.clone(), 60)
        }
        (None, Some(topic)) => DlqReader::kafka(
            &scoped.kafka_connection(),
            topic,
            job.group.as_deref().unwrap_or("msk-dlq-reprocessor"),
            !scoped.config().dry_run,
        )?,
        _ => return Err(bad(&"give exactly one of sqsQueueUrl and kafkaTopic")),
    };
    let started_ms = epoch_ms_now();
    let summary = run_job(&mut source, &scoped, job.limit, deadline, |_| {}).await?;
    log_summary(&summary);
    let dlq = match (&job.sqs_queue_url, &job.kafka_topic) {
        (Some(url), _) => format!("sqs:{url}"),
        (_, Some(topic)) => format!("kafka:{topic}"),
        _ => String::new(),
    };
    audit(&scoped, "replay-job", dlq, started_ms, &summary).await;
    Ok(summary)
}

/// Writes the audit record of a run that touched dead letters; a failure is
/// logged (the record itself is in the log line written before).
async fn audit(
    replayer: &Replayer,
    trigger: &str,
    source: String,
    started_ms: i64,
    summary: &ReplaySummary,
) {
    if summary.touched.is_empty() && trigger != "replay-job" {
        return;
    }
    let who = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .map_or_else(|_| "lambda".to_owned(), |f| format!("lambda:{f}"));
    let ctx = AuditContext {
        who,
        trigger: trigger.to_owned(),
        source,
    };
    if let Err(e) = replayer.audit(&ctx, started_ms, summary).await {
        tracing::error!(error = %e, "replay audit record not written (the log line above holds it)");
    }
}

fn log_summary(s: &ReplaySummary) {
    let mut r = Reader::new(&ProcessEnv);
    let metrics = crate::env::metrics_settings(&mut r);
    if metrics.enabled {
        crate::metrics::emit(&[crate::metrics::reprocessor_metrics(
            s,
            &metrics,
            epoch_ms_now(),
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
