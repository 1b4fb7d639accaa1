//! The one backoff schedule: exponential with jitter, used by handler
//! retries, sink retries and the replay writer.

use std::time::Duration;

/// `min(max, base * 2^(attempt-1))`: the upper bound of the delay after
/// failed attempt `attempt` (1-based).
pub fn ceiling(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(31);
    base.saturating_mul(1u32 << exp).min(max)
}

/// A uniform draw from `[ceiling/2, ceiling]`, so concurrent callers
/// retrying one dependency spread out but still back off. `unit` is a draw
/// from `[0, 1)`.
pub fn delay(base: Duration, max: Duration, attempt: u32, unit: f64) -> Duration {
    let ceiling = ceiling(base, max, attempt);
    let half = ceiling / 2;
    half + (ceiling - half).mul_f64(unit.clamp(0.0, 1.0))
}
