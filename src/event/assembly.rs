//! A batch put together from one or more stores of records: one for the
//! whole event, or one per piece of a body read by several threads. Each
//! store keeps its own buffers; the partitions take their records from
//! them in order.

use std::sync::Arc;

use bytes::Bytes;

use super::fast::{Header, State};
use super::{wire, Batch, BatchEntry, Entry, PartitionBatch};
use crate::record::{KafkaRecord, RecordId, Store};

/// Partitions being filled, in the order their keys first came.
#[derive(Default)]
pub(super) struct Assembly {
    partitions: Vec<PartitionBatch>,
}

impl Assembly {
    /// Adds a state's records, frozen into a store of their own: first
    /// `continued` (store indexes of records read before the state's first
    /// key) to the partition at `continued.0`, then the state's
    /// partitions, a key already here continuing its partition. Gives
    /// where each of the state's partitions is in the assembly.
    pub(super) fn add(
        &mut self,
        state: State,
        body: Option<&Bytes>,
        continued: Option<(usize, Vec<usize>)>,
    ) -> Option<Vec<usize>> {
        let store = state.records.finish(
            Bytes::from(state.out.buf),
            body.cloned().unwrap_or_default(),
        );
        if let Some((at, records)) = continued {
            let p = self.partitions.get_mut(at)?;
            push_entries(&store, records, p)?;
        }
        // A state's own keys are distinct: the first state's need no lookup.
        let first = self.partitions.is_empty();
        let mut places = Vec::with_capacity(state.partitions.len());
        for part in state.partitions {
            let found = if first {
                None
            } else {
                self.partitions.iter().position(|p| p.key == part.key)
            };
            let at = found.unwrap_or_else(|| {
                self.partitions.push(PartitionBatch {
                    key: part.key,
                    entries: Vec::new(),
                });
                self.partitions.len() - 1
            });
            push_entries(&store, part.records, self.partitions.get_mut(at)?)?;
            places.push(at);
        }
        Some(places)
    }

    /// The batch, when the event had `records` and a Kafka source.
    pub(super) fn batch(self, header: Header) -> Option<Batch> {
        if !header.records {
            return None;
        }
        let source = wire::batch_source(
            header.event_source,
            header.event_source_arn,
            header.bootstrap_servers,
        )
        .ok()?;
        Some(Batch {
            source: Arc::new(source),
            partitions: self.partitions.into_iter().map(Arc::new).collect(),
        })
    }
}

/// The records at `indexes` of `store`, appended to `partition`.
fn push_entries(
    store: &Arc<Store>,
    indexes: Vec<usize>,
    partition: &mut PartitionBatch,
) -> Option<()> {
    partition.entries.reserve_exact(indexes.len());
    for index in indexes {
        let record = KafkaRecord::in_store(store, index)?;
        partition.entries.push(BatchEntry {
            id: RecordId {
                partition_key: partition.key.clone(),
                offset: Some(record.offset()),
            },
            entry: Entry::Record(record),
        });
    }
    Some(())
}
