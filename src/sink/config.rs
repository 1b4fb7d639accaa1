//! Which sink to use, as plain settings (in code, or read from the
//! environment by [`crate::env`]), and building it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

#[cfg(feature = "kafka")]
use super::kafka::{KafkaSink, Partitioning};
use super::{DeadLetterSink, FallbackSink, NoSink};
#[cfg(feature = "kafka")]
use crate::kafka::{KafkaConnection, ProduceError, ProducerPool};

/// A kind of dead-letter sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum SinkKind {
    /// No sink: records due for the DLQ are reported failed.
    #[default]
    None,
    /// A Kafka topic.
    Kafka,
    /// An SQS queue.
    Sqs,
    /// An SNS topic.
    Sns,
}

impl SinkKind {
    /// Every kind, in a stable order.
    pub const ALL: [SinkKind; 4] = [
        SinkKind::None,
        SinkKind::Kafka,
        SinkKind::Sqs,
        SinkKind::Sns,
    ];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::None => "none",
            SinkKind::Kafka => "kafka",
            SinkKind::Sqs => "sqs",
            SinkKind::Sns => "sns",
        }
    }

    /// The cargo feature that compiles this sink in.
    pub fn feature(self) -> Option<&'static str> {
        match self {
            SinkKind::None => None,
            SinkKind::Kafka => Some("kafka"),
            SinkKind::Sqs => Some("sqs"),
            SinkKind::Sns => Some("sns"),
        }
    }

    /// Whether this build includes the sink.
    pub fn is_compiled_in(self) -> bool {
        match self {
            SinkKind::None => true,
            SinkKind::Kafka => cfg!(feature = "kafka"),
            SinkKind::Sqs => cfg!(feature = "sqs"),
            SinkKind::Sns => cfg!(feature = "sns"),
        }
    }
}

