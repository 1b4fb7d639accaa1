//! The filters `peek`, `replay`, `purge` and `export` take.

use clap::Args;
use msk_dlq::codec::parse_time;
use msk_dlq::replay::Filters;
use msk_dlq::DlqKind;

/// Which dead letters a command takes.
#[derive(Args, Clone, Default)]
pub struct FilterArgs {
    /// Only dead letters of this original topic.
    #[arg(long)]
    topic: Option<String>,
    /// Only this kind: permanent, malformed, retries-exhausted, too-old, manual.
    #[arg(long, value_parser = str::parse::<DlqKind>)]
    kind: Option<DlqKind>,
    /// Only this error type (e.g. InvalidOrder).
    #[arg(long)]
    error_type: Option<String>,
    /// Only dead letters that failed at or after this time (RFC 3339 or epoch ms).
    #[arg(long, value_parser = parse_time)]
    since: Option<i64>,
    /// Only dead letters that failed before this time.
    #[arg(long, value_parser = parse_time)]
    until: Option<i64>,
}

impl FilterArgs {
    /// The library's filters.
    pub fn filters(&self) -> Filters {
        let mut f = Filters::default();
        f.topic = self.topic.clone();
        f.kind = self.kind;
        f.error_type = self.error_type.clone();
        f.since_ms = self.since;
        f.until_ms = self.until;
        f
    }
}
