//! Purging a DLQ in two passes: count and show what would go, then delete
//! it. Only what the first pass counted is deleted; letters that arrived in
//! between stay.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use super::inspect::letters;
use super::plan::Filters;
use super::reader::{DlqItem, DlqReader, ReaderError};

/// What a purge will delete: the ids of the DLQ messages counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgePlan {
    ids: HashSet<String>,
}

impl PurgePlan {
    /// Messages to delete.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is nothing to delete.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Whether `item` is taken by `filters`: every letter in it matches (an
/// unreadable message only when there is no filter).
pub fn selected(filters: &Filters, item: &DlqItem) -> bool {
    filters.is_empty()
        || (!letters(item).is_empty() && letters(item).iter().all(|l| filters.matches(l)))
}

/// First pass: reads the whole DLQ, counts what `filters` take, and returns
/// every message to the DLQ untouched.
pub async fn plan(reader: &mut DlqReader, filters: &Filters) -> Result<PurgePlan, ReaderError> {
    let mut ids = HashSet::new();
    loop {
        let batch = reader
            .read(10, Instant::now() + Duration::from_secs(60))
            .await?;
        if batch.is_empty() {
            break;
        }
        ids.extend(
            batch
                .iter()
                .filter(|i| selected(filters, i))
                .map(|i| i.id.clone()),
        );
        let all: Vec<&DlqItem> = batch.iter().collect();
        reader.settle(&[], &all).await?;
    }
    reader.finish().await?;
    Ok(PurgePlan { ids })
}

/// Second pass: deletes what `plan` counted and nothing else (a letter
/// that arrived since stays). Returns how many.
pub async fn execute(
    plan: &PurgePlan,
    filters: &Filters,
    reader: &mut DlqReader,
) -> Result<u64, ReaderError> {
    let mut purged = 0;
    loop {
        let batch = reader
            .read(10, Instant::now() + Duration::from_secs(60))
            .await?;
        if batch.is_empty() {
            break;
        }
        let (done, kept): (Vec<&DlqItem>, Vec<&DlqItem>) = batch
            .iter()
            .partition(|i| plan.ids.contains(&i.id) && selected(filters, i));
        purged += done.len() as u64;
        reader.settle(&done, &kept).await?;
    }
    reader.finish().await?;
    Ok(purged)
}
