//! Sending dead letters home: reading a DLQ ([`reader`]), understanding
//! every dead-letter format ([`parse`]), deciding each letter's fate
//! ([`plan`], pure), fetching back what Lambda's on-failure documents only
//! point to ([`fetch_back`]), and running it all ([`job`]) so that a dead
//! letter is acknowledged only after its replay was confirmed.

pub mod fetch_back;
pub mod inspect;
pub mod job;
pub mod parse;
pub mod plan;
pub mod reader;
mod run;
mod stored;

pub use job::{Repair, RepairError, ReplaySummary, Replayer, ReplayerConfig, Verdict, WriteError};
pub use plan::{Filters, Plan, ReplayRecord, ReplaySettings};
pub use reader::{DlqItem, DlqReader, ReaderError};
pub use run::{run_job, ReplaySetup};
pub use stored::{FetchBack, Format, ParseError, Parsed, StoredDeadLetter, StoredValue};
