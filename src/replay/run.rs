//! Running replays: draining a whole DLQ through a [`Replayer`], and
//! building one from its settings.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::audit::{AuditLog, AuditTarget, TouchedLetter};
use super::job::{ReplaySummary, Replayer, ReplayerConfig, Verdict};
use super::reader::{DlqReader, ReaderError};
use super::repair::Repair;
use crate::kafka::ProducerPool;

/// Drains `source` through `replayer` until it is empty, `limit` letters
/// were taken, or `deadline` is near. `progress` sees the running summary.
pub async fn run_job(
    source: &mut DlqReader,
    replayer: &Replayer,
    limit: Option<u64>,
    deadline: Instant,
    progress: impl FnMut(&ReplaySummary),
) -> Result<ReplaySummary, ReaderError> {
    let never = AtomicBool::new(false);
    run_job_until(source, replayer, limit, deadline, &never, progress).await
}

/// [`run_job`] that also stops cleanly once `stop` is set (an operator's
/// Ctrl-C): the letter in flight is finished, every other message read is
/// left untouched in the DLQ, and the summary says `paused`.
pub async fn run_job_until(
    source: &mut DlqReader,
    replayer: &Replayer,
    limit: Option<u64>,
    deadline: Instant,
    stop: &AtomicBool,
    mut progress: impl FnMut(&ReplaySummary),
) -> Result<ReplaySummary, ReaderError> {
    let mut summary = ReplaySummary::default();
    loop {
        if stop.load(Ordering::SeqCst) {
            summary.paused = true;
            break;
        }
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
            if stop.load(Ordering::SeqCst) {
                summary.paused = true;
                kept.push(item);
                continue;
            }
            let verdict = match &item.parsed {
                Ok(parsed) if limit.is_none_or(|l| summary.letters < l) => {
                    replayer
                        .handle_message(&item.id, parsed.clone(), deadline, &mut summary)
                        .await
                }
                Ok(_) => Verdict::Keep,
                Err(e) => {
                    tracing::warn!(id = %item.id, error = %e, "unreadable dead letter kept");
                    summary.unreadable += 1;
                    Verdict::Keep
                }
            };
            summary.touched.push(TouchedLetter {
                id: item.id.clone(),
                acknowledged: verdict == Verdict::Done,
            });
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

/// Everything a replayer needs before its clients exist: read from the
/// environment by [`crate::env::replay_setup`], or filled in code.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReplaySetup {
    /// How it replays.
    pub replayer: ReplayerConfig,
    /// The cluster's security (and default brokers).
    pub connection: crate::kafka::KafkaConnection,
    /// The parking lot.
    pub parking: crate::sink::SinkConfig,
    /// The claim-check bucket to read large values from.
    pub bucket: Option<String>,
    /// Where replay audit records go (always also a log line).
    pub audit: Option<AuditTarget>,
}

impl ReplaySetup {
    /// Creates the clients: the producer pool (shared with the parking lot),
    /// the parking-lot sink and the claim-check reader.
    pub async fn build(
        self,
        sdk: Option<aws_config::SdkConfig>,
        repair: Option<Arc<dyn Repair>>,
    ) -> Result<Replayer, crate::sink::SinkBuildError> {
        let pool = Arc::new(ProducerPool::new(self.connection.clone()));
        let ctx = crate::sink::SinkContext {
            producers: Some(pool.clone()),
            sdk: sdk.clone(),
        };
        let parking = crate::sink::build_sink(&self.parking, &ctx).await?;
        let claim = match self.bucket {
            #[cfg(feature = "s3")]
            Some(bucket) => {
                let sdk = match sdk {
                    Some(s) => s,
                    None => crate::aws::sdk_config().await,
                };
                Some(Arc::new(crate::sink::S3ClaimCheck::new(
                    crate::aws::s3(&sdk),
                    bucket,
                    "",
                )) as Arc<dyn crate::sink::LargeValueStore>)
            }
            _ => None,
        };
        let mut cfg = self.replayer;
        if cfg.bootstrap_servers.is_none() {
            cfg.bootstrap_servers = self.connection.bootstrap_servers.clone();
        }
        let audit = match self.audit {
            Some(target) => Some(Arc::new(
                AuditLog::open(target, pool.clone(), cfg.bootstrap_servers.clone()).await,
            )),
            None => None,
        };
        Ok(Replayer::new(cfg, pool, parking, claim, repair).with_audit(audit))
    }
}
