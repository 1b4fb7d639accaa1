//! What the event source mapping did, for the live summary and the final
//! accounting table.

use std::fmt;

/// Counters over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Records read from the topics.
    pub fetched: u64,
    /// Invocations.
    pub invocations: u64,
    /// Records sent in invocations (re-deliveries counted again).
    pub delivered: u64,
    /// Records done: the function succeeded on them.
    pub processed: u64,
    /// Records re-delivered after a failure.
    pub retried: u64,
    /// Batches answered with an empty failure list.
    pub succeeded_batches: u64,
    /// Batches answered with a partial failure list.
    pub partial_batches: u64,
    /// Batches that failed as a whole (error, crash, time-out, bad answer).
    pub failed_batches: u64,
    /// Batches split in two.
    pub bisections: u64,
    /// Records written to the on-failure destination.
    pub to_on_failure: u64,
    /// Records skipped without a destination (Lambda drops them).
    pub discarded: u64,
    /// Destination writes that failed (retried).
    pub destination_errors: u64,
    /// Offset commits that failed.
    pub commit_errors: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = [
            ("records fetched from the topics", self.fetched),
            ("invocations", self.invocations),
            ("records delivered (re-deliveries included)", self.delivered),
            ("records done (function succeeded)", self.processed),
            ("records re-delivered after a failure", self.retried),
            ("batches succeeded", self.succeeded_batches),
            ("batches partly failed", self.partial_batches),
            ("batches failed as a whole", self.failed_batches),
            ("batches bisected", self.bisections),
            (
                "records sent to the on-failure destination",
                self.to_on_failure,
            ),
            ("records skipped (no destination)", self.discarded),
            (
                "destination write errors (retried)",
                self.destination_errors,
            ),
            ("commit errors", self.commit_errors),
        ];
        for (name, n) in rows {
            writeln!(f, "  {n:>8}  {name}")?;
        }
        Ok(())
    }
}
