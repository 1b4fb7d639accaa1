//! Where a batch's records and their bytes live: one store per decoded
//! batch, its records in chunks, their keys and values in the store's
//! buffer or still base64 in the invocation body.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::{RecordData, RecordParts};

/// Where a key's or value's bytes are.
pub(crate) enum Payload {
    /// Decoded: this range of the store's buffer.
    Decoded(Range<usize>),
    /// Canonical base64 text at `text` of the invocation body, checked when
    /// the event was decoded. The first key or value of the store read
    /// decodes all of them, into one buffer where this one is at `at`: a
    /// handler that reads no value pays nothing for them, one that reads
    /// them pays one pass over the batch, not an allocation each.
    Base64 {
        text: Range<usize>,
        at: Range<usize>,
    },
}

/// Records decoded together and the buffers their bytes are in: a decoded
/// batch's records share one store, so decoding allocates per batch, not
/// per record or field.
pub(crate) struct Store {
    // Decoded keys and values, and headers in the compact form of `compact`.
    pub(super) buf: Bytes,
    // The invocation body, for keys and values still in base64.
    body: Bytes,
    // Those keys and values decoded, on first use; `lazy_len` bytes.
    lazy: OnceLock<Box<[u8]>>,
    lazy_len: usize,
    pub(super) records: Records,
}

impl Store {
    /// The keys and values left in base64, decoded.
    pub(super) fn lazy(&self) -> &[u8] {
        self.lazy.get_or_init(|| {
            let mut out = vec![0u8; self.lazy_len];
            for data in self.records.chunks.iter().flatten() {
                for payload in [&data.key, &data.value].into_iter().flatten() {
                    if let Payload::Base64 { text, at } = payload {
                        decode_into(self.body.get(text.clone()), out.get_mut(at.clone()));
                    }
                }
            }
            out.into_boxed_slice()
        })
    }
}

/// Decodes canonical base64 `text` into `out`, which the decoder checked
/// it fits when the event was decoded; left as it is otherwise.
fn decode_into(text: Option<&[u8]>, out: Option<&mut [u8]>) {
    let (Some(text), Some(out)) = (text, out) else {
        return;
    };
    // The decoder needs room for exactly what it writes.
    if base64_simd::STANDARD.decoded_length(text).ok() == Some(out.len()) {
        let _ = base64_simd::STANDARD.decode(text, base64_simd::Out::from_slice(out));
    }
}

/// Records in chunks of [`CHUNK`]: a batch of unknown size grows without
/// moving the records already read (thousands of them, each a few hundred
/// bytes, would otherwise be copied again at every doubling).
#[derive(Default)]
pub(crate) struct Records {
    // Every chunk but the last is full.
    chunks: Vec<Vec<RecordData>>,
}

const CHUNK: usize = 1024;

impl Records {
    /// A single record, without a chunk's room for more.
    pub(super) fn one(data: RecordData) -> Self {
        Self {
            chunks: vec![vec![data]],
        }
    }

    pub(super) fn get(&self, index: usize) -> Option<&RecordData> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    /// The record at `index`, where [`Records::get`] found one when the
    /// handle was made (records are never removed).
    pub(super) fn at(&self, index: usize) -> &RecordData {
        &self.chunks[index / CHUNK][index % CHUNK]
    }
}

/// The records of a store being filled, before its buffers are final.
#[derive(Default)]
pub(crate) struct StoreBuilder {
    pub(super) records: Records,
    pub(super) lazy_len: usize,
}

impl StoreBuilder {
    /// Where a key or value of `len` decoded bytes, left in base64 at `text`
    /// of the body, will be once decoded.
    pub(crate) fn base64(&mut self, text: Range<usize>, len: usize) -> Payload {
        let at = self.lazy_len..self.lazy_len + len;
        self.lazy_len = at.end;
        Payload::Base64 { text, at }
    }

    /// Adds a record; returns its index in the store.
    #[inline]
    pub(crate) fn push(&mut self, parts: RecordParts) -> usize {
        let chunks = &mut self.records.chunks;
        if chunks.last().is_none_or(|c| c.len() == CHUNK) {
            chunks.push(Vec::with_capacity(CHUNK));
        }
        let last = chunks.len() - 1;
        let chunk = &mut chunks[last];
        chunk.push(RecordData::from(parts));
        last * CHUNK + chunk.len() - 1
    }

    /// The store, its records' ranges indexing `buf` (decoded) and `body`
    /// (base64).
    pub(crate) fn finish(self, buf: Bytes, body: Bytes) -> Arc<Store> {
        Arc::new(Store {
            buf,
            body,
            lazy: OnceLock::new(),
            lazy_len: self.lazy_len,
            records: self.records,
        })
    }
}
