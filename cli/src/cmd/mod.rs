//! One module per command.

pub mod audit;
pub mod export;
pub mod import;
pub mod peek;
pub mod purge;
pub mod replay;
pub mod stats;
