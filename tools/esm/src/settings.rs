//! The event source mapping's settings, with Lambda's names and limits,
//! from flags or from the MSK event of a function in a SAM template.

use std::time::Duration;

/// Lambda's invocation payload limit: 6 MB.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Where the ESM starts in a partition the group has no offset for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// The earliest record kept.
    TrimHorizon,
    /// Only records produced from now on.
    Latest,
}

/// The event's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventShape {
    /// `aws:kafka` with `eventSourceArn` and `bootstrapServers`.
    Msk {
        /// The cluster ARN to put in events.
        arn: String,
    },
    /// `SelfManagedKafka` with `bootstrapServers` only.
    SelfManaged,
}

/// Which records come back after a partial batch failure. AWS documents
/// "from the lowest failed offset" for streams; for Kafka it does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    /// Per partition, every record from the lowest failed offset on.
    FromLowestFailed,
    /// Only the records listed in `batchItemFailures`.
    ListedOnly,
}

/// The key under which the function is expected to name a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierKey {
    /// `partition` (AWS's libraries and samples).
    Partition,
    /// `topic-partition` (one schema on the Kafka retry docs page).
    TopicPartition,
}

impl IdentifierKey {
    /// The JSON key.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifierKey::Partition => "partition",
            IdentifierKey::TopicPartition => "topic-partition",
        }
    }
}

/// Lambda's on-failure destination, mapped to the local stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnFailure {
    /// An SQS queue URL (metadata-only documents).
    Sqs(String),
    /// An SNS topic ARN (metadata-only documents).
    Sns(String),
    /// An S3 bucket (documents with the `payload`).
    S3(String),
    /// A Kafka topic on the same cluster (one record per failed record).
    Kafka(String),
}

impl OnFailure {
    /// `sqs:URL`, `sns:ARN`, `s3:BUCKET` or `kafka:TOPIC`.
    pub fn parse(text: &str) -> Result<Self, SettingsError> {
        let bad = || SettingsError::Invalid {
            setting: "DestinationConfig.OnFailure",
            value: text.to_owned(),
            expected: "sqs:<queue url>, sns:<topic arn>, s3:<bucket> or kafka:<topic>",
        };
        let (kind, rest) = text.split_once(':').ok_or_else(bad)?;
        let rest = rest.trim_start_matches("//").to_owned();
        if rest.is_empty() {
            return Err(bad());
        }
        Ok(match kind {
            "sqs" => OnFailure::Sqs(rest),
            "sns" => OnFailure::Sns(rest),
            "s3" => OnFailure::S3(rest),
            "kafka" => OnFailure::Kafka(rest),
            _ => return Err(bad()),
        })
    }
}

/// A setting that Lambda would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A value outside what Lambda allows.
    #[error("{setting}={value} is invalid: expected {expected}")]
    Invalid {
        /// Lambda's name of the setting.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What Lambda allows.
        expected: &'static str,
    },
    /// A required setting is missing.
    #[error("{0} is required")]
    Missing(&'static str),
}

/// The mapping's settings.
#[derive(Debug, Clone)]
pub struct EsmSettings {
    /// Brokers to consume from (and to write a Kafka destination to).
    pub bootstrap_servers: String,
    /// `Topics`.
    pub topics: Vec<String>,
    /// `ConsumerGroupId`.
    pub consumer_group: String,
    /// `StartingPosition`.
    pub starting_position: StartingPosition,
    /// `BatchSize`, 1..=10,000.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`, 0..=300.
    pub batching_window: Duration,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// `MaximumRetryAttempts`: `None` is -1 (infinite; capped at 10 with a
    /// destination, as Lambda does).
    pub max_retry_attempts: Option<u32>,
    /// `MaximumRecordAgeInSeconds`: `None` is -1 (no limit).
    pub max_record_age: Option<Duration>,
    /// `BisectBatchOnFunctionError`.
    pub bisect_on_error: bool,
    /// `DestinationConfig.OnFailure`.
    pub on_failure: Option<OnFailure>,
    /// The function's `Timeout`.
    pub function_timeout: Duration,
    /// The event's shape.
    pub shape: EventShape,
    /// Which records come back after a partial failure.
    pub redelivery: Redelivery,
    /// The identifier key the function is expected to use.
    pub identifier_key: IdentifierKey,
    /// `SchemaRegistryConfig`, when records are validated against one.
    pub schema_registry: Option<crate::schema::SchemaRegistry>,
}

