//! A large body read by several threads at once. The `records` object is
//! cut where a record starts (found by its bytes, not by reading), each
//! piece after the first is read by a job of its own from its cut, and a
//! piece counts only when the reader before it, reading from its own
//! start, stopped exactly at that cut after a record. A cut inside a
//! string, or anywhere else a record does not start, is passed by that
//! reader, which then reads on to the end itself. So the batch is the one
//! a single reader gives, and the threads only change how soon.

use std::thread::Thread;

use bytes::Bytes;
use tokio::sync::oneshot::{self, error::TryRecvError};

use super::super::assembly::Assembly;
use super::super::fast::{Header, State};
use super::super::Batch;
use super::{keyed, list, Keyed, Listed, Reader};

/// Runs a job on a thread other than the caller's, one that is already
/// running (a thread started for each job starts too late to help).
pub(crate) type Spawn<'a> = &'a dyn Fn(Box<dyn FnOnce() + Send>);

/// Readers for one body: the caller's thread and jobs on `spawn`.
#[derive(Clone, Copy)]
pub(crate) struct Readers<'a> {
    /// Where the jobs run.
    pub(crate) spawn: Spawn<'a>,
    /// How many threads may read at once, the caller's included.
    pub(crate) threads: usize,
}

/// Below this many bytes a piece is read by the thread already reading:
/// starting a thread costs more than it would save.
const MIN_PIECE: usize = 1 << 20;

/// At most this many threads read one body.
const MAX_PIECES: usize = 8;

/// How Lambda writes a record that follows another: a cut is made after
/// its `},`.
const RECORD_START: &[u8] = b"},{\"topic\":\"";

/// Where to cut `json` (positions of record starts) for `threads`
/// readers: one cut for each beyond the first, none for a body too small
/// to be worth it.
pub(super) fn starts(json: &[u8], threads: usize) -> Vec<usize> {
    let pieces = threads.min(json.len() / MIN_PIECE).min(MAX_PIECES);
    let mut starts: Vec<usize> = Vec::new();
    if pieces < 2 {
        return starts;
    }
    let finder = memchr::memmem::Finder::new(RECORD_START);
    for i in 1..pieces {
        let from = (json.len() / pieces * i).max(starts.last().map_or(0, |&s| s + 1));
        match json.get(from..).and_then(|rest| finder.find(rest)) {
            // The record's `{`, past `},`.
            Some(found) => starts.push(from + found + 2),
            None => break,
        }
    }
    starts
}

/// What a piece read: its records in a state of its own, those before its
/// first key (`continued`, the rest of the list it was cut in) apart.
pub(super) struct Piece {
    pub(super) state: State,
    pub(super) continued: Vec<usize>,
    pub(super) end: End,
}

/// Where a piece's reading ended.
#[derive(Clone, Copy)]
pub(super) enum End {
    /// At the next piece's start: in its continued list (`None`) or in its
    /// partition at this index.
    Stopped(Option<usize>),
    /// Past the `records` object, at this position.
    Closed(usize),
}

/// The pieces of a body being read, and those the reader has joined.
pub(in super::super) struct Split {
    /// Where the first piece starts: the reader stops there.
    pub(super) stop: Option<usize>,
    pieces: Vec<oneshot::Receiver<Option<Piece>>>,
    kept: Vec<Piece>,
    // The reader's partition when it stopped.
    stopped_in: usize,
}

/// A piece's way back to the reader, which parks until it comes: the
/// reader is woken once the piece is sent, or once the job is dropped
/// unrun (the piece then never comes).
struct Handoff {
    done: Option<oneshot::Sender<Option<Piece>>>,
    reader: Thread,
}

impl Handoff {
    fn send(mut self, piece: Option<Piece>) {
        if let Some(done) = self.done.take() {
            let _ = done.send(piece);
        }
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        // Closed before the wake, so the reader finds it so.
        drop(self.done.take());
        self.reader.unpark();
    }
}

/// The piece, once its job has run; `None` when it failed or never ran.
fn wait(mut piece: oneshot::Receiver<Option<Piece>>) -> Option<Piece> {
    loop {
        match piece.try_recv() {
            Ok(piece) => return piece,
            // A wake for an earlier piece, or none yet.
            Err(TryRecvError::Empty) => std::thread::park(),
            Err(TryRecvError::Closed) => return None,
        }
    }
}

impl Split {
    /// No pieces: one reader reads all.
    pub(super) fn none() -> Self {
        Split {
            stop: None,
            pieces: Vec::new(),
            kept: Vec::new(),
            stopped_in: 0,
        }
    }

    /// A job on `spawn` for each piece, from its start to the next one's.
    pub(super) fn spawn(spawn: Spawn<'_>, body: &Bytes, base: usize, starts: &[usize]) -> Self {
        let mut pieces = Vec::with_capacity(starts.len());
        for (i, &at) in starts.iter().enumerate() {
            let stop = starts.get(i + 1).copied();
            let body = body.clone();
            let (done, read) = oneshot::channel();
            let handoff = Handoff {
                done: Some(done),
                reader: std::thread::current(),
            };
            // A reader that passed this cut no longer waits for it.
            spawn(Box::new(move || handoff.send(piece(&body, base, at, stop))));
            pieces.push(read);
        }
        let mut split = Split::none();
        split.stop = starts.first().copied();
        split.pieces = pieces;
        split
    }

