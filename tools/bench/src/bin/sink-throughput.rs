//! Dead-letter write throughput against the local stack: letters per second
//! confirmed by the Kafka DLQ sink (idempotent producer, `acks=all`, each
//! letter's delivery report awaited), the SQS sink and the SNS sink
//! (batches of 10 sent concurrently), in batches the size of an
//! invocation's dead letters. Creates the topic, queue and SNS topic it
//! writes to.
//!
//!   sink-throughput --kafka 127.0.0.1:29092 --aws http://127.0.0.1:25000

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use msk_dlq::letter::DeadRecord;
use msk_dlq::sink::{build_sink, send_by_deadline, SinkConfig, SinkContext, SinkKind};
use msk_dlq::{DeadLetter, DeadLetterSink, DlqKind};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// The local broker.
    #[arg(long)]
    kafka: Option<String>,
    /// The local SQS/SNS endpoint.
    #[arg(long)]
    aws: Option<String>,
    /// Letters written to Kafka.
    #[arg(long, default_value_t = 20_000)]
    kafka_letters: usize,
    /// Letters written to SQS and to SNS each (the local endpoint, not the
    /// sink, bounds these: keep it small).
    #[arg(long, default_value_t = 200)]
    aws_letters: usize,
    /// Letters per send (one invocation's dead letters).
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 300)]
    value_bytes: usize,
    /// Partitions of the Kafka DLQ topic.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
}

fn letters(n: usize, value_bytes: usize) -> anyhow::Result<Vec<DeadLetter>> {
    let ev = msk_dlq::testing::synthetic_event("orders", n, 8, value_bytes);
    let batch = msk_dlq::decode_event(&ev)?;
    Ok(batch
        .entries()
        .filter_map(|e| match &e.entry {
            msk_dlq::event::Entry::Record(r) => Some(r.clone()),
            msk_dlq::event::Entry::Malformed(_) => None,
        })
        .map(|r| {
            DeadLetter::new(
                batch.source.clone(),
                DeadRecord::Decoded(r),
                DlqKind::Permanent,
                "Bench",
                "sink throughput",
            )
        })
        .collect())
}

async fn measure(
    name: &str,
    sink: Arc<dyn DeadLetterSink>,
    letters: &[DeadLetter],
    batch: usize,
) -> Value {
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(300);
    // Connections, metadata, producer id: not part of the steady state.
    send_by_deadline(sink.as_ref(), &letters[..letters.len().min(50)], deadline()).await;
    let start = Instant::now();
    let mut confirmed = 0usize;
    for chunk in letters.chunks(batch.max(1)) {
        let results = send_by_deadline(sink.as_ref(), chunk, deadline()).await;
        confirmed += results.iter().filter(|r| r.is_ok()).count();
    }
    let secs = start.elapsed().as_secs_f64();
    json!({
        "sink": name,
        "letters": letters.len(),
        "confirmed": confirmed,
        "batch": batch,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "letters_per_second": (confirmed as f64 / secs).round(),
    })
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        msk_dlq::epoch_ms_now()
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let mut rows = Vec::new();
    if let Some(kafka) = &a.kafka {
        let topic = unique("bench-dlq");
        let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", kafka)
            .create()?;
        admin
            .create_topics(
                &[NewTopic::new(
                    &topic,
                    a.partitions,
                    TopicReplication::Fixed(1),
                )],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(20))),
            )
            .await
            .context("creating the DLQ topic")?;
        let mut cfg = SinkConfig::default();
        cfg.primary = SinkKind::Kafka;
        cfg.kafka_topic = Some(topic);
        cfg.kafka = msk_dlq::kafka::KafkaConnection::plaintext(kafka);
        let sink = build_sink(&cfg, &SinkContext::default()).await?;
        let l = letters(a.kafka_letters, a.value_bytes)?;
        rows.push(measure("kafka", sink, &l, a.batch).await);
    }
    if let Some(endpoint) = &a.aws {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "bench",
            ))
            .load()
            .await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue = sqs
            .create_queue()
            .queue_name(unique("bench-dlq"))
            .send()
            .await?
            .queue_url
            .context("no queue URL")?;
        let mut ctx = SinkContext::default();
        ctx.sdk = Some(sdk.clone());
        let l = letters(a.aws_letters, a.value_bytes)?;
        let mut cfg = SinkConfig::default();
        cfg.primary = SinkKind::Sqs;
        cfg.sqs_queue_url = Some(queue.clone());
        rows.push(measure("sqs", build_sink(&cfg, &ctx).await?, &l, a.batch).await);

        // SNS needs a confirmed subscription: the queue (confirmed at once).
        let sns = aws_sdk_sns::Client::new(&sdk);
        let topic_arn = sns
            .create_topic()
            .name(unique("bench-dlq"))
            .send()
            .await?
            .topic_arn
            .context("no topic ARN")?;
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|m| {
                m.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .context("no queue ARN")?;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await?;
        let mut cfg = SinkConfig::default();
        cfg.primary = SinkKind::Sns;
        cfg.sns_topic_arn = Some(topic_arn);
        rows.push(measure("sns", build_sink(&cfg, &ctx).await?, &l, a.batch).await);
    }
    for r in rows {
        println!("{r}");
    }
    Ok(())
}
