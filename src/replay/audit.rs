//! The replay audit trail. Every replay run (the CLI, a replay job, one
//! invocation of a reprocessor trigger) leaves one record: who, when, from
//! which DLQ, with which filters, to which target, dry run or not, the
//! counts, and the DLQ messages touched. Records go to a log `msk-dlq
//! audit` lists (a JSON lines file, a Kafka topic or an S3 prefix) and
//! always to a structured log line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::job::ReplayerConfig;
use super::summary::ReplaySummary;
use crate::codec::rfc3339_ms;
use crate::kafka::{OutRecord, ProducerPool};

/// Letters listed in one record at most; the rest are counted.
const MAX_LETTERS: usize = 5_000;

/// Who runs a replay, and on what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditContext {
    /// The caller: an AWS identity (ARN), a function, or user@host.
    pub who: String,
    /// `cli`, `replay-job`, `sqs-trigger` or `kafka-trigger`.
    pub trigger: String,
    /// The DLQ: `sqs:<queue url>` or `kafka:<topic>`.
    pub source: String,
}

/// One DLQ message a replay touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TouchedLetter {
    /// The DLQ message (SQS message id, or `topic/partition@offset`).
    pub id: String,
    /// Replayed or parked and acknowledged; else kept in the DLQ.
    pub acknowledged: bool,
}

/// One replay run, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuditRecord {
    /// Unique: `<start epoch ms>-<random>`.
    pub id: String,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// When it ended, RFC 3339.
    pub ended_at: String,
    /// See [`AuditContext::who`].
    pub who: String,
    /// See [`AuditContext::trigger`].
    pub trigger: String,
    /// See [`AuditContext::source`].
    pub source: String,
    /// The filters, as given.
    pub filters: serde_json::Value,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The target topic, or `@original`.
    pub target: String,
    /// The replay allow-list in force.
    pub allowed_targets: String,
    /// What happened, by letter.
    pub summary: ReplaySummary,
    /// The DLQ messages touched (at most 5,000).
    pub letters: Vec<TouchedLetter>,
    /// Touched messages not listed.
    #[serde(default)]
    pub letters_omitted: u64,
}

impl AuditRecord {
    /// The record of a run under `cfg` that started at `started_ms`.
    pub fn new(
        ctx: &AuditContext,
        cfg: &ReplayerConfig,
        started_ms: i64,
        summary: &ReplaySummary,
    ) -> Self {
        let f = &cfg.filters;
        let filters = serde_json::json!({
            "topic": f.topic,
            "kind": f.kind.map(|k| k.as_str()),
            "errorType": f.error_type,
            "since": f.since_ms.map(rfc3339_ms),
            "until": f.until_ms.map(rfc3339_ms),
        });
        let letters: Vec<TouchedLetter> =
            summary.touched.iter().take(MAX_LETTERS).cloned().collect();
        Self {
            id: format!("{started_ms}-{:08x}", fastrand::u32(..)),
            started_at: rfc3339_ms(started_ms),
            ended_at: rfc3339_ms(crate::clock::epoch_ms_now()),
            who: ctx.who.clone(),
            trigger: ctx.trigger.clone(),
            source: ctx.source.clone(),
            filters,
            dry_run: cfg.dry_run,
            target: cfg
                .settings
                .target_topic
                .clone()
                .unwrap_or_else(|| super::AllowedTargets::ORIGINAL.to_owned()),
            allowed_targets: cfg.settings.allowed_targets.to_string(),
            letters_omitted: (summary.touched.len() - letters.len()) as u64,
            letters,
            summary: summary.clone(),
        }
    }
}

/// Why an audit record was not written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The file.
    #[error("audit file {path}: {source}")]
    File {
        /// Its path.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The Kafka topic or the S3 prefix.
    #[error("audit log {log}: {message}")]
    Remote {
        /// `kafka:<topic>` or `s3://<bucket>/<prefix>`.
        log: String,
        /// What failed.
        message: String,
    },
    /// A record that is not one.
    #[error("audit record in {log} is not readable: {source}")]
    Unreadable {
        /// Where.
        log: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// Where audit records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// JSON lines, appended.
    File(PathBuf),
    /// A Kafka topic on the replay cluster, one record each.
    Kafka(String),
    /// An S3 prefix, one object each (`<prefix><yyyy-mm-dd>/<id>.json`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix.
        prefix: String,
    },
}

