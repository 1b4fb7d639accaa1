//! Configuration from environment variables, validated at cold start. Every
//! problem is reported at once, each naming the variable, the value and what
//! is allowed.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::process::{ExhaustionPolicy, Ordering, ProcessSettings};
use crate::retry::RetryPolicy;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}={value:?} is invalid: expected {expected}")]
    Invalid {
        var: &'static str,
        value: String,
        expected: String,
    },
    #[error("{var} is required when {because}")]
    Missing { var: &'static str, because: String },
    #[error("{0}")]
    Conflict(String),
}

/// All configuration problems found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A source of variables: the process environment, or a map in tests.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Vars for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl<const N: usize> Vars for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// Reads variables and collects problems instead of stopping at the first.
pub struct Reader<'a> {
    vars: &'a dyn Vars,
    pub errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub fn new(vars: &'a dyn Vars) -> Self {
        Self {
            vars,
            errors: Vec::new(),
        }
    }

    /// The value, trimmed; empty counts as unset.
    pub fn string(&mut self, var: &'static str) -> Option<String> {
        self.vars
            .get(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&mut self, var: &'static str, because: &str) -> Option<String> {
        let v = self.string(var);
        if v.is_none() {
            self.errors.push(ConfigError::Missing {
                var,
                because: because.to_owned(),
            });
        }
        v
    }

    pub fn int<T>(&mut self, var: &'static str, default: T, min: T, max: T) -> T
    where
        T: FromStr + PartialOrd + Copy + fmt::Display,
    {
        let Some(raw) = self.string(var) else {
            return default;
        };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => v,
            _ => {
                self.errors.push(ConfigError::Invalid {
                    var,
                    value: raw,
                    expected: format!("an integer from {min} to {max}"),
                });
                default
            }
        }
    }

    pub fn millis(&mut self, var: &'static str, default_ms: u64, min: u64, max: u64) -> Duration {
        Duration::from_millis(self.int(var, default_ms, min, max))
    }

    pub fn choice<T: Copy>(&mut self, var: &'static str, default: T, options: &[(&str, T)]) -> T {
        let Some(raw) = self.string(var) else {
            return default;
        };
        match options
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&raw))
        {
            Some((_, v)) => *v,
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.errors.push(ConfigError::Invalid {
                    var,
                    value: raw,
                    expected: format!("one of {}", names.join(", ")),
                });
                default
            }
        }
    }

    pub fn bool(&mut self, var: &'static str, default: bool) -> bool {
        self.choice(
            var,
            default,
            &[
                ("true", true),
                ("false", false),
                ("1", true),
                ("0", false),
                ("yes", true),
                ("no", false),
            ],
        )
    }

    pub fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

pub const VAR_CONSUMER_NAME: &str = "MSK_DLQ_CONSUMER_NAME";
pub const VAR_ORDERING: &str = "MSK_DLQ_ORDERING";
pub const VAR_PARTITION_CONCURRENCY: &str = "MSK_DLQ_PARTITION_CONCURRENCY";
pub const VAR_MAX_ATTEMPTS: &str = "MSK_DLQ_MAX_ATTEMPTS";
pub const VAR_BACKOFF_BASE_MS: &str = "MSK_DLQ_BACKOFF_BASE_MS";
pub const VAR_BACKOFF_MAX_MS: &str = "MSK_DLQ_BACKOFF_MAX_MS";
pub const VAR_ATTEMPT_TIMEOUT_MS: &str = "MSK_DLQ_ATTEMPT_TIMEOUT_MS";
pub const VAR_DEADLINE_MARGIN_MS: &str = "MSK_DLQ_DEADLINE_MARGIN_MS";
pub const VAR_ON_EXHAUSTED: &str = "MSK_DLQ_ON_EXHAUSTED";
pub const VAR_MAX_RECORD_AGE_S: &str = "MSK_DLQ_MAX_RECORD_AGE_SECONDS";
pub const VAR_BREAKER_THRESHOLD: &str = "MSK_DLQ_BREAKER_THRESHOLD";
pub const VAR_BREAKER_COOLDOWN_MS: &str = "MSK_DLQ_BREAKER_COOLDOWN_MS";
pub const VAR_METRICS_NAMESPACE: &str = "MSK_DLQ_METRICS_NAMESPACE";
pub const VAR_METRICS: &str = "MSK_DLQ_METRICS";

/// Consumer settings apart from the sink.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub process: ProcessSettings,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    pub metrics: MetricsConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub namespace: String,
    pub function_name: String,
}

impl MetricsConfig {
    pub fn read(r: &mut Reader<'_>) -> Self {
        MetricsConfig {
            enabled: r.bool(VAR_METRICS, true),
            namespace: r
                .string(VAR_METRICS_NAMESPACE)
                .unwrap_or_else(|| "MskDlq".to_owned()),
            function_name: r
                .string("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|| "local".to_owned()),
        }
    }
}

impl ConsumerConfig {
    pub fn read(r: &mut Reader<'_>) -> Self {
        let consumer_name = r
            .string(VAR_CONSUMER_NAME)
            .or_else(|| r.string("AWS_LAMBDA_FUNCTION_NAME"))
            .unwrap_or_else(|| "msk-dlq-consumer".to_owned());
        let ordering = r.choice(
            VAR_ORDERING,
            Ordering::Ordered,
            &[
                ("ordered", Ordering::Ordered),
                ("independent", Ordering::Independent),
            ],
        );
        let partition_concurrency = r.int(VAR_PARTITION_CONCURRENCY, 16usize, 1, 1024);
        let max_attempts = r.int(VAR_MAX_ATTEMPTS, 3u32, 1, 100);
        let backoff_base = r.millis(VAR_BACKOFF_BASE_MS, 100, 0, 600_000);
        let backoff_max = r.millis(VAR_BACKOFF_MAX_MS, 5_000, 0, 600_000);
        if backoff_base > backoff_max {
            r.errors.push(ConfigError::Conflict(format!(
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
            r.errors.push(ConfigError::Missing {
                var: VAR_MAX_RECORD_AGE_S,
                because: format!(
                    "{VAR_ON_EXHAUSTED}=redeliver (without a max age a failing record would be re-delivered forever)"
                ),
            });
        }
        let breaker_threshold = r.int(VAR_BREAKER_THRESHOLD, 10u32, 0, 100_000);
        let breaker_cooldown = r.millis(VAR_BREAKER_COOLDOWN_MS, 30_000, 0, 3_600_000);
        let metrics = MetricsConfig::read(r);
        ConsumerConfig {
            process: ProcessSettings {
                ordering,
                partition_concurrency,
                retry: RetryPolicy {
                    max_attempts,
                    backoff_base,
                    backoff_max,
                },
                on_exhausted,
                max_record_age,
                attempt_timeout: (attempt_timeout_ms > 0)
                    .then(|| Duration::from_millis(attempt_timeout_ms)),
                deadline_margin,
                consumer_name: Arc::from(consumer_name.as_str()),
            },
            breaker_threshold,
            breaker_cooldown,
            metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &dyn Vars) -> Result<ConsumerConfig, ConfigErrors> {
        let mut r = Reader::new(vars);
        let c = ConsumerConfig::read(&mut r);
        r.finish(c)
    }

    #[test]
    fn defaults_are_valid() {
        let c = read(&[("AWS_LAMBDA_FUNCTION_NAME", "orders-consumer")]).unwrap();
        assert_eq!(c.process.ordering, Ordering::Ordered);
        assert_eq!(c.process.retry.max_attempts, 3);
        assert_eq!(&*c.process.consumer_name, "orders-consumer");
        assert_eq!(c.breaker_threshold, 10);
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
