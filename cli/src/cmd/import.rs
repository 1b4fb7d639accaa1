//! `msk-dlq import`: writes dead letters from an `export` file into the DLQ
//! (a Kafka DLQ topic or an SQS queue), byte for byte, in the same formats
//! the consumer writes. Every line is read before anything is written.

use std::io::BufRead as _;
use std::time::Duration;

use anyhow::{bail, Context as _};
use msk_dlq::replay::inspect::LetterView;
use msk_dlq::replay::plan::restore;
use msk_dlq::replay::StoredValue;
use msk_dlq::sink::{build_sink, send_by_deadline, SinkConfig, SinkContext, SinkKind};
use tokio::time::Instant;

use crate::dlq::DlqArgs;

/// `import` flags.
#[derive(clap::Args)]
pub struct Args {
    /// The JSON lines `export` wrote; `-` for stdin.
    file: String,
    /// Read and check the file; write nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(dlq: &DlqArgs, a: Args) -> anyhow::Result<()> {
    let reader: Box<dyn std::io::BufRead> = if a.file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(&a.file).with_context(|| format!("cannot open {}", a.file))?,
        ))
    };
    let mut views = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let view: LetterView = serde_json::from_str(&line)
            .with_context(|| format!("line {} is not an exported dead letter", n + 1))?;
        let stored = view
            .to_stored()
            .map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?;
        views.push((n + 1, stored));
    }
    let sdk = msk_dlq::aws::sdk_config().await;
    let s3 = msk_dlq::aws::s3(&sdk);
    let now_ms = msk_dlq::epoch_ms_now();
    let mut letters = Vec::with_capacity(views.len());
    for (line, stored) in &views {
        let value = match &stored.value {
            StoredValue::Inline(v) => v.clone(),
            // A claim-checked value is read back, so the import holds it.
            StoredValue::S3(loc) => Some(
                s3.get_object()
                    .bucket(&loc.bucket)
                    .key(&loc.key)
                    .send()
                    .await
                    .with_context(|| {
                        format!("line {line}: cannot read s3://{}/{}", loc.bucket, loc.key)
                    })?
                    .body
                    .collect()
                    .await
                    .with_context(|| {
                        format!("line {line}: cannot read s3://{}/{}", loc.bucket, loc.key)
                    })?
                    .into_bytes()
                    .to_vec(),
            ),
        };
        letters.push((*line, restore(stored, value, now_ms)));
    }
    if a.dry_run {
        println!(
            "dry run: {} dead letter(s) read; nothing written",
            letters.len()
        );
        return Ok(());
    }
    let mut cfg = SinkConfig::default();
    cfg.kafka = dlq.connection()?;
    match (&dlq.kafka_topic, &dlq.sqs_queue_url) {
        (Some(topic), None) => {
            cfg.primary = SinkKind::Kafka;
            cfg.kafka_topic = Some(topic.clone());
        }
        (None, Some(url)) => {
            cfg.primary = SinkKind::Sqs;
            cfg.sqs_queue_url = Some(url.clone());
            cfg.bucket = std::env::var("MSK_DLQ_LARGE_PAYLOAD_BUCKET").ok();
        }
        _ => bail!("import into exactly one DLQ: --kafka-topic TOPIC --bootstrap HOST:PORT, or --sqs-queue-url URL"),
    }
    let mut ctx = SinkContext::default();
    ctx.sdk = Some(sdk);
    let sink = build_sink(&cfg, &ctx)
        .await
        .context("cannot open the DLQ")?;
    let mut failed = Vec::new();
    for chunk in letters.chunks(100) {
        let batch: Vec<_> = chunk.iter().map(|(_, l)| l.clone()).collect();
        let results = send_by_deadline(
            sink.as_ref(),
            &batch,
            Instant::now() + Duration::from_secs(60),
        )
        .await;
        for ((line, _), r) in chunk.iter().zip(results) {
            if let Err(e) = r {
                failed.push(format!("line {line}: {e}"));
            }
        }
    }
    println!(
        "imported {} of {} dead letter(s)",
        letters.len() - failed.len(),
        letters.len()
    );
    if !failed.is_empty() {
        bail!(
            "{} dead letter(s) not written:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }
    Ok(())
}
