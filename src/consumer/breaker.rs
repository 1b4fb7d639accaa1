//! Circuit breaker for a failing dependency. While open, records are reported
//! failed without calling the handler, so an outage does not flood the DLQ.
//! It lives as long as the warm execution environment, so the cool-down spans
//! invocations.

use std::time::Duration;

use tokio::time::Instant;

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed {
        /// Transient failures in a row so far.
        consecutive_failures: u32,
    },
    /// Calls are refused until the cool-down ends.
    Open {
        /// The end of the cool-down.
        until: Instant,
    },
    /// One probe call is allowed; its result closes or re-opens the breaker.
    HalfOpen {
        /// Whether the probe call is running.
        probe_in_flight: bool,
    },
}

/// Opens after consecutive transient failures, refuses calls for a
/// cool-down, then lets one probe call decide.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    /// Consecutive transient failures that open the breaker; 0 disables it.
    threshold: u32,
    cooldown: Duration,
    state: BreakerState,
    opened_count: u64,
}

impl CircuitBreaker {
    /// A breaker that opens after `threshold` transient failures in a row
    /// (0: never) and stays open for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            state: BreakerState::Closed {
                consecutive_failures: 0,
            },
            opened_count: 0,
        }
    }

    /// Where it is.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// How often the breaker opened since it was created.
    pub fn opened_count(&self) -> u64 {
        self.opened_count
    }

    /// Whether it refuses calls at `now`.
    pub fn is_open(&self, now: Instant) -> bool {
        matches!(self.state, BreakerState::Open { until } if now < until)
    }

    /// Asks to call the handler. `false`: report the record failed instead.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        if self.threshold == 0 {
            return true;
        }
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now < until => false,
            BreakerState::Open { .. }
            | BreakerState::HalfOpen {
                probe_in_flight: false,
            } => {
                self.state = BreakerState::HalfOpen {
                    probe_in_flight: true,
                };
                true
            }
            BreakerState::HalfOpen {
                probe_in_flight: true,
            } => false,
        }
    }

    /// A call succeeded: closes it.
    pub fn on_success(&mut self) {
        if self.threshold == 0 {
            return;
        }
        self.state = BreakerState::Closed {
            consecutive_failures: 0,
        };
    }

    /// A transient failure. Returns `true` if this opened the breaker.
    pub fn on_transient_failure(&mut self, now: Instant) -> bool {
        if self.threshold == 0 {
            return false;
        }
        match self.state {
            BreakerState::Closed {
                consecutive_failures,
            } => {
                let n = consecutive_failures + 1;
                if n >= self.threshold {
                    self.open(now);
                    true
                } else {
                    self.state = BreakerState::Closed {
                        consecutive_failures: n,
                    };
                    false
                }
            }
            BreakerState::HalfOpen { .. } => {
                self.open(now);
                true
            }
            // A call that was let through before the breaker opened.
            BreakerState::Open { .. } => false,
        }
    }

    /// A call that ended without saying anything about the dependency (a
    /// permanent error, a panic): frees a half-open probe slot.
    pub fn on_neutral(&mut self) {
        if let BreakerState::HalfOpen {
            probe_in_flight: true,
        } = self.state
        {
            self.state = BreakerState::HalfOpen {
                probe_in_flight: false,
            };
        }
    }

    fn open(&mut self, now: Instant) {
        self.opened_count += 1;
        self.state = BreakerState::Open {
            until: now + self.cooldown,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(30);

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(3, COOL);
        assert!(!b.on_transient_failure(now));
        assert!(!b.on_transient_failure(now));
        b.on_success();
        assert!(!b.on_transient_failure(now));
        assert!(!b.on_transient_failure(now));
        assert!(b.on_transient_failure(now));
        assert!(b.is_open(now));
        assert!(!b.try_acquire(now + Duration::from_secs(29)));
        assert_eq!(b.opened_count(), 1);
    }

    #[test]
    fn half_open_allows_one_probe() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(1, COOL);
        b.on_transient_failure(now);
        let later = now + COOL;
        assert!(b.try_acquire(later));
        assert!(!b.try_acquire(later), "second caller waits for the probe");
        b.on_success();
        assert!(b.try_acquire(later));
        assert_eq!(
            b.state(),
            BreakerState::Closed {
                consecutive_failures: 0
            }
        );
    }

    #[test]
    fn failed_probe_reopens() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(1, COOL);
        b.on_transient_failure(now);
        let later = now + COOL;
        assert!(b.try_acquire(later));
        assert!(b.on_transient_failure(later));
        assert!(!b.try_acquire(later + Duration::from_secs(1)));
        assert!(b.try_acquire(later + COOL));
    }

    #[test]
    fn neutral_result_frees_the_probe() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(1, COOL);
        b.on_transient_failure(now);
        assert!(b.try_acquire(now + COOL));
        b.on_neutral();
        assert!(b.try_acquire(now + COOL));
    }

    #[test]
    fn disabled_breaker_never_opens() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(0, COOL);
        for _ in 0..100 {
            assert!(!b.on_transient_failure(now));
        }
        assert!(b.try_acquire(now));
    }
}