impl fmt::Display for SinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sink name that is not one of [`SinkKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sink {0:?}: expected one of none, kafka, sqs, sns")]
pub struct UnknownSinkKind(pub String);

impl FromStr for SinkKind {
    type Err = UnknownSinkKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SinkKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownSinkKind(s.to_owned()))
    }
}

/// Where dead letters go, and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SinkConfig {
    /// The sink.
    pub primary: SinkKind,
    /// Takes what the primary does not confirm; `None` for no fallback.
    pub fallback: SinkKind,
    /// The Kafka DLQ topic.
    pub kafka_topic: Option<String>,
    /// The Kafka cluster and its security; without bootstrap servers the
    /// event's own cluster.
    #[cfg(feature = "kafka")]
    pub kafka: KafkaConnection,
    /// Which DLQ partition a letter goes to.
    #[cfg(feature = "kafka")]
    pub partitioning: Partitioning,
    /// The SQS DLQ queue URL.
    pub sqs_queue_url: Option<String>,
    /// The SNS DLQ topic ARN.
    pub sns_topic_arn: Option<String>,
    /// The claim-check bucket for letters too large for SQS/SNS.
    pub bucket: Option<String>,
    /// The claim-check key prefix.
    pub bucket_prefix: String,
    /// A lower SQS/SNS message size limit; `None`: the service's.
    pub max_message_bytes: Option<usize>,
    /// Further tries of entries SQS/SNS failed on their side.
    pub retries: u32,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            primary: SinkKind::None,
            fallback: SinkKind::None,
            kafka_topic: None,
            #[cfg(feature = "kafka")]
            kafka: KafkaConnection::default(),
            #[cfg(feature = "kafka")]
            partitioning: Partitioning::SameModulo,
            sqs_queue_url: None,
            sns_topic_arn: None,
            bucket: None,
            bucket_prefix: "dead-letters/".to_owned(),
            max_message_bytes: None,
            retries: 2,
        }
    }
}

/// Why a sink could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkBuildError {
    /// The sink is not compiled into this build.
    #[error("the {kind} sink is not compiled in: enable the `{feature}` feature of msk-dlq")]
    NotCompiledIn {
        /// The sink.
        kind: SinkKind,
        /// The feature it needs.
        feature: &'static str,
    },
    /// A setting the sink needs is missing.
    #[error("the {kind} sink needs {what}")]
    Missing {
        /// The sink.
        kind: SinkKind,
        /// What is missing.
        what: &'static str,
    },
    /// The SNS topic has no confirmed subscription: a letter SNS accepted
    /// would reach no one.
    #[error("the SNS topic {topic} has no confirmed subscription: dead letters published to it would reach no one and be lost (subscribe a queue to it, with a redrive policy)")]
    NoSubscriber {
        /// The topic.
        topic: String,
    },
    /// The SNS topic's subscriptions could not be listed.
    #[error("cannot check the subscriptions of the SNS topic {topic} (sns:ListSubscriptionsByTopic): {message}")]
    SubscriptionCheck {
        /// The topic.
        topic: String,
        /// What happened.
        message: String,
        /// The SDK's error.
        #[source]
        source: super::SharedError,
    },
    /// The Kafka producer could not be created.
    #[cfg(feature = "kafka")]
    #[error("the Kafka DLQ producer could not be created: {0}")]
    Kafka(#[from] ProduceError),
}

/// What building a sink may reuse instead of creating: the AWS SDK settings
/// and a Kafka producer pool.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct SinkContext {
    /// AWS SDK settings; loaded from the environment when needed and absent.
    #[cfg(any(feature = "sqs", feature = "sns", feature = "s3"))]
    pub sdk: Option<aws_config::SdkConfig>,
    /// Producers shared with other writers (the replayer).
    #[cfg(feature = "kafka")]
    pub producers: Option<Arc<ProducerPool>>,
}

/// Builds the sink `cfg` describes (primary plus optional fallback).
pub async fn build_sink(
    cfg: &SinkConfig,
    ctx: &SinkContext,
) -> Result<Arc<dyn DeadLetterSink>, SinkBuildError> {
    let primary = build_one(cfg, cfg.primary, ctx).await?;
    if cfg.fallback == SinkKind::None {
        return Ok(primary);
    }
    let fallback = build_one(cfg, cfg.fallback, ctx).await?;
    Ok(Arc::new(FallbackSink::new(primary, fallback)))
}

#[cfg_attr(
    not(any(feature = "kafka", feature = "sqs", feature = "sns")),
    allow(unused_variables)
)]
async fn build_one(
    cfg: &SinkConfig,
    kind: SinkKind,
    ctx: &SinkContext,
) -> Result<Arc<dyn DeadLetterSink>, SinkBuildError> {
    if let (false, Some(feature)) = (kind.is_compiled_in(), kind.feature()) {
        return Err(SinkBuildError::NotCompiledIn { kind, feature });
    }
    let missing = |what| SinkBuildError::Missing { kind, what };
    Ok(match kind {
        SinkKind::None => Arc::new(NoSink),
        #[cfg(feature = "kafka")]
        SinkKind::Kafka => {
            let topic = cfg.kafka_topic.clone().ok_or(missing("a topic"))?;
            let pool = ctx
                .producers
                .clone()
                .unwrap_or_else(|| Arc::new(ProducerPool::new(cfg.kafka.clone())));
            Arc::new(KafkaSink::new(
                topic,
                cfg.kafka.bootstrap_servers.clone(),
                pool,
                cfg.partitioning,
            )?)
        }
        #[cfg(feature = "sqs")]
        SinkKind::Sqs => {
            let queue_url = cfg.sqs_queue_url.clone().ok_or(missing("a queue URL"))?;
            let sdk = sdk(ctx).await;
            Arc::new(super::BatchedSink {
                transport: super::SqsTransport {
                    client: aws_sdk_sqs::Client::new(&sdk),
                    queue_url,
                },
                max_message_bytes: cfg.max_message_bytes.unwrap_or(super::SQS_MAX_BYTES),
                claim_check: claim_check(cfg, &sdk),
                retries: cfg.retries,
            })
        }
        #[cfg(feature = "sns")]
        SinkKind::Sns => {
            let topic_arn = cfg.sns_topic_arn.clone().ok_or(missing("a topic ARN"))?;
            let sdk = sdk(ctx).await;
            let client = aws_sdk_sns::Client::new(&sdk);
            require_confirmed_subscription(&client, &topic_arn).await?;
            Arc::new(super::BatchedSink {
                transport: super::SnsTransport { client, topic_arn },
                max_message_bytes: cfg.max_message_bytes.unwrap_or(super::SNS_MAX_BYTES),
                claim_check: claim_check(cfg, &sdk),
                retries: cfg.retries,
            })
        }
        #[allow(unreachable_patterns)]
        other => {
            return Err(SinkBuildError::NotCompiledIn {
                kind: other,
                feature: other.feature().unwrap_or("default"),
            })
        }
    })
}

/// SNS confirms a publish when it accepts it, whoever receives it: a topic
/// without a confirmed subscription would lose every letter.
#[cfg(feature = "sns")]
async fn require_confirmed_subscription(
    client: &aws_sdk_sns::Client,
    topic: &str,
) -> Result<(), SinkBuildError> {
    let mut next = None;
    loop {
        let page = client
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| SinkBuildError::SubscriptionCheck {
                topic: topic.to_owned(),
                message: aws_sdk_sns::error::DisplayErrorContext(&e).to_string(),
                source: Arc::new(e),
            })?;
        let confirmed = page.subscriptions().iter().any(|s| {
            s.subscription_arn()
                .is_some_and(|arn| arn.starts_with("arn:"))
        });
        if confirmed {
            return Ok(());
        }
        match page.next_token() {
            Some(t) => next = Some(t.to_owned()),
            None => {
                return Err(SinkBuildError::NoSubscriber {
                    topic: topic.to_owned(),
                })
            }
        }
    }
}

#[cfg(any(feature = "sqs", feature = "sns"))]
async fn sdk(ctx: &SinkContext) -> aws_config::SdkConfig {
    match &ctx.sdk {
        Some(s) => s.clone(),
        None => crate::aws::sdk_config().await,
    }
}

#[cfg(any(feature = "sqs", feature = "sns"))]
fn claim_check(
    cfg: &SinkConfig,
    sdk: &aws_config::SdkConfig,
) -> Option<Arc<dyn super::LargeValueStore>> {
    #[cfg(feature = "s3")]
    {
        cfg.bucket.as_ref().map(|bucket| {
            Arc::new(super::S3ClaimCheck::new(
                crate::aws::s3(sdk),
                bucket.clone(),
                cfg.bucket_prefix.clone(),
            )) as Arc<dyn super::LargeValueStore>
        })
    }
    #[cfg(not(feature = "s3"))]
    {
        let _ = (cfg, sdk);
        None
    }
}
