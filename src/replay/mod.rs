//! Sending dead letters home: reading a DLQ ([`reader`]), understanding
//! every dead-letter format ([`parse`]), deciding each letter's fate
//! ([`plan`], pure), fetching back what Lambda's on-failure documents only
//! point to ([`fetch_back`]), and running it all ([`job`]) so that a dead
//! letter is acknowledged only after its replay was confirmed.

pub mod audit;
pub mod fetch_back;
pub mod inspect;
pub mod job;
pub mod parse;
pub mod plan;
pub mod purge;
pub mod reader;
mod repair;
mod route;
mod run;
mod stored;
mod summary;
mod wire;

pub use job::{ReplaySummary, Replayer, ReplayerConfig, Verdict, WriteError};
pub use plan::{AllowedTargets, Filters, Plan, ReplayRecord, ReplaySettings};
pub use reader::{DlqItem, DlqReader, ReaderError};
pub use repair::{Repair, RepairError};
pub use run::{run_job, run_job_until, ReplaySetup};
pub use stored::{FetchBack, Format, ParseError, Parsed, StoredDeadLetter, StoredValue};
