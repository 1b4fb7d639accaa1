//! The repair hook: user code that fixes a dead letter before it is
//! replayed.

use super::stored::StoredDeadLetter;

/// A user hook that may fix a dead letter before it is replayed (a schema
/// migration, a corrected field). An error parks the letter.
pub trait Repair: Send + Sync + 'static {
    /// Fixes `value` in place, or refuses (the letter is parked).
    fn repair(
        &self,
        letter: &StoredDeadLetter,
        value: &mut Option<Vec<u8>>,
    ) -> Result<(), RepairError>;
}

/// A [`Repair`] hook's refusal: why the letter cannot be fixed.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct RepairError {
    reason: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl RepairError {
    /// A refusal for `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            source: None,
        }
    }

    /// A refusal caused by `source`.
    pub fn because(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            reason: reason.into(),
            source: Some(Box::new(source)),
        }
    }
}
