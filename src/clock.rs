//! Wall-clock and monotonic time for an invocation. Record ages and
//! `failed-at` need epoch milliseconds; deadlines need a monotonic instant
//! (tokio's, so tests can pause it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Milliseconds since the Unix epoch, now.
pub fn epoch_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Converts Lambda's deadline (epoch ms) to a monotonic instant.
pub fn deadline_instant(deadline_ms: u64, now_ms: i64) -> Instant {
    let left = i64::try_from(deadline_ms)
        .unwrap_or(i64::MAX)
        .saturating_sub(now_ms);
    Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

/// Wall-clock time derived from one reading at invocation start, so it
/// follows tokio's (pausable) clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InvocationClock {
    start: Instant,
    start_ms: i64,
}

impl InvocationClock {
    pub(crate) fn new(now_ms: i64) -> Self {
        Self {
            start: Instant::now(),
            start_ms: now_ms,
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.start_ms.saturating_add(elapsed)
    }
}
