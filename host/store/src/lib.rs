//! The partner-center store: an embedded SQLite file by default, PostgreSQL for scale-out.
//! Everything the host persists lives here: the partner-center data, with the business rules
//! applied in the transactions that change it, and the plugin registry (versions, bindings,
//! invocations, API keys, approval tasks, shadow differences).
//!
//! Plugins never write here: they see read-only, tenant-scoped views through the runtime's
//! capability interfaces, and the host applies their declarative answers.

pub mod accounts;
pub mod admin_events;
pub mod audit;
pub mod authorizations;
pub mod bindings;
pub mod changes;
pub mod console_sessions;
pub mod coupons;
pub mod demo;
pub mod incentives;
pub mod invoicing;
pub mod keys;
#[cfg(test)]
mod ledger_properties;
#[cfg(test)]
mod migration_tests;
pub mod opportunities;
pub mod orders;
pub mod partners;
pub mod pricing;
pub mod publishers;
pub mod quotes;
pub mod resources;
#[cfg(test)]
mod rule_tests;
pub mod scheduler;
#[cfg(test)]
mod schema_parity;
pub mod store;
pub mod tasks;
mod terms;
#[cfg(test)]
mod testing;
pub mod verification;

// The domain's modules under their old paths, so this crate's modules name them as before.
use pchost_domain::{access, entities, errors, money};

pub use store::{Store, StoreError};
