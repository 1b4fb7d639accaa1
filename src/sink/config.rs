//! Which sink to use, from the environment, validated at cold start.

use std::sync::Arc;

use crate::aws;
use crate::config::{ConfigError, Reader};
use crate::kafka::KafkaConnection;
use crate::sink::batched::BatchedSink;
use crate::sink::claim_check::ClaimCheck;
use crate::sink::kafka::{KafkaSink, Partitioning};
use crate::sink::sns::{SnsTransport, SNS_MAX_BYTES};
use crate::sink::sqs::{SqsTransport, SQS_MAX_BYTES};
use crate::sink::{DeadLetterSink, FallbackSink, NoSink};

pub const VAR_SINK: &str = "MSK_DLQ_SINK";
pub const VAR_FALLBACK_SINK: &str = "MSK_DLQ_FALLBACK_SINK";
pub const VAR_KAFKA_TOPIC: &str = "MSK_DLQ_KAFKA_TOPIC";
pub const VAR_KAFKA_PARTITIONING: &str = "MSK_DLQ_KAFKA_PARTITIONING";
pub const VAR_SQS_QUEUE_URL: &str = "MSK_DLQ_SQS_QUEUE_URL";
pub const VAR_SNS_TOPIC_ARN: &str = "MSK_DLQ_SNS_TOPIC_ARN";
pub const VAR_BUCKET: &str = "MSK_DLQ_LARGE_PAYLOAD_BUCKET";
pub const VAR_BUCKET_PREFIX: &str = "MSK_DLQ_LARGE_PAYLOAD_PREFIX";
pub const VAR_MAX_MESSAGE_BYTES: &str = "MSK_DLQ_MAX_MESSAGE_BYTES";
pub const VAR_SINK_RETRIES: &str = "MSK_DLQ_SINK_RETRIES";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    None,
    Kafka,
    Sqs,
    Sns,
}

const KINDS: &[(&str, SinkKind)] = &[
    ("none", SinkKind::None),
    ("kafka", SinkKind::Kafka),
    ("sqs", SinkKind::Sqs),
    ("sns", SinkKind::Sns),
];

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub primary: SinkKind,
    pub fallback: SinkKind,
    pub kafka_topic: Option<String>,
    pub kafka: KafkaConnection,
    pub partitioning: Partitioning,
    pub sqs_queue_url: Option<String>,
    pub sns_topic_arn: Option<String>,
    pub bucket: Option<String>,
    pub bucket_prefix: String,
    /// `None`: the sink's own limit.
    pub max_message_bytes: Option<usize>,
    pub retries: u32,
}