impl EsmSettings {
    /// Settings with Lambda's defaults for `topics` on `bootstrap_servers`.
    pub fn new(bootstrap_servers: impl Into<String>, topics: Vec<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            topics,
            consumer_group: "msk-dlq-esm".to_owned(),
            starting_position: StartingPosition::TrimHorizon,
            batch_size: 100,
            batching_window: Duration::ZERO,
            report_batch_item_failures: true,
            max_retry_attempts: None,
            max_record_age: None,
            bisect_on_error: false,
            on_failure: None,
            function_timeout: Duration::from_secs(30),
            shape: EventShape::Msk {
                arn: "arn:aws:kafka:us-east-1:000000000000:cluster/local/00000000-0000-0000-0000-000000000000-1".to_owned(),
            },
            redelivery: Redelivery::FromLowestFailed,
            identifier_key: IdentifierKey::Partition,
            schema_registry: None,
        }
    }

    /// Retries before a batch goes to the on-failure destination: Lambda
    /// caps infinite retries at 10 when a destination is set.
    pub fn retry_limit(&self) -> Option<u32> {
        match (self.max_retry_attempts, &self.on_failure) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => Some(10),
            (None, None) => None,
        }
    }

    /// Checks every setting against Lambda's limits.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err(SettingsError::Missing("bootstrap servers"));
        }
        if self.topics.is_empty() {
            return Err(SettingsError::Missing("Topics"));
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return Err(SettingsError::Invalid {
                setting: "BatchSize",
                value: self.batch_size.to_string(),
                expected: "an integer from 1 to 10000",
            });
        }
        if self.batching_window > Duration::from_secs(300) {
            return Err(SettingsError::Invalid {
                setting: "MaximumBatchingWindowInSeconds",
                value: self.batching_window.as_secs().to_string(),
                expected: "0 to 300 seconds",
            });
        }
        if let Some(n) = self.max_retry_attempts {
            if n > 10_000 {
                return Err(SettingsError::Invalid {
                    setting: "MaximumRetryAttempts",
                    value: n.to_string(),
                    expected: "-1 or 0 to 10000",
                });
            }
        }
        if let Some(age) = self.max_record_age {
            if !(60..=604_800).contains(&age.as_secs()) {
                return Err(SettingsError::Invalid {
                    setting: "MaximumRecordAgeInSeconds",
                    value: age.as_secs().to_string(),
                    expected: "-1 or 60 to 604800",
                });
            }
        }
        if self.function_timeout.is_zero() || self.function_timeout > Duration::from_secs(840) {
            return Err(SettingsError::Invalid {
                setting: "Timeout",
                value: self.function_timeout.as_secs().to_string(),
                expected: "1 to 840 seconds (Kafka event sources allow up to 14 minutes)",
            });
        }
        if let Some(r) = &self.schema_registry {
            r.validate()?;
        }
        if let Some(OnFailure::Kafka(t)) = &self.on_failure {
            if self.topics.contains(t) {
                return Err(SettingsError::Invalid {
                    setting: "DestinationConfig.OnFailure",
                    value: format!("kafka://{t}"),
                    expected: "a Kafka topic that is not a source topic",
                });
            }
        }
        Ok(())
    }
}

/// Parses Lambda's `-1`-means-unlimited integers.
pub fn unlimited(setting: &'static str, text: &str) -> Result<Option<u64>, SettingsError> {
    match text.trim().parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(n) if n >= 0 => Ok(Some(n as u64)),
        _ => Err(SettingsError::Invalid {
            setting,
            value: text.to_owned(),
            expected: "-1 or a non-negative integer",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> EsmSettings {
        EsmSettings::new("127.0.0.1:1", vec!["orders".into()])
    }

    #[test]
    fn lambda_limits_are_named() {
        let mut bad = s();
        bad.batch_size = 0;
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "BatchSize=0 is invalid: expected an integer from 1 to 10000"
        );
        let mut bad = s();
        bad.batching_window = Duration::from_secs(301);
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("MaximumBatchingWindowInSeconds=301 is invalid"));
        let mut bad = s();
        bad.max_record_age = Some(Duration::from_secs(10));
        assert!(bad.validate().is_err());
        let mut bad = s();
        bad.on_failure = Some(OnFailure::Kafka("orders".into()));
        assert!(bad.validate().is_err());
        assert!(s().validate().is_ok());
    }

    #[test]
    fn infinite_retries_are_capped_with_a_destination() {
        let mut x = s();
        assert_eq!(x.retry_limit(), None);
        x.on_failure = Some(OnFailure::Sqs("http://q".into()));
        assert_eq!(x.retry_limit(), Some(10));
        x.max_retry_attempts = Some(2);
        assert_eq!(x.retry_limit(), Some(2));
    }

    #[test]
    fn destinations_parse() {
        assert_eq!(
            OnFailure::parse("kafka://dlq").unwrap(),
            OnFailure::Kafka("dlq".into())
        );
        assert!(OnFailure::parse("ftp:x").is_err());
        assert_eq!(unlimited("MaximumRetryAttempts", "-1").unwrap(), None);
    }
}
