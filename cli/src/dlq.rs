//! Which DLQ a command works on, and how to reach it.

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use msk_dlq::kafka::{KafkaConnection, Security};
use msk_dlq::replay::{DlqItem, DlqReader};
use tokio::time::Instant;

/// Which DLQ: an SQS queue, or a Kafka topic (read as a consumer group).
#[derive(Args, Clone)]
pub struct DlqArgs {
    /// SQS DLQ queue URL.
    #[arg(long, global = true, env = "MSK_DLQ_SQS_QUEUE_URL")]
    pub sqs_queue_url: Option<String>,
    /// Kafka DLQ topic.
    #[arg(long, global = true, env = "MSK_DLQ_KAFKA_TOPIC")]
    pub kafka_topic: Option<String>,
    /// Kafka bootstrap servers (the DLQ topic's cluster, and the default
    /// replay target).
    #[arg(long, global = true, env = "MSK_DLQ_KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap: Option<String>,
    /// Consumer group whose committed offsets mark what was handled.
    #[arg(long, global = true, default_value = "msk-dlq-reprocessor")]
    pub group: String,
    /// Kafka security.
    #[arg(long, global = true, value_enum, env = "MSK_DLQ_KAFKA_SECURITY", default_value_t = Security::Plaintext)]
    pub security: Security,
    /// SCRAM user name.
    #[arg(long, global = true, env = "MSK_DLQ_KAFKA_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// SCRAM password (prefer the environment variable).
    #[arg(
        long,
        global = true,
        env = "MSK_DLQ_KAFKA_SASL_PASSWORD",
        hide_env_values = true
    )]
    pub sasl_password: Option<String>,
}

impl DlqArgs {
    /// The Kafka connection the flags describe.
    pub fn connection(&self) -> anyhow::Result<KafkaConnection> {
        if self.security.is_scram()
            && (self.sasl_username.is_none() || self.sasl_password.is_none())
        {
            bail!(
                "--security {} needs --sasl-username and MSK_DLQ_KAFKA_SASL_PASSWORD",
                self.security.as_str()
            );
        }
        let region = std::env::var("AWS_REGION")
            .ok()
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok());
        if self.security == Security::Iam && region.is_none() {
            bail!("--security iam needs AWS_REGION");
        }
        let mut c = KafkaConnection::default();
        c.bootstrap_servers = self.bootstrap.clone();
        c.security = self.security;
        c.sasl_username = self.sasl_username.clone();
        c.sasl_password = self.sasl_password.clone();
        c.ca_location = std::env::var("MSK_DLQ_KAFKA_CA_LOCATION").ok();
        c.region = region;
        Ok(c)
    }

    /// Opens the DLQ. `commit`: Kafka offsets move on acknowledgement.
    pub async fn open(&self, commit: bool) -> anyhow::Result<DlqReader> {
        self.open_with_visibility(commit, 120).await
    }

    /// [`open`](Self::open), SQS messages read hidden for `visibility` seconds.
    pub async fn open_with_visibility(
        &self,
        commit: bool,
        visibility: i32,
    ) -> anyhow::Result<DlqReader> {
        match (&self.sqs_queue_url, &self.kafka_topic) {
            (Some(url), None) => {
                let sdk = msk_dlq::aws::sdk_config().await;
                Ok(DlqReader::sqs(aws_sdk_sqs::Client::new(&sdk), url.clone(), visibility))
            }
            (None, Some(topic)) => Ok(DlqReader::kafka(&self.connection()?, topic, &self.group, commit)
                .with_context(|| format!("cannot read Kafka DLQ topic {topic}"))?),
            (Some(_), Some(_)) => bail!("give either --sqs-queue-url or --kafka-topic, not both"),
            (None, None) => bail!("no DLQ given: use --sqs-queue-url URL or --kafka-topic TOPIC --bootstrap HOST:PORT"),
        }
    }
}

/// Reads up to `max` messages, then returns them all to the DLQ.
pub async fn read_all(source: &mut DlqReader, max: usize) -> anyhow::Result<Vec<DlqItem>> {
    let mut items = Vec::new();
    while items.len() < max {
        let batch = source
            .read(10, Instant::now() + Duration::from_secs(60))
            .await?;
        if batch.is_empty() {
            break;
        }
        items.extend(batch);
    }
    let refs: Vec<&DlqItem> = items.iter().collect();
    source.settle(&[], &refs).await?;
    source.finish().await?;
    Ok(items)
}
