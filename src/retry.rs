//! Retry schedule: exponential backoff with full jitter, bounded by the
//! invocation deadline.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per record per invocation, the first one included.
    pub max_attempts: u32,
    pub backoff_base: Duration,
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
    /// The upper bound of the delay after failed attempt `attempt` (1-based):
    /// `min(max, base * 2^(attempt-1))`.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        self.backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max)
    }

    /// Full jitter: a uniform draw from `[ceiling/2, ceiling]`, so concurrent
    /// partitions retrying one dependency spread out but still back off.
    /// `unit` is a draw from `[0, 1)`.
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let ceiling = self.backoff_ceiling(attempt);
        let half = ceiling / 2;
        half + (ceiling - half).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// What to do after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    RetryAfter(Duration),
    Exhausted,
    /// No time left before the deadline (less its safety margin).
    DeadlineNear,
}

/// Decides the next step after failed attempt `attempt`.
pub fn next_step(
    policy: &RetryPolicy,
    attempt: u32,
    delay: Duration,
    now: Instant,
    cutoff: Instant,
) -> NextStep {
    if attempt >= policy.max_attempts {
        return NextStep::Exhausted;
    }
    // The retry must at least be able to start before the cutoff.
    match now.checked_add(delay) {
        Some(start) if start < cutoff => NextStep::RetryAfter(delay),
        _ => NextStep::DeadlineNear,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
        };
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

    #[test]
    fn next_step_respects_attempts_and_deadline() {
        let p = RetryPolicy::default();
        let now = Instant::now();
        let cutoff = now + Duration::from_secs(1);
        let d = Duration::from_millis(100);
        assert_eq!(next_step(&p, 1, d, now, cutoff), NextStep::RetryAfter(d));
        assert_eq!(next_step(&p, 3, d, now, cutoff), NextStep::Exhausted);
        assert_eq!(
            next_step(&p, 1, Duration::from_secs(1), now, cutoff),
            NextStep::DeadlineNear
        );
    }
}
