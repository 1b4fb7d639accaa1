//! The reprocessor's settings from the environment.

use std::sync::Arc;

use super::sink::{kafka_connection, sink_kind};
use super::vars::*;
use super::{ConfigError, Reader};
use crate::codec::parse_time;
use crate::letter::DlqKind;
use crate::replay::audit::AuditTarget;
use crate::replay::{AllowedTargets, Filters, ReplaySettings, ReplaySetup, ReplayerConfig};
use crate::schema::WireMode;
use crate::sink::{Partitioning, SinkConfig, SinkKind};

/// Replay filters, target, loop guard, rate and parking lot from
/// `MSK_DLQ_REPLAY_*`, `MSK_DLQ_MAX_REPLAYS` and `MSK_DLQ_PARKING_*`.
pub fn replay_setup(r: &mut Reader<'_>) -> ReplaySetup {
    let connection = kafka_connection(r);
    let mut filters = Filters {
        topic: r.string(VAR_FILTER_TOPIC),
        error_type: r.string(VAR_FILTER_ERROR_TYPE),
        ..Filters::default()
    };
    if let Some(k) = r.string(VAR_FILTER_KIND) {
        match k.parse::<DlqKind>() {
            Ok(kind) => filters.kind = Some(kind),
            Err(e) => r.problem(ConfigError::Invalid {
                var: VAR_FILTER_KIND,
                value: k,
                expected: e.to_string(),
            }),
        }
    }
    for (var, slot) in [
        (VAR_FILTER_SINCE, &mut filters.since_ms),
        (VAR_FILTER_UNTIL, &mut filters.until_ms),
    ] {
        if let Some(t) = r.string(var) {
            match parse_time(&t) {
                Ok(ms) => *slot = Some(ms),
                Err(e) => r.problem(ConfigError::Invalid {
                    var,
                    value: t,
                    expected: e.to_string(),
                }),
            }
        }
    }
    let rate = r.int(VAR_RATE, 0u32, 0, 100_000);
    let mut settings = ReplaySettings::new(
        r.string(VAR_TARGET_TOPIC),
        r.int(VAR_MAX_REPLAYS, 3u32, 1, 1000),
    );
    if let Some(list) = r.string(VAR_REPLAY_ALLOWED_TARGETS) {
        match AllowedTargets::parse(&list) {
            Ok(a) => settings.allowed_targets = a,
            Err(e) => r.problem(ConfigError::Invalid {
                var: VAR_REPLAY_ALLOWED_TARGETS,
                value: list,
                expected: e,
            }),
        }
    }
    if let Some(t) = &settings.target_topic {
        if !settings.allowed_targets.allows(t, None) {
            r.problem(ConfigError::Conflict(format!(
                "{VAR_TARGET_TOPIC}={t} is not on the replay allow-list ({VAR_REPLAY_ALLOWED_TARGETS}={})",
                settings.allowed_targets
            )));
        }
    }
    let replayer = ReplayerConfig {
        settings,
        filters,
        dry_run: r.bool(VAR_DRY_RUN, false),
        rate_per_sec: (rate > 0).then_some(f64::from(rate)),
        bootstrap_servers: connection.bootstrap_servers.clone(),
        any_cluster: r.bool(VAR_REPLAY_ANY_CLUSTER, false),
        wire_mode: r.choice(
            VAR_REPLAY_WIRE_FORMAT,
            WireMode::Auto,
            &[
                ("auto", WireMode::Auto),
                ("reframe", WireMode::Reframe),
                ("fetch-back", WireMode::FetchBack),
                ("as-received", WireMode::AsReceived),
            ],
        ),
        consumer_name: Arc::from(
            r.string(VAR_FUNCTION_NAME)
                .unwrap_or_else(|| "msk-dlq-reprocessor".to_owned())
                .as_str(),
        ),
    };
    let kind = sink_kind(r, VAR_PARKING_SINK);
    let required = |r: &mut Reader<'_>, var, want: SinkKind| {
        (kind == want)
            .then(|| r.required(var, "it is the parking-lot sink"))
            .flatten()
    };
    let parking = SinkConfig {
        primary: kind,
        kafka_topic: required(r, VAR_PARKING_KAFKA_TOPIC, SinkKind::Kafka),
        kafka: connection.clone(),
        partitioning: Partitioning::ByKey,
        sqs_queue_url: required(r, VAR_PARKING_SQS_QUEUE_URL, SinkKind::Sqs),
        sns_topic_arn: required(r, VAR_PARKING_SNS_TOPIC_ARN, SinkKind::Sns),
        bucket_prefix: String::new(),
        ..SinkConfig::default()
    };
    let audit = r
        .string(VAR_AUDIT)
        .and_then(|t| match AuditTarget::parse(&t) {
            Ok(target) => Some(target),
            Err(e) => {
                r.problem(ConfigError::Invalid {
                    var: VAR_AUDIT,
                    value: t,
                    expected: format!("kafka:<topic>, s3://<bucket>/<prefix> or a file path ({e})"),
                });
                None
            }
        });
    ReplaySetup {
        replayer,
        connection,
        parking,
        bucket: r.string(VAR_BUCKET),
        audit,
    }
}