impl AuditTarget {
    /// `kafka:<topic>`, `s3://<bucket>/<prefix>`, or a file path.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(topic) = text.strip_prefix("kafka:") {
            if topic.is_empty() {
                return Err("kafka: needs a topic name".into());
            }
            return Ok(Self::Kafka(topic.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err("s3:// needs a bucket".into());
            }
            return Ok(Self::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        if text.is_empty() {
            return Err("an empty path".into());
        }
        Ok(Self::File(PathBuf::from(text)))
    }
}

impl std::fmt::Display for AuditTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Kafka(t) => write!(f, "kafka:{t}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// An audit log: writes records and reads them back.
pub struct AuditLog {
    target: AuditTarget,
    producers: Arc<ProducerPool>,
    bootstrap: Option<String>,
    #[cfg(feature = "s3")]
    s3: Option<aws_sdk_s3::Client>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("target", &self.target)
            .finish()
    }
}

impl AuditLog {
    /// A log at `target`; a Kafka target is on `bootstrap`, reached with
    /// `producers`' security settings.
    pub async fn open(
        target: AuditTarget,
        producers: Arc<ProducerPool>,
        bootstrap: Option<String>,
    ) -> Self {
        #[cfg(feature = "s3")]
        let s3 = match &target {
            AuditTarget::S3 { .. } => Some(crate::aws::s3(&crate::aws::sdk_config().await)),
            _ => None,
        };
        Self {
            target,
            producers,
            bootstrap,
            #[cfg(feature = "s3")]
            s3,
        }
    }

    /// Where it writes.
    pub fn target(&self) -> &AuditTarget {
        &self.target
    }

    fn remote(&self, message: impl std::fmt::Display) -> AuditError {
        AuditError::Remote {
            log: self.target.to_string(),
            message: message.to_string(),
        }
    }

    /// Writes `r`; returns where it went.
    pub async fn write(&self, r: &AuditRecord) -> Result<String, AuditError> {
        let json = serde_json::to_string(r).map_err(|e| self.remote(e))?;
        match &self.target {
            AuditTarget::File(path) => {
                use std::io::Write as _;
                let file = |source| AuditError::File {
                    path: path.clone(),
                    source,
                };
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(file)?;
                }
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(file)?;
                writeln!(f, "{json}").map_err(file)?;
                Ok(path.display().to_string())
            }
            AuditTarget::Kafka(topic) => {
                let bootstrap = self
                    .bootstrap
                    .clone()
                    .ok_or_else(|| self.remote("no bootstrap servers for the audit topic"))?;
                let record = OutRecord {
                    topic,
                    partition: None,
                    key: Some(r.id.as_bytes()),
                    value: Some(json.as_bytes()),
                    headers: &[],
                };
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                let d = self
                    .producers
                    .send(&bootstrap, &record, deadline)
                    .await
                    .map_err(|e| self.remote(e))?;
                Ok(format!("{topic}/{}@{}", d.partition, d.offset))
            }
            #[cfg(feature = "s3")]
            AuditTarget::S3 { bucket, prefix } => {
                let day = r.started_at.get(..10).unwrap_or("unknown");
                let key = format!("{prefix}{day}/{}.json", r.id);
                let client = self
                    .s3
                    .as_ref()
                    .ok_or_else(|| self.remote("no S3 client"))?;
                client
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .content_type("application/json")
                    .body(json.into_bytes().into())
                    .send()
                    .await
                    .map_err(|e| self.remote(aws_sdk_s3::error::DisplayErrorContext(e)))?;
                Ok(format!("s3://{bucket}/{key}"))
            }
            #[cfg(not(feature = "s3"))]
            AuditTarget::S3 { .. } => Err(self.remote("built without the s3 feature")),
        }
    }

    /// Every record in the log, oldest first.
    pub async fn read_all(&self) -> Result<Vec<AuditRecord>, AuditError> {
        let texts = match &self.target {
            AuditTarget::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => text.lines().map(str::to_owned).collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(source) => {
                    return Err(AuditError::File {
                        path: path.clone(),
                        source,
                    })
                }
            },
            AuditTarget::Kafka(topic) => {
                let mut connection = self.producers.connection().clone();
                connection.bootstrap_servers = self.bootstrap.clone();
                let topic = topic.clone();
                tokio::task::spawn_blocking(move || crate::kafka::read_topic(&connection, &topic))
                    .await
                    .map_err(|e| self.remote(e))?
                    .map_err(|e| self.remote(e))?
            }
            #[cfg(feature = "s3")]
            AuditTarget::S3 { bucket, prefix } => self.read_s3(bucket, prefix).await?,
            #[cfg(not(feature = "s3"))]
            AuditTarget::S3 { .. } => return Err(self.remote("built without the s3 feature")),
        };
        let mut out: Vec<AuditRecord> = texts
            .iter()
            .filter(|t| !t.trim().is_empty())
            .map(|t| {
                serde_json::from_str(t).map_err(|source| AuditError::Unreadable {
                    log: self.target.to_string(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        out.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        Ok(out)
    }

    #[cfg(feature = "s3")]
    async fn read_s3(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, AuditError> {
        let client = self
            .s3
            .as_ref()
            .ok_or_else(|| self.remote("no S3 client"))?;
        let mut texts = Vec::new();
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.remote(aws_sdk_s3::error::DisplayErrorContext(e)))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let body = client
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| self.remote(aws_sdk_s3::error::DisplayErrorContext(e)))?
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.remote(e))?;
                texts.push(String::from_utf8_lossy(&body.into_bytes()).into_owned());
            }
        }
        Ok(texts)
    }
}
