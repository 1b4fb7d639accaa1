//! What a replay run did, counted by letter.

/// What a replay run did, by letter.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
#[serde(default)]
pub struct ReplaySummary {
    /// The DLQ messages handled, for the audit trail (not in the JSON).
    #[serde(skip)]
    pub touched: Vec<super::audit::TouchedLetter>,
    /// Stopped on request before the DLQ was drained; a new run resumes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// DLQ messages read.
    pub messages: u64,
    /// Dead letters in them.
    pub letters: u64,
    /// Written back, confirmed.
    pub replayed: u64,
    /// Sent to the parking lot, confirmed.
    pub parked: u64,
    /// Left out by the filters (kept).
    pub filtered_out: u64,
    /// Not replayed or parked (kept).
    pub failed: u64,
    /// Records read back by fetch-back.
    pub fetched_back: u64,
    /// Offsets of an on-failure document no longer in the topic.
    pub fetch_back_gone: u64,
    /// Dry run: letters that would have been replayed.
    pub would_replay: u64,
    /// Messages that are not dead letters this crate reads (kept).
    pub unreadable: u64,
    /// Letters kept because they may not be replayed here (another
    /// cluster, a target off the allow-list, bytes that cannot be restored
    /// to their wire format).
    pub refused: u64,
    /// Replays whose schema-registry framing was restored from the schema
    /// id.
    pub reframed: u64,
    /// Messages acknowledged again without a new write: this replayer had
    /// replayed them already.
    pub already_replayed: u64,
    /// When the oldest Lambda on-failure document handled was written
    /// (epoch ms): its offsets expire with the topic's retention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_fetch_back_ms: Option<i64>,
}

impl ReplaySummary {
    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: &ReplaySummary) {
        self.paused |= o.paused;
        self.touched.extend(o.touched.iter().cloned());
        self.messages += o.messages;
        self.letters += o.letters;
        self.replayed += o.replayed;
        self.parked += o.parked;
        self.filtered_out += o.filtered_out;
        self.failed += o.failed;
        self.fetched_back += o.fetched_back;
        self.fetch_back_gone += o.fetch_back_gone;
        self.would_replay += o.would_replay;
        self.unreadable += o.unreadable;
        self.refused += o.refused;
        self.reframed += o.reframed;
        self.already_replayed += o.already_replayed;
        self.oldest_fetch_back_ms = match (self.oldest_fetch_back_ms, o.oldest_fetch_back_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}
