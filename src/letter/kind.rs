//! Why a record was dead-lettered.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a record was dead-lettered (`dlq.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DlqKind {
    /// The handler said retrying cannot help.
    Permanent,
    /// The record could not be decoded; it is kept as received.
    Malformed,
    /// Transient failures used up the attempts.
    RetriesExhausted,
    /// Older than the configured max record age.
    TooOld,
    /// The handler asked for it (Karafka's `dispatch_to_dlq`).
    Manual,
}

impl DlqKind {
    /// Every kind, in a stable order.
    pub const ALL: [DlqKind; 5] = [
        DlqKind::Permanent,
        DlqKind::Malformed,
        DlqKind::RetriesExhausted,
        DlqKind::TooOld,
        DlqKind::Manual,
    ];

    /// The wire name, e.g. `retries-exhausted`.
    pub fn as_str(self) -> &'static str {
        match self {
            DlqKind::Permanent => "permanent",
            DlqKind::Malformed => "malformed",
            DlqKind::RetriesExhausted => "retries-exhausted",
            DlqKind::TooOld => "too-old",
            DlqKind::Manual => "manual",
        }
    }
}

impl fmt::Display for DlqKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that is not one of [`DlqKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown kind {0:?}: expected one of permanent, malformed, retries-exhausted, too-old, manual"
)]
pub struct UnknownKind(pub String);

impl FromStr for DlqKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DlqKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}
