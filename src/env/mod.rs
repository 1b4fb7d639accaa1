//! Configuration from environment variables, every `MSK_DLQ_*` variable in
//! one place, validated at cold start. Every problem is reported at once,
//! each naming the variable, the value and what is allowed.

mod consumer;
#[cfg(feature = "replay")]
mod replay;
mod sink;
mod vars;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use consumer::{consumer_settings, metrics_settings};
#[cfg(feature = "replay")]
pub use replay::replay_setup;
#[cfg(feature = "kafka")]
pub use sink::kafka_connection;
pub use sink::sink_config;
pub use vars::*;

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value that is not allowed.
    #[error("{var}={value:?} is invalid: expected {expected}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// A variable that must be set.
    #[error("{var} is required when {because}")]
    Missing {
        /// The variable.
        var: &'static str,
        /// Why it is needed.
        because: String,
    },
    /// Values that contradict each other.
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
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
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
    /// The problems found so far.
    pub errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    /// A reader of `vars`.
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

    /// The value; a problem when unset.
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

    /// An integer within `min..=max`, `default` when unset.
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

    /// Milliseconds within `min..=max`, `default_ms` when unset.
    pub fn millis(&mut self, var: &'static str, default_ms: u64, min: u64, max: u64) -> Duration {
        Duration::from_millis(self.int(var, default_ms, min, max))
    }

    /// One of `options` (case-insensitive), `default` when unset.
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

    /// `true/false`, `1/0` or `yes/no`, `default` when unset.
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

    /// Adds a problem.
    pub fn problem(&mut self, e: ConfigError) {
        self.errors.push(e);
    }

    /// The value read, or every problem found.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}
