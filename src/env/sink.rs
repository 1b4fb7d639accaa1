//! The dead-letter sink and Kafka connection settings from the environment.

use super::vars::*;
use super::{ConfigError, Reader};
#[cfg(feature = "kafka")]
use crate::kafka::{KafkaConnection, Security};
#[cfg(feature = "kafka")]
use crate::sink::Partitioning;
use crate::sink::{SinkConfig, SinkKind};

/// The Kafka cluster and its security from `MSK_DLQ_KAFKA_*` and the region.
#[cfg(feature = "kafka")]
pub fn kafka_connection(r: &mut Reader<'_>) -> KafkaConnection {
    let mut c = KafkaConnection {
        security: r.choice(
            VAR_SECURITY,
            Security::Plaintext,
            &Security::ALL.map(|m| (m.as_str(), m)),
        ),
        bootstrap_servers: r.string(VAR_BOOTSTRAP),
        ca_location: r.string(VAR_CA_LOCATION),
        region: r
            .string(VAR_REGION)
            .or_else(|| r.string(VAR_DEFAULT_REGION)),
        ..KafkaConnection::default()
    };
    if c.security.is_scram() {
        let because = format!("{VAR_SECURITY} is a SCRAM mechanism");
        c.sasl_username = r.required(VAR_SASL_USERNAME, &because);
        c.sasl_password = r.required(VAR_SASL_PASSWORD, &because);
    }
    if c.security == Security::Iam && c.region.is_none() {
        r.problem(ConfigError::Missing {
            var: VAR_REGION,
            because: format!("{VAR_SECURITY}=iam (the token is signed for a region)"),
        });
    }
    c
}

/// A sink kind, refused when this build does not include it.
pub(super) fn sink_kind(r: &mut Reader<'_>, var: &'static str) -> SinkKind {
    let kind = r.choice(var, SinkKind::None, &SinkKind::ALL.map(|k| (k.as_str(), k)));
    if let (false, Some(feature)) = (kind.is_compiled_in(), kind.feature()) {
        r.problem(ConfigError::Invalid {
            var,
            value: kind.as_str().to_owned(),
            expected: format!(
                "a sink compiled into this build (the {kind} sink needs the `{feature}` feature of msk-dlq)"
            ),
        });
    }
    kind
}

/// The dead-letter sink from `MSK_DLQ_SINK` and its settings.
pub fn sink_config(r: &mut Reader<'_>) -> SinkConfig {
    let primary = sink_kind(r, VAR_SINK);
    let fallback = sink_kind(r, VAR_FALLBACK_SINK);
    if fallback != SinkKind::None && fallback == primary {
        r.problem(ConfigError::Conflict(format!(
            "{VAR_FALLBACK_SINK} must differ from {VAR_SINK} (both are {primary})"
        )));
    }
    if primary == SinkKind::None && fallback != SinkKind::None {
        r.problem(ConfigError::Conflict(format!(
            "{VAR_FALLBACK_SINK} is set but {VAR_SINK} is none"
        )));
    }
    let uses = |k: SinkKind| primary == k || fallback == k;
    let mut c = SinkConfig {
        primary,
        fallback,
        kafka_topic: if uses(SinkKind::Kafka) {
            r.required(VAR_KAFKA_TOPIC, "the kafka sink is used")
        } else {
            r.string(VAR_KAFKA_TOPIC)
        },
        ..SinkConfig::default()
    };
    #[cfg(feature = "kafka")]
    {
        c.kafka = kafka_connection(r);
        c.partitioning = r.choice(
            VAR_KAFKA_PARTITIONING,
            Partitioning::SameModulo,
            &[
                ("same-modulo", Partitioning::SameModulo),
                ("key", Partitioning::ByKey),
            ],
        );
    }
    if uses(SinkKind::Sqs) {
        c.sqs_queue_url = r.required(VAR_SQS_QUEUE_URL, "the sqs sink is used");
    }
    if let Some(url) = &c.sqs_queue_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            r.problem(ConfigError::Invalid {
                var: VAR_SQS_QUEUE_URL,
                value: url.clone(),
                expected: "a queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq".into(),
            });
        }
    }
    if uses(SinkKind::Sns) {
        c.sns_topic_arn = r.required(VAR_SNS_TOPIC_ARN, "the sns sink is used");
    }
    if let Some(arn) = &c.sns_topic_arn {
        if !arn.starts_with("arn:") {
            r.problem(ConfigError::Invalid {
                var: VAR_SNS_TOPIC_ARN,
                value: arn.clone(),
                expected: "a topic ARN such as arn:aws:sns:us-east-1:123456789012:orders-dlq"
                    .into(),
            });
        }
    }
    let max = r.int(VAR_MAX_MESSAGE_BYTES, 0usize, 0, 1_048_576);
    c.bucket = r.string(VAR_BUCKET);
    if let Some(prefix) = r.string(VAR_BUCKET_PREFIX) {
        c.bucket_prefix = prefix;
    }
    c.max_message_bytes = (max > 0).then_some(max);
    c.retries = r.int(VAR_SINK_RETRIES, 2u32, 0, 10);
    c
}

#[cfg(all(test, feature = "kafka"))]
mod tests {
    use super::*;

    #[test]
    fn scram_and_iam_need_their_settings() {
        let vars = [(VAR_SECURITY, "scram-sha-512")];
        let mut r = Reader::new(&vars);
        kafka_connection(&mut r);
        let text: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.starts_with("MSK_DLQ_KAFKA_SASL_USERNAME is required")),
            "{text:?}"
        );
        let vars = [(VAR_SECURITY, "iam")];
        let mut r = Reader::new(&vars);
        kafka_connection(&mut r);
        assert!(r
            .errors
            .iter()
            .any(|e| e.to_string().starts_with("AWS_REGION is required")));
    }
}
