//! The DLQ flood guard (compare arroyo's `DlqLimit`). When most records of
//! an invocation, or a long run of them, fail for good, the likely cause is
//! a bad deploy, not bad records: dead-lettering them would move the topic
//! into the DLQ. Past the limit, records due for the DLQ as `permanent` or
//! `malformed` are reported failed instead, so Lambda re-delivers them and
//! they are processed once the fix is out. Other kinds (`manual`,
//! `retries-exhausted`, `too-old`) are decisions, not symptoms, and pass.

use std::sync::Mutex;

use crate::letter::DlqKind;

/// When the guard holds records back. Off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FloodGuard {
    /// Hold once more than this percentage of the records decided in an
    /// invocation were poison (`permanent` or `malformed`); 0: never.
    pub max_percent: u32,
    /// ... counting only once this many records were decided.
    pub min_records: u32,
    /// Hold once this many poison records came in a row, across the
    /// invocations of the warm environment; 0: never.
    pub max_run: u32,
}

impl Default for FloodGuard {
    fn default() -> Self {
        Self {
            max_percent: 0,
            min_records: 20,
            max_run: 0,
        }
    }
}

/// What the guard counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodCounts {
    /// Records of this invocation that were processed or due for the DLQ.
    pub decided: u32,
    /// Of those, poison.
    pub poison: u32,
    /// Poison records in a row, across invocations.
    pub run: u32,
}

impl FloodGuard {
    /// Whether it is on at all.
    pub fn is_on(&self) -> bool {
        self.max_percent > 0 || self.max_run > 0
    }

    /// Whether these counts (the record in question included) pass a limit.
    pub fn trips(&self, c: &FloodCounts) -> bool {
        let run = self.max_run > 0 && c.run >= self.max_run;
        let share = self.max_percent > 0
            && c.decided >= self.min_records.max(1)
            && u64::from(c.poison) * 100 > u64::from(self.max_percent) * u64::from(c.decided);
        run || share
    }
}

/// Whether a dead letter of this kind is a symptom the guard counts.
pub fn is_poison(kind: DlqKind) -> bool {
    matches!(kind, DlqKind::Permanent | DlqKind::Malformed)
}

/// The guard's state in a warm environment. Once it trips, it holds every
/// poison record until a record is processed again, across invocations: a
/// bad deploy leaks no letters after the first trip.
#[derive(Debug, Default)]
pub(crate) struct FloodTracker {
    guard: FloodGuard,
    state: Mutex<(FloodCounts, bool)>,
}

impl FloodTracker {
    pub(crate) fn new(guard: FloodGuard) -> Self {
        Self {
            guard,
            state: Mutex::default(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FloodCounts, &mut bool) -> T) -> T {
        // A poisoned lock only means a partition panicked while counting.
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (counts, tripped) = &mut *s;
        f(counts, tripped)
    }

    /// A new invocation: its own share; the run and a trip carry over.
    pub(crate) fn start_invocation(&self) {
        self.with(|c, _| {
            *c = FloodCounts {
                run: c.run,
                ..FloodCounts::default()
            };
        });
    }

    /// A record was processed: the run of poison ends, and a trip with it.
    pub(crate) fn processed(&self) {
        // Off, the guard never holds: nothing to count.
        if !self.guard.is_on() {
            return;
        }
        self.with(|c, tripped| {
            c.decided += 1;
            c.run = 0;
            *tripped = false;
        });
    }

    /// A record is due for the DLQ as `kind`: whether to hold it back.
    pub(crate) fn hold(&self, kind: DlqKind) -> bool {
        let guard = self.guard;
        self.with(|c, tripped| {
            c.decided += 1;
            if !is_poison(kind) || !guard.is_on() {
                return false;
            }
            c.poison += 1;
            c.run = c.run.saturating_add(1);
            *tripped = *tripped || guard.trips(c);
            *tripped
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max_percent: u32, min_records: u32, max_run: u32) -> FloodGuard {
        FloodGuard {
            max_percent,
            min_records,
            max_run,
        }
    }

    #[test]
    fn the_share_counts_only_past_the_minimum() {
        let g = guard(50, 10, 0);
        let c = |decided, poison| FloodCounts {
            decided,
            poison,
            run: 0,
        };
        assert!(!g.trips(&c(9, 9)), "too few records to judge");
        assert!(!g.trips(&c(10, 5)), "exactly half is not more than half");
        assert!(g.trips(&c(10, 6)));
        assert!(!guard(0, 10, 0).trips(&c(100, 100)), "off");
    }

    #[test]
    fn a_run_trips_across_invocations() {
        let t = FloodTracker::new(guard(0, 20, 3));
        assert!(!t.hold(DlqKind::Permanent));
        t.start_invocation();
        assert!(!t.hold(DlqKind::Malformed));
        assert!(t.hold(DlqKind::Permanent), "third in a row");
        t.start_invocation();
        assert!(
            t.hold(DlqKind::Permanent),
            "held until a record is processed"
        );
        t.processed();
        assert!(!t.hold(DlqKind::Permanent), "a success ends the run");
    }

    #[test]
    fn a_share_trip_holds_into_the_next_invocation() {
        let t = FloodTracker::new(guard(50, 2, 0));
        assert!(
            !t.hold(DlqKind::Permanent),
            "one record is too few to judge"
        );
        assert!(t.hold(DlqKind::Permanent));
        t.start_invocation();
        assert!(
            t.hold(DlqKind::Malformed),
            "no letter leaks from the next batch"
        );
    }

    #[test]
    fn decisions_pass_and_do_not_count_as_poison() {
        let t = FloodTracker::new(guard(0, 20, 1));
        for kind in [DlqKind::Manual, DlqKind::RetriesExhausted, DlqKind::TooOld] {
            assert!(!t.hold(kind));
        }
        assert!(t.hold(DlqKind::Permanent));
    }
}
