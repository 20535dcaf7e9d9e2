//! The partner-center domain: the entities of `DOMAIN.md`, exact money, who may see what
//! (access rules) and the stable codes of every refusal. No SQL and no async: the store
//! (`pchost-store`) keeps these entities and applies the rules in its transactions, the
//! runtime hands read-only views of them to plugins.

pub mod access;
pub mod entities;
pub mod errors;
pub mod money;

pub use entities::*;
pub use money::{Currency, CurrencyError};
