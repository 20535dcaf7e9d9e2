//! The partner-center domain: the entities of `DOMAIN.md`, the rules the host enforces, and
//! the storage they live in (SQLite by default).
//!
//! Plugins never write here: they see read-only, tenant-scoped views through the runtime's
//! capability interfaces, and the host applies their declarative answers.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod authorizations;
pub mod bindings;
pub mod coupons;
pub mod demo;
pub mod entities;
pub mod errors;
pub mod incentives;
pub mod invoicing;
pub mod keys;
#[cfg(test)]
mod migration_tests;
pub mod money;
pub mod opportunities;
pub mod orders;
pub mod partners;
pub mod pricing;
pub mod quotes;
pub mod resources;
#[cfg(test)]
mod rule_tests;
#[cfg(test)]
mod schema_parity;
pub mod store;
pub mod tasks;
#[cfg(test)]
mod testing;
pub mod verification;

pub use entities::*;
pub use money::{Currency, CurrencyError};
