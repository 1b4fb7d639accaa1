//! The three ways a record can end an invocation.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a record was dead-lettered (`dlq.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DlqKind {
    Permanent,
    Malformed,
    RetriesExhausted,
    TooOld,
    Manual,
}

impl DlqKind {
    pub const ALL: [DlqKind; 5] = [
        DlqKind::Permanent,
        DlqKind::Malformed,
        DlqKind::RetriesExhausted,
        DlqKind::TooOld,
        DlqKind::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DlqKind::Permanent => "permanent",
            DlqKind::Malformed => "malformed",
            DlqKind::RetriesExhausted => "retries-exhausted",
            DlqKind::TooOld => "too-old",
            DlqKind::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<DlqKind> {
        DlqKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for DlqKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a record was reported to Lambda as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailReason {
    /// Transient failure and the exhaustion policy is `redeliver`.
    Redeliver,
    /// An earlier record of the same partition failed (ordered mode).
    EarlierRecordFailed,
    /// Too close to the invocation deadline to (re)try.
    DeadlineNear,
    /// The circuit breaker is open.
    BreakerOpen,
    /// The record was due for the DLQ but the sink did not confirm it.
    DlqWriteFailed,
}

impl FailReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Redeliver => "redeliver",
            FailReason::EarlierRecordFailed => "earlier-record-failed",
            FailReason::DeadlineNear => "deadline-near",
            FailReason::BreakerOpen => "breaker-open",
            FailReason::DlqWriteFailed => "dlq-write-failed",
        }
    }
}

/// Every record ends in exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Processed,
    DeadLettered(DlqKind),
    Failed(FailReason),
}

impl Outcome {
    pub fn is_failed(self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}