impl SinkConfig {
    pub fn read(r: &mut Reader<'_>) -> Self {
        let primary = r.choice(VAR_SINK, SinkKind::None, KINDS);
        let fallback = r.choice(VAR_FALLBACK_SINK, SinkKind::None, KINDS);
        if fallback != SinkKind::None && fallback == primary {
            r.errors.push(ConfigError::Conflict(format!(
                "{VAR_FALLBACK_SINK} must differ from {VAR_SINK} (both are {})",
                KINDS
                    .iter()
                    .find(|(_, k)| *k == primary)
                    .map_or("?", |(n, _)| n)
            )));
        }
        if primary == SinkKind::None && fallback != SinkKind::None {
            r.errors.push(ConfigError::Conflict(format!(
                "{VAR_FALLBACK_SINK} is set but {VAR_SINK} is none"
            )));
        }
        let uses = |k: SinkKind| primary == k || fallback == k;
        let kafka_topic = if uses(SinkKind::Kafka) {
            r.required(VAR_KAFKA_TOPIC, "the kafka sink is used")
        } else {
            r.string(VAR_KAFKA_TOPIC)
        };
        let kafka = KafkaConnection::read(r);
        let partitioning = r.choice(
            VAR_KAFKA_PARTITIONING,
            Partitioning::SameModulo,
            &[
                ("same-modulo", Partitioning::SameModulo),
                ("key", Partitioning::ByKey),
            ],
        );
        let sqs_queue_url = if uses(SinkKind::Sqs) {
            r.required(VAR_SQS_QUEUE_URL, "the sqs sink is used")
        } else {
            None
        };
        if let Some(url) = &sqs_queue_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                r.errors.push(ConfigError::Invalid {
                    var: VAR_SQS_QUEUE_URL,
                    value: url.clone(),
                    expected: "a queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq".into(),
                });
            }
        }
        let sns_topic_arn = if uses(SinkKind::Sns) {
            r.required(VAR_SNS_TOPIC_ARN, "the sns sink is used")
        } else {
            None
        };
        if let Some(arn) = &sns_topic_arn {
            if !arn.starts_with("arn:") {
                r.errors.push(ConfigError::Invalid {
                    var: VAR_SNS_TOPIC_ARN,
                    value: arn.clone(),
                    expected: "a topic ARN such as arn:aws:sns:us-east-1:123456789012:orders-dlq"
                        .into(),
                });
            }
        }
        let max = r.int(VAR_MAX_MESSAGE_BYTES, 0usize, 0, SQS_MAX_BYTES);
        SinkConfig {
            primary,
            fallback,
            kafka_topic,
            kafka,
            partitioning,
            sqs_queue_url,
            sns_topic_arn,
            bucket: r.string(VAR_BUCKET),
            bucket_prefix: r
                .string(VAR_BUCKET_PREFIX)
                .unwrap_or_else(|| "dead-letters/".to_owned()),
            max_message_bytes: (max > 0).then_some(max),
            retries: r.int(VAR_SINK_RETRIES, 2u32, 0, 10),
        }
    }

    pub async fn build(&self) -> Result<Arc<dyn DeadLetterSink>, String> {
        let primary = self.build_one(self.primary).await?;
        if self.fallback == SinkKind::None {
            return Ok(primary);
        }
        Ok(Arc::new(FallbackSink {
            primary,
            fallback: self.build_one(self.fallback).await?,
        }))
    }

    async fn build_one(&self, kind: SinkKind) -> Result<Arc<dyn DeadLetterSink>, String> {
        let needs_aws = matches!(kind, SinkKind::Sqs | SinkKind::Sns);
        let sdk = if needs_aws {
            Some(aws::sdk_config().await)
        } else {
            None
        };
        let claim_check = match (&sdk, &self.bucket) {
            (Some(sdk), Some(bucket)) => Some(ClaimCheck {
                client: aws::s3(sdk),
                bucket: bucket.clone(),
                prefix: self.bucket_prefix.clone(),
            }),
            _ => None,
        };
        Ok(match (kind, sdk) {
            (SinkKind::None, _) => Arc::new(NoSink),
            (SinkKind::Kafka, _) => Arc::new(KafkaSink::new(
                self.kafka_topic.clone().unwrap_or_default(),
                self.kafka.clone(),
                self.partitioning,
            )?),
            (SinkKind::Sqs, Some(sdk)) => Arc::new(BatchedSink {
                transport: SqsTransport {
                    client: aws::sqs(&sdk),
                    queue_url: self.sqs_queue_url.clone().unwrap_or_default(),
                },
                max_message_bytes: self.max_message_bytes.unwrap_or(SQS_MAX_BYTES),
                claim_check,
                retries: self.retries,
            }),
            (SinkKind::Sns, Some(sdk)) => Arc::new(BatchedSink {
                transport: SnsTransport {
                    client: aws::sns(&sdk),
                    topic_arn: self.sns_topic_arn.clone().unwrap_or_default(),
                },
                max_message_bytes: self.max_message_bytes.unwrap_or(SNS_MAX_BYTES),
                claim_check,
                retries: self.retries,
            }),
            _ => return Err("AWS configuration could not be loaded".into()),
        })
    }
}