    /// The reader stopped at the first piece's start, in its partition
    /// `index`: takes the pieces up to the one that read to the end of
    /// `records`, and gives the position after it. `None` when a piece
    /// failed, having read from a record's start (one reader would have
    /// failed there too), or its job was dropped unrun.
    pub(super) fn join(&mut self, index: usize) -> Option<usize> {
        self.stopped_in = index;
        for piece in std::mem::take(&mut self.pieces) {
            let piece = wait(piece)?;
            let end = piece.end;
            self.kept.push(piece);
            if let End::Closed(at) = end {
                return Some(at);
            }
        }
        None
    }

    /// The batch: the reader's records, then each joined piece's.
    pub(super) fn finish(self, header: Header, state: State, body: &Bytes) -> Option<Batch> {
        let mut assembly = Assembly::default();
        let mut current = self.stopped_in;
        assembly.add(state, Some(body), None)?;
        for piece in self.kept {
            let places = assembly.add(piece.state, Some(body), Some((current, piece.continued)))?;
            if let End::Stopped(Some(index)) = piece.end {
                current = *places.get(index)?;
            }
        }
        assembly.batch(header)
    }
}

/// A piece of the `records` object, from `at` (taken to be a record's start
/// in a partition's list) to the object's end, or to `stop`.
fn piece(body: &Bytes, base: usize, at: usize, stop: Option<usize>) -> Option<Piece> {
    let json = body.get(base..)?;
    let mut r = Reader { text: json, at };
    let mut state = State::new(json.len(), Some(body));
    let mut continued = Vec::new();
    let listed = list(
        &mut r,
        &mut state.out.buf,
        &mut state.records,
        &mut continued,
        base,
        stop,
    )?;
    let end = match listed {
        Listed::Stopped => End::Stopped(None),
        // More keys, or the end of `records`.
        Listed::Closed if r.more(b'}')? => match keyed(&mut r, &mut state, base, stop)? {
            Keyed::Stopped(index) => End::Stopped(Some(index)),
            Keyed::Closed => End::Closed(r.at),
        },
        Listed::Closed => End::Closed(r.at),
    };
    Some(Piece {
        state,
        continued,
        end,
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::super::super::wire::decode_exact;
    use super::super::super::Batch;
    use super::super::read;
    use super::{Split, RECORD_START};
    use crate::codec::encode_b64;

    /// The body read from its start, in pieces from `starts`, each on a
    /// thread of its own.
    fn decode_from(body: &Bytes, base: usize, starts: &[usize]) -> Option<Batch> {
        let spawn = |job: Box<dyn FnOnce() + Send>| {
            std::thread::spawn(job);
        };
        read(body, base, Split::spawn(&spawn, body, base, starts))
    }

    fn record(topic: &str, partition: u32, offset: u32, with_headers: bool) -> String {
        let value = encode_b64(
            format!(
                "{{\"n\":{offset},\"pad\":\"{}\"}}",
                "x".repeat(offset as usize % 7)
            )
            .as_bytes(),
        );
        let key = if offset % 3 == 0 {
            "null".to_owned()
        } else {
            format!("\"{}\"", encode_b64(format!("k-{offset}").as_bytes()))
        };
        let headers = if with_headers {
            r#"[{"trace-id":[116,45,48]},{"x":[]}]"#
        } else {
            "null"
        };
        format!(
            r#"{{"topic":"{topic}","partition":{partition},"offset":{offset},"timestamp":1700000000{offset:03},"timestampType":"CREATE_TIME","key":{key},"value":"{value}","headers":{headers}}}"#
        )
    }

    fn list(topic: &str, partition: u32, offsets: std::ops::Range<u32>) -> String {
        let records: Vec<String> = offsets
            .map(|o| record(topic, partition, o, o % 2 == 0))
            .collect();
        format!(r#""{topic}-{partition}":[{}]"#, records.join(","))
    }

    /// Events in Lambda's form and near it: several partitions, a key met
    /// again, an empty list, fields after `records`, and records that only
    /// the serde decoders take.
    fn events() -> Vec<String> {
        let head =
            r#""eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:us-east-1:1:cluster/c/1""#;
        let lists = [list("a", 0, 0..6), list("a", 1, 0..1), list("b", 0, 3..9)].join(",");
        vec![
            format!(r#"{{{head},"records":{{{lists}}}}}"#),
            format!(r#"{{"records":{{{lists}}},{head}}}"#),
            format!(
                r#"{{{head},"records":{{{},"e-0":[],{},{}}}}}"#,
                list("a", 0, 0..4),
                list("c", 2, 0..5),
                list("a", 0, 4..8)
            ),
            format!(r#"{{{head},"records":{{{}}}}}"#, list("one", 0, 0..12)),
            // Only serde takes an escape: no reader may.
            format!(
                r#"{{{head},"records":{{{},"a-1":[{}]}}}}"#,
                list("a", 0, 0..5),
                record("a", 1, 0, true).replace("\"x\"", "\"\\u0078\"")
            ),
            // Not an event at all after a while.
            format!(
                r#"{{{head},"records":{{{},"a-1":[{{"topic":"a"}},1]}}}}"#,
                list("a", 0, 0..5)
            ),
        ]
    }

    /// Record starts, and the bytes around them.
    fn near_starts(json: &[u8]) -> Vec<usize> {
        let finder = memchr::memmem::Finder::new(RECORD_START);
        finder
            .find_iter(json)
            .flat_map(|at| [at + 1, at + 2, at + 3])
            .collect()
    }

    #[test]
    fn a_cut_anywhere_gives_the_batch_of_one_reader() {
        for json in events() {
            let body = Bytes::from(json.clone());
            let one = decode_from(&body, 0, &[]);
            if one.is_some() {
                assert_eq!(one, decode_exact(&json).ok(), "{json}");
            }
            for at in 0..=json.len() {
                assert_eq!(decode_from(&body, 0, &[at]), one, "cut at {at}: {json}");
            }
            let near = near_starts(json.as_bytes());
            for (i, &a) in near.iter().enumerate() {
                for &b in &near[i + 1..] {
                    assert_eq!(
                        decode_from(&body, 0, &[a, b]),
                        one,
                        "cuts at {a}, {b}: {json}"
                    );
                }
            }
        }
    }

    #[test]
    fn cuts_after_a_byte_order_mark_count_from_the_text() {
        let json = events().swap_remove(0);
        let body = Bytes::from(format!("\u{feff}{json}"));
        let one = decode_from(&body, 3, &[]).expect("Lambda's form");
        let starts: Vec<usize> = near_starts(json.as_bytes())
            .into_iter()
            .step_by(3)
            .collect();
        assert!(starts.len() > 3);
        assert_eq!(decode_from(&body, 3, &starts), Some(one));
    }

    #[test]
    fn a_cut_at_a_record_start_is_read_by_another_thread() {
        let json = events().swap_remove(3);
        let body = Bytes::from(json.clone());
        // Each reader names the topic once: records read by two share no name.
        let shared = |cuts: &[usize]| {
            let batch = decode_from(&body, 0, cuts).expect("Lambda's form");
            let topics: Vec<_> = batch
                .entries()
                .filter_map(|e| e.entry.shared_topic())
                .collect();
            topics
                .windows(2)
                .all(|w| std::sync::Arc::ptr_eq(&w[0], &w[1]))
        };
        let starts = near_starts(json.as_bytes());
        assert!(shared(&[]));
        assert!(shared(&[starts[0]]), "not a record start");
        assert!(!shared(&[starts[1]]), "a record start");
        assert!(!shared(&[starts[1], starts[7]]));
    }

    #[test]
    fn a_piece_that_comes_late_is_waited_for_and_one_never_run_is_not() {
        let json = events().swap_remove(3);
        let body = Bytes::from(json.clone());
        let one = decode_from(&body, 0, &[]);
        let cut = [near_starts(json.as_bytes())[1]];
        let late = |job: Box<dyn FnOnce() + Send>| {
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                job();
            });
        };
        assert_eq!(read(&body, 0, Split::spawn(&late, &body, 0, &cut)), one);
        // Dropped unrun: the reader gives up on Lambda's form (the serde
        // decoders then read the body) rather than wait for ever.
        let dropped = |job: Box<dyn FnOnce() + Send>| drop(job);
        assert_eq!(read(&body, 0, Split::spawn(&dropped, &body, 0, &cut)), None);
    }

    #[test]
    fn a_body_is_cut_once_per_extra_thread_and_mebibyte() {
        let json = format!(r#"{{"records":{{{}}}}}"#, list("t", 0, 0..24_000));
        let json = json.as_bytes();
        assert!((4 << 20..5 << 20).contains(&json.len()));
        assert!(super::starts(events()[0].as_bytes(), 8).is_empty());
        assert!(super::starts(json, 1).is_empty());
        assert_eq!(super::starts(json, 2).len(), 1);
        assert_eq!(super::starts(json, 16).len(), 3);
        for at in super::starts(json, 4) {
            assert!(json[at - 2..].starts_with(RECORD_START));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_cuts_give_the_batch_of_one_reader(
            which in 0usize..6,
            mut cuts in prop::collection::vec(0usize..4000, 1..5),
        ) {
            let json = events().swap_remove(which);
            let body = Bytes::from(json.clone());
            cuts.sort_unstable();
            cuts.dedup();
            cuts.retain(|&c| c <= json.len());
            prop_assert_eq!(decode_from(&body, 0, &cuts), decode_from(&body, 0, &[]));
        }
    }
}
