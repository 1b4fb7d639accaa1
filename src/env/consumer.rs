//! The consumer's settings from the environment.

use std::sync::Arc;
use std::time::Duration;

use super::vars::*;
use super::{ConfigError, Reader};
use crate::consumer::{
    BreakerSettings, ConsumerSettings, ExhaustionPolicy, FloodGuard, IdentifierKey,
    MetricsSettings, PartitionOrder, RetryPolicy,
};
use crate::schema::RecordFormat;

/// Metrics settings from `MSK_DLQ_METRICS*` and the function name.
pub fn metrics_settings(r: &mut Reader<'_>) -> MetricsSettings {
    let defaults = MetricsSettings::default();
    MetricsSettings {
        enabled: r.bool(VAR_METRICS, true),
        namespace: r
            .string(VAR_METRICS_NAMESPACE)
            .unwrap_or(defaults.namespace),
        function_name: r
            .string(VAR_FUNCTION_NAME)
            .unwrap_or(defaults.function_name),
    }
}

/// Consumer settings from the `MSK_DLQ_*` variables; unset ones keep
/// [`ConsumerSettings::default`].
pub fn consumer_settings(r: &mut Reader<'_>) -> ConsumerSettings {
    let consumer_name = r
        .string(VAR_CONSUMER_NAME)
        .or_else(|| r.string(VAR_FUNCTION_NAME))
        .unwrap_or_else(|| "msk-dlq-consumer".to_owned());
    let order = r.choice(
        VAR_ORDERING,
        PartitionOrder::Ordered,
        &[
            ("ordered", PartitionOrder::Ordered),
            ("independent", PartitionOrder::Independent),
        ],
    );
    let partition_concurrency = r.int(VAR_PARTITION_CONCURRENCY, 16usize, 1, 1024);
    let max_attempts = r.int(VAR_MAX_ATTEMPTS, 3u32, 1, 100);
    let backoff_base = r.millis(VAR_BACKOFF_BASE_MS, 100, 0, 600_000);
    let backoff_max = r.millis(VAR_BACKOFF_MAX_MS, 5_000, 0, 600_000);
    if backoff_base > backoff_max {
        r.problem(ConfigError::Conflict(format!(
            "{VAR_BACKOFF_BASE_MS} ({}) must not exceed {VAR_BACKOFF_MAX_MS} ({})",
            backoff_base.as_millis(),
            backoff_max.as_millis()
        )));
    }
    let attempt_timeout_ms = r.int(VAR_ATTEMPT_TIMEOUT_MS, 0u64, 0, 900_000);
    let deadline_margin = r.millis(VAR_DEADLINE_MARGIN_MS, 1_500, 0, 600_000);
    let on_exhausted = r.choice(
        VAR_ON_EXHAUSTED,
        ExhaustionPolicy::DeadLetter,
        &[
            ("dead-letter", ExhaustionPolicy::DeadLetter),
            ("redeliver", ExhaustionPolicy::Redeliver),
        ],
    );
    let max_age_s = r.int(VAR_MAX_RECORD_AGE_S, 0u64, 0, 604_800);
    let max_record_age = (max_age_s > 0).then(|| Duration::from_secs(max_age_s));
    if on_exhausted == ExhaustionPolicy::Redeliver && max_record_age.is_none() {
        r.problem(ConfigError::Missing {
            var: VAR_MAX_RECORD_AGE_S,
            because: format!(
                "{VAR_ON_EXHAUSTED}=redeliver (without a max age a failing record would be re-delivered forever)"
            ),
        });
    }
    let breaker = BreakerSettings {
        threshold: r.int(VAR_BREAKER_THRESHOLD, 10u32, 0, 100_000),
        cooldown: r.millis(VAR_BREAKER_COOLDOWN_MS, 30_000, 0, 3_600_000),
    };
    let identifier_key = r.choice(
        VAR_IDENTIFIER_KEY,
        IdentifierKey::Partition,
        &[
            ("partition", IdentifierKey::Partition),
            ("topic-partition", IdentifierKey::TopicPartition),
        ],
    );
    let flood_guard = FloodGuard {
        max_percent: r.int(VAR_FLOOD_MAX_PERCENT, 0u32, 0, 100),
        min_records: r.int(VAR_FLOOD_MIN_RECORDS, 20u32, 1, 100_000),
        max_run: r.int(VAR_FLOOD_MAX_RUN, 0u32, 0, 1_000_000),
    };
    let record_format = r.choice(
        VAR_SCHEMA_RECORD_FORMAT,
        None,
        &[
            ("SOURCE", Some(RecordFormat::Source)),
            ("JSON", Some(RecordFormat::Json)),
        ],
    );
    ConsumerSettings {
        order,
        partition_concurrency,
        retry: RetryPolicy::new(max_attempts, backoff_base, backoff_max),
        on_exhausted,
        max_record_age,
        attempt_timeout: (attempt_timeout_ms > 0)
            .then(|| Duration::from_millis(attempt_timeout_ms)),
        deadline_margin,
        consumer_name: Arc::from(consumer_name.as_str()),
        breaker,
        metrics: metrics_settings(r),
        identifier_key,
        flood_guard,
        record_format,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{ConfigErrors, Vars};

    fn read(vars: &dyn Vars) -> Result<ConsumerSettings, ConfigErrors> {
        let mut r = Reader::new(vars);
        let c = consumer_settings(&mut r);
        r.finish(c)
    }

    #[test]
    fn defaults_are_valid() {
        let c = read(&[("AWS_LAMBDA_FUNCTION_NAME", "orders-consumer")]).unwrap();
        assert_eq!(c.order, PartitionOrder::Ordered);
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(&*c.consumer_name, "orders-consumer");
        assert_eq!(c.breaker.threshold, 10);
    }

    #[test]
    fn every_problem_is_named() {
        let err = read(&[
            (VAR_MAX_ATTEMPTS, "zero"),
            (VAR_ORDERING, "sorted"),
            (VAR_BACKOFF_BASE_MS, "900"),
            (VAR_BACKOFF_MAX_MS, "100"),
            (VAR_ON_EXHAUSTED, "redeliver"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 4, "{text}");
        assert!(
            text.contains(
                r#"MSK_DLQ_MAX_ATTEMPTS="zero" is invalid: expected an integer from 1 to 100"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"MSK_DLQ_ORDERING="sorted" is invalid: expected one of ordered, independent"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "MSK_DLQ_BACKOFF_BASE_MS (900) must not exceed MSK_DLQ_BACKOFF_MAX_MS (100)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "MSK_DLQ_MAX_RECORD_AGE_SECONDS is required when MSK_DLQ_ON_EXHAUSTED=redeliver"
            ),
            "{text}"
        );
    }
}
