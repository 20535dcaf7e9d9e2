//! The partner-center plugin host service: the HTTP API and the `pchost` command line.

pub mod app;
pub mod approvals;
pub mod audit;
pub mod bundle;
pub mod cli;
pub mod error;
pub mod quotes;
