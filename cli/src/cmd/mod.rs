//! One module per command.

pub mod export;
pub mod peek;
pub mod purge;
pub mod replay;
pub mod stats;
