//! How often and how long apart a record is tried within one invocation.

use std::time::Duration;

use crate::backoff;

/// Attempts per record per invocation and the backoff between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per record per invocation, the first one included.
    pub max_attempts: u32,
    /// Delay ceiling after the first failed attempt.
    pub backoff_base: Duration,
    /// Largest delay ceiling.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// A policy of `max_attempts` attempts with exponential backoff from
    /// `base` up to `max`.
    pub fn new(max_attempts: u32, base: Duration, max: Duration) -> Self {
        Self {
            max_attempts,
            backoff_base: base,
            backoff_max: max,
        }
    }

    /// The upper bound of the delay after failed attempt `attempt` (1-based):
    /// `min(max, base * 2^(attempt-1))`.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        backoff::ceiling(self.backoff_base, self.backoff_max, attempt)
    }

    /// Full jitter: a uniform draw from `[ceiling/2, ceiling]`; `unit` is a
    /// draw from `[0, 1)`.
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        backoff::delay(self.backoff_base, self.backoff_max, attempt, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let p = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_millis(1000));
        let c: Vec<u128> = (1..=6).map(|a| p.backoff_ceiling(a).as_millis()).collect();
        assert_eq!(c, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff_ceiling(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_stays_within_half_and_full_ceiling() {
        let p = RetryPolicy::default();
        for attempt in 1..8 {
            let ceiling = p.backoff_ceiling(attempt);
            assert_eq!(p.backoff(attempt, 0.0), ceiling / 2);
            assert_eq!(p.backoff(attempt, 1.0), ceiling);
            let mid = p.backoff(attempt, 0.5);
            assert!(mid >= ceiling / 2 && mid <= ceiling);
        }
    }
}
