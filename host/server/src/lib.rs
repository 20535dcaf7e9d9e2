//! The partner-center plugin host service: the HTTP API and the `pchost` command line, both
//! over the plugin host of `pchost-extensions`.

pub mod api;
pub mod app;
pub mod auth;
pub mod capability_data;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod error;
pub mod follow;
pub mod lifecycle;
pub mod metrics;
#[cfg(test)]
mod money_properties;
pub mod ratelimit;
pub mod scaffold;
pub mod scheduler;
pub mod simulations;
pub mod sms;
pub mod state;
