//! The partner-center plugin host service: the HTTP API and the `pchost` command line.

pub mod actions;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod bundle;
pub mod capability_data;
pub mod cli;
pub mod demo;
pub mod error;
pub mod extensions;
#[cfg(test)]
mod money_properties;
pub mod native_rules;
pub mod ratelimit;
pub mod replay;
